"""The deep check's LSP side: the ``layercfg.deepCheck`` command and inlay hints."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from ..deepcheck import inlay_hints
from ..server import LayercfgServer, safe  # pygls reads the command's annotations at runtime

DEEP_CHECK = "layercfg.deepCheck"


def register(server: LayercfgServer) -> None:
    @server.command(DEEP_CHECK)
    @safe(None)
    async def deep_check(ls: LayercfgServer, *args: Any) -> dict[str, Any] | None:
        uri = args[0] if args and isinstance(args[0], str) else None
        if uri is None and args and isinstance(args[0], list) and args[0]:
            uri = args[0][0]
        if uri is None:
            return None
        result = await ls.deep.check_now(uri)
        if result is None:
            return {"uri": uri, "checked": False}
        return {
            "uri": uri,
            "checked": True,
            "version": result.version,
            "problems": len(result.diagnostics),
            "totalParams": result.total_params,
        }

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    @safe([])
    def inlay_hint(ls: LayercfgServer, params: types.InlayHintParams) -> list[types.InlayHint]:
        document = ls.document(params.text_document.uri)
        if document is None:
            return []
        result = ls.deep.result_for(document)
        if result is None:
            return []
        return inlay_hints(document, result, ls.encoding, params.range)
