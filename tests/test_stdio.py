"""The server's stdio transport (server/stdio.py): messages written together or split
anywhere are each handled once; a stdin the loop cannot watch (a regular file) is read as
pygls reads it; the input ending in the middle of a message ends the server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def _messages(output: bytes) -> list[dict[str, Any]]:
    found = []
    while output.strip():
        header, _, rest = output.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        found.append(json.loads(rest[:length]))
        output = rest[length:]
    return found


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
