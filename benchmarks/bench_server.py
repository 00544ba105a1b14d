"""End-to-end timings and memory of the language server, measured through its stdio.

    python benchmarks/bench_server.py [--runs N] [--edits N] [--positions N] [--skip-large]

Starts the real server (``python -m layercfg lsp``) as a subprocess per session and talks
JSON-RPC to it with Content-Length framing, timing each exchange from just before the
request's bytes are written to just after the answer's bytes are read. Two documents: a small
one (one Dense layer) and the ~2 MB NASNetLarge Functional config; both are generated with
Keras in a child process the first time and cached outside the repository, keyed by the Keras
version (``$LAYERCFG_BENCH_CACHE``, default the temp folder). The catalog must already be
cached (``$LAYERCFG_CACHE_DIR``); a warm-up session waits for it (or builds it) before
anything is measured, and every session waits for the ``layercfg/status`` "ready"
notification before it measures.

Each run holds four sessions (small/large x push/pull), in an order that alternates between
runs, one at a time. Memory is VmHWM (the kernel's resident high-water mark) of the server and
of every child it has, read from /proc at checkpoints; the sum is an upper bound of the tree's
peak. Nothing samples in the background, so nothing competes with the server for the CPU;
instead each session reports the CPU that other processes used while it ran (from /proc/stat),
which tells a noisy run from a slow server. Edits are ``EDIT_PAUSE_SECONDS`` apart, more than
the server's debounce window (``DEBOUNCE_SECONDS``): each is a lone edit, which the server
checks and publishes at once (a burst of edits within the window is published once, at its
end); push timings are what the user waits for such an edit, nothing is taken off.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import itertools
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATUS = "layercfg/status"
LANGUAGE_ID = "layercfg-json"
# Between two edits, outside every timed interval: more than the server's 150 ms debounce
# window, so that each edit is a lone one (published at once), not part of a burst.
EDIT_PAUSE_SECONDS = 0.2

_GENERATE = """
import json, sys, keras
dense = keras.layers.Dense(16, activation="relu", name="dense")
dense.build((None, 8))
small = keras.saving.serialize_keras_object(dense)
model = keras.applications.NASNetLarge(weights=None)
large = keras.saving.serialize_keras_object(model)
for path, value in ((sys.argv[1], small), (sys.argv[2], large)):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(value, indent=2))
"""


# -- documents ------------------------------------------------------------------------------


def documents() -> tuple[Path, Path]:
    """(small, large), generated once per Keras version in a child process."""
    version = importlib.metadata.version("keras")
    backend = os.environ.get("KERAS_BACKEND", "default")
    root = Path(os.environ.get("LAYERCFG_BENCH_CACHE", tempfile.gettempdir()))
    folder = root / "layercfg-bench" / f"keras-{version}-{backend}"
    small = folder / "dense.layercfg.json"
    large = folder / "nasnet.layercfg.json"
    if not (small.is_file() and large.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        print(f"generating the benchmark documents in {folder} (about 40 s)...", file=sys.stderr)
        parts = [small.with_suffix(".partial"), large.with_suffix(".partial")]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        subprocess.run([sys.executable, "-c", _GENERATE, *map(str, parts)], check=True, env=env)
        parts[0].replace(small)
        parts[1].replace(large)
    return small, large


@dataclass
class Bench:
    """A document and the places the benchmark touches in it."""

    label: str
    path: Path
    text: str
    edit_line: int = 0
    edit_column: int = 0
    edit_value: int = 0
    positions: list[tuple[str, int, int]] = field(default_factory=list)  # (kind, line, col)

    @property
    def uri(self) -> str:
        return self.path.resolve().as_uri()

    @property
    def megabytes(self) -> float:
        return len(self.text.encode("utf-8")) / 1e6


_NUMBER_KEYS = ("filters", "units", "axis", "pool_size", "strides", "kernel_size")
_KEY = re.compile(r'^[ \t]*"([^"\\]+)":', re.M)
_CLASS = re.compile(r'"class_name":\s*"([^"\\]+)"')
_STRING_VALUE = re.compile(r'"(?!class_name")[^"\\]+":\s*"([^"\\]+)"')


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer("\n", text)]


def _position(starts: list[int], offset: int) -> tuple[int, int]:
    """(line, character); the documents are ASCII, so UTF-16 units are characters."""
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo, offset - starts[lo]


def _spread(items: list[Any], count: int) -> list[Any]:
    """``count`` items taken evenly from ``items`` (cycling when there are fewer)."""
    if not items:
        return []
    if len(items) >= count:
        step = len(items) / count
        return [items[int(i * step + step / 2)] for i in range(count)]
    return list(itertools.islice(itertools.cycle(items), count))


def prepare(label: str, path: Path, positions: int) -> Bench:
    text = path.read_text(encoding="utf-8")
    if not text.isascii():
        raise SystemExit(f"{path}: expected an ASCII document")
    bench = Bench(label, path, text)
    starts = _line_starts(text)

    # The one-value edit: a number in the config of the layer nearest the middle of the file.
    pattern = re.compile(r'"(' + "|".join(_NUMBER_KEYS) + r')":\s*(\d+)')
    numbers = list(pattern.finditer(text))
    if not numbers:
        raise SystemExit(f"{path}: no number to edit")
    middle = len(text) // 2
    chosen = min(numbers, key=lambda m: abs(m.start() - middle))
    bench.edit_line, bench.edit_column = _position(starts, chosen.start(2))
    bench.edit_value = int(chosen.group(2))

    # Completion and hover: keys, string values and class names, spread through the file.
    keys = [m.start(1) + len(m.group(1)) // 2 for m in _KEY.finditer(text)]
    classes = [m.start(1) + len(m.group(1)) // 2 for m in _CLASS.finditer(text)]
    values = [m.start(1) + len(m.group(1)) // 2 for m in _STRING_VALUE.finditer(text)]
    third = math.ceil(positions / 3)
    picked = (
        [("key", o) for o in _spread(keys, third)]
        + [("value", o) for o in _spread(values, third)]
        + [("class", o) for o in _spread(classes, positions - 2 * third)]
    )
    picked.sort(key=lambda item: item[1])
    bench.positions = [(kind, *_position(starts, offset)) for kind, offset in picked]
    return bench


# -- the client -----------------------------------------------------------------------------


class ServerError(Exception):
    pass


class Client:
    """A minimal LSP client over the server's stdio, with receipt times of every message."""

    def __init__(self, pull: bool, workspace: Path, log_path: Path):
        self.pull = pull
        self.workspace = workspace
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[tuple[dict[str, Any], float]]] = {}
        self.notes: list[tuple[dict[str, Any], float]] = []
        self._new_note = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._stderr: Any = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def capabilities(self) -> dict[str, Any]:
        text_document: dict[str, Any] = {
            "synchronization": {"dynamicRegistration": False, "didSave": True},
            "publishDiagnostics": {"versionSupport": True, "relatedInformation": True},
            "completion": {
                "completionItem": {
                    "snippetSupport": True,
                    "documentationFormat": ["markdown", "plaintext"],
                }
            },
            "hover": {"contentFormat": ["markdown", "plaintext"]},
        }
        if self.pull:
            text_document["diagnostic"] = {
                "dynamicRegistration": False,
                "relatedDocumentSupport": False,
            }
        return {"textDocument": text_document, "general": {"positionEncodings": ["utf-16"]}}

    def command(self) -> list[str]:
        """The server's command line."""
        return [sys.executable, "-m", "layercfg", "lsp"]

    async def start(self) -> float:
        """Spawn the server and initialize it; the spawn -> initialize response time in ms."""
        self._stderr = self.log_path.open("ab")
        start = time.perf_counter()
        self.process = await asyncio.create_subprocess_exec(
            *self.command(),
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
                "clientInfo": {"name": "bench_server"},
                # The fast path is what is measured here; the deep check has its own benchmark
                # (bench_deep.py) and runs in a separate worker process.
                "initializationOptions": {"deepCheck": "off"},
            },
            timeout=60,
        )
        await self.notify("initialized", {})
        return (received - start) * 1000

    async def stop(self) -> None:
        if self.process is None:
            return
        try:
            if self.process.returncode is None:
                await self.request("shutdown", None, timeout=10)
                await self.notify("exit", None)
                await asyncio.wait_for(self.process.wait(), 10)
        except (asyncio.TimeoutError, ServerError, ConnectionError, BrokenPipeError):
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
        finally:
            if self._reader is not None:
                self._reader.cancel()
            if self._stderr is not None:
                self._stderr.close()

    # framing
    async def _write(self, message: dict[str, Any]) -> float:
        """Send ``message``; the time just before its bytes were written."""
        assert self.process is not None and self.process.stdin is not None
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        data = b"Content-Length: %d\r\n\r\n" % len(body) + body
        sent = time.perf_counter()
        self.process.stdin.write(data)
        await self.process.stdin.drain()
        return sent

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stream = self.process.stdout
        try:
            while True:
                length = None
                while True:
                    line = await stream.readline()
                    if not line:
                        raise EOFError
                    line = line.strip()
                    if not line:
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length is None:
                    continue
                body = await stream.readexactly(length)
                received = time.perf_counter()
                await self._dispatch(json.loads(body), received)
        except (EOFError, asyncio.IncompleteReadError, ConnectionError):
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ServerError("the server closed its output"))
            self._new_note.set()

    async def _dispatch(self, message: dict[str, Any], received: float) -> None:
        if "method" not in message:
            future = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
            if future is not None and not future.done():
                future.set_result((message, received))
            return
        if "id" in message:  # a request from the server: answer as a plain client would
            result: Any = None
            if message["method"] == "workspace/configuration":
                result = [None for _ in message.get("params", {}).get("items", [])]
            await self._write({"jsonrpc": "2.0", "id": message["id"], "result": result})
            return
        self.notes.append((message, received))
        self._new_note.set()

    # messages
    async def request(self, method: str, params: Any, timeout: float = 60) -> tuple[Any, float]:
        """(result, receipt time of the answer)."""
        result, received, _ = await self.timed_request(method, params, timeout)
        return result, received

    async def timed_request(
        self, method: str, params: Any, timeout: float = 60
    ) -> tuple[Any, float, float]:
        """(result, receipt time, send time)."""
        ident = next(self._ids)
        future: asyncio.Future[tuple[dict[str, Any], float]] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending[ident] = future
        sent = await self._write(
            {"jsonrpc": "2.0", "id": ident, "method": method, "params": params}
        )
        try:
            message, received = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise ServerError(f"{method}: no answer within {timeout} s") from None
        if "error" in message:
            raise ServerError(f"{method}: {message['error']}")
        return message.get("result"), received, sent

    async def notify(self, method: str, params: Any) -> float:
        return await self._write({"jsonrpc": "2.0", "method": method, "params": params})

    async def wait_note(
        self, predicate: Callable[[dict[str, Any]], bool], since: int, timeout: float
    ) -> tuple[dict[str, Any], float]:
        """The first notification from index ``since`` on that ``predicate`` accepts."""
        deadline = time.perf_counter() + timeout
        index = since
        while True:
            while index < len(self.notes):
                message, received = self.notes[index]
                index += 1
                if predicate(message):
                    return message, received
            if self.process is not None and self.process.returncode is not None:
                raise ServerError("the server exited")
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise ServerError("timed out waiting for a notification")
            self._new_note.clear()
            try:
                await asyncio.wait_for(self._new_note.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def wait_ready(self, timeout: float) -> dict[str, Any]:
        def ready(message: dict[str, Any]) -> bool:
            if message["method"] != STATUS:
                return False
            state = (message.get("params") or {}).get("catalog")
            if state == "failed":
                raise ServerError(f"catalog failed: {message['params'].get('message')}")
            return state == "ready"

        message, _ = await self.wait_note(ready, 0, timeout)
        return message["params"]


def published(uri: str, version: int) -> Callable[[dict[str, Any]], bool]:
    def accept(message: dict[str, Any]) -> bool:
        if message["method"] != "textDocument/publishDiagnostics":
            return False
        params = message.get("params") or {}
        return params.get("uri") == uri and params.get("version") == version

    return accept


# -- memory -----------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(x) for x in handle.read().split())
        except OSError:
            continue
    return found


def _status_kb(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Memory:
    """VmHWM per process of the server's tree, the highest seen at any checkpoint."""

    def __init__(self, root: int):
        self.root = root
        self.hwm_kb: dict[int, int] = {}

    def checkpoint(self) -> float:
        """The tree's summed VmHWM so far, in MB."""
        pending = [self.root]
        while pending:
            pid = pending.pop()
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), _status_kb(pid, "VmHWM"))
            pending.extend(_children(pid))
        return sum(self.hwm_kb.values()) / 1024

    def rss_mb(self) -> float:
        pending, total = [self.root], 0
        while pending:
            pid = pending.pop()
            total += _status_kb(pid, "VmRSS")
            pending.extend(_children(pid))
        return total / 1024


