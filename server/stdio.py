"""The server's stdio transport: LSP's base protocol (header blocks, then a body of
Content-Length bytes) read from stdin by the event loop itself.

pygls reads stdin with blocking ``readline``/``read`` calls in its thread pool, one per header
line and one per body: every message crosses between a thread and the loop three times, and
a round trip (an edit, then its pulled diagnostics) paid about 0.3 ms for it, a third of the
whole on a small document. Here stdin is a pipe the loop watches (``connect_read_pipe``), as
pygls's own TCP transport reads its socket: the messages already read are handled without a
switch. Where stdin cannot be watched (a regular file, Windows), it is read in the thread pool.

The framing is this module's, not pygls's ``run_async``: header names are read whatever
their case, a header block that cannot be read is reported and skipped to the next
Content-Length header, a length past any document ends the session with a message instead
of being waited for, and a request whose params do not fit its method is answered with an
error instead of never.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import threading
from concurrent.futures import Executor
from typing import Any, BinaryIO, Protocol, TypeGuard

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.io_ import StdoutWriter
from pygls.server import JsonRPCServer

from .archives import DEFAULT_MAX_BYTES

log = logging.getLogger("layercfg")

# The largest line the reader holds at once (a header line; bodies are read by length).
_LINE_LIMIT = 1 << 20

# The longest body read: a document of the size cap sent whole (didOpen, a full didChange)
# with each of its characters escaped as two (``\"``, ``\n``), and the envelope around it.
MAX_BODY = 2 * DEFAULT_MAX_BYTES + (1 << 20)

_NUMBER = re.compile(rb"[ \t]*([0-9]+)[ \t]*")
_DIGITS = len(str(MAX_BODY))


class Writer(StdoutWriter):
    """pygls's stdout writer, closed by ``exit``, which drops what is written after it.

    A request still being answered when ``exit`` closes stdout (a ``shutdown`` sent with
    ``exit`` in one write, a check finishing) would otherwise fail to write; pygls reports
    the failure to the client, which fails again, recursively: megabytes of tracebacks on
    stderr, and a process blocked on a stderr pipe nobody reads."""

    def __init__(self, stdout: BinaryIO) -> None:
        super().__init__(stdout)
        self.closed = False

    def close(self) -> None:
        self.closed = True
        super().close()

    def write(self, data: bytes) -> None:
        if self.closed:
            log.debug("stdout is closed: %d bytes dropped", len(data))
            return
        super().write(data)


class Reader(Protocol):
    """What the framing reads: a line (``b""`` at the end of the input or past
    ``_LINE_LIMIT``), and exactly ``n`` bytes (None when the input ends before them)."""

    async def readline(self) -> bytes: ...

    async def readexactly(self, n: int) -> bytes | None: ...


class PipeReader:
    """A reader over an asyncio stream the loop fills from stdin."""

    def __init__(self, stream: asyncio.StreamReader, transport: asyncio.BaseTransport) -> None:
        self.stream = stream
        self.transport = transport

    def close(self) -> None:
        self.transport.close()

    async def readline(self) -> bytes:
        try:
            return await self.stream.readline()
        except ValueError:  # a line over the limit: not a header, the input is not LSP
            log.error("stdin: a line longer than %d bytes, closing", _LINE_LIMIT)
            return b""

    async def readexactly(self, n: int) -> bytes | None:
        try:
            return await self.stream.readexactly(n)
        except asyncio.IncompleteReadError:
            return None


class FileReader:
    """A reader of a stdin the loop cannot watch: each read a blocking call in ``executor``."""

    def __init__(self, stdin: BinaryIO, executor: Executor | None) -> None:
        self.stdin = stdin
        self.executor = executor

    async def readline(self) -> bytes:
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(self.executor, self.stdin.readline, _LINE_LIMIT + 1)
        if len(line) > _LINE_LIMIT:
            log.error("stdin: a line longer than %d bytes, closing", _LINE_LIMIT)
            return b""
        return line

    async def readexactly(self, n: int) -> bytes | None:
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(self.executor, self.stdin.read, n)
        return data if len(data) == n else None


async def pipe_reader(stdin: BinaryIO) -> PipeReader | None:
    """A reader of ``stdin`` driven by the running loop; None when it cannot watch it."""
    if os.name == "nt":
        return None
    try:
        # A duplicate, so that closing the transport leaves the process's stdin open.
        pipe = os.fdopen(os.dup(stdin.fileno()), "rb", buffering=0)
    except (AttributeError, OSError, ValueError):
        return None
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader(limit=_LINE_LIMIT)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream), pipe
        )
    except (OSError, ValueError):  # not a pipe, socket or character device
        pipe.close()
        return None
    return PipeReader(stream, transport)


async def read_message(reader: Reader) -> bytes | None:
    """The next message's body; None at the end of the input.

    Header names are case-insensitive (the base protocol's headers are HTTP's); headers
    other than Content-Length are passed over. A header block that cannot be read (no
    Content-Length, a line without a colon, a length that is not a number) is reported and
    the input skipped to the next Content-Length header, so that its body is not read as
    the next message's headers. A length over ``MAX_BODY`` ends the input."""
    length: int | None = None
    block = b""  # the header block's first line, to report it by
    skipping = False
    while True:
        line = await reader.readline()
        if not line:
            return None
        if skipping:
            at = line.lower().find(b"content-length:")
            if at < 0:
                continue
            line, skipping = line[at:], False
        text = line.rstrip(b"\r\n")
        if not text.strip():
            if length is not None:
                break
            if not block:
                continue  # blank lines between messages
            problem = "a header block without Content-Length"
        else:
            block = block or text
            name, colon, value = text.partition(b":")
            if not colon:
                problem = "a header line without a colon"
            elif name.strip().lower() != b"content-length":
                continue
            elif (number := _NUMBER.fullmatch(value)) is None:
                problem = "a Content-Length that is not a number"
            else:
                digits = number[1].lstrip(b"0") or b"0"
                # int() of thousands of digits is refused (and slow): any of them is too long.
                if len(digits) > _DIGITS or int(digits) > MAX_BODY:
                    log.error(
                        "stdin: a message's Content-Length of %s bytes is over the cap of %d "
                        "(a document of the %d MB size cap, escaped, with its envelope): "
                        "the input is not read further",
                        digits[:24].decode() + ("..." if len(digits) > 24 else ""),
                        MAX_BODY,
                        DEFAULT_MAX_BYTES >> 20,
                    )
                    return None
                if length is None or int(digits) == length:
                    length = int(digits)
                    continue
                problem = "two different Content-Length headers"
        shown = text if text.strip() else block
        log.error("stdin: %s (%r): skipped to the next Content-Length header", problem, shown[:80])
        length, block, skipping = None, b"", True
    return await reader.readexactly(length)


