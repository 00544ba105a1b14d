"""The capabilities module says what the server answers to ``initialize``, for every client;
the server reads the client's capabilities once; the real command answers ``initialize`` and
then the requests that were waiting in the pipe, in order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.capabilities import ServerCapabilitiesBuilder
from pytest_lsp import client_capabilities

from layercfg.server import capabilities as offered
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
    assert offered.initialize_result(params) == pygls_answer(server, capabilities)


@pytest.mark.parametrize("name", RECORDED)
def test_same_answer_for_recorded_clients(server, name):
    protocol = server.protocol
    capabilities = protocol._converter.unstructure(client_capabilities(name))
    params = {"processId": 1, "rootUri": None, "capabilities": capabilities}
    assert offered.initialize_result(params) == pygls_answer(server, capabilities)


def framed(message: dict) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "initialize",
    "params": {"processId": None, "capabilities": {}},
}


def test_client_capabilities_are_read_once_into_one_object():
    vscode = offered.ClientCaps.from_json(
        get_converter().unstructure(client_capabilities("visual-studio-code"))
    )
    assert vscode.snippets and vscode.markdown and vscode.work_done_progress
    assert vscode.configuration and vscode.watched_files_dynamic
    assert not vscode.pull_diagnostics  # the recorded 1.65 profile predates pull diagnostics
    bare = offered.ClientCaps.from_json({})
    assert bare == offered.ClientCaps()
    assert not bare.pull_diagnostics and not bare.watched_files_dynamic and bare.markdown
    pulling = offered.ClientCaps.from_json(
        {
            "textDocument": {
                "diagnostic": {},
                "foldingRange": {"rangeLimit": 40},
                "codeAction": {"resolveSupport": {"properties": ["edit"]}},
            },
            "workspace": {"diagnostics": {"refreshSupport": True}},
            "general": {"positionEncodings": ["utf-8"]},
        }
    )
    assert pulling.pull_diagnostics and pulling.diagnostic_refresh and pulling.resolve_edits
    assert pulling.folding_range_limit == 40 and pulling.encoding == "utf-8"
    odd = offered.ClientCaps.from_json({"textDocument": "no", "workspace": [1]})
    assert odd == offered.ClientCaps()


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
def test_server_process_answers_initialize_then_serves(tmp_path, flags):
    """The real command: the ``initialize`` answer, then the requests that were waiting in
    the pipe, in order."""
    env = {**os.environ, "LAYERCFG_CACHE_DIR": str(tmp_path / "cache")}
    process = subprocess.Popen(
        [sys.executable, "-m", "layercfg", "lsp", *flags],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        capabilities = {
            "general": {"positionEncodings": ["utf-32"]},
            "textDocument": {"rename": {"prepareSupport": True}},
        }
        process.stdin.write(
            framed(
                {
                    **INITIALIZE,
                    "params": {
                        "processId": None,
                        "capabilities": capabilities,
                        "initializationOptions": {"deepCheck": "off"},
                    },
                }
            )
        )
        process.stdin.flush()
        answer = _frame_reader(process.stdout)
        assert answer["id"] == 7
        assert answer["result"]["capabilities"]["positionEncoding"] == "utf-32"
        assert answer["result"]["capabilities"]["renameProvider"] == {"prepareProvider": True}
        uri = (tmp_path / "a.layercfg.json").as_uri()
        process.stdin.write(
            framed({"jsonrpc": "2.0", "method": "initialized", "params": {}})
            + framed(
                {
                    "jsonrpc": "2.0",
                    "method": "textDocument/didOpen",
                    "params": {
                        "textDocument": {
                            "uri": uri,
                            "languageId": "json",
                            "version": 1,
                            "text": '{"class_name": "Dense", "config": {',
                        }
                    },
                }
            )
            + framed(
                {
                    "jsonrpc": "2.0",
                    "id": 8,
                    "method": "textDocument/foldingRange",
                    "params": {"textDocument": {"uri": uri}},
                }
            )
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
        errors = [
            m["params"]["message"]
            for m in seen
            if m.get("method") == "window/logMessage" and m["params"]["type"] == 1
        ]
        assert errors == []
        process.stdin.write(framed({"jsonrpc": "2.0", "method": "exit"}))
        process.stdin.flush()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
