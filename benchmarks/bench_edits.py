"""One-value edits on the 2 MB model through the real server: ranged and whole-document changes.

    python benchmarks/bench_edits.py [--runs N] [--edits N]

The document is bench_server.py's NASNetLarge config (2.1 MB indented, 1,041 layers, generated
with Keras once and cached), the server the real one over stdio (``python -m layercfg lsp``,
``deepCheck: "off"``: the fast path is what is measured), the client bench_server.py's. Each
run has two pull sessions, in an order that alternates between runs:

- **ranged**: every ``didChange`` carries one ranged change (what most editors send);
- **whole**: every ``didChange`` carries the whole new text (what some clients send).

Each edit rewrites the number nearest the middle of the file (a layer's ``filters``),
alternately keeping its length (``336`` -> ``337``) and changing it (``336`` -> ``3360``), so
that every edit is a real change and half of them move the text after them. A time runs from
just before the ``didChange`` is written to the answer of the ``textDocument/diagnostic``
sent right after it (with ``previousResultId``); 30 ms pass between edits, outside the timed
interval. After the edits, the session opens the final text as a second document and checks
that its diagnostics are the edited document's: an edit path that shortcuts must find what a
fresh parse finds.

Targets: ranged p50 <= 8 ms and p95 <= 20 ms; whole p50 <= 80 ms. The small
document's edit p50 from the same run (bench_server.py's Dense layer, ranged) is printed as
the floor: what a round trip costs on this machine without any document work. Under the
table, each session's CPU used by other processes, and the server's own CPU time per edit
(from /proc, in clock ticks): on a busy machine the times grow, the CPU time much less.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_server as bs  # noqa: E402

TARGETS = {"ranged": (8.0, 20.0), "whole": (80.0, None)}


def edit_params(
    bench: bs.Bench, version: int, current: str, new: str, whole: bool, text: str
) -> tuple[dict[str, Any], str]:
    """The didChange params replacing ``current`` at the edit place by ``new``, and the text."""
    line, column = bench.edit_line, bench.edit_column
    starts = bs._line_starts(text)
    offset = starts[line] + column
    new_text = text[:offset] + new + text[offset + len(current) :]
    if whole:
        change: dict[str, Any] = {"text": new_text}
    else:
        change = {
            "range": {
                "start": {"line": line, "character": column},
                "end": {"line": line, "character": column + len(current)},
            },
            "text": new,
        }
    params = {"textDocument": {"uri": bench.uri, "version": version}, "contentChanges": [change]}
    return params, new_text


def _shape(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            d["range"]["start"]["line"],
            d["range"]["start"]["character"],
            d["range"]["end"]["line"],
            d["range"]["end"]["character"],
            d.get("code"),
            d.get("message"),
        )
        for d in items
    )


async def session(
    bench: bs.Bench,
    mode: str,
    edits: int,
    workspace: Path,
    log_path: Path,
    samples: dict[str, list[float]],
) -> None:
    client = bs.Client(True, workspace, log_path)
    try:
        await client.start()
        await client.wait_ready(timeout=120)
        load = bs.OtherLoad(bs.Memory(client.pid))
        version = 1
        text = bench.text
        await client.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": bench.uri,
                    "languageId": bs.LANGUAGE_ID,
                    "version": version,
                    "text": text,
                }
            },
        )
        report, _, _ = await client.timed_request(
            "textDocument/diagnostic", {"textDocument": {"uri": bench.uri}}
        )
        result_id = report.get("resultId")
        original = str(bench.edit_value)
        values = [str(bench.edit_value + 1), original + "0", original]
        current = original
        items: list[dict[str, Any]] = []
        ticks = bs._process_ticks(client.pid)
        for index in range(edits):
            await asyncio.sleep(bs.EDIT_PAUSE_SECONDS)
            version += 1
            new = values[index % len(values)]
            params, text = edit_params(bench, version, current, new, mode == "whole", text)
            current = new
            sent = await client.notify("textDocument/didChange", params)
            pull: dict[str, Any] = {"textDocument": {"uri": bench.uri}}
            if result_id is not None:
                pull["previousResultId"] = result_id
            report, received, _ = await client.timed_request("textDocument/diagnostic", pull)
            if report.get("kind") != "full":
                raise bs.ServerError("a changed document was reported unchanged")
            result_id = report.get("resultId")
            items = report.get("items", [])
            samples[f"{bench.label}:{mode}"].append((received - sent) * 1000)
        # The server's own CPU per edit: what the machine's other load does not inflate.
        tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
        cpu = (bs._process_ticks(client.pid) - ticks) * tick_ms / edits
        samples[f"{bench.label}:{mode}:cpu"].append(cpu)
        # The final text, opened afresh, must have the same diagnostics.
        fresh_uri = bench.uri.replace(".layercfg.json", ".fresh.layercfg.json")
        await client.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": fresh_uri,
                    "languageId": bs.LANGUAGE_ID,
                    "version": 1,
                    "text": text,
                }
            },
        )
        fresh, _, _ = await client.timed_request(
            "textDocument/diagnostic", {"textDocument": {"uri": fresh_uri}}
        )
        if _shape(fresh.get("items", [])) != _shape(items):
            raise bs.ServerError(
                f"{mode}: the edited document's diagnostics differ from a fresh parse's"
            )
        samples[f"{bench.label}:{mode}:other-load"].append(load.cores())
    finally:
        await client.stop()


async def main_async(args: argparse.Namespace) -> int:
    small_path, large_path = bs.documents()
    small = bs.prepare("small", small_path, 3)
    large = bs.prepare("large", large_path, 3)
    print(
        f"large: {large.path.name}, {large.megabytes:.2f} MB, "
        f"{large.text.count(chr(10)) + 1} lines; edit at line {large.edit_line + 1} "
        f"(value {large.edit_value})"
    )
    workspace = Path(tempfile.mkdtemp(prefix="layercfg-bench-ws-"))
    log_path = Path(tempfile.gettempdir()) / "layercfg-bench-server.log"
    log_path.write_bytes(b"")
    samples: dict[str, list[float]] = defaultdict(list)
    await bs.warm_up(workspace, log_path)
    plan = [(large, "ranged"), (large, "whole"), (small, "ranged")]
    started = time.perf_counter()
    for run in range(args.runs):
        for bench, mode in plan if run % 2 == 0 else plan[::-1]:
            await session(bench, mode, args.edits, workspace, log_path, samples)
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    print(
        f"\n{args.runs} runs x 3 sessions, {args.edits} edits each, "
        f"{time.perf_counter() - started:.0f} s; times in ms\n"
    )
    rows = []
    for mode in ("ranged", "whole"):
        values = samples[f"large:{mode}"]
        p50, p95 = TARGETS[mode]
        rows.append(bs.Row(f"large: edit -> diagnostics, {mode} (p50)", values, "p50", p50))
        if p95 is not None:
            rows.append(bs.Row(f"large: edit -> diagnostics, {mode} (p95)", values, "p95", p95))
    rows.append(
        bs.Row("small: edit -> diagnostics, ranged (floor)", samples["small:ranged"], "p50")
    )
    bs.print_table(rows)
    print()
    for key in ("large:ranged", "large:whole", "small:ranged"):
        loads = " ".join(f"{x:.2f}" for x in samples[f"{key}:other-load"])
        cpu = " ".join(f"{x:.1f}" for x in samples[f"{key}:cpu"])
        print(
            f"{key}: CPU used by other processes per session (cores) {loads}; "
            f"the server's CPU per edit (ms, didChange and diagnostic together) {cpu}"
        )
    missed = any("MISS" in row.cells()[-1] for row in rows if row.target is not None)
    return 1 if missed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--edits", type=int, default=40)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
