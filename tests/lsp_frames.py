"""The LSP messages in a server's whole stdout, Content-Length framed, for the tests that
read a finished server's output at once."""

from __future__ import annotations

import json
from typing import Any


def messages(output: bytes) -> list[dict[str, Any]]:
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
