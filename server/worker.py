"""The server's side of the Keras worker: an asyncio subprocess speaking JSON lines.

The worker runs with the interpreter of the ``python`` setting, is restarted after it dies,
and every request can carry a time limit. Nothing here imports Keras.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]

# The worker asks the kernel to end it when the process that started it ends (Linux), unless
# that process is already gone by then: its pid travels in this variable.
PARENT_VARIABLE = "LAYERCFG_WORKER_PARENT"


class WorkerError(Exception):
    """The worker answered with an error, died, or took too long."""

    def __init__(self, message: str, kind: str = "error", details: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.details = details


def resident_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (0 when it is gone)."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            with open(f"/proc/{current}/task/{current}/children", encoding="ascii") as handle:
                pids += [int(child) for child in handle.read().split()]
        except (OSError, ValueError):
            continue
    return total / 1024


def _terminate(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the worker and whatever it started (it leads its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if process.returncode is None:
        try:
            process.kill()
        except ProcessLookupError:
            pass


def encode_request(ident: int, method: str, params: dict[str, Any]) -> bytes:
    """One request line, the same bytes as ``json.dumps``. Large containers are encoded a piece
    at a time, so a thread doing this lets the event loop run in between: json's C encoder
    holds the GIL for the whole of one call (about 135 ms on a 10 MB model)."""
    pieces = [f'{{"id": {json.dumps(ident)}, "method": {json.dumps(method)}, "params": ']
    pieces += _pieces(params, 0)
    pieces.append("}\n")
    return "".join(pieces).encode()


def _pieces(value: Any, depth: int) -> list[str]:
    items = value.values() if isinstance(value, dict) else value
    if (depth >= 4 or not isinstance(value, (dict, list))
            or not any(isinstance(item, (dict, list)) for item in items)
            or isinstance(value, dict) and not all(isinstance(key, str) for key in value)):
        return [json.dumps(value)]
    out: list[str] = []
    if isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            out.append(f"{', ' if index else ''}{json.dumps(key)}: ")
            out += _pieces(item, depth + 1)
        out.append("}")
    else:
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(", ")
            out += _pieces(item, depth + 1)
        out.append("]")
    return out


class WorkerClient:
    def __init__(self, python: str | None = None, env: dict[str, str] | None = None):
        self.python = python or sys.executable
        self.env = env
        self._process: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._progress: dict[int, Progress] = {}
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.stopped = False  # set by stop(): no request and no new worker after it

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        env[PARENT_VARIABLE] = str(os.getpid())
        self._process = await asyncio.create_subprocess_exec(
            self.python, "-m", "layercfg.schema_builder.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            limit=64 * 1024 * 1024,
            cwd=tempfile.gettempdir(),  # never the workspace: the worker writes nothing there
            start_new_session=True,  # its own process group: killed with all it started
        )
        self._reader = asyncio.create_task(self._read(self._process))
        asyncio.create_task(self._drain_stderr(self._process))
        log.info("Keras worker started (pid %s, %s)", self._process.pid, self.python)

    async def _drain_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                log.debug("worker: %s", text)

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            async for line in process.stdout:
                try:
                    message = json.loads(line)
                except ValueError:
                    log.warning("worker wrote a line that is not JSON: %r", line[:200])
                    continue
                self._dispatch(message)
        except asyncio.CancelledError:
            # The loop is closing (the server's client went away): the worker ends with it,
            # or the wait below would keep the loop, and the server, from ending.
            _terminate(process)
            raise
        finally:
            code = await process.wait()
            if code != 0:
                _terminate(process)  # anything the worker started and left behind
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        WorkerError(f"the Keras worker exited (code {code})", kind="died")
                    )
            self._pending.clear()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("method") == "progress":
            params = message.get("params") or {}
            callback = self._progress.get(params.get("id"))
            if callback is not None:
                callback(str(params.get("message", "")), int(params.get("percentage", 0)))
            return
        future = self._pending.pop(message.get("id"), None)
        if future is None or future.done():
            return
        if "error" in message:
            error = message["error"] or {}
            future.set_exception(
                WorkerError(str(error.get("message")), str(error.get("kind", "error")),
                            error.get("traceback"))
            )
        else:
            future.set_result(message.get("result"))

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        progress: Progress | None = None,
        memory_mb: int | None = None,
    ) -> Any:
        """One request; after ``stop()`` only ``shutdown`` (which ``stop()`` sends) goes out."""
        if self.stopped and method != "shutdown":
            raise WorkerError("the Keras worker was stopped", kind="stopped")
        ident = next(self._ids)
        # Encoding a large document takes long: off the event loop (and before the time limit).
        line = await asyncio.to_thread(encode_request, ident, method, params or {})
        async with self._lock:
            if self.stopped and method != "shutdown":
                raise WorkerError("the Keras worker was stopped", kind="stopped")
            if not self.running:
                await self.start()
        process = self._process
        assert process is not None and process.stdin is not None
        watcher = None
        if memory_mb is not None:
            watcher = asyncio.create_task(self._watch_memory(process, memory_mb))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        if progress is not None:
            self._progress[ident] = progress
        try:
            process.stdin.write(line)
            await process.stdin.drain()
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            await self.kill()
            raise WorkerError(f"{method} took longer than {timeout:g} s", kind="timeout") from None
        except (BrokenPipeError, ConnectionResetError):
            kind = "stopped" if self.stopped else "died"
            raise WorkerError("the Keras worker is not running", kind=kind) from None
        except WorkerError as exc:
            if self.stopped:
                raise WorkerError("the Keras worker was stopped", kind="stopped") from exc
            if watcher is not None and watcher.done() and watcher.result():
                raise WorkerError(f"{method} used more than {memory_mb} MB",
                                  kind="memory") from exc
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
            self._pending.pop(ident, None)
            self._progress.pop(ident, None)

    async def _watch_memory(self, process: asyncio.subprocess.Process, limit_mb: int) -> bool:
        """Kill the worker when its resident memory (children included) passes the cap."""
        while process.returncode is None:
            if resident_mb(process.pid) > limit_mb:
                log.warning("the Keras worker passed %d MB; stopping it", limit_mb)
                _terminate(process)
                return True
            await asyncio.sleep(0.05)
        return False

    async def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            _terminate(process)
            await process.wait()

    async def stop(self) -> None:
        """End the worker for good: asked to when it is idle, killed at once when it is busy
        (a check can take minutes). Requests waiting on it fail with kind "stopped"; none
        starts a new worker afterwards."""
        self.stopped = True
        process = self._process
        if process is not None and process.returncode is None and not self._pending:
            try:
                await self.request("shutdown", timeout=1)
                await asyncio.wait_for(process.wait(), 1)
            except (WorkerError, asyncio.TimeoutError):
                pass
        await self.kill()
