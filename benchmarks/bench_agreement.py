"""Agreement with Keras on the KerasHub corpus (tests/kerashub_corpus.py) and, with
--applications, keras.applications models: clean documents with any error, and single mistakes
found and found at the right pointer, by the fast check and by the deep check.

    python benchmarks/bench_agreement.py [--applications] [-o FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def keras_error(value: Any) -> str | None:
    import keras

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            keras.saving.deserialize_keras_object(json.loads(json.dumps(value)), safe_mode=True)
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    return None


def pointer(path: tuple) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def applications() -> dict[str, Any]:
    import keras

    out = {}
    for name in sorted(dir(keras.applications)):
        build = getattr(keras.applications, name)
        if name[:1].isupper() and callable(build):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = build(weights=None)
            out[name] = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--applications", action="store_true")
    parser.add_argument("-o", "--output")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import kerashub_corpus as corpus

    from layercfg.schema_builder.catalog import load_or_build
    from layercfg.schema_builder.deep import DeepChecker
    from layercfg.schema_builder.keras_api import KerasAPI
    from layercfg.server.catalog import Catalog
    from layercfg.server.services.validation import ERROR, validate

    catalog = Catalog.from_json(load_or_build(("keras_hub",)))
    checker = DeepChecker(KerasAPI("keras"), modules=("keras_hub",))
    sets = {"KerasHub corpus": corpus.clean_documents()}
    if args.applications:
        sets["keras.applications"] = applications()
    lines = [
        "| set | clean | with fast error | with deep error | mistakes | fast found | "
        "fast at pointer | deep found | deep at pointer |",
        "|---" * 9 + "|",
    ]
    details = []
    keras_s = deep_s = 0.0
    for label, documents in sets.items():
        clean = {n: v for n, v in documents.items() if keras_error(v) is None}
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
        mistakes = [m for m in corpus.mutations(documents)] if label == "KerasHub corpus" else []
        counted = fast_found = fast_at = deep_found = deep_at = 0
        for m in mistakes:
            started = time.perf_counter()
            if keras_error(m.value) is None:
                details.append(f"Keras loads mutation {m.name}: not counted")
                continue
            keras_s += time.perf_counter() - started
            counted += 1
            fast = {pointer(f.path) for f in validate(m.value, catalog) if f.severity == ERROR}
            started = time.perf_counter()
            found = checker.check(m.value)["findings"]
            deep_s += time.perf_counter() - started
            deep = {pointer(tuple(f["path"])) for f in found if f["severity"] == 1}
            fast_found += bool(fast)
            fast_at += m.pointer in fast
            deep_found += bool(deep)
            deep_at += m.pointer in deep
            if m.pointer not in deep:
                details.append(f"deep elsewhere {m.name}: {sorted(deep)}")
        lines.append(
            f"| {label} | {len(clean)}/{len(documents)} | {fast_bad} | {deep_bad} | "
            f"{counted} | {fast_found} | {fast_at} | {deep_found} | {deep_at} |"
        )
    lines.append("")
    lines.append(
        f"locating the mistakes: deep check {deep_s:.2f} s, Keras's own load "
        f"{keras_s:.2f} s ({deep_s / keras_s if keras_s else 0:.1f}x)"
    )
    text = "\n".join(lines + [""] + details) + "\n"
    print(text, end="")
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
