"""The deep check through the language server: keras-sourced diagnostics for the current
version only, the command, and inlay hints with shapes and parameter counts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from .conftest import wait_for_publication

URI = "file:///project/deep.layercfg.json"
EXAMPLES = Path(__file__).parent.parent.parent / "examples"


def _open(client, text, version=1):
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=version, text=text
            )
        )
    )


async def _keras(client, version, timeout=120.0):
    """The first publication for ``version`` that carries deep (source keras) results."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for uri, published, diagnostics in client.published:
            if (
                uri == URI
                and published == version
                and any(d.source == "keras" for d in diagnostics)
            ):
                return diagnostics
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no deep result for version {version}: {client.published}")


def _shape_mistake() -> str:
    document = json.loads((EXAMPLES / "mnist_cnn.layercfg.json").read_text())
    document["config"]["layers"].insert(
        3,
        {
            "module": "keras.layers",
            "class_name": "Reshape",
            "config": {"target_shape": [7, 7]},
            "registered_name": None,
        },
    )
    return json.dumps(document, indent=2)


async def test_deep_findings_arrive_located_with_source_keras(deep: LanguageClient):
    text = _shape_mistake()
    _open(deep, text)
    fast = await wait_for_publication(deep, URI, 1)
    assert [d for d in fast if d.source == "layercfg"] == []  # valid for the schema
    diagnostics = await _keras(deep, 1)
    (shape,) = [d for d in diagnostics if d.code == "LCF302"]
    line = text.splitlines()[shape.range.start.line]
    assert '"class_name": "Reshape"' in line
    assert "total size" in shape.message


async def test_results_for_an_old_version_are_not_published(deep: LanguageClient):
    _open(deep, _shape_mistake())
    fixed = (EXAMPLES / "mnist_cnn.layercfg.json").read_text()
    deep.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    result = await deep.workspace_execute_command_async(
        types.ExecuteCommandParams(command="layercfg.deepCheck", arguments=[URI])
    )
    assert result["checked"] and result["version"] == 2 and result["problems"] == 0
    assert result["totalParams"] == 54410
    await asyncio.sleep(1)
    for _uri, version, diagnostics in deep.published:
        if any(d.source == "keras" for d in diagnostics):
            assert version == 1  # a deep result is only ever shown with its own version
    hints = await deep.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=types.Range(
                start=types.Position(line=0, character=0),
                end=types.Position(line=10_000, character=0),
            ),
        )
    )
    labels = [h.label for h in hints]
    assert any("(None, 26, 26, 32)" in label and "320 params" in label for label in labels)
    assert any("54,410 params in all" in label for label in labels)
