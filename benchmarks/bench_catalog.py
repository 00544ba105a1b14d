"""Catalog build and cached load, each in a fresh interpreter, with `import keras` as the peer.

    python benchmarks/bench_catalog.py [--runs N] [--modules keras_hub]

By default the Keras-only catalog and the keras_hub one, interleaved in each run. Prints
medians and spreads, and the keras_hub build as a ratio to the Keras-only build of the same
run (the machine may be busy). Targets: Keras only, build (import included) < 15 s and cached
load without importing Keras < 100 ms; keras_hub, build < 15 s and cached load < 1 s.
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


TARGETS = {(): (15.0, 0.100), ("keras_hub",): (15.0, 1.0)}  # (cold, warm) seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--modules",
        default=None,
        help="comma-separated, e.g. keras_hub (default: none, then keras_hub)",
    )
    args = parser.parse_args()
    if args.modules is None:
        sets = [(), ("keras_hub",)]
    else:
        sets = [tuple(m for m in args.modules.split(",") if m)]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, LAYERCFG_CACHE_DIR=cache, TF_CPP_MIN_LOG_LEVEL="3")
        imports: list[float] = []
        builds: dict[tuple[str, ...], list[float]] = {m: [] for m in sets}
        loads: dict[tuple[str, ...], list[float]] = {m: [] for m in sets}
        sizes: dict[tuple[str, ...], tuple[int, int]] = {}
        for _ in range(args.runs):  # interleaved: the machine is noisy
            imports.append(run(IMPORT_KERAS, env)["seconds"])
            for modules in sets:
                result = run(BUILD, env, modules)
                builds[modules].append(result["seconds"])
                for _ in range(3):
                    loaded = run(LOAD, env, modules)
                    loads[modules].append(loaded["seconds"])
                    sizes[modules] = (result["classes"], loaded["bytes"])
    print(f"import keras (peer)           {summary(imports)}")
    for modules in sets:
        classes, size = sizes[modules]
        cold, warm = TARGETS.get(modules, (15.0, 1.0))
        label = ", ".join(modules) or "keras only"
        print(f"modules: {label}: {classes} classes, {size / 1e6:.1f} MB on disk")
        print(f"  cold (build, import incl.)  {summary(builds[modules])}   target < {cold:g} s")
        ratio = statistics.median(builds[modules]) / statistics.median(imports)
        print(f"  cold / import keras         {ratio:.2f}x")
        print(f"  warm (cached load, no Keras) {summary(loads[modules])}   target < {warm:g} s")
    if len(sets) == 2:
        ratio = statistics.median(builds[sets[1]]) / statistics.median(builds[sets[0]])
        print(f"cold {', '.join(sets[1])} / cold keras only: {ratio:.2f}x")


if __name__ == "__main__":
    main()
