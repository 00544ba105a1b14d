"""Outline and folding past their limits: capped, marked, and said once per document."""

from __future__ import annotations

import json

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from layercfg.server.services.navigation import MAX_SYMBOLS

from .conftest import SERVER, capabilities, start, wait_for_status

URI = "file:///project/long.layercfg.json"
RANGE_LIMIT = 10


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, plain_catalog):
    caps = capabilities("visual-studio-code", pull=True)
    caps.text_document.folding_range = types.FoldingRangeClientCapabilities(
        range_limit=RANGE_LIMIT, line_folding_only=True
    )
    params = types.InitializeParams(capabilities=caps, initialization_options={"deepCheck": "off"})
    await start(lsp_client, params)
    yield
    await lsp_client.shutdown_session()


def long_model(layers: int) -> str:
    items = [
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": f"d{i}", "units": 2}}
        for i in range(layers)
    ]
    return json.dumps(
        {
            "module": "keras",
            "class_name": "Sequential",
            "config": {"name": "long", "layers": items},
        },
        indent=2,
    )


def limited_notices(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if "results limited" in m.message]


async def test_outline_and_folding_are_capped_and_said_once(client: LanguageClient):
    await wait_for_status(client, "ready")
    text = long_model(MAX_SYMBOLS + 10)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=URI, language_id="json", version=1, text=text)
        )
    )
    document = types.TextDocumentIdentifier(uri=URI)
    for _ in range(2):
        (root,) = await client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=document)
        )
        assert f"limited to {MAX_SYMBOLS} entries" in root.detail
        assert len(root.children) == MAX_SYMBOLS - 1
        folds = await client.text_document_folding_range_async(
            types.FoldingRangeParams(text_document=document)
        )
        assert len(folds) == RANGE_LIMIT  # the client's own limit is kept
        # The outermost ranges are the ones kept: the model, its config, its layers array.
        assert [f.start_line for f in folds[:3]] == [0, 3, 5]
    notices = limited_notices(client)
    assert len(notices) == 2, notices
    assert any("outline" in n and "long.layercfg.json" in n for n in notices)
    assert any("Folding" in n and str(RANGE_LIMIT) in n for n in notices)

    # Closed and opened again: said again.
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=document))
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=URI, language_id="json", version=1, text=text)
        )
    )
    await client.text_document_folding_range_async(types.FoldingRangeParams(text_document=document))
    assert len(limited_notices(client)) == 3


async def test_a_short_model_says_nothing(client: LanguageClient):
    await wait_for_status(client, "ready")
    text = long_model(3)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=URI, language_id="json", version=1, text=text)
        )
    )
    document = types.TextDocumentIdentifier(uri=URI)
    (root,) = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=document)
    )
    assert "limited" not in (root.detail or "") and len(root.children) == 3
    folds = await client.text_document_folding_range_async(
        types.FoldingRangeParams(text_document=document)
    )
    assert 3 < len(folds) <= RANGE_LIMIT
    assert limited_notices(client) == []
