"""Go to definition, references, document symbols and folding ranges."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.capabilities import get_capability

from ..server import safe
from ..services import navigation

if TYPE_CHECKING:
    from ..server import LayercfgServer


def register(server: LayercfgServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    @safe([])
    async def definition(
        ls: LayercfgServer, params: types.DefinitionParams
    ) -> list[types.Location]:
        await ls.settled()
        document = ls.document(params.text_document.uri)
        if document is None or ls.catalog is None or ls.walker is None:
            return []
        offset = document.lines.offset_at(params.position, ls.encoding)
        return navigation.definition(document, offset, ls.catalog, ls.walker, ls.encoding)

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    @safe([])
    def references(ls: LayercfgServer, params: types.ReferenceParams) -> list[types.Location]:
        document = ls.document(params.text_document.uri)
        if document is None:
            return []
        offset = document.lines.offset_at(params.position, ls.encoding)
        return navigation.references(
            document, offset, ls.encoding, params.context.include_declaration
        )

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @safe([])
    def document_symbol(
        ls: LayercfgServer, params: types.DocumentSymbolParams
    ) -> list[types.DocumentSymbol]:
        document = ls.document(params.text_document.uri)
        if document is None:
            return []
        symbols, limited = navigation.document_symbols(document, ls.encoding)
        if limited:
            ls.notice_once(document.uri, "outline", (
                f"The outline of {_name(document.uri)} shows its first "
                f"{navigation.MAX_SYMBOLS} entries (results limited)."))
        return symbols

    @server.feature(types.TEXT_DOCUMENT_FOLDING_RANGE)
    @safe([])
    def folding_range(
        ls: LayercfgServer, params: types.FoldingRangeParams
    ) -> list[types.FoldingRange]:
        document = ls.document(params.text_document.uri)
        if document is None:
            return []
        limit = navigation.MAX_FOLDING_RANGES
        asked = get_capability(ls.client_capabilities, "text_document.folding_range.range_limit")
        if isinstance(asked, int) and asked > 0:
            limit = min(limit, asked)
        ranges, limited = navigation.folding_ranges(document, limit)
        if limited:
            ls.notice_once(document.uri, "folding", (
                f"Folding in {_name(document.uri)} is limited to {limit} ranges; the most "
                "deeply nested ones are left out (results limited)."))
        return ranges


def _name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1] or uri