def _machine_busy_ticks() -> int:
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: everything but idle and iowait
    return sum(fields[:3]) + sum(fields[5:8])


def _process_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


class OtherLoad:
    """CPU used by everything but the server's tree and this client, in cores, over a span:
    how noisy the machine was while a session measured."""

    def __init__(self, memory: Memory):
        self.memory = memory
        self.start = self._sample()

    def _sample(self) -> tuple[float, int]:
        own = sum(os.times()[:2]) * os.sysconf("SC_CLK_TCK")
        tree = sum(_process_ticks(pid) for pid in self.memory.hwm_kb)
        return time.perf_counter(), _machine_busy_ticks() - tree - int(own)

    def cores(self) -> float:
        (t0, busy0), (t1, busy1) = self.start, self._sample()
        return max(0.0, (busy1 - busy0) / os.sysconf("SC_CLK_TCK") / (t1 - t0))


# -- sessions ---------------------------------------------------------------------------------


Samples = dict[str, list[float]]
Counts = dict[str, list[int]]


async def session(
    bench: Bench,
    pull: bool,
    args: argparse.Namespace,
    workspace: Path,
    log_path: Path,
    samples: Samples,
    counts: Counts,
) -> None:
    mode = "pull" if pull else "push"
    client = Client(pull, workspace, log_path)
    try:
        spawn = time.perf_counter()
        samples["spawn"].append(await client.start())
        await client.wait_ready(timeout=120)
        samples["ready"].append((time.perf_counter() - spawn) * 1000)
        memory = Memory(client.pid)
        memory.checkpoint()
        load = OtherLoad(memory)
        samples[f"{bench.label}:idle-mem"].append(memory.checkpoint())

        # didOpen -> first diagnostics.
        version = 1
        open_message = {
            "textDocument": {
                "uri": bench.uri,
                "languageId": LANGUAGE_ID,
                "version": version,
                "text": bench.text,
            }
        }
        result_id = None
        ticks = _process_ticks(client.pid)
        if pull:
            sent = await client.notify("textDocument/didOpen", open_message)
            report, received, _ = await client.timed_request(
                "textDocument/diagnostic", {"textDocument": {"uri": bench.uri}}
            )
            items = report.get("items", [])
            result_id = report.get("resultId")
        else:
            since = len(client.notes)
            sent = await client.notify("textDocument/didOpen", open_message)
            message, received = await client.wait_note(
                published(bench.uri, version), since, timeout=60
            )
            items = message["params"]["diagnostics"]
        samples[f"{bench.label}:open-{mode}"].append((received - sent) * 1000)
        # The server's own CPU for it (10 ms ticks): what a busy machine does not inflate.
        ticks = _process_ticks(client.pid) - ticks
        samples[f"{bench.label}:open-cpu"].append(ticks * 1000 / os.sysconf("SC_CLK_TCK"))
        counts[f"{bench.label}:open-diagnostics"].append(len(items))
        samples[f"{bench.label}:open-mem"].append(memory.checkpoint())

        # One-value edits, alternating between two values so that each one is a change.
        current = str(bench.edit_value)
        other = str(bench.edit_value + 1)
        if len(other) != len(current):
            other = str(bench.edit_value - 1)
        for _ in range(args.edits):
            await asyncio.sleep(EDIT_PAUSE_SECONDS)
            version += 1
            line, column = bench.edit_line, bench.edit_column
            change = {
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
            current, other = other, current
            if pull:
                sent = await client.notify("textDocument/didChange", change)
                params: dict[str, Any] = {"textDocument": {"uri": bench.uri}}
                if result_id is not None:
                    params["previousResultId"] = result_id
                report, received, _ = await client.timed_request("textDocument/diagnostic", params)
                if report.get("kind") != "full":
                    raise ServerError("a changed document was reported unchanged")
                result_id = report.get("resultId")
            else:
                since = len(client.notes)
                sent = await client.notify("textDocument/didChange", change)
                _, received = await client.wait_note(
                    published(bench.uri, version), since, timeout=60
                )
            samples[f"{bench.label}:edit-{mode}"].append((received - sent) * 1000)

        # Completion and hover, one request at a time, at every chosen position.
        answered = {"completion": 0, "hover": 0}
        for kind, line, column in bench.positions:
            where = {
                "textDocument": {"uri": bench.uri},
                "position": {"line": line, "character": column},
            }
            result, received, sent = await client.timed_request(
                "textDocument/completion", {**where, "context": {"triggerKind": 1}}
            )
            samples[f"{bench.label}:completion"].append((received - sent) * 1000)
            samples[f"{bench.label}:completion:{kind}"].append((received - sent) * 1000)
            items = result.get("items", []) if isinstance(result, dict) else (result or [])
            answered["completion"] += bool(items)
            result, received, sent = await client.timed_request("textDocument/hover", where)
            samples[f"{bench.label}:hover"].append((received - sent) * 1000)
            samples[f"{bench.label}:hover:{kind}"].append((received - sent) * 1000)
            answered["hover"] += result is not None
        for name, value in answered.items():
            counts[f"{bench.label}:{name}-answered"].append(value)
        samples[f"{bench.label}:end-mem"].append(memory.checkpoint())
        samples[f"{bench.label}:end-rss"].append(memory.rss_mb())
        counts["processes"].append(len(memory.hwm_kb))
        edits = samples[f"{bench.label}:edit-{mode}"][-args.edits :]
        samples[f"{bench.label}:{mode}:session-edit-p50"].append(percentile(edits, 0.5))
        samples[f"{bench.label}:{mode}:other-load"].append(load.cores())
    finally:
        await client.stop()


async def warm_up(workspace: Path, log_path: Path) -> None:
    """One session that waits for the catalog however long it takes (a build when missing)."""
    client = Client(True, workspace, log_path)
    try:
        await client.start()
        print("waiting for the catalog (a cold build takes minutes)...", file=sys.stderr)
        status = await client.wait_ready(timeout=1800)
        print(
            f"catalog ready: Keras {status.get('kerasVersion')} ({status.get('backend')})",
            file=sys.stderr,
        )
    finally:
        await client.stop()


# -- report -----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Row:
    name: str
    values: list[float]
    stat: str  # "median" | "p50" | "p95" | "max": what the target is compared with
    target: float | None = None
    offset: float = 0.0  # subtracted before the comparison (the push debounce)
    unit: str = "ms"

    def cells(self) -> list[str]:
        v = [x - self.offset for x in self.values]
        if not v:
            return [self.name, "0", "-", "-", "-", "-"]
        if self.stat in ("p50", "p95"):
            figure = f"p50 {percentile(v, 0.5):.1f}  p95 {percentile(v, 0.95):.1f}"
        else:
            figure = f"{statistics.median(v):.1f}"
        spread = f"{min(v):.1f} - {max(v):.1f}"
        if self.target is None:
            return [self.name, str(len(v)), figure, spread, "-", ""]
        measured = {
            "median": statistics.median(v),
            "p50": percentile(v, 0.5),
            "p95": percentile(v, 0.95),
            "max": max(v),
        }[self.stat]
        verdict = (
            "PASS"
            if measured <= self.target
            else (f"MISS (+{measured - self.target:.0f} {self.unit})")
        )
        return [
            self.name,
            str(len(v)),
            figure,
            spread,
            f"{self.stat} <= {self.target:g} {self.unit}",
            verdict,
        ]


def print_table(rows: list[Row]) -> None:
    header = ["measure", "n", "median / p50 p95", "min - max", "target", "result"]
    table = [header] + [row.cells() for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for index, cells in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


def debounce_ms() -> float | None:
    """What a lone edit (more than the debounce window after the one before, as the edits of
    these benchmarks are) waits before the server checks it: nothing, the debounce holds back
    the edits of a burst only. None when the server's debounce cannot be read."""
    try:
        from layercfg.server.server import DEBOUNCE_SECONDS
    except Exception:
        return None
    return 0.0 if EDIT_PAUSE_SECONDS > DEBOUNCE_SECONDS else DEBOUNCE_SECONDS * 1000


async def main_async(args: argparse.Namespace) -> int:
    small_path, large_path = documents()
    benches = [prepare("small", small_path, args.positions)]
    if not args.skip_large:
        benches.append(prepare("large", large_path, args.positions))
    for bench in benches:
        print(
            f"{bench.label}: {bench.path.name}, {bench.megabytes:.2f} MB, "
            f"{bench.text.count(chr(10)) + 1} lines; edit at line {bench.edit_line + 1} "
            f"(value {bench.edit_value}); {len(bench.positions)} completion/hover positions"
        )
    if not args.skip_large:
        layers = json.loads(benches[-1].text)["config"]["layers"]
        print(f"large: {len(layers)} layers")

    workspace = Path(tempfile.mkdtemp(prefix="layercfg-bench-ws-"))
    log_path = Path(tempfile.gettempdir()) / "layercfg-bench-server.log"
    log_path.write_bytes(b"")
    samples: Samples = defaultdict(list)
    counts: Counts = defaultdict(list)
    try:
        await warm_up(workspace, log_path)
        plan = [(bench, pull) for bench in benches for pull in (True, False)]
        for run in range(args.runs):
            order = plan if run % 2 == 0 else plan[::-1]
            for bench, pull in order:
                await session(bench, pull, args, workspace, log_path, samples, counts)
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    except ServerError as exc:
        print(f"error: {exc} (server stderr in {log_path})", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workspace, ignore_errors=True)

    # No early initialize answer: the server answers once it is imported. What the user waits
    # for is the catalog (the first diagnostics), which the early answer never moved.
    rows = [
        Row("spawn -> initialize response", samples["spawn"], "median"),
        Row("spawn -> catalog ready (status)", samples["ready"], "median", 1500),
    ]
    for bench in benches:
        b = bench.label
        rows += [
            Row(f"{b}: didOpen -> diagnostics, pull", samples[f"{b}:open-pull"], "median", 400),
            Row(f"{b}: didOpen -> diagnostics, push", samples[f"{b}:open-push"], "median", 400),
            Row(f"{b}: didOpen -> diagnostics, server CPU", samples[f"{b}:open-cpu"], "median"),
            Row(f"{b}: edit -> diagnostics, pull", samples[f"{b}:edit-pull"], "p50", 50),
            Row(f"{b}: edit -> publish, push", samples[f"{b}:edit-push"], "p50", 50),
        ]
        rows += [
            Row(f"{b}: completion", samples[f"{b}:completion"], "p95", 15),
            Row(f"{b}: hover", samples[f"{b}:hover"], "p95", 15),
            Row(
                f"{b}: memory, catalog loaded, no document (VmHWM)",
                samples[f"{b}:idle-mem"],
                "max",
                None,
                unit="MB",
            ),
            Row(
                f"{b}: memory, after didOpen (VmHWM)",
                samples[f"{b}:open-mem"],
                "max",
                150,
                unit="MB",
            ),
            Row(
                f"{b}: memory, after edits + requests (VmHWM)",
                samples[f"{b}:end-mem"],
                "max",
                150,
                unit="MB",
            ),
            Row(
                f"{b}: memory, resident at the end (VmRSS)",
                samples[f"{b}:end-rss"],
                "max",
                unit="MB",
            ),
        ]
    print()
    print(
        f"{args.runs} runs x {2 * len(benches)} sessions; {args.edits} edits and "
        f"{args.positions} completion + hover positions per session; times in ms, memory in MB "
        f"(summed over the server's process tree)"
    )
    print_table(rows)
    print()
    for bench in benches:
        b = bench.label
        print(
            f"{b}: diagnostics on open {sorted(set(counts[f'{b}:open-diagnostics']))}; "
            f"completion answered {min(counts[f'{b}:completion-answered'])}"
            f"/{len(bench.positions)}, hover answered "
            f"{min(counts[f'{b}:hover-answered'])}/{len(bench.positions)} (worst session)"
        )
        for request in ("completion", "hover"):
            parts = []
            for kind in ("key", "value", "class"):
                values = samples[f"{b}:{request}:{kind}"]
                if values:
                    parts.append(
                        f"{kind} p50 {percentile(values, 0.5):.1f} "
                        f"p95 {percentile(values, 0.95):.1f} max {max(values):.1f}"
                    )
            print(f"{b}: {request} by position kind (ms): " + "; ".join(parts))
        for mode in ("pull", "push"):
            medians = " ".join(f"{x:.0f}" for x in samples[f"{b}:{mode}:session-edit-p50"])
            others = " ".join(f"{x:.2f}" for x in samples[f"{b}:{mode}:other-load"])
            print(
                f"{b}: {mode} sessions: edit p50 per session (ms) "
                f"{medians}; CPU used by other processes (cores) {others}"
            )
    print(f"processes in the server's tree: {max(counts['processes'])} at most")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of four sessions (5)")
    parser.add_argument("--edits", type=int, default=30, help="edits per session (30)")
    parser.add_argument(
        "--positions", type=int, default=60, help="completion/hover positions per session (60)"
    )
    parser.add_argument("--skip-large", action="store_true", help="only the small document")
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
