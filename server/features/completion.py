"""textDocument/completion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..server import safe

if TYPE_CHECKING:
    from ..server import LayercfgServer

_EMPTY = types.CompletionList(is_incomplete=False, items=[])


def register(server: LayercfgServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=['"', ":", "{", ",", "["]),
    )
    @safe(_EMPTY)
    async def completion(
        ls: LayercfgServer, params: types.CompletionParams
    ) -> types.CompletionList:
        await ls.settled()
        document = ls.document(params.text_document.uri)
        if document is None or ls.completer is None:
            return _EMPTY
        offset = document.lines.offset_at(params.position, ls.encoding)
        return ls.completer.complete(document, offset, ls.support)
