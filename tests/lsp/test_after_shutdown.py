"""The protocol's edges: document sync reaches the server's own documents (pygls's text store
is bypassed through its public ``lsp_method``), and requests after ``shutdown`` get the
InvalidRequest error LSP asks for, not silence."""

from __future__ import annotations

import asyncio

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from .conftest import SERVER, capabilities, start

URI = "file:///project/model.layercfg.json"
TEXT = (
    '{"module": "keras.layers", "class_name": "Dense", "config": {"unitz": 3}, '
    '"registered_name": null}'
)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def ending(lsp_client: LanguageClient, plain_catalog):
    """A session whose test sends shutdown and exit itself."""
    params = types.InitializeParams(
        capabilities=capabilities("visual-studio-code", pull=True),
        initialization_options={"deepCheck": "off"},
    )
    await start(lsp_client, params)
    yield
    server = lsp_client._server
    if server is not None and server.returncode is None:
        server.kill()
        await server.wait()


async def _errors(client: LanguageClient) -> list[str]:
    report = await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    return [d.code for d in report.items]  # type: ignore[union-attr,misc]


async def test_sync_then_requests_after_shutdown_are_refused(ending: LanguageClient):
    ending.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=URI, language_id="json", version=1, text=TEXT)
        )
    )
    assert await _errors(ending) != []
    fixed = TEXT.replace("unitz", "units")
    ending.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    assert await _errors(ending) == []

    await asyncio.wait_for(ending.shutdown_async(None), 10)
    with pytest.raises(JsonRpcException) as refused:
        await asyncio.wait_for(
            ending.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=URI),
                    position=types.Position(line=0, character=3),
                )
            ),
            10,
        )
    assert refused.value.code == -32600  # InvalidRequest
    ending.exit(None)
    server = ending._server
    assert server is not None
    assert await asyncio.wait_for(server.wait(), 10) == 0
