"""The server's stdio transport (server/stdio.py): messages written together or split
anywhere are each handled once; a stdin the loop cannot watch (a regular file) is read in
the thread pool; the input ending in the middle of a message ends the server; the framing's
header blocks, read whatever their case, skipped to the next Content-Length when they cannot
be, and a length past any document refused."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lsp_frames import messages as _messages

from layercfg.server import stdio

SERVER = [sys.executable, "-m", "layercfg", "lsp"]
TIMEOUT = 120  # for a hung server only: nothing here is timed


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _initialize(ident: int) -> bytes:
    params: dict[str, Any] = {"processId": None, "rootUri": None, "capabilities": {}}
    return _frame({"jsonrpc": "2.0", "id": ident, "method": "initialize", "params": params})


def _request(ident: int, method: str) -> bytes:
    return _frame({"jsonrpc": "2.0", "id": ident, "method": method, "params": None})


EXIT = _frame({"jsonrpc": "2.0", "method": "exit", "params": None})


def _read(stream: Any) -> dict[str, Any]:
    """The next message on ``stream``."""
    length = None
    while True:
        line = stream.readline()
        assert line, "the server closed its output"
        if not line.strip():
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    assert length is not None
    return json.loads(stream.read(length))


def _answers_until(stream: Any, idents: set[int]) -> dict[Any, dict[str, Any]]:
    answers: dict[Any, dict[str, Any]] = {}
    while not idents <= set(answers):
        message = _read(stream)
        if "id" in message and "method" not in message:
            answers[message["id"]] = message
    return answers


def _answers(output: bytes) -> dict[Any, dict[str, Any]]:
    return {m["id"]: m for m in _messages(output) if "id" in m and "method" not in m}


def _server(stderr: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)


def test_messages_written_together_or_split_byte_by_byte():
    process = _server()
    assert process.stdin is not None and process.stdout is not None
    for byte in _initialize(1):  # one byte per write, header and body
        process.stdin.write(bytes([byte]))
        process.stdin.flush()
    assert _answers_until(process.stdout, {1})[1]["result"]["serverInfo"]["name"] == "layercfg"
    # Two requests in one write, the second one's body ending in the next.
    shutdown = _request(3, "shutdown")
    process.stdin.write(_request(2, "layercfg/noSuchMethod") + shutdown[:-5])
    process.stdin.flush()
    process.stdin.write(shutdown[-5:])
    process.stdin.flush()
    answers = _answers_until(process.stdout, {2, 3})
    assert answers[2]["error"]["code"] == -32601  # method not found
    assert answers[3]["result"] is None
    process.stdin.write(_request(4, "layercfg/alsoUnknown"))
    process.stdin.flush()
    assert _answers_until(process.stdout, {4})[4]["error"]["code"] == -32600  # shut down
    process.stdin.write(EXIT)
    process.stdin.flush()
    rest, _ = process.communicate(timeout=TIMEOUT)
    assert [m for m in _messages(rest) if "id" in m] == []  # each request answered once
    assert process.returncode == 0


def test_stdin_a_regular_file(tmp_path: Path):
    script = tmp_path / "session.lsp"
    script.write_bytes(_initialize(1) + _request(2, "layercfg/noSuchMethod"))
    with script.open("rb") as stdin:
        done = subprocess.run(
            SERVER, stdin=stdin, capture_output=True, timeout=TIMEOUT, check=False
        )
    answers = _answers(done.stdout)
    assert sorted(answers) == [1, 2]
    assert answers[1]["result"]["serverInfo"]["name"] == "layercfg"
    assert answers[2]["error"]["code"] == -32601
    assert done.returncode == 0  # the end of the file ends the server
    assert b"Traceback" not in done.stderr


def test_the_input_ending_inside_a_message_ends_the_server():
    process = _server(stderr=subprocess.PIPE)
    output, errors = process.communicate(_initialize(1) + _initialize(2)[:30], timeout=TIMEOUT)
    assert sorted(_answers(output)) == [1]
    assert process.returncode == 0
    assert b"Traceback" not in errors


def test_shutdown_and_exit_in_one_write_end_the_server_quietly():
    # exit closes stdout while shutdown is still being answered: the answer is dropped,
    # not reported as an error that fails to be written in turn (stderr flooded, and a
    # process blocked on a stderr pipe its client reads only at the end).
    process = _server(stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(_initialize(1))
    process.stdin.flush()
    _answers_until(process.stdout, {1})
    process.stdin.write(_request(2, "shutdown") + EXIT)
    process.stdin.flush()
    _, errors = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0
    assert b"Traceback" not in errors, errors[-2000:]
    assert b"write to closed file" not in errors


# -- the framing, on a reader of lines ---------------------------------------------------------


class Lines:
    """A reader of ``data`` split into lines, as the stdin readers give them; each length
    asked for is recorded (and answered with as many bytes, or None at the end)."""

    def __init__(self, data: bytes) -> None:
        self.lines = data.splitlines(keepends=True)
        self.asked: list[int] = []

    async def readline(self) -> bytes:
        return self.lines.pop(0) if self.lines else b""

    async def readexactly(self, n: int) -> bytes | None:
        self.asked.append(n)
        if n > 64:
            return None
        rest = b"".join(self.lines)
        body, rest = rest[:n], rest[n:]
        self.lines = rest.splitlines(keepends=True)
        return body if len(body) == n else None


def _bodies(data: bytes) -> tuple[list[bytes], Lines]:
    reader = Lines(data)

    async def read_all() -> list[bytes]:
        found = []
        while (body := await stdio.read_message(reader)) is not None:
            found.append(body)
        return found

    return asyncio.run(read_all()), reader


@pytest.mark.parametrize(
    "data",
    [
        b"Content-Length: 2\r\n\r\n{}",
        b"content-length: 2\r\n\r\n{}",
        b"CONTENT-LENGTH:2\r\n\r\n{}",
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}",
        b"Content-Length: 2\r\nContent-Type: x\r\n\r\n{}",
        b"Content-Length:   002  \r\n\r\n{}",
        b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        b"\r\n\r\nContent-Length: 2\r\n\r\n{}",  # blank lines between messages
    ],
)
def test_a_header_block_read_whatever_its_case_order_and_spacing(data):
    assert _bodies(data + b"Content-Length: 4\r\n\r\nnull")[0] == [b"{}", b"null"]


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        (b"X-Junk: 1\r\n\r\n{}", "without Content-Length"),
        (b"garbage\r\n", "without a colon"),
        (b"Content-Length: two\r\n\r\n{}", "not a number"),
        (b"Content-Length: -2\r\n\r\n{}", "not a number"),
        (b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", "two different"),
    ],
)
def test_a_header_block_that_cannot_be_read_is_reported_and_skipped(caplog, block, problem):
    """The input is skipped to the next Content-Length header, also one glued to the end of
    the skipped body, and each message after it is read."""
    after = b"Content-Length: 4\r\n\r\nnullContent-Length: 2\r\n\r\n[]"
    with caplog.at_level("ERROR", logger="layercfg"):
        bodies, _ = _bodies(block + after)
    assert bodies == [b"null", b"[]"]
    assert [r.getMessage() for r in caplog.records if problem in r.getMessage()]


@pytest.mark.parametrize("digits", [str(stdio.MAX_BODY + 1).encode(), b"9" * 5000])
def test_a_length_past_the_cap_ends_the_input_unread(caplog, digits):
    data = b"Content-Length: 2\r\n\r\n{}Content-Length: " + digits + b"\r\n\r\n{}"
    data += b"Content-Length: 2\r\n\r\n[]"
    with caplog.at_level("ERROR", logger="layercfg"):
        bodies, reader = _bodies(data)
    assert bodies == [b"{}"]
    assert reader.asked == [2]  # the long one never asked for
    assert any("over the cap" in r.getMessage() for r in caplog.records)


def test_a_length_at_the_cap_is_read():
    _, reader = _bodies(b"Content-Length: %d\r\n\r\n" % stdio.MAX_BODY)
    assert reader.asked == [stdio.MAX_BODY]


# -- requests that do not fit their method, over stdin ------------------------------------------


def test_requests_with_params_that_do_not_fit_or_none_are_answered():
    messages = [
        {"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover", "params": {"textDocument": 5}},
        {"jsonrpc": "2.0", "id": 3, "method": "textDocument/hover"},
        {"jsonrpc": "2.0", "id": 4, "method": "layercfg/noSuchMethod"},
        {"jsonrpc": "2.0", "method": "layercfg/noSuchNotification"},
        {"jsonrpc": "2.0", "id": "five", "method": "shutdown"},
    ]
    data = _initialize(1) + b"".join(_frame(m) for m in messages)
    done = subprocess.run(SERVER, input=data, capture_output=True, timeout=TIMEOUT)
    answers = _answers(done.stdout)
    assert sorted(answers, key=str) == [1, 2, 3, 4, "five"]
    assert answers[2]["error"]["code"] == -32602  # invalid params
    assert answers[3]["error"]["code"] == -32602
    assert answers[4]["error"]["code"] == -32601  # method not found
    assert answers["five"]["result"] is None
    assert done.returncode == 0


def test_a_length_past_the_cap_ends_the_server_with_a_message():
    data = _initialize(1) + b"Content-Length: %d\r\n\r\n" % (stdio.MAX_BODY + 1)
    data += _request(2, "layercfg/noSuchMethod")
    done = subprocess.run(SERVER, input=data, capture_output=True, timeout=TIMEOUT)
    messages = _messages(done.stdout)
    assert sorted(_answers(done.stdout)) == [1]
    logged = [m["params"]["message"] for m in messages if m.get("method") == "window/logMessage"]
    assert any("Content-Length" in m and "over the cap" in m for m in logged)
    assert done.returncode == 0
    assert b"Traceback" not in done.stderr
