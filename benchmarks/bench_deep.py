"""Deep check against Keras's own loading, side by side in one interpreter.

    python benchmarks/bench_deep.py [--runs N]

For the NASNetLarge config (1,041 layers, 88.9 M parameters) it times the deep check and
`keras.saving.deserialize_keras_object` of the same config, interleaved, each in a fresh
interpreter so that peak memory is measured alone; and it times a warm worker on ResNet50.
Targets: deep check <= half the time of deserialize; its extra peak memory <= a tenth of the
model's weight bytes; a warm worker checks ResNet50 in <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("LAYERCFG_BENCH_CACHE", tempfile.gettempdir())) / "layercfg-bench"

MAKE = """
import json, sys, keras
model = getattr(keras.applications, sys.argv[1])(weights=None)
print(json.dumps(keras.saving.serialize_keras_object(model)))
"""

# Each run: import Keras, note the peak, then do one thing and note the peak again.
RUN = """
import json, resource, sys, time
import keras
from layercfg.schema_builder.keras_api import KerasAPI
from layercfg.schema_builder.deep import DeepChecker
value = json.load(open(sys.argv[2]))
api = KerasAPI()
checker = DeepChecker(api)
checker.check({"module": "keras.layers", "class_name": "Dense", "config": {"units": 1}})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
if sys.argv[1] == "deep":
    result = checker.check(value)
    assert not [f for f in result["findings"] if f["severity"] == 1], result["findings"]
    params = result["total_params"]
else:
    model = keras.saving.deserialize_keras_object(value, safe_mode=True)
    params = model.count_params()
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "extra_mb": (after - before) / 1024, "params": params}))
"""


def document(name: str) -> Path:
    import importlib.metadata

    folder = CACHE / f"keras-{importlib.metadata.version('keras')}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.layercfg.json"
    if not path.exists():
        print(f"generating {name} (once) ...", file=sys.stderr)
        out = subprocess.run([sys.executable, "-c", MAKE, name], capture_output=True,
                             text=True, check=True, env=_env()).stdout
        path.write_text(out.strip().splitlines()[-1])
    return path


def _env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def run(kind: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", RUN, kind, str(path)], capture_output=True,
                         text=True, check=True, env=_env()).stdout
    return json.loads(out.strip().splitlines()[-1])


async def warm_worker(path: Path, runs: int) -> list[float]:
    from layercfg.server.deepcheck import run_check
    from layercfg.server.document import Document
    from layercfg.server.settings import Settings
    from layercfg.server.worker import WorkerClient

    worker = WorkerClient(env=_env())
    document = Document.parse(path.as_uri(), path.read_text(), 1)
    settings = Settings(deepCheckTimeout=300)
    times = []
    try:
        await run_check(worker, document, settings, None)  # warm: Keras imported
        for _ in range(runs):
            started = time.perf_counter()
            result = await run_check(worker, document, settings, None)
            times.append(time.perf_counter() - started)
            assert not [d for d in result.diagnostics if d.severity == 1], result.diagnostics
    finally:
        await worker.stop()
    return times


def spread(values: list[float], unit: str = "s") -> str:
    return (f"median {statistics.median(values):.3f} {unit} "
            f"(min {min(values):.3f}, max {max(values):.3f}, n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    nasnet, resnet = document("NASNetLarge"), document("ResNet50")
    deep, keras_load = [], []
    for _ in range(args.runs):  # interleaved: the machine is noisy
        deep.append(run("deep", nasnet))
        keras_load.append(run("keras", nasnet))
    params = deep[0]["params"]
    weight_mb = params * 4 / 2**20
    deep_s = [r["seconds"] for r in deep]
    keras_s = [r["seconds"] for r in keras_load]
    deep_mb = [r["extra_mb"] for r in deep]
    keras_mb = [r["extra_mb"] for r in keras_load]
    ratio = statistics.median(deep_s) / statistics.median(keras_s)
    print(f"NASNetLarge: {params:,} parameters = {weight_mb:.0f} MB of float32 weights")
    print(f"  deep check                        {spread(deep_s)}")
    print(f"  deserialize_keras_object (peer)   {spread(keras_s)}")
    print(f"  time ratio deep / deserialize     {ratio:.2f}   target <= 0.50")
    print(f"  extra peak memory, deep check     {spread(deep_mb, 'MB')}")
    print(f"  extra peak memory, deserialize    {spread(keras_mb, 'MB')}")
    print(f"  deep extra / weight bytes         {statistics.median(deep_mb) / weight_mb:.3f}"
          "   target <= 0.100")
    warm = asyncio.run(warm_worker(resnet, max(args.runs, 3)))
    print(f"ResNet50, warm worker, round trip   {spread(warm)}   target <= 1 s")


if __name__ == "__main__":
    main()
