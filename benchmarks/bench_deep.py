"""Deep check against Keras's own loading, side by side in one interpreter.

    python benchmarks/bench_deep.py [--runs N] [--stacks-only] [--keras-limit SECONDS]
                                    [--only stacks|incremental|nasnet|resnet]

Plain stacks first: Sequential and Functional models of 100, 400 and 2,000 ``Dense(16)``
layers, deep-checked and loaded by ``deserialize_keras_object``. Keras's own loading of a
Sequential is quadratic (every ``add`` rebuilds the graph), so a Keras load that passes
``--keras-limit`` (default 120 s) is stopped and reported as a lower bound. Targets: a
400-layer Sequential deep-checked in <= 10 % of Keras's load time; a 2,000-layer one within
the default deep-check time limit (20 s).

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

# A plain stack of n Dense(16) layers, serialized by Keras (the Sequential's layer list is
# extended by hand: building a 2,000-layer Sequential in Keras is itself quadratic).
STACK = """
import json, sys, keras
kind, n = sys.argv[1], int(sys.argv[2])
if kind == "Sequential":
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(16, name="dense_0")])
    value = keras.saving.serialize_keras_object(model)
    layers = value["config"]["layers"]
    for i in range(1, n):
        copy = json.loads(json.dumps(layers[-1]))
        copy["config"]["name"] = f"dense_{i}"
        layers.append(copy)
else:
    x = inputs = keras.Input((16,))
    for i in range(n):
        x = keras.layers.Dense(16, name=f"dense_{i}")(x)
    value = keras.saving.serialize_keras_object(keras.Model(inputs, x))
