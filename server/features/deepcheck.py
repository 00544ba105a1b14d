"""The deep check's LSP side: the ``layercfg.deepCheck`` command and inlay hints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..capabilities import DEEP_CHECK
from ..deepcheck import inlay_hints
from ..handlers import safe

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from ..core import Core


def register(server: LanguageServer, core: Core) -> None:
    @server.command(DEEP_CHECK)
    @safe(None)
    async def deep_check(*args: Any) -> dict[str, Any] | None:
        uri = args[0] if args and isinstance(args[0], str) else None
        if uri is None and args and isinstance(args[0], list) and args[0]:
            uri = args[0][0]
        if uri is None:
            return None
        result = await core.deep.check_now(uri)
        if result is None:
            return {"uri": uri, "checked": False}
        return {
            "uri": uri,
            "checked": True,
            "version": result.version,
            "problems": len(result.checked),
            "totalParams": result.total_params,
        }

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    @safe([])
    def inlay_hint(params: types.InlayHintParams) -> list[types.InlayHint]:
        document = core.session.document(params.text_document.uri)
        if document is None:
            return []
        result = core.deep.result_for(document)
        if result is None:
            return []
        return inlay_hints(document, result, core.session.encoding, params.range)
