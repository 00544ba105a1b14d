"""The 10 MB, 5,000-layer model in layercfg alone: every request the server answers, at scale.

    python benchmarks/bench_scale.py [--requests N] [--skip-deep]

The document is bench_peer.py's synthetic Functional model (an InputLayer and a chain of
4,999 Dense layers linked through ``inbound_nodes``/``keras_history``, about 9.2 MB indented),
generated without Keras the first time and cached (``$LAYERCFG_BENCH_CACHE``, default the temp
folder). The server is started over stdio as in bench_server.py, whose client this reuses.

1. A pull session with ``deepCheck: "off"``. It opens the document, then runs N rounds (24
   by default). Each round edits one number in the middle of the file (same length, so every
   position stays valid) and pulls ``textDocument/diagnostic`` at once, then sends one of each
   request on the new version, each at its own place, spread through the file: completion and
   hover (keys, string values, class names), definition (a ``keras_history`` layer name),
   references and prepareRename (a layer's name), documentSymbol, foldingRange, codeAction (a
   key), inlayHint (80 lines), formatting (the whole document) and rangeFormatting (one
   layer). Target: p95 <= 100 ms for every request (SPEC §8, the scale requirement).
2. A push session with ``deepCheck: "off"``: N edits, each timed from ``didChange`` to the
   ``publishDiagnostics`` of its version, minus the server's debounce. Same target.
3. Unless ``--skip-deep``: two push sessions with ``deepCheck: "onType"``, one with the
   default limits (``deepCheckTimeout`` 20 s, ``deepCheckMemoryMB`` 2048) and one with a
   memory cap below what the Keras worker needs. Each opens the document and follows the
   ``layercfg/status`` notifications until the deep check stops running; the time from the
   start of the check to its end must be within the time limit (plus 1 s), its outcome is
   what was published (deep findings, or LCF304 when a limit stopped it), and the worker's
   peak memory (VmHWM, last read before it ended; read about every 100 ms) is printed.
   Completion and hover are timed while the check runs.

It also checks that documentSymbol and foldingRange are capped and say so, and prints the
server's VmHWM (the kernel's resident high-water mark; process tree summed, from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_peer as bp  # noqa: E402
import bench_server as bs  # noqa: E402

TARGET_MS = 100.0
INLAY_LINES = 80
DEEP_MARGIN_SECONDS = 1.0  # allowed past deepCheckTimeout: killing the worker, publishing
LOW_MEMORY_MB = 300  # below what the worker needs to import Keras
SAMPLE_SECONDS = 0.1
REQUESTS = (
    "completion",
    "hover",
    "definition",
    "references",
    "prepareRename",
    "documentSymbol",
    "foldingRange",
    "codeAction",
    "inlayHint",
    "formatting",
    "rangeFormatting",
)


class TreeLoad(bs.OtherLoad):
    """bench_server's reading of other processes' CPU, remembering the ticks of every process
    of the server's tree while it lived: a worker stopped at a limit is gone from /proc by
    the end, and its CPU must not count as another process's."""

    def __init__(self, memory: bs.Memory):
        self.seen: dict[int, int] = {}
        super().__init__(memory)

    def note(self) -> None:
        for pid in self.memory.hwm_kb:
            self.seen[pid] = max(self.seen.get(pid, 0), bs._process_ticks(pid))

    def _sample(self) -> tuple[float, int]:
        self.note()
        own = sum(os.times()[:2]) * os.sysconf("SC_CLK_TCK")
        tree = sum(self.seen.values())
        return time.perf_counter(), bs._machine_busy_ticks() - tree - int(own)


