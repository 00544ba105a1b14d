"""Document sync and diagnostics: pushed (a lone edit at once, a burst of edits once, 150 ms
after its last), or pulled by the client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..capabilities import DIAGNOSTIC_IDENTIFIER
from ..handlers import safe

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from ..core import Core


def register(server: LanguageServer, core: Core) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    @safe()
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        core.open(item.uri, item.text, item.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    @safe()
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        core.change(
            params.text_document.uri, list(params.content_changes), params.text_document.version
        )

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    @safe()
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        core.schedule_deep(params.text_document.uri, "save")

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @safe()
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        core.close(params.text_document.uri)

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(
            identifier=DIAGNOSTIC_IDENTIFIER,
            inter_file_dependencies=False,
            workspace_diagnostics=False,
        ),
    )
    async def diagnostic(params: types.DocumentDiagnosticParams) -> types.DocumentDiagnosticReport:
        return await core.publisher.report(params.text_document.uri, params.previous_result_id)
