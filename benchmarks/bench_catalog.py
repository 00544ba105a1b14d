"""Catalog build and cached load, each in a fresh interpreter, with `import keras` as the peer.

    python benchmarks/bench_catalog.py [--runs N] [--modules keras_hub]

Prints medians and spreads. Targets: full build (Keras import included) <= 15 s; loading the
cached catalog without importing Keras <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

BUILD = """
import time, json
t = time.perf_counter()
from layercfg.schema_builder.catalog import load_or_build
data = load_or_build(MODULES, rebuild=True)
print(json.dumps({"seconds": time.perf_counter() - t, "classes": len(data["classes"])}))
"""

IMPORT_KERAS = """
import time, json
t = time.perf_counter()
import keras
print(json.dumps({"seconds": time.perf_counter() - t}))
"""

LOAD = """
import time, json, sys
t = time.perf_counter()
from layercfg.schema_builder import catalog
path = catalog.cache_path(MODULES)
with path.open(encoding="utf-8") as handle:
    data = json.load(handle)
seconds = time.perf_counter() - t
assert "keras" not in sys.modules and "tensorflow" not in sys.modules
print(json.dumps({"seconds": seconds, "bytes": path.stat().st_size}))
"""


def run(code: str, env: dict[str, str], modules: tuple[str, ...] = ()) -> dict:
    code = f"MODULES = {modules!r}\n" + code
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def summary(values: list[float]) -> str:
    median = statistics.median(values)
    return f"median {median:.3f} s (min {min(values):.3f}, max {max(values):.3f}, n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modules", default="", help="comma-separated, e.g. keras_hub")
    args = parser.parse_args()
    modules = tuple(m for m in args.modules.split(",") if m)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, LAYERCFG_CACHE_DIR=cache, TF_CPP_MIN_LOG_LEVEL="3")
        builds, imports, loads = [], [], []
        classes = size = 0
        for _ in range(args.runs):  # interleaved: the machine is noisy
            imports.append(run(IMPORT_KERAS, env)["seconds"])
            result = run(BUILD, env, modules)
            builds.append(result["seconds"])
            classes = result["classes"]
            for _ in range(3):
                loaded = run(LOAD, env, modules)
                loads.append(loaded["seconds"])
                size = loaded["bytes"]
    print(f"modules: {', '.join(modules) or 'none'} (cold = build, warm = cached load)")
    print(f"catalog: {classes} classes, {size / 1e6:.1f} MB on disk")
    print(f"import keras (peer)         {summary(imports)}")
    print(f"full build, import included {summary(builds)}   target <= 15 s")
    print(
        f"  build / import keras      {statistics.median(builds) / statistics.median(imports):.2f}x"
    )
    print(f"cached load, no Keras       {summary(loads)}   target <= 0.100 s")


if __name__ == "__main__":
    main()