class ScaleClient(bp.OutlineClient):
    """The benchmark client with the given settings, and the capabilities a code editor has
    for code actions and rename; it also records the requests the server sends."""

    def __init__(self, pull: bool, workspace: Path, log_path: Path, options: dict[str, Any]):
        super().__init__(pull, workspace, log_path)
        self.options = options

    def capabilities(self) -> dict[str, Any]:
        capabilities = super().capabilities()
        capabilities["textDocument"].update(
            {
                "codeAction": {
                    "codeActionLiteralSupport": {
                        "codeActionKind": {
                            "valueSet": ["", "quickfix", "refactor", "source", "source.fixAll"]
                        }
                    },
                    "resolveSupport": {"properties": ["edit"]},
                    "dataSupport": True,
                },
                "rename": {"prepareSupport": True},
                "inlayHint": {},
            }
        )
        return capabilities

    async def start(self) -> float:
        self._stderr = self.log_path.open("ab")
        start = time.perf_counter()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "layercfg",
            "lsp",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
            cwd=self.workspace,
            limit=256 * 1024 * 1024,
        )
        self._reader = asyncio.create_task(self._read())
        _, received = await self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": self.workspace.as_uri(),
                "capabilities": self.capabilities(),
                "clientInfo": {"name": "bench_scale"},
                "initializationOptions": self.options,
            },
            timeout=60,
        )
        await self.notify("initialized", {})
        return (received - start) * 1000

    async def _dispatch(self, message: dict[str, Any], received: float) -> None:
        if "method" in message and "id" in message:
            self.notes.append((message, received))
        await super()._dispatch(message, received)


# -- places in the document -------------------------------------------------------------------


_LAYER_NAME = re.compile(r'^ {8}"name": "([^"\\]+)"', re.M)  # a Functional layer's own name
_HISTORY = re.compile(r'"keras_history": \[\s*"([^"\\]+)"')


