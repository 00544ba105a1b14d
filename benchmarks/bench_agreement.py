"""Agreement with Keras on the KerasHub corpus (tests/kerashub_corpus.py), with --wide on
every KerasHub class that builds offline (tests/kerashub_wide.py, mistakes in every
``--every``-th document; and the same checks through ``layercfg check`` on ``.keras`` archives
and preset folders saved from it), with --applications on keras.applications models and with
--keras2 on a Keras 2 (tf_keras) MobileNetV2 (mistakes made in one of their layers by
tests/model_mistakes.py): clean documents with any error, and single mistakes found, found at
the right pointer and found exactly once, by the fast check and by the deep check.

Locating is timed against Keras on the same document: the deep check of a wrong document
over Keras's own refusal of it, and over Keras's load of the clean document it was made from
(what a person waits for when loading that model); the median and the worst of the ratios.

With --schema, the exported schema instead (``layercfg schema``, what an editor checks with):
on the same documents and mistakes, whether it reports an error where the fast checks do,
and the time ``jsonschema`` and ``jsonschema_rs`` take to check them (the ratio), beside the
fast checks' own time.

    python benchmarks/bench_agreement.py [--wide [--every N]] [--applications [--only M,...]]
        [--keras2] [-o FILE]
    python benchmarks/bench_agreement.py --schema [--applications [--only M,...]] [--no-python]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def keras_error(value: Any, flavor: str = "keras") -> str | None:
    """What Keras raises loading the document: Keras 3's safe loader, or for ``tf_keras``
    what loads a Keras 2 model's JSON (``model_from_json``)."""
    if flavor == "tf_keras":
        import tf_keras as keras

        def load(text):
            return keras.models.model_from_json(text)
    else:
        import keras

        def load(text):
            return keras.saving.deserialize_keras_object(json.loads(text), safe_mode=True)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load(json.dumps(value))
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    finally:
        keras.backend.clear_session()
    return None


