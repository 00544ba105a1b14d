"""The early ``initialize`` answer: it says what the full server says, for every client, and
it gives the full server the whole stream back."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.capabilities import ServerCapabilitiesBuilder
from pytest_lsp import client_capabilities

from layercfg.server import handshake
from layercfg.server.server import create_server

RECORDED = sorted(
    path.stem.replace("_v", "@v")
    for path in (Path(__import__("pytest_lsp").__file__).parent / "clients").glob("*.json")
)


@pytest.fixture(scope="module")
def server():
    return create_server()


def pygls_answer(server, capabilities: dict) -> dict:
    """What pygls computes from the registered features, serialized as it sends it."""
    protocol = server.protocol
    caps = protocol._converter.structure(capabilities, types.ClientCapabilities)
    encoding = ServerCapabilitiesBuilder.choose_position_encoding(caps)
    built = ServerCapabilitiesBuilder(
        caps,
        set({**protocol.fm.features, **protocol.fm.builtin_features}),
        protocol.fm.feature_options,
        list(protocol.fm.commands),
        server._text_document_sync_kind,
        server._notebook_document_sync,
        encoding,
    ).build()
    result = types.InitializeResult(capabilities=built, server_info=protocol.server_info)
    return json.loads(json.dumps(protocol._converter.unstructure(result)))


SYNTHETIC = [
    {},
    {"general": {"positionEncodings": ["utf-8"]}},
    {"general": {"positionEncodings": ["utf-32", "utf-16"]}},
    {"general": {"positionEncodings": ["latin-1", "utf-32"]}},
    {"general": {"positionEncodings": ["latin-1"]}},
    {"general": {"positionEncodings": []}},
    {"textDocument": {"rename": {"prepareSupport": True}}},
    {"textDocument": {"rename": {"prepareSupport": False}}},
    {"notebookDocument": {"synchronization": {}}},
    {"workspace": {"fileOperations": {"didCreate": True, "willRename": True}}},
    {"textDocument": {"synchronization": {"willSave": True, "willSaveWaitUntil": True}}},
]


@pytest.mark.parametrize("capabilities", SYNTHETIC, ids=lambda c: json.dumps(c))
def test_same_answer_as_pygls(server, capabilities):
    params = {"processId": None, "rootUri": None, "capabilities": capabilities}
    assert handshake.initialize_result(params) == pygls_answer(server, capabilities)


@pytest.mark.parametrize("name", RECORDED)
def test_same_answer_for_recorded_clients(server, name):
    protocol = server.protocol
    capabilities = protocol._converter.unstructure(client_capabilities(name))
    params = {"processId": 1, "rootUri": None, "capabilities": capabilities}
    assert handshake.initialize_result(params) == pygls_answer(server, capabilities)


def framed(message: dict) -> bytes:
    return handshake.frame(message)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "initialize",
    "params": {"processId": None, "capabilities": {}},
}


def test_initialize_is_answered_and_replayed_whole():
    rest = framed({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    stdin = io.BytesIO(framed(INITIALIZE) + rest)
    stdout = io.BytesIO()
    stream, answered = handshake.answer_initialize(stdin, stdout)
    assert answered == 7
    header, _, body = stdout.getvalue().partition(b"\r\n\r\n")
    assert header == b"Content-Length: %d" % len(body)
    response = json.loads(body)
    assert response["id"] == 7 and response["result"]["serverInfo"]["name"] == "layercfg"
    # The full server reads everything, the answered request first.
    assert stream.read() == framed(INITIALIZE) + rest


@pytest.mark.parametrize(
    "first",
    [
        framed({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
        framed({**INITIALIZE, "id": None}),
        framed({**INITIALIZE, "id": True}),
        framed({**INITIALIZE, "params": {"processId": "one", "capabilities": {}}}),
        framed({**INITIALIZE, "params": {"processId": 1}}),
        framed({**INITIALIZE, "params": {"processId": 1, "capabilities": {
            "general": {"positionEncodings": "utf-8"}}}}),
        framed({**INITIALIZE, "params": []}),
        b"Content-Length: 5\r\n\r\n{nope",
        b"Content-Length: 400\r\n\r\n{}",  # the stream ends inside the body
        b"garbage without a header\r\n\r\n",
        b"Content-Type: application/json\r\n\r\n{}",  # no length
        b"X: y\r\n" * 20,
        b"",
    ],
)
def test_anything_else_goes_to_the_server_untouched(first):
    stdin = io.BytesIO(first + b"tail")
    stdout = io.BytesIO()
    stream, answered = handshake.answer_initialize(stdin, stdout)
    assert answered is None
    assert stdout.getvalue() == b""
    assert stream.read() == first + b"tail"


def test_other_headers_are_accepted():
    body = json.dumps(INITIALIZE).encode()
    message = (
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    stream, answered = handshake.answer_initialize(io.BytesIO(message), io.BytesIO())
    assert answered == 7
    assert stream.read() == message


def test_replay_lines_and_reads_cross_the_prefix():
    stream = handshake.Replay(b"ab\r\ncd", io.BytesIO(b"ef\r\ngh"))
    assert stream.readline() == b"ab\r\n"
    assert stream.readline() == b"cdef\r\n"
    assert stream.read(1) == b"g"
    assert stream.read() == b"h"
    stream = handshake.Replay(b"abc", io.BytesIO(b"def"))
    assert stream.read(5) == b"abcde"
    assert stream.readline(2) == b"f"
    stream = handshake.Replay(b"abcdef\n", io.BytesIO(b""))
    assert stream.readline(3) == b"abc"
    assert stream.readline() == b"def\n"
    assert stream.readline() == b""


def test_a_differing_answer_is_reported(server, monkeypatch, caplog):
    protocol = server.protocol
    protocol._initialize_params = {"capabilities": {}}
    protocol.answered_early = 3
    sent = []
    monkeypatch.setattr(protocol, "_send_data", sent.append)
    other = {"capabilities": {"hoverProvider": True}}
    monkeypatch.setattr(handshake, "initialize_result", lambda params: other)
    with caplog.at_level(logging.ERROR, logger="layercfg"):
        result = types.InitializeResult(capabilities=types.ServerCapabilities())
        protocol._send_response(3, result)
    assert sent == []  # answered already: never twice
    assert "differ" in caplog.text
    protocol._send_response(4, None)
    assert len(sent) == 1  # other responses go out as usual


def _frame_reader(pipe):
    header = b""
    while not header.endswith(b"\r\n\r\n"):
        byte = pipe.read(1)
        if not byte:
            raise EOFError(header)
        header += byte
    length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    return json.loads(pipe.read(length))


@pytest.mark.parametrize("flags", [[], ["--stdio"]])  # VS Code's client adds --stdio
def test_server_process_answers_initialize_early_then_serves(tmp_path, flags):
    """The real command: the early answer, then the full server, which logs no mismatch and
    answers the requests that were waiting in the pipe, in order."""
    env = {**os.environ, "LAYERCFG_CACHE_DIR": str(tmp_path / "cache")}
    process = subprocess.Popen(
        [sys.executable, "-m", "layercfg", "lsp", *flags], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, env=env, cwd=tmp_path,
    )
    try:
        capabilities = {"general": {"positionEncodings": ["utf-32"]},
                        "textDocument": {"rename": {"prepareSupport": True}}}
        process.stdin.write(framed({**INITIALIZE, "params": {
            "processId": None, "capabilities": capabilities,
            "initializationOptions": {"deepCheck": "off"}}}))
        process.stdin.flush()
        answer = _frame_reader(process.stdout)
        assert answer["id"] == 7
        assert answer["result"]["capabilities"]["positionEncoding"] == "utf-32"
        assert answer["result"]["capabilities"]["renameProvider"] == {"prepareProvider": True}
        uri = (tmp_path / "a.layercfg.json").as_uri()
        process.stdin.write(
            framed({"jsonrpc": "2.0", "method": "initialized", "params": {}})
            + framed({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
                "textDocument": {"uri": uri, "languageId": "json", "version": 1,
                                 "text": '{"class_name": "Dense", "config": {'}}})
            + framed({"jsonrpc": "2.0", "id": 8, "method": "textDocument/foldingRange",
                      "params": {"textDocument": {"uri": uri}}})
            + framed({"jsonrpc": "2.0", "id": 9, "method": "shutdown"})
        )
        process.stdin.flush()
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = _frame_reader(process.stdout)
            seen.append(message)
            if message.get("id") == 9:
                break
        ids = [m["id"] for m in seen if "id" in m and "method" not in m]
        assert ids == [8, 9]  # no second initialize response
        errors = [m["params"]["message"] for m in seen
                  if m.get("method") == "window/logMessage" and m["params"]["type"] == 1]
        assert not any("differ" in text for text in errors), errors
        process.stdin.write(framed({"jsonrpc": "2.0", "method": "exit"}))
        process.stdin.flush()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