class Places:
    """Where each request is sent, ``count`` of each, spread through the document."""

    def __init__(self, bench: bs.Bench, count: int):
        text = bench.text
        starts = bs._line_starts(text)
        self.mixed = bs.prepare(bench.label, bench.path, count).positions
        self.keys = [
            (line, column)
            for kind, line, column in bs.prepare(bench.label, bench.path, 3 * count).positions
            if kind == "key"
        ][:count]
        names = [m.start(1) + len(m.group(1)) // 2 for m in _LAYER_NAME.finditer(text)]
        history = [m.start(1) + len(m.group(1)) // 2 for m in _HISTORY.finditer(text)]
        if not names or not history:
            raise SystemExit(f"{bench.path}: no layer names or keras_history found")
        self.names = [bs._position(starts, o) for o in bs._spread(names, count)]
        self.history = [bs._position(starts, o) for o in bs._spread(history, count)]
        self.layers = bs._spread(layer_spans(text), count)
        self.lines = text.count("\n") + 1


def layer_spans(text: str) -> list[tuple[int, int]]:
    """(first, last) line of every layer object of the model's ``layers`` array."""
    spans = []
    first = None
    for number, line in enumerate(text.split("\n")):
        if line == "      {":
            first = number
        elif first is not None and line.startswith("      }"):
            spans.append((first, number))
            first = None
    if not spans:
        raise SystemExit("no layer objects found (expected json.dumps(indent=2) layout)")
    return spans


def multiline_containers(text: str) -> tuple[int, bool]:
    """How many objects and arrays span more than one line (what a folding provider with no
    limit returns), and whether the outermost value is one of them."""
    count = 0
    stack: list[int] = []
    line = 0
    outer = False
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[{}\[\]\n]', text):
        token = match.group()
        if token == "\n":
            line += 1
        elif token in "{[":
            stack.append(line)
        elif token in "}]" and stack:
            first = stack.pop()
            if line > first:
                count += 1
                outer = outer or not stack
    return count, outer


# -- sessions ---------------------------------------------------------------------------------


Samples = dict[str, list[float]]


def position(bench: bs.Bench, line: int, column: int) -> dict[str, Any]:
    return {"textDocument": {"uri": bench.uri}, "position": {"line": line, "character": column}}


def request_params(name: str, index: int, bench: bs.Bench, places: Places) -> dict[str, Any]:
    document = {"textDocument": {"uri": bench.uri}}
    options = {"tabSize": 2, "insertSpaces": True}
    if name in ("completion", "hover"):
        _, line, column = places.mixed[index]
        params = position(bench, line, column)
        return {**params, "context": {"triggerKind": 1}} if name == "completion" else params
    if name == "definition":
        return position(bench, *places.history[index])
    if name == "references":
        return {**position(bench, *places.names[index]), "context": {"includeDeclaration": True}}
    if name == "prepareRename":
        return position(bench, *places.names[index])
    if name in ("documentSymbol", "foldingRange"):
        return document
    if name == "codeAction":
        line, column = places.keys[index]
        point = {"line": line, "character": column}
        return {
            **document,
            "range": {"start": point, "end": point},
            "context": {"diagnostics": [], "triggerKind": 2},
        }
    if name == "inlayHint":
        line = places.mixed[index][1]
        return {
            **document,
            "range": {
                "start": {"line": line, "character": 0},
                "end": {"line": min(line + INLAY_LINES, places.lines), "character": 0},
            },
        }
    if name == "formatting":
        return {**document, "options": options}
    if name == "rangeFormatting":
        first, last = places.layers[index]
        return {
            **document,
            "options": options,
            "range": {
                "start": {"line": first, "character": 0},
                "end": {"line": last + 1, "character": 0},
            },
        }
    raise ValueError(name)


def answered(result: Any) -> bool:
    if isinstance(result, dict) and "items" in result:
        return bool(result["items"])
    return bool(result)


def one_value_edit(bench: bs.Bench, version: int, current: str, other: str) -> dict[str, Any]:
    line, column = bench.edit_line, bench.edit_column
    return {
        "textDocument": {"uri": bench.uri, "version": version},
        "contentChanges": [
            {
                "range": {
                    "start": {"line": line, "character": column},
                    "end": {"line": line, "character": column + len(current)},
                },
                "text": other,
            }
        ],
    }


def edit_values(bench: bs.Bench) -> tuple[str, str]:
    current, other = str(bench.edit_value), str(bench.edit_value + 1)
    if len(other) != len(current):
        other = str(bench.edit_value - 1)
    return current, other


async def open_session(
    pull: bool, options: dict[str, Any], ctx: dict[str, Any]
) -> tuple[ScaleClient, bs.Memory, TreeLoad]:
    client = ScaleClient(pull, ctx["workspace"], ctx["log"], options)
    memory = bs.Memory(0)
    load = TreeLoad(memory)
    await client.start()
    memory.root = client.pid
    await client.wait_ready(timeout=300)
    memory.checkpoint()
    return client, memory, load


async def requests_session(
    bench: bs.Bench, places: Places, ctx: dict[str, Any], samples: Samples
) -> None:
    """Pull diagnostics after each edit, then one of each request, N rounds."""
    client, memory, load = await open_session(True, {"deepCheck": "off"}, ctx)
    try:
        samples["idle-mem"].append(memory.checkpoint())
        sent = await client.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": bench.uri,
                    "languageId": bs.LANGUAGE_ID,
                    "version": 1,
                    "text": bench.text,
                }
            },
        )
        report, received, _ = await client.timed_request(
            "textDocument/diagnostic", {"textDocument": {"uri": bench.uri}}, timeout=120
        )
        samples["open-pull"].append((received - sent) * 1000)
        ctx["open-diagnostics"] = len(report.get("items", []))
        samples["open-mem"].append(memory.checkpoint())

        current, other = edit_values(bench)
        version = 1
        for index in range(ctx["args"].requests):
            await asyncio.sleep(bs.EDIT_PAUSE_SECONDS)
            version += 1
            sent = await client.notify(
                "textDocument/didChange", one_value_edit(bench, version, current, other)
            )
            current, other = other, current
            report, received, _ = await client.timed_request(
                "textDocument/diagnostic", {"textDocument": {"uri": bench.uri}}, timeout=120
            )
            if report.get("kind") != "full":
                raise bs.ServerError("a changed document was reported unchanged")
            samples["edit-pull"].append((received - sent) * 1000)
            since: dict[str, int] = {}
            for name in REQUESTS:
                since[name] = len(client.notes)
                result, received, sent = await client.timed_request(
                    f"textDocument/{name}", request_params(name, index, bench, places), timeout=120
                )
                samples[name].append((received - sent) * 1000)
                ctx["answered"][name] += answered(result)
                if name in ("documentSymbol", "foldingRange"):
                    ctx["last"][name] = result
            for name in ("documentSymbol", "foldingRange"):
                # What the server said from the request on, to the end of the round (a
                # message shown once per document comes with the first round only).
                ctx["notes"][name] += client.notes[since[name] :]
        samples["end-mem"].append(memory.checkpoint())
        ctx["load"]["requests (pull)"] = load.cores()
    finally:
        await client.stop()


