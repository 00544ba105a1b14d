"""A pygls server that checks nothing: what any server built on pygls pays per message.

    python benchmarks/pygls_floor.py   (speaks LSP on stdio; bench_peer.py starts it)

It keeps documents in pygls's own store (incremental sync, as every pygls server does) and
answers every ``textDocument/diagnostic`` with an empty report. ``bench_peer.py`` times it
with the same client and the same edits as layercfg and the peer: its edit -> diagnostics
time is the floor of a pygls server on this machine, and the peer's time divided by it is
the most any pygls server could be faster than the peer.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("pygls-floor", "1")


@server.feature(
    types.TEXT_DOCUMENT_DIAGNOSTIC,
    types.DiagnosticOptions(inter_file_dependencies=False, workspace_diagnostics=False),
)
def diagnostic(params: types.DocumentDiagnosticParams) -> types.RelatedFullDocumentDiagnosticReport:
    server.workspace.get_text_document(params.text_document.uri)
    return types.RelatedFullDocumentDiagnosticReport(items=[])


if __name__ == "__main__":
    server.start_io()
