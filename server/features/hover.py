"""textDocument/hover."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..server import safe

if TYPE_CHECKING:
    from ..server import LayercfgServer


def register(server: LayercfgServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    @safe(None)
    async def hover(ls: LayercfgServer, params: types.HoverParams) -> types.Hover | None:
        await ls.settled()
        document = ls.document(params.text_document.uri)
        if document is None or ls.hoverer is None:
            return None
        offset = document.lines.offset_at(params.position, ls.encoding)
        return ls.hoverer.hover(document, offset, ls.support)
