"""How often ``check --fix`` turns a document with one typo into one Keras loads.

    python benchmarks/bench_fix.py [--seed N] [--per-sample N] [--per-model N] [--apps A,B]

Documents: every built-in layer class with its sample config (from the catalog, the samples of
``schema_builder/samples.py``), the models of ``examples/``, and keras.applications models
with tiny input shapes. Each gets single mistakes in a config key, an activation or a class
name: deletion, insertion, substitution, transposition, case, trailing character. A mistake
that spells another valid name is skipped (nothing to find). "Loads" is
``keras.saving.deserialize_keras_object`` in safe mode, in this process.

Prints the share of mistaken documents that load: as written (before), after the safe fixes
(``check --fix`` and ``source.fixAll.layercfg``), and with ``--unsafe-fixes``; and how many
come back exactly as they were. Targets: >= 90 % after ``--fix``, >= 97 % with unsafe fixes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
TYPOS = ("deletion", "insertion", "substitution", "transposition", "case", "trailing")
KINDS = ("key", "activation", "class")
SPECIAL = {"__keras_tensor__", "__numpy__", "__tuple__", "__lambda__", "__bytes__"}
# keras.applications models, built with tiny inputs and no weights.
APPS = {
    "MobileNet": dict(input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=4),
    "MobileNetV3Small": dict(input_shape=(32, 32, 3), weights=None, classes=4),
    "ResNet50": dict(input_shape=(32, 32, 3), weights=None, classes=4),
}

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Mistake:
    source: str
    kind: str
    typo: str
    path: Path_  # of the key (kind "key") or of the value
    before: str
    after: str
    value: Any  # the document with the mistake
    original: Any  # the document before it


def typo(word: str, kind: str, rng: random.Random) -> str | None:
    letters = string.ascii_lowercase
    if len(word) < 2:
        return None
    i = rng.randrange(len(word))
    if kind == "deletion":
        return word[:i] + word[i + 1 :]
    if kind == "insertion":
        # A doubled letter or a stray one, as fingers make them.
        extra = word[i] if rng.random() < 0.5 else rng.choice(letters)
        return word[:i] + extra + word[i:]
    if kind == "substitution":
        choices = [c for c in letters if c != word[i].lower()]
        new = rng.choice(choices)
        return word[:i] + (new.upper() if word[i].isupper() else new) + word[i + 1 :]
    if kind == "transposition":
        spots = [j for j in range(len(word) - 1) if word[j] != word[j + 1]]
        if not spots:
            return None
        j = rng.choice(spots)
        return word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    if kind == "case":
        spots = [j for j, c in enumerate(word) if c.isalpha()]
        if not spots:
            return None
        if rng.random() < 0.3:
            return word.lower() if word != word.lower() else word.capitalize()
        j = rng.choice(spots)
        return word[:j] + word[j].swapcase() + word[j + 1 :]
    if kind == "trailing":
        return word + rng.choice(("_", "s", "1", "e", " "))
    raise ValueError(kind)


def envelopes(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, dict[str, Any]]]:
    if isinstance(value, dict):
        if isinstance(value.get("class_name"), str) and value["class_name"] not in SPECIAL:
            yield path, value
        for key, item in value.items():
            yield from envelopes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from envelopes(item, (*path, index))


def targets(value: Any) -> list[tuple[str, Path_, str]]:
    """(kind, path, word) of each place a mistake can go."""
    found = []
    for path, envelope in envelopes(value):
        found.append(("class", (*path, "class_name"), envelope["class_name"]))
        config = envelope.get("config")
        if not isinstance(config, dict):
            continue
        for key, item in config.items():
            found.append(("key", (*path, "config", key), key))
            if key in ("activation", "recurrent_activation") and isinstance(item, str):
                found.append(("activation", (*path, "config", key), item))
    return found


def changed(value: Any, path: Path_, new: str, rename: bool) -> Any:
    if not path:
        return new
    step, rest = path[0], path[1:]
    if isinstance(value, dict):
        if rename and not rest:
            return {(new if k == step else k): v for k, v in value.items()}
        return {k: (changed(v, rest, new, rename) if k == step else v) for k, v in value.items()}
    copy = list(value)
    copy[step] = changed(value[step], rest, new, rename)  # type: ignore[index]
    return copy


def mistakes(
    source: str, value: Any, count: int, names: dict[str, set[str]], rng: random.Random
) -> list[Mistake]:
    by_kind: dict[str, list[tuple[str, Path_, str]]] = defaultdict(list)
    for place in targets(value):
        by_kind[place[0]].append(place)
    for places in by_kind.values():
        rng.shuffle(places)
    out: list[Mistake] = []
    attempts = 0
    while len(out) < count and any(by_kind.values()) and attempts < 10 * count:
        attempts += 1
        # Kinds in turn, so that a config of many keys still gets its class and activation.
        kinds = [k for k in KINDS if by_kind.get(k)]
        kind, path, word = by_kind[kinds[len(out) % len(kinds)]].pop()
        typo_kind = rng.choice(TYPOS)
        new = typo(word, typo_kind, rng)
        if new is None or new == word:
            continue
        if kind == "key":
            container = value
            for step in path[:-1]:
                container = container[step]
            if new in container:
                continue
        elif new in names[kind]:
            continue  # another valid name: nothing to find
        document = changed(value, path, new, rename=kind == "key")
        out.append(Mistake(source, kind, typo_kind, path, word, new, document, value))
    return out


def loads(value: Any) -> tuple[bool, str]:
    import keras

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            keras.saving.deserialize_keras_object(json.loads(json.dumps(value)), safe_mode=True)
    except Exception as exc:  # any failure of Keras's loading is what is measured
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    return True, ""


def base_documents(args: argparse.Namespace, catalog: Any) -> list[tuple[str, Any, int]]:
    """(source, value, mistakes to make) of every document that loads as it is."""
    import keras

    docs: list[tuple[str, Any, int]] = []
    for entry in catalog.entries:
        if entry["family"] != "layer" or entry.get("custom") or not entry.get("instantiated"):
            continue
        config = entry.get("sample_config")
        if not isinstance(config, dict):
            continue
        value = {
            "module": entry.get("module"),
            "class_name": entry["class_name"],
            "config": config,
            "registered_name": entry.get("registered_name"),
        }
        docs.append((f"sample:{entry['class_name']}", value, args.per_sample))
    for path in sorted((ROOT / "examples").glob("*.layercfg.json")):
        docs.append((f"example:{path.name}", json.loads(path.read_text()), args.per_model))
    for name in [a for a in args.apps.split(",") if a]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = getattr(keras.applications, name)(**APPS[name])
        value = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))  # no tuples
        docs.append((f"app:{name}", value, args.per_model))
        del model
    return docs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--per-sample", type=int, default=3, help="mistakes per layer class")
    parser.add_argument("--per-model", type=int, default=12, help="mistakes per model")
    parser.add_argument("--apps", default="MobileNet,MobileNetV3Small")
    parser.add_argument("--show", type=int, default=15, help="failures listed after --fix")
    args = parser.parse_args()

    from layercfg.schema_builder.catalog import load_or_build
    from layercfg.server.catalog import Catalog
    from layercfg.server.document import Document
    from layercfg.server.services import code_actions
    from layercfg.server.settings import Settings

    try:
        from layercfg.server.services.fix_safety import apply_fixes
    except ImportError:  # a version before safety classes: --fix is fix_all
        apply_fixes = None

    started = time.perf_counter()
    catalog = Catalog.from_json(load_or_build(()))
    settings = Settings()
    fixer = code_actions.Fixer(catalog)
    names = {
        "class": {n for e in catalog.entries for n in (e["class_name"], *e.get("aliases", ()))},
        "activation": set(catalog.names_for("activation")),
    }
    rng = random.Random(args.seed)
    made: list[Mistake] = []
    skipped_bases = []
    for source, value, count in base_documents(args, catalog):
        ok, why = loads(value)
        document = Document.parse("file:///base.layercfg.json", json.dumps(value, indent=2), 1)
        if not ok or any(
            c.problem.severity == 1 for c in code_actions.engine.check(document, catalog, settings)
        ):
            skipped_bases.append((source, why or "fast-check error"))
            continue
        made += mistakes(source, value, count, names, rng)

    tally: dict[str, Counter[str]] = defaultdict(Counter)
    failures: list[tuple[Mistake, str, str]] = []
    inexact: list[tuple[Mistake, str]] = []
    for mistake in made:
        text = json.dumps(mistake.value, indent=2)
        document = Document.parse("file:///m.layercfg.json", text, 1)
        original = mistake.original
        group = [("all", ""), ("kind", mistake.kind), ("typo", mistake.typo)]
        before_ok, before_why = loads(mistake.value)
        safe_text, _ = code_actions.fix_all(document, catalog, settings, fixer)
        if apply_fixes is not None:
            cli_text = apply_fixes(document, catalog, settings, fixer).text
            unsafe_text = apply_fixes(document, catalog, settings, fixer, unsafe=True).text
        else:
            cli_text = unsafe_text = safe_text
        results = {"before": (before_ok, mistake.value, before_why)}
        for label, fixed in (("fix", safe_text), ("unsafe", unsafe_text)):
            try:
                value = json.loads(fixed)
            except ValueError:
                results[label] = (False, None, "not JSON")
                continue
            if value == original:
                results[label] = (True, value, "")  # the document that loads, as it was
            elif value == mistake.value:
                results[label] = (before_ok, value, before_why)
            else:
                ok, why = loads(value)
                results[label] = (ok, value, why)
        for label, (ok, value, _) in results.items():
            for axis, name in group:
                key = f"{axis}:{name}"
                tally[key]["n"] += label == "before"
                tally[key][label] += ok
                tally[key][label + "_exact"] += value == original
        tally["all:"]["cli_differs"] += cli_text != safe_text
        if results["fix"][0] and results["fix"][1] != original:
            inexact.append((mistake, _difference(original, results["fix"][1])))
        if not results["fix"][0]:
            note = "unsafe loads" if results["unsafe"][0] else ""
            failures.append((mistake, results["fix"][2], note))

    elapsed = time.perf_counter() - started
    total = tally["all:"]
    n = total["n"]
    sources = Counter(m.source.split(":")[0] for m in made)
    print(
        f"{n} documents with one mistake ({', '.join(f'{v} {k}' for k, v in sources.items())}); "
        f"seed {args.seed}; {elapsed:.0f} s"
    )
    if skipped_bases:
        print(f"bases left out (do not load as they are): {len(skipped_bases)}")
    print()
    print(f"{'':22} {'n':>5} {'before':>8} {'--fix':>8} {'unsafe':>8} {'exact':>12}")

    def row(label: str, counts: Counter[str]) -> None:
        if not counts["n"]:
            return
        share = {k: 100 * counts[k] / counts["n"] for k in ("before", "fix", "unsafe")}
        exact_fix = 100 * counts["fix_exact"] / counts["n"]
        exact = f"{exact_fix:.0f}/{100 * counts['unsafe_exact'] / counts['n']:.0f} %"
        print(
            f"{label:22} {counts['n']:5} {share['before']:7.1f}% {share['fix']:7.1f}% "
            f"{share['unsafe']:7.1f}% {exact:>12}"
        )

    row("all", total)
    for kind in KINDS:
        row(f"  {kind}", tally[f"kind:{kind}"])
    for name in TYPOS:
        row(f"  {name}", tally[f"typo:{name}"])
    print()
    fix_share = 100 * total["fix"] / n if n else 0.0
    unsafe_share = 100 * total["unsafe"] / n if n else 0.0
    print(f"load after check --fix:        {fix_share:.1f} % (target >= 90 %)")
    print(f"load after --unsafe-fixes:     {unsafe_share:.1f} % (target >= 97 %)")
    print(f"load as written (before):      {100 * total['before'] / n if n else 0:.1f} %")
    print("exact: the fixed document is the one before the mistake (--fix / --unsafe-fixes)")
    if total["cli_differs"]:
        print(f"check --fix and fix all differ on {total['cli_differs']} documents")
    if failures and args.show:
        print(f"\nstill failing after --fix ({len(failures)}; first {args.show}):")
        for mistake, why, note in failures[: args.show]:
            print(
                f"  {mistake.source} {mistake.kind}/{mistake.typo} "
                f"{mistake.before!r} -> {mistake.after!r}: {why[:90]}"
                + (f" [{note}]" if note else "")
            )
    if inexact and args.show:
        print(f"\nloading after --fix, but not as before the mistake ({len(inexact)}):")
        for mistake, difference in inexact[: args.show]:
            print(
                f"  {mistake.source} {mistake.kind}/{mistake.typo} "
                f"{mistake.before!r} -> {mistake.after!r}: {difference}"
            )
    met = fix_share >= 90 and unsafe_share >= 97
    return 0 if met else 1


def _difference(a: Any, b: Any, path: Path_ = ()) -> str:
    """Where two values first differ, for the listing."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"{'/'.join(map(str, path))}: keys {sorted(set(a) ^ set(b))}"
        for key in a:
            if a[key] != b[key]:
                return _difference(a[key], b[key], (*path, key))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _difference(x, y, (*path, index))
    return f"{'/'.join(map(str, path))}: {json.dumps(a)[:40]} became {json.dumps(b)[:40]}"


if __name__ == "__main__":
    sys.exit(main())
