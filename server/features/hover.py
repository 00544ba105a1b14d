"""textDocument/hover."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..handlers import safe

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from ..core import Core


def register(server: LanguageServer, core: Core) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    @safe(None)
    async def hover(params: types.HoverParams) -> types.Hover | None:
        await core.settled()
        document = core.session.document(params.text_document.uri)
        if document is None:
            return None
        hoverer = core.catalogs.slot(document).hoverer
        if hoverer is None:
            return None
        offset = document.lines.offset_at(params.position, core.session.encoding)
        return hoverer.hover(document, offset, core.session.support)
