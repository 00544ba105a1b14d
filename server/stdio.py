"""The server's stdio transport: stdin read by the event loop itself.

pygls reads stdin with blocking ``readline``/``read`` calls in its thread pool, one per header
line and one per body: every message crosses between a thread and the loop three times, and
a round trip (an edit, then its pulled diagnostics) paid about 0.3 ms for it, a third of the
whole on a small document. Here stdin is a pipe the loop watches (``connect_read_pipe``), as
pygls's own TCP transport reads its socket: the messages already read are handled without a
switch. The loop, the framing and the protocol are pygls's (``run_async``); where stdin cannot
be watched (a regular file, Windows), its thread-pool reader is used as before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from typing import Any, BinaryIO

from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async
from pygls.server import JsonRPCServer

log = logging.getLogger("layercfg")

# The largest line the reader holds at once (a header line; bodies are read by length).
_LINE_LIMIT = 1 << 20


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


class PipeReader:
    """pygls's reader interface over an asyncio stream: ``readexactly`` answers ``b""`` at
    the end of the input, as a file's ``read`` does, instead of raising.

    Before the next message is read, the loop runs once: a request's handler starts (reads
    its document, say) before the messages that follow it are handled, as it did with
    pygls's reader, also when they arrived together."""

    def __init__(self, stream: asyncio.StreamReader, transport: asyncio.BaseTransport) -> None:
        self.stream = stream
        self.transport = transport
        self._handled = False  # a message was read since the last turn of the loop

    def close(self) -> None:
        self.transport.close()

    async def readline(self) -> bytes:
        if self._handled:
            self._handled = False
            await asyncio.sleep(0)
        try:
            return await self.stream.readline()
        except ValueError:  # a line over the limit: not a header, the input is not LSP
            log.error("stdin: a line longer than %d bytes, closing", _LINE_LIMIT)
            return b""

    async def readexactly(self, n: int) -> bytes:
        try:
            body = await self.stream.readexactly(n)
        except asyncio.IncompleteReadError:
            return b""
        self._handled = True
        return body


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


def start_io(
    server: JsonRPCServer, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
) -> None:
    """Serve over stdio until the client exits or the input ends (``start_io`` of pygls
    with the loop's reader)."""
    source = stdin or sys.stdin.buffer
    server._stop_event = threading.Event()
    server.protocol.set_writer(Writer(stdout or sys.stdout.buffer))

    async def serve() -> None:
        watched = await pipe_reader(source)
        reader: Any = watched or StdinAsyncReader(source, server.thread_pool)
        assert server._stop_event is not None
        try:
            await run_async(
                stop_event=server._stop_event,
                reader=reader,
                protocol=server.protocol,
                logger=logging.getLogger("pygls.server"),
                error_handler=server.report_server_error,
            )
        finally:
            if watched is not None:
                watched.close()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(serve())
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
