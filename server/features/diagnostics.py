"""Document sync and diagnostics: pushed after a short debounce, or pulled by the client."""

from __future__ import annotations

import asyncio
import logging
import traceback
from typing import TYPE_CHECKING

from lsprotocol import types

from ..document import Document
from ..server import safe
from ..services.validation import Superseded

if TYPE_CHECKING:
    from ..server import LayercfgServer

log = logging.getLogger("layercfg")


def register(server: LayercfgServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    @safe()
    def did_open(ls: LayercfgServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        ls.documents[item.uri] = Document.parse(item.uri, item.text, item.version)
        ls.schedule(item.uri, 0)
        ls.schedule_deep(item.uri, "open")

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    @safe()
    def did_change(ls: LayercfgServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        document = ls.documents.get(uri)
        if document is None:
            return  # a change for a document never opened: nothing to apply it to
        ls.documents[uri] = document.apply_changes(
            list(params.content_changes), params.text_document.version, ls.encoding
        )
        ls.schedule(uri)
        ls.schedule_deep(uri, "change")

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    @safe()
    def did_save(ls: LayercfgServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.schedule_deep(params.text_document.uri, "save")

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @safe()
    def did_close(ls: LayercfgServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.forget(uri)
        if not ls.pull_diagnostics:
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(
            identifier="layercfg", inter_file_dependencies=False, workspace_diagnostics=False
        ),
    )
    async def diagnostic(
        ls: LayercfgServer, params: types.DocumentDiagnosticParams
    ) -> types.DocumentDiagnosticReport:
        await ls.settled()
        while True:
            document = ls.documents.get(params.text_document.uri)
            if document is None:
                return types.RelatedFullDocumentDiagnosticReport(items=[])
            # Anything that changes the answer changes the id: the text's version, the
            # catalog, the settings, and the deep result shown with it.
            deep = ls.deep.result_for(document)
            result_id = (f"{document.version}:{id(ls.catalog)}:{hash(repr(ls.settings))}:"
                         f"{deep.serial if deep is not None else 0}")
            if params.previous_result_id == result_id:
                return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result_id)
            try:
                items = await asyncio.to_thread(ls.diagnose, document)
            except Superseded:
                continue  # the text changed meanwhile: the answer is the newer version's
            except Exception:
                log.error("diagnostics failed:\n%s", traceback.format_exc())
                items = []
            return types.RelatedFullDocumentDiagnosticReport(items=items, result_id=result_id)
