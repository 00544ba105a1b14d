"""textDocument/formatting and textDocument/rangeFormatting: Keras's json.dumps(indent=2)
layout with minimal edits."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..handlers import safe
from ..services import formatting as formatter
from .rename import RequestFailed

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from ..core import Core


def register(server: LanguageServer, core: Core) -> None:
    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    async def formatting(params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        return _answer(await _format(core, params.text_document.uri, None))

    @server.feature(types.TEXT_DOCUMENT_RANGE_FORMATTING)
    async def range_formatting(
        params: types.DocumentRangeFormattingParams,
    ) -> list[types.TextEdit] | None:
        return _answer(await _format(core, params.text_document.uri, params.range))


def _answer(outcome: Any) -> list[types.TextEdit] | None:
    if isinstance(outcome, formatter.FormattingRefused):
        raise RequestFailed(f"layercfg: {outcome}")
    return outcome


@safe(None)
async def _format(core: Core, uri: str, request_range: types.Range | None) -> Any:
    document = core.session.document(uri)
    if document is None:
        return None
    encoding = core.session.encoding

    def compute() -> Any:
        try:
            if request_range is None:
                edits = formatter.format_edits(document)
            else:
                start = document.lines.offset_at(request_range.start, encoding)
                end = document.lines.offset_at(request_range.end, encoding)
                edits = formatter.range_format_edits(document, start, end)
        except formatter.FormattingRefused as refused:
            return refused
        return formatter.to_text_edits(document, edits, encoding)

    result = await asyncio.to_thread(compute)
    return result if core.session.document(uri) is document else None