print(json.dumps(value))
"""

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
        out = subprocess.run(
            [sys.executable, "-c", MAKE, name],
            capture_output=True,
            text=True,
            check=True,
            env=_env(),
        ).stdout
        path.write_text(out.strip().splitlines()[-1])
    return path


def stack(kind: str, n: int) -> Path:
    import importlib.metadata

    folder = CACHE / f"keras-{importlib.metadata.version('keras')}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{n}.layercfg.json"
    if not path.exists():
        out = subprocess.run(
            [sys.executable, "-c", STACK, kind, str(n)],
            capture_output=True,
            text=True,
            check=True,
            env=_env(),
        ).stdout
        path.write_text(out.strip().splitlines()[-1])
    return path


def run_limited(kind: str, path: Path, limit: float) -> float | None:
    """Seconds of one run, or None when it passed the limit (the process is stopped)."""
    try:
        return run(kind, path, timeout=limit + 30)["seconds"]
    except subprocess.TimeoutExpired:
        return None


def stacks(limit: float) -> None:
    print("Plain stacks of Dense(16): deep check against deserialize_keras_object")
    print(f"  {'model':<18} {'deep check':>11} {'Keras load':>11} {'ratio':>7}   target")
    for kind in ("Sequential", "Functional"):
        for n in (100, 400, 2000):
            path = stack(kind, n)
            deep = run_limited("deep", path, 600)
            keras_s = run_limited("keras", path, limit)
            deep_text = f"{deep:.2f} s" if deep is not None else "> 600 s"
            keras_text = f"{keras_s:.2f} s" if keras_s is not None else f"> {limit:.0f} s"
            if deep is None:
                ratio = "-"
            elif keras_s is None:
                ratio = f"< {deep / limit:.3f}"
            else:
                ratio = f"{deep / keras_s:.3f}"
            target = ""
            if kind == "Sequential" and n == 400:
                target = "ratio <= 0.10"
            elif kind == "Sequential" and n == 2000:
                target = "deep <= 20 s"
            print(
                f"  {kind + ' ' + str(n):<18} {deep_text:>11} {keras_text:>11} {ratio:>7}   "
                f"{target}"
            )


def _env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def run(kind: str, path: Path, timeout: float | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", RUN, kind, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
        timeout=timeout,
    ).stdout
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


async def incremental_edits(
    path: Path, edits: int, fresh: bool = False
) -> tuple[float, list[float], int]:
    """A warm worker, NASNetLarge open: one value edited at a time (a BatchNormalization's
    epsilon), each timed from the request to the keras-sourced diagnostics and the inlay
    hints of that version. The edit reaches the document as an editor sends it, a ranged
    change the server applies (its syntax tree re-parsed incrementally, its value spliced);
    ``fresh``: each version parsed from its whole text instead. Returns the first check's
    time, the edits' times and the number of error findings seen on the way (0: every
    version is valid)."""
    import re

    from lsprotocol import types

    from layercfg.server.deepcheck import inlay_hints, run_check
    from layercfg.server.document import Document
    from layercfg.server.settings import Settings
    from layercfg.server.worker import WorkerClient

    text = path.read_text()
    places = [m.start(1) for m in re.finditer(r'"epsilon": (0\.001)', text)]
    worker = WorkerClient(env=_env())
    settings = Settings(deepCheckTimeout=300)
    times, errors = [], 0
    try:
        started = time.perf_counter()
        document = Document.parse(path.as_uri(), text, 1)
        await run_check(worker, document, settings, None)
        first = time.perf_counter() - started
        await run_check(worker, document, settings, None)  # the graph is known from now on
        document.warm()  # the server parses the tree once the first diagnostics are out
        for k in range(edits):
            at = places[(k * 37) % len(places)]
            value = f"0.00{k % 9 + 1}"
            if fresh:
                text = f"{text[:at]}{value}{text[at + 5 :]}"
                document = Document.parse(path.as_uri(), text, k + 2)
            else:
                lines = document.lines
                change = types.TextDocumentContentChangePartial(
                    range=types.Range(
                        lines.position_at(at, "utf-16"), lines.position_at(at + 5, "utf-16")
                    ),
                    text=value,
                )
                document = document.apply_changes([change], k + 2, "utf-16")
            started = time.perf_counter()
            result = await run_check(worker, document, settings, None)
            hints = inlay_hints(document, result, "utf-16")
            times.append(time.perf_counter() - started)
            errors += len([d for d in result.diagnostics if d.severity == 1])
            assert hints, "no inlay hints"
    finally:
        await worker.stop()
    return first, times, errors


def spread(values: list[float], unit: str = "s") -> str:
    return (
        f"median {statistics.median(values):.3f} {unit} "
        f"(min {min(values):.3f}, max {max(values):.3f}, n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stacks-only", action="store_true")
    parser.add_argument("--keras-limit", type=float, default=120.0)
    parser.add_argument(
        "--only",
        choices=("stacks", "incremental", "nasnet", "resnet"),
        help="one part alone: the plain stacks, the NASNetLarge edits, the NASNetLarge deep "
        "check against deserialize, or the warm worker on ResNet50",
    )
    args = parser.parse_args()
    if args.stacks_only:
        args.only = "stacks"
    if args.only in (None, "stacks"):
        stacks(args.keras_limit)
    if args.only in (None, "incremental"):
        incremental(args.runs)
    if args.only in (None, "nasnet"):
        versus_deserialize(args.runs)
    if args.only in (None, "resnet"):
        warm = asyncio.run(warm_worker(document("ResNet50"), max(args.runs, 3)))
        print(f"ResNet50, warm worker, round trip   {spread(warm)}   target <= 1 s")


def incremental(runs: int) -> None:
    nasnet = document("NASNetLarge")
    edits = max(runs * 4, 12)
    first, times, errors = asyncio.run(incremental_edits(nasnet, edits))
    print("NASNetLarge, one value edited at a time, warm worker (diagnostics + inlay hints):")
    print(f"  first check                       {first:.2f} s")
    print(f"  each edit                         {spread(times)}")
    print(
        f"  p50 {_ms(times, 0.5)} ms, p95 {_ms(times, 0.95)} ms   target p50 <= 300 ms"
        f"   (error findings on valid edits: {errors})"
    )
    _, times, errors = asyncio.run(incremental_edits(nasnet, edits, fresh=True))
    print(
        f"  each version parsed afresh        p50 {_ms(times, 0.5)} ms, p95 {_ms(times, 0.95)} ms"
        f"   (error findings: {errors})"
    )


def _ms(values: list[float], share: float) -> str:
    """The ``share`` quantile of ``values`` in milliseconds (the median for 0.5)."""
    if share == 0.5:
        return f"{statistics.median(values) * 1000:.0f}"
    return f"{sorted(values)[max(0, int(len(values) * share) - 1)] * 1000:.0f}"


def versus_deserialize(runs: int) -> None:
    nasnet = document("NASNetLarge")
    deep, keras_load = [], []
    for _ in range(runs):  # interleaved: the machine is noisy
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
    print(
        f"  deep extra / weight bytes         {statistics.median(deep_mb) / weight_mb:.3f}"
        "   target <= 0.100"
    )


if __name__ == "__main__":
    main()
