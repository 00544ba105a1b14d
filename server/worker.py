"""The server's side of the Keras worker: an asyncio subprocess speaking JSON lines.

The worker runs with the interpreter of the ``python`` setting, isolated (``-I``: no current
directory, no user site, no ``PYTHON*`` variables) in a private temp dir, and answers on a
pipe of its own. It is restarted after it dies, and every request can carry a time limit.
Anything on the answer pipe that is not the answer to a pending request, with that request's
nonce, is a fault: the worker is killed and the request fails (kind ``protocol``). Nothing
here imports Keras.

A request whose task is cancelled while the worker has it is cancelled in the worker too, on
a third pipe: the worker stops it at a safe point and stays up, Keras imported. Its answer is
still awaited (and dropped), within the request's time limit, so that it is never taken for
another one's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from layercfg.schema_builder import protocol
from layercfg.schema_builder.protocol import ErrorKind, Method

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]

# The worker asks the kernel to end it when the process that started it ends (Linux), unless
# that process is already gone by then: its pid travels in this variable.
PARENT_VARIABLE = "LAYERCFG_WORKER_PARENT"

# The folder holding the ``layercfg`` package of a server that runs from a bundle (the VS Code
# extension's ``bundled/tool``, whose launcher sets it; never a setting or a variable): the
# worker's interpreter need not have layercfg installed then, and imports it from there.
BUNDLE_PATH: str | None = None
# ``-I`` drops PYTHONPATH, the current directory and the user site; the folder travels as the
# first argument and goes first on the path, so an installed layercfg cannot stand in for it.
_BUNDLED_WORKER = (
    "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
    "runpy.run_module('layercfg.schema_builder.worker', run_name='__main__', alter_sys=True)"
)


def worker_command(python: str) -> list[str]:
    """The worker's command line, without its arguments."""
    if BUNDLE_PATH:
        return [python, "-I", "-c", _BUNDLED_WORKER, BUNDLE_PATH]
    return [python, "-I", "-m", "layercfg.schema_builder.worker"]


class WorkerError(Exception):
    """The worker answered with an error, died, or took too long."""

    def __init__(
        self, message: str, kind: ErrorKind | str = ErrorKind.ERROR, details: str | None = None
    ):
        super().__init__(message)
        self.kind: ErrorKind | str = ErrorKind.of(kind)
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


def descendants(pid: int) -> list[int]:
    """The processes below ``pid``, children first (Linux; empty elsewhere)."""
    out: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/task/{current}/children", encoding="ascii") as handle:
                children = [int(child) for child in handle.read().split()]
        except (OSError, ValueError):
            continue
        out += children
        pending += children
    return out