def _is_id(value: Any) -> TypeGuard[int | str]:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def report(server: JsonRPCServer, error: Exception) -> None:
    """``error`` to the server's public error reporter; a reporter that fails is logged,
    never raised into the reading loop."""
    try:
        server.report_server_error(error, JsonRpcException)
    except Exception:
        log.warning("reporting %r failed", error, exc_info=True)


def handle_body(server: JsonRPCServer, body: bytes) -> None:
    """One message's body parsed and handed to the protocol, as pygls's ``run_async`` does;
    a request that does not deserialize is answered with an error (pygls would raise, and
    the client wait for its answer for ever)."""
    protocol = server.protocol
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        log.error("stdin: a message of %d bytes that is not JSON: %s", len(body), exc)
        report(server, exc)
        return
    if not isinstance(data, dict) or data.get("jsonrpc") != protocol.VERSION:
        reason = "a batch" if isinstance(data, list) else "not a JSON-RPC 2.0 message"
        log.error("stdin: a message of %d bytes dropped: %s", len(body), reason)
        report(server, JsonRpcInvalidRequest(reason))
        return
    method = data.get("method")
    if isinstance(method, str) and "params" not in data:
        data["params"] = None  # JSON-RPC lets a message omit them; pygls's types do not
    try:
        message = protocol.structure_message(data)
    except JsonRpcException as exc:
        ident = data.get("id")
        if isinstance(method, str) and _is_id(ident):
            error = JsonRpcInvalidParams(f"the params of {method} do not fit the method")
            protocol._send_response(ident, None, error.to_response_error())
        else:
            report(server, exc)
        return
    try:
        protocol.handle_message(message)
    except Exception as exc:
        logging.getLogger("pygls.server").exception("Unable to handle message")
        report(server, exc)


async def serve(server: JsonRPCServer, reader: Reader) -> None:
    """Handle the messages ``reader`` reads until ``exit`` or the end of the input.

    The loop runs once after each message: a request's handler starts (reads its document,
    say) before the messages that follow it are handled, also when they arrived together."""
    assert server._stop_event is not None
    while not server._stop_event.is_set():
        body = await read_message(reader)
        if body is None:
            break
        handle_body(server, body)
        await asyncio.sleep(0)


def start_io(
    server: JsonRPCServer, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
) -> None:
    """Serve over stdio until the client exits or the input ends (``start_io`` of pygls
    with the loop's reader and this module's framing)."""
    source = stdin or sys.stdin.buffer
    server._stop_event = threading.Event()
    server.protocol.set_writer(Writer(stdout or sys.stdout.buffer))

    async def run() -> None:
        watched = await pipe_reader(source)
        try:
            await serve(server, watched or FileReader(source, server.thread_pool))
        finally:
            if watched is not None:
                watched.close()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(run())
    except BrokenPipeError:
        log.error("the connection to the client is lost: shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        try:
            _close(loop)
        finally:
            asyncio.set_event_loop(None)
            server.shutdown()


# How long the tasks still pending at the end get to finish once cancelled.
CANCEL_SECONDS = 2.0


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """``asyncio.run``'s end, with the wait for the cancelled tasks bounded: a subprocess
    being started when ``exit`` arrives (a worker that has not connected its pipes yet) never
    finishes once cancelled, and ``asyncio.run`` would wait for it for ever. The child is
    killed when its start is cancelled."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=CANCEL_SECONDS))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
