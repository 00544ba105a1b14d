"""Errors the client did not ask about are shown once in a while, not once each: a flood of
messages the server cannot read (bad JSON, bad framing, params that do not fit) makes one
window/showMessage, the rest go to window/logMessage, and a message that does not
deserialize is one log line, not cattrs's traceback on stderr. No Keras: the server is a
subprocess that never builds a catalog here."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

from lsp_frames import messages as _messages

from layercfg.server.notices import Notices

SERVER = [sys.executable, "-m", "layercfg", "lsp"]
TIMEOUT = 120  # for a hung server only: nothing here is timed


def _frame(message: dict[str, Any] | bytes) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


INITIALIZE = _frame(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"processId": None, "rootUri": None, "capabilities": {}},
    }
)
# What a broken or hostile client sends: each is dropped (or, a request, answered -32602).
BAD = [
    _frame(b"this is not json"),
    _frame(b'[{"jsonrpc": "2.0", "id": 50, "method": "shutdown"}]'),
    _frame({"id": 51, "method": "shutdown", "params": None}),
    _frame(b'{"jsonrpc": "2.0", "method": "x", "params": "\xff\xfe"}'),
    _frame({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": {"a": [1]}}}),
    _frame(
        {
            "jsonrpc": "2.0",
            "method": "textDocument/didChange",
            "params": {"textDocument": {"uri": 1, "version": "x"}, "contentChanges": 3},
        }
    ),
    _frame({"jsonrpc": "2.0", "method": "textDocument/didClose", "params": [1, 2]}),
    b"garbage without a colon\r\n",
    b"Content-Length: two\r\n\r\n{}",
    b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
]


def _hover_with_bad_params(ident: int) -> bytes:
    params = {"textDocument": 5, "position": "[x](https://evil.example)"}
    return _frame({"jsonrpc": "2.0", "id": ident, "method": "textDocument/hover", "params": params})


def test_a_flood_of_bad_messages_is_one_popup_and_the_server_goes_on():
    data = INITIALIZE
    idents = []
    for index in range(200):
        if index % 11 == 10:
            idents.append(1000 + index)
            data += _hover_with_bad_params(idents[-1])
        else:
            data += BAD[index % len(BAD)]
    data += _frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None})
    done = subprocess.run(SERVER, input=data, capture_output=True, timeout=TIMEOUT)
    messages = _messages(done.stdout)
    shown = [m["params"]["message"] for m in messages if m.get("method") == "window/showMessage"]
    logged = [m["params"]["message"] for m in messages if m.get("method") == "window/logMessage"]
    assert len(shown) == 1, shown[:3]
    assert "a message from the client is dropped" in shown[0]
    assert "the next ones go to the log only" in shown[0]
    # Each one dropped or unfit is in the log, in one line.
    assert len([m for m in logged if m.startswith("stdin: ")]) >= 100
    unfit = [m for m in logged if "that does not fit its method" in m]
    assert len(unfit) >= 50
    assert all("\n" not in m and len(m) < 500 for m in unfit)
    assert any("'textDocument/hover'" in m and "@ $.params" in m for m in unfit)
    answers = {m["id"]: m for m in messages if "id" in m and "method" not in m}
    assert all(answers[ident]["error"]["code"] == -32602 for ident in idents)
    assert answers[2]["result"] is None  # the valid request after them all
    assert done.returncode == 0
    assert b"Traceback" not in done.stderr, done.stderr[-2000:]
    assert len(done.stderr) < 4096, done.stderr[-2000:]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_popup_per_kind_until_the_kind_has_been_quiet(caplog):
    shown: list[str] = []
    clock = _Clock()
    notices = Notices(shown.append, clock)
    with caplog.at_level(logging.ERROR, logger="layercfg"):
        for _ in range(500):
            clock.now += 1.0  # one a second: never a quiet minute
            notices.report("transport", "a body that is not JSON", logged=True)
        notices.report("handler", "didChange failed")
    assert [m.split(".")[0] for m in shown] == ["a body that is not JSON", "didChange failed"]
    # The caller logged the transport's; the handler's is logged here, once.
    assert [r.getMessage() for r in caplog.records] == ["didChange failed"]
    clock.now += Notices.QUIET_SECONDS
    assert notices.report("transport", "a body that is not JSON", logged=True)
    assert "(499 more like it before, in the log)" in shown[-1]
    assert not notices.report("transport", "again", logged=True)
    assert len(shown) == 3


def test_a_client_that_cannot_show_messages_is_not_an_error():
    def broken(message: str) -> None:
        raise BrokenPipeError

    notices = Notices(broken, _Clock())
    assert notices.report("transport", "x", logged=True)
