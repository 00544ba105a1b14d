"""Catalog build and cached load, each in a fresh interpreter, with `import keras` as the peer.

    python benchmarks/bench_catalog.py [--runs N]

Each run, interleaved (the machine is noisy), each case with a cache folder of its own:

- keras only, cold: nothing cached;
- keras_hub, truly cold: nothing cached at all;
- keras_hub, Keras part cached: the cache holds only what a Keras-only build kept of Keras's
  own classes (the case once layercfg has been used once);
- keras_hub, warm: the catalog is cached; end to end through the command line's
  ``load_or_build`` and through the server's path (its cache key, computed as the server
  computes it, then ``Catalog.load``), each in a fresh interpreter that never imports Keras;
- keras only, warm: the same for the Keras-only catalog.

Prints medians and spreads against the targets (issue 15: keras_hub cold < 15 s, warm < 1 s;
Keras only cold < 15 s, warm < 100 ms), PASS or FAIL on the median.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BUILD = """
import time, json
t = time.perf_counter()
from layercfg.schema_builder import catalog, catalog_cache
builder_part = catalog_cache.read_part() is not None
data = catalog.load_or_build(MODULES)
print(json.dumps({"seconds": time.perf_counter() - t, "classes": len(data["classes"]),
                  "had_part": builder_part}))
"""

IMPORT = """
import time, json
t = time.perf_counter()
import keras
k = time.perf_counter()
import keras_hub
print(json.dumps({"keras": k - t, "keras_hub": time.perf_counter() - k}))
"""

WARM_CLI = """
import time, json, sys
t = time.perf_counter()
from layercfg.schema_builder import catalog, catalog_cache
data = catalog.load_or_build(MODULES)
seconds = time.perf_counter() - t
assert "keras" not in sys.modules and "tensorflow" not in sys.modules
path = catalog_cache.cache_path(MODULES)
print(json.dumps({"seconds": seconds, "bytes": path.stat().st_size}))
"""

WARM_SERVER = """
import time, json, sys
t = time.perf_counter()
from layercfg.schema_builder import cachekey
from layercfg.server.catalog import Catalog
key = cachekey.compute(MODULES, "keras", cachekey.search_path(MODULES, None))
path = cachekey.cache_dir() / key.filename
catalog = Catalog.load(path)
seconds = time.perf_counter() - t
assert "keras" not in sys.modules and "tensorflow" not in sys.modules
assert catalog.entries
print(json.dumps({"seconds": seconds}))
"""


def run(code: str, cache: Path, modules: tuple[str, ...] = ()) -> dict:
    env = dict(os.environ, LAYERCFG_CACHE_DIR=str(cache), TF_CPP_MIN_LOG_LEVEL="3")
    code = f"MODULES = {modules!r}\n" + code
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(values: list[float]) -> str:
    median = statistics.median(values)
    return f"median {median:7.3f} s (min {min(values):.3f}, max {max(values):.3f}, n={len(values)})"


def verdict(values: list[float], target: float) -> str:
    return "PASS" if statistics.median(values) < target else "FAIL"


HUB = ("keras_hub",)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--loads", type=int, default=3, help="warm loads per run and path")
    args = parser.parse_args()
    cases: dict[str, list[float]] = {
        name: []
        for name in (
            "keras_cold",
            "hub_cold",
            "hub_part",
            "hub_warm_cli",
            "hub_warm_server",
            "keras_warm_cli",
            "keras_warm_server",
        )
    }
    imports: dict[str, list[float]] = {"keras": [], "keras_hub": []}
    sizes: dict[tuple[str, ...], tuple[int, int]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(args.runs):
            base = Path(scratch) / f"run{index}"
            keras_only, hub_cold, hub_part = base / "keras", base / "hub-cold", base / "hub-part"
            for folder in (keras_only, hub_cold, hub_part):
                folder.mkdir(parents=True)
            for name, seconds in run(IMPORT, keras_only).items():
                imports[name].append(seconds)
            built = run(BUILD, keras_only)
            assert not built["had_part"]
            cases["keras_cold"].append(built["seconds"])
            sizes[()] = (built["classes"], 0)
            built = run(BUILD, hub_cold, HUB)
            assert not built["had_part"]
            cases["hub_cold"].append(built["seconds"])
            sizes[HUB] = (built["classes"], 0)
            parts = list(keras_only.glob("part-*.json"))
            assert len(parts) == 1, "a Keras-only build keeps its part of Keras's classes"
            shutil.copy(parts[0], hub_part / parts[0].name)
            built = run(BUILD, hub_part, HUB)
            assert built["had_part"]
            cases["hub_part"].append(built["seconds"])
            for _ in range(args.loads):
                for modules, cache, prefix in ((HUB, hub_cold, "hub"), ((), keras_only, "keras")):
                    loaded = run(WARM_CLI, cache, modules)
                    cases[f"{prefix}_warm_cli"].append(loaded["seconds"])
                    sizes[modules] = (sizes[modules][0], loaded["bytes"])
                    served = run(WARM_SERVER, cache, modules)
                    cases[f"{prefix}_warm_server"].append(served["seconds"])
    print(f"import keras (peer)                  {summary(imports['keras'])}")
    print(f"import keras_hub (after keras)       {summary(imports['keras_hub'])}")
    for modules, label in (((), "keras only"), (HUB, "keras_hub")):
        classes, size = sizes[modules]
        print(f"{label}: {classes} classes, {size / 1e6:.1f} MB on disk")
    rows = [
        ("keras only, cold (nothing cached)", "keras_cold", 15.0),
        ("keras only, warm (command line)", "keras_warm_cli", 0.100),
        ("keras only, warm (server: key + load)", "keras_warm_server", 0.100),
        ("keras_hub, truly cold (nothing cached)", "hub_cold", 15.0),
        ("keras_hub, cold, Keras part cached", "hub_part", 15.0),
        ("keras_hub, warm (command line)", "hub_warm_cli", 1.0),
        ("keras_hub, warm (server: key + load)", "hub_warm_server", 1.0),
    ]
    for label, name, target in rows:
        values = cases[name]
        print(f"  {label:40} {summary(values)}  target < {target:g} s  {verdict(values, target)}")
    ratio = statistics.median(cases["hub_part"]) / statistics.median(cases["hub_cold"])
    print(f"keras_hub with the part cached / truly cold: {ratio:.2f}x")


if __name__ == "__main__":
    main()
