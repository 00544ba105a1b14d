"""JSON Schema engines for the fast checks: jsonschema (Python) against jsonschema-rs (Rust).

    python benchmarks/bench_engines.py [--runs N]

Prints, for the catalog the checks use: compile time of the whole exported schema, and the
time to validate each example and NASNetLarge's config (1,041 layers, the one bench_validation
uses) against it, with the ratio of the two engines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_validation import load_catalog, nasnet_config_path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def best(function: Any, runs: int) -> tuple[float, float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return min(seconds) * 1000, statistics.median(seconds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import jsonschema
    import jsonschema_rs

    catalog = load_catalog()
    schema = catalog.schema
    py_compile, _ = best(lambda: jsonschema.Draft202012Validator(schema), args.runs)
    rs_compile, _ = best(lambda: jsonschema_rs.Draft202012Validator(schema), args.runs)
    print(
        f"{'compile (whole catalog schema)':<44} jsonschema {py_compile:9.2f} ms   "
        f"jsonschema-rs {rs_compile:9.2f} ms"
    )
    from layercfg.server.services.schema_engine import Engine, class_config_schema

    started = time.perf_counter()
    engine = Engine(catalog, {})
    for entry in catalog.entries:
        engine.compiled(entry["id"], class_config_schema(catalog, entry))
    per_class = (time.perf_counter() - started) * 1000
    print(
        f"{'compile per class, as the checks do':<44} jsonschema-rs {per_class:9.2f} ms "
        f"for {len(catalog.entries)} classes ({per_class / len(catalog.entries):.3f} ms each)"
    )
    python = jsonschema.Draft202012Validator(schema)
    rust = jsonschema_rs.Draft202012Validator(schema)
    documents = {
        p.name: json.loads(p.read_text()) for p in sorted((ROOT / "examples").glob("*.json"))
    }
    documents["NASNetLarge (2 MB)"] = json.loads(nasnet_config_path().read_text())
    for name, document in documents.items():
        runs = args.runs if len(json.dumps(document)) < 100_000 else max(1, args.runs // 2)
        py, _ = best(lambda d=document: list(python.iter_errors(d)), runs)
        rs, _ = best(lambda d=document: list(rust.iter_errors(d)), runs)
        print(
            f"{name:<44} jsonschema {py:9.2f} ms   jsonschema-rs {rs:9.2f} ms   "
            f"ratio {py / max(rs, 1e-6):7.1f}x"
        )


if __name__ == "__main__":
    main()
