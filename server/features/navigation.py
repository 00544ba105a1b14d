"""Go to definition, references, document symbols and folding ranges."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..handlers import safe
from ..services import navigation

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from ..core import Core


def register(server: LanguageServer, core: Core) -> None:
    session = core.session

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    @safe([])
    async def definition(params: types.DefinitionParams) -> list[types.Location]:
        await core.settled()
        document = session.document(params.text_document.uri)
        if document is None:
            return []
        slot = core.catalogs.slot(document)
        if slot.catalog is None or slot.walker is None:
            return []
        offset = document.lines.offset_at(params.position, session.encoding)
        return navigation.definition(document, offset, slot.catalog, slot.walker, session.encoding)

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    @safe([])
    def references(params: types.ReferenceParams) -> list[types.Location]:
        document = session.document(params.text_document.uri)
        if document is None:
            return []
        offset = document.lines.offset_at(params.position, session.encoding)
        return navigation.references(
            document, offset, session.encoding, params.context.include_declaration
        )

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @safe([])
    def document_symbol(params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        document = session.document(params.text_document.uri)
        if document is None:
            return []
        symbols, limited = navigation.document_symbols(document, session.encoding)
        if limited:
            core.notice_once(
                document.uri,
                "outline",
                (
                    f"The outline of {_name(document.uri)} shows its first "
                    f"{navigation.MAX_SYMBOLS} entries (results limited)."
                ),
            )
        return symbols

    @server.feature(types.TEXT_DOCUMENT_FOLDING_RANGE)
    @safe([])
    def folding_range(params: types.FoldingRangeParams) -> list[types.FoldingRange]:
        document = session.document(params.text_document.uri)
        if document is None:
            return []
        limit = navigation.MAX_FOLDING_RANGES
        asked = session.caps.folding_range_limit
        if asked is not None:
            limit = min(limit, asked)
        ranges, limited = navigation.folding_ranges(document, limit)
        if limited:
            core.notice_once(
                document.uri,
                "folding",
                (
                    f"Folding in {_name(document.uri)} is limited to {limit} ranges; the most "
                    "deeply nested ones are left out (results limited)."
                ),
            )
        return ranges


def _name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1] or uri