def _terminate(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the worker and whatever it started: its process group, and any descendant
    that left the group (the worker's seccomp filter stops it from starting any at all,
    where the platform has one)."""
    below = descendants(process.pid)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if process.returncode is None:
        try:
            process.kill()
        except ProcessLookupError:
            pass


def encode_request(ident: int, method: str, params: dict[str, Any], nonce: str = "") -> bytes:
    """One request line, the same bytes as ``json.dumps``. Large containers are encoded a piece
    at a time, so a thread doing this lets the event loop run in between: json's C encoder
    holds the GIL for the whole of one call (about 135 ms on a 10 MB model)."""
    pieces = [
        f'{{"id": {json.dumps(ident)}, "nonce": {json.dumps(nonce)}, '
        f'"method": {json.dumps(method)}, "params": '
    ]
    pieces += _pieces(params, 0)
    pieces.append("}\n")
    return "".join(pieces).encode()


def _pieces(value: Any, depth: int) -> list[str]:
    items = value.values() if isinstance(value, dict) else value
    if (
        depth >= 4
        or not isinstance(value, (dict, list))
        or not any(isinstance(item, (dict, list)) for item in items)
        or isinstance(value, dict)
        and not all(isinstance(key, str) for key in value)
    ):
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
        self._nonces: dict[int, str] = {}
        self._progress: dict[int, Progress] = {}
        self._private: str | None = None  # the worker's own temp dir
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.stopped = False  # set by stop(): no request and no new worker after it
        self._active = 0  # requests under way, from their encoding on (busy before pending)
        self._cancel_fds: dict[int, int] = {}  # worker pid -> the cancel pipe's end
        # Requests cancelled by the client whose answers are still due: pending until then.
        self._abandoned: set[int] = set()
        self.cancelled = 0  # requests cancelled in the worker (for tests and benchmarks)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        env = {
            k: v
            for k, v in (os.environ if self.env is None else self.env).items()
            if not k.startswith("PYTHON")
        }
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        env[PARENT_VARIABLE] = str(os.getpid())
        # The shared temp dir, where a default hub cache would be (the worker's is private).
        env.setdefault("LAYERCFG_SYSTEM_TMPDIR", tempfile.gettempdir())
        self._private = tempfile.mkdtemp(prefix="layercfg-worker-")
        for name in ("TMPDIR", "TEMP", "TMP"):
            env[name] = self._private
        answers, answer_end = os.pipe()
        cancel_end, cancels = os.pipe()
        os.set_blocking(cancels, False)  # a cancel never waits: the worker reads it at once
        try:
            self._process = await asyncio.create_subprocess_exec(
                *worker_command(self.python),
                "--answer-fd",
                str(answer_end),
                "--private",
                self._private,
                "--cancel-fd",
                str(cancel_end),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=self._private,  # never the workspace: the worker writes nothing there
                start_new_session=True,  # its own process group: killed with all it started
                pass_fds=(answer_end, cancel_end),
            )
        except BaseException:
            os.close(answers)
            os.close(cancels)
            raise
        finally:
            os.close(answer_end)
            os.close(cancel_end)
        self._cancel_fds[self._process.pid] = cancels
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(answers, "rb", buffering=0)
        )
        self._reader = asyncio.create_task(self._read(self._process, reader))
        asyncio.create_task(self._drain_log(self._process))
        log.info("Keras worker started (pid %s, %s)", self._process.pid, self.python)

    async def _drain_log(self, process: asyncio.subprocess.Process) -> None:
        """What the worker prints (fd 1 and 2 alike): the log, never the protocol."""
        assert process.stdout is not None
        while True:
            try:
                line = await process.stdout.readline()
            except ValueError:  # a line longer than the stream's limit: drop it
                continue
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                log.debug("worker: %s", text)

    def _fault(self, process: asyncio.subprocess.Process, reason: str) -> None:
        """The answer pipe carried something that is not an answer of ours: nothing more
        from this worker is believed."""
        log.warning("the Keras worker broke the protocol (%s); stopping it", reason)
        _terminate(process)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    WorkerError(
                        f"the Keras worker sent an answer that was not its own ({reason})",
                        kind=ErrorKind.PROTOCOL,
                    )
                )

    async def _read(
        self, process: asyncio.subprocess.Process, answers: asyncio.StreamReader
    ) -> None:
        try:
            while True:
                try:
                    line = await answers.readline()
                except ValueError:
                    self._fault(process, "an answer longer than 64 MB")
                    break
                if not line:
                    break
                try:
                    message = json.loads(line)
                except (ValueError, RecursionError):
                    self._fault(process, "a line that is not JSON")
                    break
                reason = self._foreign(message)
                if reason is not None:
                    self._fault(process, reason)
                    break
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
            cancels = self._cancel_fds.pop(process.pid, None)
            if cancels is not None:
                os.close(cancels)
            self._abandoned.clear()
            self._remove_private()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        WorkerError(f"the Keras worker exited (code {code})", kind=ErrorKind.DIED)
                    )
            self._pending.clear()

    def _foreign(self, message: Any) -> str | None:
        """Why ``message`` is not an answer (or progress) of a pending request; None if it is."""
        if not isinstance(message, dict):
            return "not an object"
        params = message.get("params")
        if message.get("method") == "progress":
            ident = params.get("id") if isinstance(params, dict) else None
        else:
            ident = message.get("id")
        if not isinstance(ident, int) or ident not in self._pending:
            return f"an answer to no pending request (id {ident!r})"
        expected = self._nonces.get(ident)
        if not expected or not secrets.compare_digest(str(message.get("nonce")), expected):
            return f"the wrong nonce for request {ident}"
        return None

    def _remove_private(self) -> None:
        private, self._private = self._private, None
        if private:
            shutil.rmtree(private, ignore_errors=True)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("method") == "progress":
            params = message.get("params") or {}
            ident = params.get("id")
            callback = self._progress.get(ident) if isinstance(ident, int) else None
            percentage = params.get("percentage")
            if callback is not None:
                callback(
                    str(params.get("message", "")),
                    int(percentage) if isinstance(percentage, (int, float)) else 0,
                )
            return
        ident = message.get("id")
        future = self._pending.pop(ident, None) if isinstance(ident, int) else None
        if isinstance(ident, int) and ident in self._abandoned:  # cancelled here: dropped
            self._abandoned.discard(ident)
            self._nonces.pop(ident, None)
            error = message.get("error")
            if isinstance(error, dict) and error.get("kind") == ErrorKind.CANCELLED:
                log.info("the Keras worker stopped request %s, which was cancelled", ident)
            else:
                log.info("request %s ended before its cancel arrived: its answer is dropped", ident)
            return
        if future is None or future.done():
            return
        if "error" in message:
            error = message["error"] if isinstance(message["error"], dict) else {}
            future.set_exception(
                WorkerError(
                    str(error.get("message")),
                    error.get("kind", ErrorKind.ERROR),
                    error.get("traceback"),
                )
            )
        else:
            future.set_result(message.get("result"))

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        """One request (see ``_request``); the worker is busy from the start of its encoding
        and its start, not only once it is sent: the idle exit never stops it then."""
        self._active += 1
        try:
            return await self._request(*args, **kwargs)
        finally:
            self._active -= 1

    async def _request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        progress: Progress | None = None,
        memory_mb: int | None = None,
    ) -> Any:
        """One request; after ``stop()`` only ``shutdown`` (which ``stop()`` sends) goes out."""
        if self.stopped and method != Method.SHUTDOWN:
            raise WorkerError("the Keras worker was stopped", kind=ErrorKind.STOPPED)
        ident = next(self._ids)
        nonce = secrets.token_hex(16)
        # Encoding a large document takes long: off the event loop (and before the time limit).
        line = await asyncio.to_thread(encode_request, ident, method, params or {}, nonce)
        async with self._lock:
            if self.stopped and method != Method.SHUTDOWN:
                raise WorkerError("the Keras worker was stopped", kind=ErrorKind.STOPPED)
            if not self.running:
                await self.start()
        process = self._process
        assert process is not None and process.stdin is not None
        watcher = None
        if memory_mb is not None:
            watcher = asyncio.create_task(self._watch_memory(process, memory_mb))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[ident] = future
        self._nonces[ident] = nonce
        if progress is not None:
            self._progress[ident] = progress
        sent = False
        deadline = None if timeout is None else loop.time() + timeout
        try:
            process.stdin.write(line)
            sent = True  # whole, in the pipe's buffer: the worker reads it in any case
            await process.stdin.drain()
            return await asyncio.wait_for(future, timeout)
        except asyncio.CancelledError:
            if sent and ident in self._pending:  # the worker has it, or will have it
                self._abandon(process, ident, nonce, deadline)
            raise
        except asyncio.TimeoutError:
            await self.kill()
            raise WorkerError(
                f"{method} took longer than {timeout:g} s", kind=ErrorKind.TIMEOUT
            ) from None
        except (BrokenPipeError, ConnectionResetError):
            kind = ErrorKind.STOPPED if self.stopped else ErrorKind.DIED
            raise WorkerError("the Keras worker is not running", kind=kind) from None
        except WorkerError as exc:
            if self.stopped:
                raise WorkerError("the Keras worker was stopped", kind=ErrorKind.STOPPED) from exc
            if watcher is not None and watcher.done() and watcher.result():
                raise WorkerError(
                    f"{method} used more than {memory_mb} MB", kind=ErrorKind.MEMORY
                ) from exc
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
            if ident not in self._abandoned:
                self._pending.pop(ident, None)
                self._nonces.pop(ident, None)
            self._progress.pop(ident, None)

    def _abandon(
        self,
        process: asyncio.subprocess.Process,
        ident: int,
        nonce: str,
        deadline: float | None,
    ) -> None:
        """The request's task was cancelled: cancel it in the worker, and keep it pending
        until its answer comes (dropped then), or until its time limit, which ends the worker
        as it would have ended the request."""
        self._abandoned.add(ident)
        self.cancelled += 1
        cancels = self._cancel_fds.get(process.pid)
        if cancels is not None:
            try:
                os.write(cancels, protocol.cancel(ident, nonce))
            except OSError:  # the worker is ending: its answer never comes, nor is awaited
                log.debug("the cancel of request %s was not sent", ident, exc_info=True)
        if deadline is not None:
            asyncio.get_running_loop().call_at(deadline, self._overdue, process, ident)

    def _overdue(self, process: asyncio.subprocess.Process, ident: int) -> None:
        if ident in self._abandoned and process is self._process and self.running:
            log.warning("the Keras worker did not stop a cancelled request in time; stopping it")
            _terminate(process)

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
        if process is not None:
            self._remove_private()

    @property
    def busy(self) -> bool:
        """A request is being answered."""
        return bool(self._pending) or self._active > 0

    async def stop(self) -> None:
        """End the worker for good: asked to when it is idle, killed at once when it is busy
        (a check can take minutes). Requests waiting on it fail with kind "stopped"; none
        starts a new worker afterwards."""
        self.stopped = True
        process = self._process
        if process is not None and process.returncode is None and not self._pending:
            try:
                await self.request(Method.SHUTDOWN.value, timeout=1)
                await asyncio.wait_for(process.wait(), 1)
            except (WorkerError, asyncio.TimeoutError):
                pass
        await self.kill()


class WorkerPool:
    """The worker for the current interpreter, trust and modules. A worker never serves
    another of those: what a trusted workspace's modules did in it (patches, registered
    classes) must not reach the checks, or the catalog, of an untrusted one."""

    def __init__(
        self,
        factory: Callable[[str], WorkerClient] | None = None,
        on_idle_exit: Callable[[], None] | None = None,
    ) -> None:
        self.factory = factory or WorkerClient
        self.worker: WorkerClient | None = None
        self._key: tuple[Any, ...] | None = None
        # Memory at rest: a worker (Keras imported, about 500 MB) unused for ``idle_seconds``
        # exits; the next request starts another. None: it stays.
        self.idle_seconds: float | None = None
        self.idle_exited = False  # the last worker exited for being idle (the status says so)
        self.on_idle_exit = on_idle_exit
        self._idle_timer: asyncio.TimerHandle | None = None

    def get(
        self,
        python: str | None,
        trusted: bool,
        modules: tuple[str, ...],
        workspace: str | None,
        fresh: bool = False,
    ) -> WorkerClient:
        """``fresh``: a new worker in any case (a rebuild must import the modules' sources
        as they are now, not what an earlier import left in the worker)."""
        python = python or sys.executable
        key = (python, trusted, modules, workspace)
        if self.worker is None or fresh or self._key != key:
            old, self.worker, self._key = self.worker, self.factory(python), key
            if old is not None:
                asyncio.ensure_future(old.stop())
        self.idle_exited = False
        self._arm()
        return self.worker

    # -- idle exit ------------------------------------------------------------------------------
    def _arm(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self.idle_seconds and self.worker is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # not serving: nothing to wait for
            self._idle_timer = loop.call_later(self.idle_seconds, self._idle)

    def _idle(self) -> None:
        self._idle_timer = None
        worker = self.worker
        if worker is None:
            return
        if worker.busy:
            self._arm()  # a long check: idle counts from its end
            return
        self.retire()
        self.idle_exited = True
        if self.on_idle_exit is not None:
            self.on_idle_exit()

    def retire(self) -> None:
        """The current worker serves no more requests: the next one starts a new worker."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        old, self.worker, self._key = self.worker, None, None
        if old is not None:
            asyncio.ensure_future(old.stop())

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