def keras_seconds(value: Any, flavor: str, runs: int = 2) -> float:
    """Keras's own time for the document: the best of ``runs`` (a first load imports)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        keras_error(value, flavor)
        times.append(time.perf_counter() - started)
    return min(times)


def keras2_mobilenet() -> dict[str, Any]:
    """A Keras 2 MobileNetV2 (tf_keras, ``to_json``), full size, without weights."""
    import tf_keras

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = tf_keras.applications.MobileNetV2(weights=None)
    out = {"MobileNetV2": json.loads(model.to_json())}
    tf_keras.backend.clear_session()
    return out


def ratios(pairs: list[tuple[float, float]]) -> str:
    if not pairs:
        return "none"
    values = sorted(deep / keras for deep, keras in pairs if keras > 0)
    return f"median {statistics.median(values):.1f}x, worst {values[-1]:.1f}x"


def pointer(path: tuple) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def applications(only: set[str] | None = None) -> dict[str, Any]:
    import keras

    out = {}
    for name in sorted(dir(keras.applications)):
        build = getattr(keras.applications, name)
        if only and name not in only:
            continue
        if name[:1].isupper() and callable(build):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = build(weights=None)
            out[name] = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
            keras.backend.clear_session()
    return out


def schema_engines(sets: dict[str, tuple[dict[str, Any], Any]], python: bool) -> list[str]:
    """The exported schema against the fast checks, with each JSON Schema engine timed."""
    import jsonschema
    import jsonschema_rs

    from layercfg.server.services.validation import ERROR, validate

    codes = {"LCF101", "LCF102", "LCF103", "LCF104", "LCF105", "LCF106"}
    lines = [
        "| set | documents | fast errors | schema errors | disagree | fast | jsonschema_rs "
        "| jsonschema | jsonschema / jsonschema_rs |",
        "|---" * 9 + "|",
    ]
    details = []
    for label, (documents, catalog) in sets.items():
        schema = catalog.data["schema"]
        started = time.perf_counter()
        engines = {"rs": jsonschema_rs.Draft202012Validator(schema)}
        compile_rs = time.perf_counter() - started
        if python:
            engines["py"] = jsonschema.Draft202012Validator(schema)
        spent = {"fast": 0.0, "rs": 0.0, "py": 0.0}
        fast_bad = schema_bad = disagree = 0
        for name, value in documents.items():
            started = time.perf_counter()
            fast = [f for f in validate(value, catalog) if f.severity == ERROR and f.code in codes]
            spent["fast"] += time.perf_counter() - started
            verdicts = {}
            for engine, validator in engines.items():
                started = time.perf_counter()
                verdicts[engine] = bool(list(validator.iter_errors(value)))
                spent[engine] += time.perf_counter() - started
            fast_bad += bool(fast)
            schema_bad += verdicts["rs"]
            if any(v != bool(fast) for v in verdicts.values()):
                disagree += 1
                details.append(f"disagree {label} {name}: fast {bool(fast)}, schema {verdicts}")
        python_s = f"{spent['py']:.2f} s" if python else "-"
        ratio = f"{spent['py'] / spent['rs']:.0f}x" if python and spent["rs"] else "-"
        lines.append(
            f"| {label} | {len(documents)} | {fast_bad} | {schema_bad} | {disagree} | "
            f"{spent['fast']:.2f} s | {spent['rs']:.2f} s (+{compile_rs:.2f} s compiling) | "
            f"{python_s} | {ratio} |"
        )
    return lines + [""] + details


def files_table(built: Any, count: int) -> list[str]:
    """``layercfg check`` (fast, then ``--deep``) on ``count`` ``.keras`` archives and preset
    folders saved from the wide corpus, clean and with a misspelt key in their config."""
    import contextlib
    import io
    import shutil
    import tempfile
    import zipfile

    import kerashub_wide as wide

    from layercfg.cli import main as cli

    def run(path: Path, deep: bool) -> list[dict[str, Any]]:
        out = io.StringIO()
        argv = ["check", "--format", "json", "--modules", "keras_hub", str(path)]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            cli(argv + (["--deep"] if deep else []))
        # --deep reports the fast checks' findings too: the deep check's are Keras's.
        return [
            {**d, "file": Path(f["path"]).relative_to(folder).as_posix()}
            for f in json.loads(out.getvalue())["files"]
            for d in f["diagnostics"]
            if d["severity"] == "error" and (not deep or d.get("source") == "keras")
        ]

    def misspelt(config: dict[str, Any]) -> tuple[dict[str, Any], str]:
        key = next(k for k in config["config"] if k not in ("name", "trainable", "dtype"))
        config = json.loads(json.dumps(config))
        config["config"][key + "s_"] = config["config"].pop(key)
        return config, f"/config/{key}s_"

    def wrong_archive(path: Path) -> tuple[Path, str]:
        target = path.with_name(path.stem + ".wrong.keras")
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as out:
            for item in source.infolist():
                data = source.read(item)
                if item.filename == "config.json":
                    value, where = misspelt(json.loads(data))
                    data = json.dumps(value).encode()
                out.writestr(item, data)
        return target, where

    def wrong_preset(path: Path) -> tuple[Path, str]:
        target = path.with_name(path.name + ".wrong")
        shutil.copytree(path, target)
        value, where = misspelt(json.loads((target / "config.json").read_text()))
        (target / "config.json").write_text(json.dumps(value, indent=2))
        return target, where

    lines = [
        "| files | clean | with fast error | with deep error | mistakes | fast at pointer "
        "| deep at pointer |",
        "|---" * 7 + "|",
    ]
    details: list[str] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        saved = wide.save_files(built, folder, count)
        details += [f"not saved {name} ({kind}): {why}" for name, kind, why in saved["failed"]]
        for label, key, spoil in (
            (".keras archives", "archives", wrong_archive),
            ("preset folders", "presets", wrong_preset),
        ):
            paths = saved[key]
            bad = {False: 0, True: 0}
            at = {False: 0, True: 0}
            for path in paths:
                wrong, where = spoil(path)
                for deep in (False, True):
                    errors = run(path, deep)
                    bad[deep] += bool(errors)
                    details += [
                        f"false {'deep' if deep else 'fast'} error {path.name}: {e['code']} "
                        f"{e['file']} {e['pointer']} {e['message'][:160]}"
                        for e in errors
                    ]
                    found = {e["pointer"] for e in run(wrong, deep)}
                    at[deep] += where in found
                    if where not in found:
                        details.append(f"missed {wrong.name} {where}: {sorted(found)}")
            lines.append(
                f"| {label} | {len(paths)} | {bad[False]} | {bad[True]} | {len(paths)} | "
                f"{at[False]} | {at[True]} |"
            )
    return lines + [""] + details


def _with_mistakes(documents: dict[str, Any], label: str) -> dict[str, Any]:
    import kerashub_corpus as corpus
    import kerashub_wide as wide
    import model_mistakes

    out = dict(documents)
    if label == "KerasHub corpus":
        mistakes = corpus.mutations(documents)
    elif label == "KerasHub wide":
        mistakes = wide.mutations(documents)
    else:
        mistakes = [m for n, v in documents.items() for m in model_mistakes.mistakes(n, v)]
    out.update({m.name: m.value for m in mistakes})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wide", action="store_true", help="every KerasHub class that builds")
    parser.add_argument("--every", type=int, default=3, help="--wide: mistakes in every N-th")
    parser.add_argument("--files", type=int, default=6, help="--wide: archives and presets")
    parser.add_argument("--applications", action="store_true")
    parser.add_argument("--keras2", action="store_true", help="a tf_keras MobileNetV2 too")
    parser.add_argument("--only", help="comma-separated keras.applications models (default: all)")
    parser.add_argument("-o", "--output")
    parser.add_argument("--schema", action="store_true", help="the exported schema instead")
    parser.add_argument("--no-python", action="store_true", help="--schema: no jsonschema")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import kerashub_corpus as corpus
    import model_mistakes

    from layercfg.schema_builder.catalog import load_or_build
    from layercfg.schema_builder.deep import DeepChecker
    from layercfg.schema_builder.keras_api import KerasAPI
    from layercfg.server.catalog import Catalog
    from layercfg.server.services.validation import ERROR, validate

    catalog = Catalog.from_json(load_or_build(("keras_hub",)))
    if args.schema:
        checked = {"KerasHub corpus": (corpus.clean_documents(), catalog)}
        if args.wide:
            import kerashub_wide as wide

            checked["KerasHub wide"] = (wide.clean_documents(), catalog)
        if args.applications:
            only = set(args.only.split(",")) if args.only else None
            plain = Catalog.from_json(load_or_build(()))
            checked["keras.applications"] = (applications(only), plain)
        checked = {k: (_with_mistakes(d, k), c) for k, (d, c) in checked.items()}
        text = "\n".join(schema_engines(checked, not args.no_python)) + "\n"
        print(text, end="")
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        return
    checker = DeepChecker(KerasAPI("keras"), modules=("keras_hub",))
    keras3 = ("keras", catalog, checker)
    sets = {"KerasHub corpus": (corpus.clean_documents(), *keras3)}
    built = None
    if args.wide:
        import kerashub_wide as wide

        built = wide.build()
        sets["KerasHub wide"] = (wide.documents_of(built), *keras3)
    if args.applications:
        only = set(args.only.split(",")) if args.only else None
        sets["keras.applications"] = (applications(only), *keras3)
    if args.keras2:
        legacy = Catalog.from_json(load_or_build((), "tf_keras"))
        sets["tf_keras MobileNetV2"] = (
            keras2_mobilenet(),
            "tf_keras",
            legacy,
            DeepChecker(KerasAPI("tf_keras")),
        )
    lines = [
        "| set | clean | with fast error | with deep error | mistakes | fast found | "
        "fast at pointer | deep found | deep at pointer | deep once |",
        "|---" * 10 + "|",
    ]
    details, timing = [], []
    clean_s: dict[tuple[str, str], float] = {}
    for label, (documents, flavor, catalog, checker) in sets.items():
        keras_s = deep_s = 0.0
        refusal: list[tuple[float, float]] = []  # (deep check, Keras refusing the same one)
        load: list[tuple[float, float]] = []  # (deep check, Keras loading the clean one)
        clean = {n: v for n, v in documents.items() if keras_error(v, flavor) is None}
        fast_bad = deep_bad = 0
        for name, value in clean.items():
            fast = [f for f in validate(value, catalog) if f.severity == ERROR]
            deep = [f for f in checker.check(value)["findings"] if f["severity"] == 1]
            fast_bad += bool(fast)
            deep_bad += bool(deep)
            for f in fast:
                details.append(f"false fast error {name}: {f.code} {pointer(f.path)}")
            for f in deep:
                details.append(f"false deep error {name}: {f['code']} {pointer(tuple(f['path']))}")
        if label == "KerasHub corpus":
            mistakes = corpus.mutations(documents)
        elif label == "KerasHub wide":
            mistakes = wide.mutations(clean, args.every)
        else:
            mistakes = [m for n, v in clean.items() for m in model_mistakes.mistakes(n, v)]
        counted = fast_found = fast_at = deep_found = deep_at = deep_once = 0
        for m in mistakes:
            started = time.perf_counter()
            if keras_error(m.value, flavor) is None:
                details.append(f"Keras loads mutation {m.name}: not counted")
                continue
            refused = min(time.perf_counter() - started, keras_seconds(m.value, flavor, 1))
            if (label, m.base) not in clean_s:
                clean_s[label, m.base] = keras_seconds(documents[m.base], flavor)
            keras_s += refused
            counted += 1
            fast = {pointer(f.path) for f in validate(m.value, catalog) if f.severity == ERROR}
            started = time.perf_counter()
            found = checker.check(m.value)["findings"]
            spent = time.perf_counter() - started
            deep_s += spent
            refusal.append((spent, refused))
            load.append((spent, clean_s[label, m.base]))
            errors = [pointer(tuple(f["path"])) for f in found if f["severity"] == 1]
            deep = set(errors)
            fast_found += bool(fast)
            fast_at += m.pointer in fast
            deep_found += bool(deep)
            deep_at += m.pointer in deep
            deep_once += errors == [m.pointer]
            if m.pointer not in deep:
                details.append(f"deep elsewhere {m.name}: {sorted(deep)}")
            elif errors != [m.pointer]:
                details.append(f"deep more than once {m.name}: {errors}")
            loaded = clean_s[label, m.base]
            details.append(
                f"time {m.name}: deep {spent * 1000:.0f} ms, Keras refusing it "
                f"{refused * 1000:.0f} ms, loading the clean one {loaded * 1000:.0f} ms"
            )
        lines.append(
            f"| {label} | {len(clean)}/{len(documents)} | {fast_bad} | {deep_bad} | "
            f"{counted} | {fast_found} | {fast_at} | {deep_found} | {deep_at} | {deep_once} |"
        )
        timing += [
            "",
            f"{label}: locating the mistakes, deep check {deep_s:.2f} s, Keras's own refusal "
            f"{keras_s:.2f} s ({deep_s / keras_s if keras_s else 0:.1f}x)",
            f"  per document, over Keras refusing the same document: {ratios(refusal)}",
            f"  per document, over Keras loading the clean document: {ratios(load)}",
        ]
    files = ["", *files_table(built, args.files)] if built is not None else []
    text = "\n".join(lines + timing + files + [""] + details) + "\n"
    print(text, end="")
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