async def push_session(bench: bs.Bench, ctx: dict[str, Any], samples: Samples) -> None:
    client, memory, load = await open_session(False, {"deepCheck": "off"}, ctx)
    try:
        since = len(client.notes)
        sent = await client.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": bench.uri,
                    "languageId": bs.LANGUAGE_ID,
                    "version": 1,
                    "text": bench.text,
                }
            },
        )
        _, received = await client.wait_note(bs.published(bench.uri, 1), since, timeout=120)
        samples["open-push"].append((received - sent) * 1000)
        current, other = edit_values(bench)
        for version in range(2, ctx["args"].requests + 2):
            await asyncio.sleep(bs.EDIT_PAUSE_SECONDS)
            since = len(client.notes)
            sent = await client.notify(
                "textDocument/didChange", one_value_edit(bench, version, current, other)
            )
            current, other = other, current
            _, received = await client.wait_note(
                bs.published(bench.uri, version), since, timeout=120
            )
            samples["edit-push"].append((received - sent) * 1000)
        samples["push-mem"].append(memory.checkpoint())
        ctx["load"]["edits (push)"] = load.cores()
    finally:
        await client.stop()


def deep_state(message: dict[str, Any]) -> str | None:
    if message["method"] != bs.STATUS:
        return None
    return (message.get("params") or {}).get("deepCheck")


async def deep_session(
    label: str, bench: bs.Bench, places: Places, options: dict[str, Any], ctx: dict[str, Any]
) -> dict[str, Any]:
    """Open with the deep check on; follow it to its end, timing requests meanwhile."""
    client, memory, load = await open_session(False, {"deepCheck": "onType", **options}, ctx)
    outcome: dict[str, Any] = {
        "label": label,
        "options": options,
        "completion": [],
        "hover": [],
        "probes": [],
    }
    try:
        since = len(client.notes)
        opened = await client.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": bench.uri,
                    "languageId": bs.LANGUAGE_ID,
                    "version": 1,
                    "text": bench.text,
                }
            },
        )
        index = since
        started = finished = None
        probe = 0
        deadline = opened + options.get("deepCheckTimeout", 20.0) + 60
        while finished is None:
            if time.perf_counter() > deadline:
                raise bs.ServerError(f"{label}: the deep check did not end")
            while finished is None and index < len(client.notes):
                message, received = client.notes[index]
                index += 1  # stops just after the end: the publish that follows is next
                state = deep_state(message)
                if state == "running" and started is None:
                    started = received
                elif state in ("idle", "off") and started is not None:
                    finished = received
            memory.checkpoint()
            load.note()
            if finished is not None:
                break
            if started is not None:
                # Requests while the worker runs: the server must stay responsive.
                _, line, column = places.mixed[probe % len(places.mixed)]
                probe += 1
                for name in ("completion", "hover"):
                    params = position(bench, line, column)
                    if name == "completion":
                        params["context"] = {"triggerKind": 1}
                    _, received, sent = await client.timed_request(
                        f"textDocument/{name}", params, timeout=60
                    )
                    outcome[name].append((received - sent) * 1000)
                    outcome["probes"].append(((received - sent) * 1000, name, sent - started))
            await asyncio.sleep(SAMPLE_SECONDS)
        # What the deep check left: the publish that follows its end, and the inlay hints.
        message, _ = await client.wait_note(bs.published(bench.uri, 1), index, timeout=30)
        published = message["params"]["diagnostics"]
        hints, _, _ = await client.timed_request(
            "textDocument/inlayHint",
            {
                "textDocument": {"uri": bench.uri},
                "range": {
                    "start": {"line": 0, "character": 0},
                    "end": {"line": places.lines, "character": 0},
                },
            },
            timeout=60,
        )
        worker = {pid: kb for pid, kb in memory.hwm_kb.items() if pid != client.pid}
        outcome.update(
            {
                "open-to-start": started - opened,
                "seconds": finished - started,
                "keras": [d for d in published if d.get("source") == "keras"],
                "hints": len(hints or []),
                "server-mb": memory.hwm_kb.get(client.pid, 0) / 1024,
                "worker-mb": max(worker.values(), default=0) / 1024,
                "workers": len(worker),
                "load": load.cores(),
            }
        )
        return outcome
    finally:
        await client.stop()


