"""textDocument/formatting and textDocument/rangeFormatting: Keras's json.dumps(indent=2)
layout with minimal edits."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..server import safe
from ..services import formatting as formatter
from .rename import RequestFailed

if TYPE_CHECKING:
    from ..server import LayercfgServer


def register(server: LayercfgServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    async def formatting(
        ls: LayercfgServer, params: types.DocumentFormattingParams
    ) -> list[types.TextEdit] | None:
        return _answer(await _format(ls, params.text_document.uri, None))

    @server.feature(types.TEXT_DOCUMENT_RANGE_FORMATTING)
    async def range_formatting(
        ls: LayercfgServer, params: types.DocumentRangeFormattingParams
    ) -> list[types.TextEdit] | None:
        return _answer(await _format(ls, params.text_document.uri, params.range))


def _answer(outcome: Any) -> list[types.TextEdit] | None:
    if isinstance(outcome, formatter.FormattingRefused):
        raise RequestFailed(f"layercfg: {outcome}")
    return outcome


@safe(None)
async def _format(ls: LayercfgServer, uri: str, request_range: types.Range | None) -> Any:
    document = ls.document(uri)
    if document is None:
        return None

    def compute() -> Any:
        try:
            if request_range is None:
                edits = formatter.format_edits(document)
            else:
                start = document.lines.offset_at(request_range.start, ls.encoding)
                end = document.lines.offset_at(request_range.end, ls.encoding)
                edits = formatter.range_format_edits(document, start, end)
        except formatter.FormattingRefused as refused:
            return refused
        return formatter.to_text_edits(document, edits, ls.encoding)

    result = await asyncio.to_thread(compute)
    return result if ls.document(uri) is document else None
