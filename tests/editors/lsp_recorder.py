"""A stand-in language server that records what an editor client sends.

Run as ``python lsp_recorder.py RECORD.json``: it speaks LSP over stdio just enough for a
client to attach, asks for the ``layercfg`` configuration section, announces a
``layercfg/status``, and rewrites RECORD.json after every message. Used to check the editor
configurations in editors/ without the real server or Keras.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

STATUS = {
    "catalog": "ready",
    "kerasVersion": "9.9.9",
    "backend": "jax",
    "message": None,
    "deepCheck": "idle",
}


def read_message(stream: Any) -> dict[str, Any] | None:
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if length is None:
        return None
    return json.loads(stream.read(length))


def write_message(stream: Any, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode("utf-8")
    stream.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    stream.flush()


def main() -> int:
    record_path = sys.argv[1]
    record: dict[str, Any] = {
        "cwd": os.getcwd(),
        "initialize": None,
        "configuration": None,
        "didChangeConfiguration": [],
        "didOpen": [],
        "executeCommand": [],
    }

    def save() -> None:
        with open(record_path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(record_path + ".tmp", record_path)

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    save()
    while True:
        message = read_message(stdin)
        if message is None:
            return 0
        method = message.get("method")
        if method == "initialize":
            record["initialize"] = message["params"]
            capabilities = {
                "textDocumentSync": 1,
                "executeCommandProvider": {
                    "commands": [
                        "layercfg.deepCheck",
                        "layercfg.rebuildCatalog",
                        "layercfg.showSchema",
                    ]
                },
            }
            write_message(
                stdout,
                {
                    "jsonrpc": "2.0",
                    "id": message["id"],
                    "result": {"capabilities": capabilities, "serverInfo": {"name": "recorder"}},
                },
            )
        elif method == "initialized":
            write_message(
                stdout,
                {
                    "jsonrpc": "2.0",
                    "id": "config-1",
                    "method": "workspace/configuration",
                    "params": {"items": [{"section": "layercfg"}]},
                },
            )
            write_message(stdout, {"jsonrpc": "2.0", "method": "layercfg/status", "params": STATUS})
        elif method is None and message.get("id") == "config-1":
            record["configuration"] = message.get("result")
        elif method == "workspace/didChangeConfiguration":
            record["didChangeConfiguration"].append(message["params"])
        elif method == "textDocument/didOpen":
            document = message["params"]["textDocument"]
            record["didOpen"].append({"uri": document["uri"], "languageId": document["languageId"]})
        elif method == "workspace/executeCommand":
            record["executeCommand"].append(message["params"])
            result = '{"$schema": "https://json-schema.org/draft/2020-12/schema"}'
            write_message(stdout, {"jsonrpc": "2.0", "id": message["id"], "result": result})
        elif method == "shutdown":
            write_message(stdout, {"jsonrpc": "2.0", "id": message["id"], "result": None})
        elif method == "exit":
            save()
            return 0
        elif "id" in message and method is not None:
            write_message(stdout, {"jsonrpc": "2.0", "id": message["id"], "result": None})
        save()


if __name__ == "__main__":
    sys.exit(main())