# -- report -----------------------------------------------------------------------------------


def symbol_limit() -> tuple[int | None, int | None]:
    """layercfg's caps (MAX_SYMBOLS, MAX_FOLDING_RANGES), when the server code says."""
    try:
        from layercfg.server.services import navigation
    except Exception:
        return None, None
    return (
        getattr(navigation, "MAX_SYMBOLS", None),
        getattr(navigation, "MAX_FOLDING_RANGES", None),
    )


def cap_checks(bench: bs.Bench, ctx: dict[str, Any]) -> list[tuple[str, str, bool, bool]]:
    """(check, what was seen, passed, required) for the symbol and folding caps; the last
    check is not in the requirement but tells what a capped folding answer leaves out."""
    symbols = ctx["last"].get("documentSymbol") or []
    folds = ctx["last"].get("foldingRange") or []
    shapes = [
        (
            "documentSymbol answer well formed",
            "a list of DocumentSymbol objects"
            if bp.well_formed(symbols)
            else f"not a list of objects: {json.dumps(symbols)[:60]}...",
            bp.well_formed(symbols),
            True,
        ),
        (
            "foldingRange answer well formed",
            "a list of FoldingRange objects"
            if bp.well_formed(folds)
            else f"not a list of objects: {json.dumps(folds)[:60]}...",
            bp.well_formed(folds),
            True,
        ),
    ]
    if not (bp.well_formed(symbols) and bp.well_formed(folds)):
        return shapes
    max_symbols, max_folds = symbol_limit()
    layers = len(json.loads(bench.text)["config"]["layers"])
    total = bp.count_symbols(symbols)
    containers, outer = multiline_containers(bench.text)
    marked = bp.limit_marked(symbols)
    root_detail = str(symbols[0].get("detail")) if symbols else "-"
    last_line = max((f["endLine"] for f in folds), default=0) + 1
    root_folds = any(f["startLine"] == 0 for f in folds)
    fold_notes = bp.limit_messages(ctx["notes"]["foldingRange"], bp.FOLDING_TOPIC)
    symbol_notes = bp.limit_messages(ctx["notes"]["documentSymbol"], bp.SYMBOL_TOPIC)
    return shapes + [
        (
            "documentSymbol capped",
            f"{total} symbols for {layers} layers + the model (cap {max_symbols})",
            max_symbols is not None and total <= max_symbols < layers + 1,
            True,
        ),
        (
            "documentSymbol cap marked",
            f"root detail {root_detail!r}" + (f"; {symbol_notes[0]}" if symbol_notes else ""),
            marked or bool(symbol_notes),
            True,
        ),
        (
            "foldingRange capped",
            f"{len(folds)} ranges of {containers} multi-line objects/arrays (cap {max_folds})",
            max_folds is not None and len(folds) <= max_folds < containers,
            True,
        ),
        (
            "foldingRange cap marked",
            fold_notes[0] if fold_notes else "no mark in the answer and no message about a limit",
            bool(fold_notes),
            True,
        ),
        (
            "foldingRange keeps the outer ranges (extra)",
            f"ranges reach line {last_line} of {bench.text.count(chr(10)) + 1}; a range for "
            f"the root object: {'yes' if root_folds else 'no'}",
            root_folds or not outer,
            False,
        ),
    ]


