"""textDocument/completion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..capabilities import TRIGGER_CHARACTERS
from ..handlers import safe

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from ..core import Core

_EMPTY = types.CompletionList(is_incomplete=False, items=[])


def register(server: LanguageServer, core: Core) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=list(TRIGGER_CHARACTERS)),
    )
    @safe(_EMPTY)
    async def completion(params: types.CompletionParams) -> types.CompletionList:
        await core.settled()
        document = core.session.document(params.text_document.uri)
        if document is None:
            return _EMPTY
        completer = core.catalogs.slot(document).completer
        if completer is None:
            return _EMPTY
        offset = document.lines.offset_at(params.position, core.session.encoding)
        return completer.complete(document, offset, core.session.support)
