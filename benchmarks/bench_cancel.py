"""Time from an edit to the Keras worker being free again, when the edit comes while the deep
check of the previous version runs: the check cancelled against the check finished and its
result dropped (what the server did before checks could be cancelled).

    python benchmarks/bench_cancel.py [--rounds R] [--edit-after S ...]

The document is bench_server.py's NASNetLarge config (2 MB, 1,041 layers; generated once and
cached). One worker serves every run, warmed first (Keras imported). Each run checks the
document as if for the first time (a document folder of its own, so no layer is known from an
earlier run), and ``S`` seconds after the request is sent the edit comes: either the request's
task is cancelled, as the scheduler does, or nothing is done to it. A ``ping`` sent at the edit
is answered once the worker is free: that answer ends the interval. The worker's pid is checked
to be the same throughout (a cancel never restarts it). Also printed: how long the uncancelled
check takes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_server as bs  # noqa: E402

from layercfg.server.worker import WorkerClient  # noqa: E402

TIMEOUT = 600


async def one_run(
    client: WorkerClient, value: Any, folder: str, edit_after: float, cancel: bool
) -> tuple[float, float | None]:
    """(seconds from the edit to the ping's answer, seconds the check took when it ran on)."""
    params = {"value": value, "base": folder}
    loop = asyncio.get_running_loop()
    began = loop.time()
    check = asyncio.ensure_future(client.request("deep_check", params, timeout=TIMEOUT))
    await asyncio.sleep(edit_after)
    if check.done():
        raise SystemExit(f"the check ended within {edit_after} s: edit sooner (--edit-after)")
    edit = loop.time()
    if cancel:
        check.cancel()
    await client.request("ping", timeout=TIMEOUT)
    free = loop.time() - edit
    took = None
    if cancel:
        try:
            await check
        except asyncio.CancelledError:
            pass
    else:
        await check
        took = loop.time() - began
    return free, took


async def main(args: argparse.Namespace) -> None:
    _, large = bs.documents()
    value = json.loads(large.read_text(encoding="utf-8"))
    client = WorkerClient()
    root = Path(tempfile.mkdtemp(prefix="layercfg-bench-cancel-"))
    try:
        pid = (await client.request("ping", timeout=TIMEOUT))["pid"]
        small = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}}
        await client.request("deep_check", {"value": small}, timeout=TIMEOUT)  # Keras imported
        figures: dict[tuple[float, str], list[float]] = {}
        checks: list[float] = []
        serial = 0
        for round_ in range(args.rounds):
            for edit_after in args.edit_after:
                # Alternate which goes first, so that neither always runs on a warmer machine.
                for cancel in (True, False) if round_ % 2 == 0 else (False, True):
                    serial += 1
                    folder = root / f"run-{serial}"  # a memo of its own: a first check
                    free, took = await one_run(client, value, str(folder), edit_after, cancel)
                    label = "cancel" if cancel else "finish and drop"
                    figures.setdefault((edit_after, label), []).append(free)
                    if took is not None:
                        checks.append(took)
                    if (await client.request("ping", timeout=TIMEOUT))["pid"] != pid:
                        raise SystemExit("the worker was restarted")
        print(f"NASNetLarge ({large.stat().st_size / 1e6:.1f} MB), worker pid {pid} throughout")
        print(f"uncancelled first check: median {statistics.median(checks):.2f} s")
        print(f"cancels sent: {client.cancelled}")
        print()
        print(f"{'edit after':>10}  {'mode':<16} {'edit -> worker free (s)':>24}")
        for (edit_after, label), values in sorted(figures.items()):
            median = statistics.median(values)
            spread = f"{min(values):.2f}-{max(values):.2f}"
            print(f"{edit_after:>9.1f}s  {label:<16} {median:>10.2f}  ({spread}, n={len(values)})")
    finally:
        await client.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--edit-after", type=float, nargs="+", default=[1.0, 3.0])
    started = time.perf_counter()
    asyncio.run(main(parser.parse_args()))
    print(f"\n({time.perf_counter() - started:.0f} s in all)")