def report(
    bench: bs.Bench, samples: Samples, deep: list[dict[str, Any]], ctx: dict[str, Any]
) -> int:
    n = ctx["args"].requests
    debounce = bs.debounce_ms()
    rows = [
        bs.Row(
            "didOpen -> diagnostics, pull (not a request target)", samples["open-pull"], "median"
        ),
        bs.Row("didOpen -> diagnostics, push", samples["open-push"], "median"),
        bs.Row("edit -> diagnostics, pull", samples["edit-pull"], "p95", TARGET_MS),
    ]
    if debounce is not None:
        rows.append(
            bs.Row(
                f"edit -> publish, push - {debounce:g} ms debounce",
                samples["edit-push"],
                "p95",
                TARGET_MS,
                offset=debounce,
            )
        )
    else:
        rows.append(
            bs.Row(
                "edit -> publish, push (raw; debounce unknown)",
                samples["edit-push"],
                "p95",
                TARGET_MS,
            )
        )
    for name in REQUESTS:
        rows.append(bs.Row(name, samples[name], "p95", TARGET_MS))
    for outcome in deep:
        for name in ("completion", "hover"):
            if outcome[name]:
                rows.append(
                    bs.Row(
                        f"{name} while the deep check runs ({outcome['label']})",
                        outcome[name],
                        "p95",
                        TARGET_MS,
                    )
                )
    rows += [
        bs.Row(
            "memory, catalog loaded, no document (VmHWM)", samples["idle-mem"], "max", unit="MB"
        ),
        bs.Row("memory after didOpen (VmHWM)", samples["open-mem"], "max", unit="MB"),
        bs.Row("memory after all requests (VmHWM)", samples["end-mem"], "max", unit="MB"),
        bs.Row("memory, push session (VmHWM)", samples["push-mem"], "max", unit="MB"),
    ]
    print()
    print(
        f"{bench.path.name}: {bench.megabytes:.2f} MB, {places_summary(bench)}; "
        f"{n} rounds; times in ms, memory in MB (server process tree)"
    )
    bs.print_table(rows)
    misses = [row.name for row in rows if row.cells()[-1].startswith("MISS")]

    print()
    print("Caps on the outline and on folding:")
    checks = cap_checks(bench, ctx)
    table = [["check", "seen", "result"]]
    extra = []
    for check, seen, passed, required in checks:
        table.append([check, seen, "PASS" if passed else "MISS"])
        if not passed:
            (misses if required else extra).append(check)
    bp.print_rows(table)

    if deep:
        print()
        print("Deep check (deepCheck onType) on the same document:")
        table = [
            [
                "limits",
                "open -> check starts",
                "check ran",
                "within time limit",
                "outcome",
                "worker VmHWM (last read)",
                "server VmHWM",
                "inlay hints",
            ]
        ]
        for outcome in deep:
            timeout = outcome["options"].get("deepCheckTimeout", 20.0)
            cap = outcome["options"].get("deepCheckMemoryMB", 2048)
            within = outcome["seconds"] <= timeout + DEEP_MARGIN_SECONDS
            if not within:
                misses.append(f"deep check ({outcome['label']}) past its time limit")
            keras = outcome["keras"]
            if keras:
                codes = sorted({str(d.get("code")) for d in keras})
                what = (
                    f"{len(keras)} keras diagnostics ({', '.join(codes)}): "
                    + " ".join(str(keras[0].get("message")).split())[:90]
                )
            else:
                what = "no keras diagnostic (the model loads)"
            table.append(
                [
                    f"{timeout:g} s, {cap} MB ({outcome['label']})",
                    f"{outcome['open-to-start']:.2f} s",
                    f"{outcome['seconds']:.2f} s",
                    f"{'PASS' if within else 'MISS'} (<= {timeout:g} + {DEEP_MARGIN_SECONDS:g} s)",
                    what,
                    f"{outcome['worker-mb']:.0f} MB",
                    f"{outcome['server-mb']:.0f} MB",
                    str(outcome["hints"]),
                ]
            )
        bp.print_rows(table)
        for outcome in deep:
            slowest = sorted(outcome["probes"], reverse=True)[:3]
            print(
                f"  slowest requests while the check ran ({outcome['label']}): "
                + ", ".join(
                    f"{name} {ms:.0f} ms sent {at:.2f} s after it started"
                    for ms, name, at in slowest
                )
            )

    print()
    loads = [f"{k} {v:.2f}" for k, v in ctx["load"].items()]
    loads += [f"deep check, {o['label']} {o['load']:.2f}" for o in deep]
    print("CPU used by other processes per session (cores): " + "; ".join(loads))
    print(
        f"diagnostics on open: {ctx['open-diagnostics']}; non-empty answers: "
        + ", ".join(f"{name} {ctx['answered'][name]}/{n}" for name in REQUESTS)
    )
    print()
    print(f"{len(misses)} MISS" + (": " + "; ".join(misses) if misses else ""))
    if extra:
        print("outside the requirement: " + "; ".join(extra))
    return len(misses)


