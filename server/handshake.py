"""Answer ``initialize`` before the language server's libraries are imported.

Importing pygls and lsprotocol takes about 0.4 s, most of it ``lsprotocol.types`` building
its classes. An editor waits for the ``initialize`` response before it sends anything else,
so over stdio the first message is read here, with the standard library only, and answered at
once with the server's capabilities. The full server is then imported and reads the stream from
the start, ``initialize`` included: it sets itself up exactly as it would have, and the response
it computes is compared with the one already sent instead of being sent twice
(``Protocol._send_response``). Messages the editor sends meanwhile wait in the pipe and are
handled in order.

The capabilities below mirror what pygls derives from the registered features; a test compares
them with pygls's own answer for a range of client capabilities, so a feature added to the server
without updating them fails there.

Only a well-formed ``initialize`` request is answered early. Anything else (another first
message, a malformed header, odd parameters) goes to the full server untouched, which answers it
as usual.
"""

from __future__ import annotations

import json
import re
from typing import Any, BinaryIO

from layercfg import __version__

_CONTENT_LENGTH = re.compile(rb"^Content-Length: (\d+)\r\n$")
_HEADER = re.compile(rb"^[A-Za-z0-9-]+: [^\r\n]*\r\n$")
_ENCODINGS = ("utf-8", "utf-16", "utf-32")
_MAX_HEADER_LINES = 8

TRIGGER_CHARACTERS = ['"', ":", "{", ",", "["]
CODE_ACTION_KINDS = [
    "quickfix",
    "source.fixAll.layercfg",
    "source.layercfg.fillDefaults",
    "source.layercfg.removeDefaults",
]
COMMANDS = [
    "layercfg.rebuildCatalog",
    "layercfg.showSchema",
    "layercfg.deepCheck",
    "layercfg.canonicalForm",
]


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def position_encoding(capabilities: dict[str, Any]) -> str:
    """The client's first supported choice, else UTF-16 (what pygls negotiates)."""
    offered = _get(capabilities, "general", "positionEncodings")
    if isinstance(offered, list):
        for name in offered:
            if name in _ENCODINGS:
                return name
    return "utf-16"


def initialize_result(params: dict[str, Any]) -> dict[str, Any]:
    """The ``InitializeResult`` the full server sends for these ``initialize`` parameters."""
    capabilities = params.get("capabilities") or {}
    prepare = _get(capabilities, "textDocument", "rename", "prepareSupport")
    sync: dict[str, Any] = {"openClose": True, "change": 2}
    # The server has no willSave handlers; pygls says so only to a client that asked.
    for key in ("willSave", "willSaveWaitUntil"):
        if _get(capabilities, "textDocument", "synchronization", key) is not None:
            sync[key] = False
    sync["save"] = True
    return {
        "capabilities": {
            "positionEncoding": position_encoding(capabilities),
            "textDocumentSync": sync,
            "completionProvider": {"triggerCharacters": list(TRIGGER_CHARACTERS)},
            "hoverProvider": True,
            "definitionProvider": True,
            "referencesProvider": True,
            "documentSymbolProvider": True,
            "codeActionProvider": {
                "codeActionKinds": list(CODE_ACTION_KINDS),
                "resolveProvider": True,
            },
            "documentFormattingProvider": True,
            "documentRangeFormattingProvider": True,
            "renameProvider": {"prepareProvider": True} if prepare else True,
            "foldingRangeProvider": True,
            "executeCommandProvider": {"commands": list(COMMANDS)},
            "inlayHintProvider": {"resolveProvider": False},
            "diagnosticProvider": {
                "interFileDependencies": False,
                "workspaceDiagnostics": False,
                "identifier": "layercfg",
            },
            "workspace": {
                "workspaceFolders": {"supported": True, "changeNotifications": True},
                "fileOperations": {},
            },
        },
        "serverInfo": {"name": "layercfg", "version": __version__},
    }


def read_frame(stream: BinaryIO) -> tuple[bytes, bytes | None]:
    """One framed message: the raw bytes read, and the body when the frame was well formed."""
    raw = bytearray()
    length = None
    for _ in range(_MAX_HEADER_LINES):
        line = stream.readline(256)
        raw += line
        if not line:
            return bytes(raw), None
        if line == b"\r\n":
            break
        match = _CONTENT_LENGTH.match(line)
        if match:
            length = int(match.group(1))
        elif not _HEADER.match(line):
            return bytes(raw), None
    else:
        return bytes(raw), None
    if length is None:
        return bytes(raw), None
    body = stream.read(length)
    raw += body
    return bytes(raw), body if len(body) == length else None


def early_request(body: bytes | None) -> dict[str, Any] | None:
    """The ``initialize`` request in ``body``, when it is one this module can answer."""
    if body is None:
        return None
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("method") != "initialize":
        return None
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, (int, str)):
        return None
    params = message.get("params")
    if not isinstance(params, dict) or not isinstance(params.get("capabilities"), dict):
        return None
    if not isinstance(params.get("processId"), (int, type(None))):
        return None
    encodings = _get(params["capabilities"], "general", "positionEncodings")
    if encodings is not None and not (
        isinstance(encodings, list) and all(isinstance(name, str) for name in encodings)
    ):
        return None
    return message


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


class Replay:
    """A binary stream that first gives back bytes already read, then reads on."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = prefix
        self._stream = stream

    def readline(self, limit: int = -1) -> bytes:
        if self._prefix:
            end = self._prefix.find(b"\n") + 1 or len(self._prefix)
            if limit >= 0:
                end = min(end, limit)
            line, self._prefix = self._prefix[:end], self._prefix[end:]
            if line.endswith(b"\n") or (limit >= 0 and len(line) >= limit):
                return line
            return line + self._stream.readline(-1 if limit < 0 else limit - len(line))
        return self._stream.readline(limit)

    def read(self, size: int = -1) -> bytes:
        if not self._prefix:
            return self._stream.read(size)
        if size < 0:
            data, self._prefix = self._prefix, b""
            return data + self._stream.read()
        data, self._prefix = self._prefix[:size], self._prefix[size:]
        if len(data) < size:
            data += self._stream.read(size - len(data))
        return data


def answer_initialize(stdin: BinaryIO, stdout: BinaryIO) -> tuple[Replay, Any]:
    """Read the first message; answer it when it is ``initialize``.

    Returns the stream to hand to the full server (starting with that first message) and the
    id of the request answered here, or None.
    """
    raw, body = read_frame(stdin)
    request = early_request(body)
    answered = None
    if request is not None:
        response = {
            "jsonrpc": "2.0",
            "id": request["id"],
            "result": initialize_result(request["params"]),
        }
        stdout.write(frame(response))
        stdout.flush()
        answered = request["id"]
    return Replay(raw, stdin), answered