def places_summary(bench: bs.Bench) -> str:
    layers = len(json.loads(bench.text)["config"]["layers"])
    return f"{bench.text.count(chr(10)) + 1} lines, {layers} layers"


async def main_async(args: argparse.Namespace) -> int:
    small_path, nasnet_path = bs.documents()
    path = bp.synthetic(small_path.parent, small_path, nasnet_path)
    bench = bs.prepare("huge", path, args.requests)
    places = Places(bench, args.requests)
    print(
        f"server code: {bp.measured_commit()}; {path.name}, {bench.megabytes:.2f} MB; edit "
        f"at line {bench.edit_line + 1} (value {bench.edit_value})"
    )
    workspace = Path(tempfile.mkdtemp(prefix="layercfg-bench-scale-"))
    ctx: dict[str, Any] = {
        "args": args,
        "workspace": workspace,
        "log": Path(tempfile.gettempdir()) / "layercfg-bench-scale.log",
        "answered": defaultdict(int),
        "last": {},
        "notes": defaultdict(list),
        "load": {},
    }
    ctx["log"].write_bytes(b"")
    samples: Samples = defaultdict(list)
    deep: list[dict[str, Any]] = []
    try:
        await bs.warm_up(workspace, ctx["log"])
        await requests_session(bench, places, ctx, samples)
        print("requests done", file=sys.stderr)
        await push_session(bench, ctx, samples)
        print("push edits done", file=sys.stderr)
        if not args.skip_deep:
            deep.append(await deep_session("default limits", bench, places, {}, ctx))
            deep.append(
                await deep_session(
                    "low memory cap", bench, places, {"deepCheckMemoryMB": LOW_MEMORY_MB}, ctx
                )
            )
            print("deep checks done", file=sys.stderr)
    except bs.ServerError as exc:
        print(f"error: {exc} (server stderr in {ctx['log']})", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    report(bench, samples, deep, ctx)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=24, help="rounds: edits and requests of each kind (24)"
    )
    parser.add_argument(
        "--skip-deep", action="store_true", help="leave out the deep check sessions"
    )
    args = parser.parse_args()
    if args.requests < 3:
        parser.error("--requests must be at least 3")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
