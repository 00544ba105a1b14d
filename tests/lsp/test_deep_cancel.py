"""Superseded deep checks, through the real server and a real Keras worker: a version edited
before its check starts is dropped without running, and a version edited while its check runs
never publishes that check's findings."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from .conftest import SERVER, capabilities, start, wait_for_publication

URI = "file:///project/cancel.layercfg.json"
EXAMPLES = Path(__file__).parent.parent.parent / "examples"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def deep(lsp_client: LanguageClient, plain_catalog):
    await start(
        lsp_client,
        types.InitializeParams(
            capabilities=capabilities("neovim@v0.7.0"),
            initialization_options={"deepCheck": "onType", "deepCheckTimeout": 120},
        ),
    )
    yield
    await lsp_client.shutdown_session()


def _model(target_shape: list[int] | None) -> str:
    """The MNIST CNN, with a Reshape to ``target_shape`` (a size mistake) when given."""
    document = json.loads((EXAMPLES / "mnist_cnn.layercfg.json").read_text())
    if target_shape is not None:
        document["config"]["layers"].insert(
            3,
            {
                "module": "keras.layers",
                "class_name": "Reshape",
                "config": {"target_shape": target_shape},
                "registered_name": None,
            },
        )
    return json.dumps(document, indent=2)


def _change(client: LanguageClient, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def _runs(client: LanguageClient) -> int:
    """How many times the deep check went from not running to running."""
    count, before = 0, None
    for status in client.statuses:  # type: ignore[attr-defined]
        state = status.get("deepCheck")
        if state == "running" and before != "running":
            count += 1
        before = state
    return count


async def _until(predicate, timeout: float = 120.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


def _deep_versions(client: LanguageClient) -> set[int | None]:
    return {
        version
        for uri, version, diagnostics in client.published  # type: ignore[attr-defined]
        if uri == URI and any(d.source == "keras" for d in diagnostics)
    }


async def test_versions_edited_before_their_check_starts_are_never_checked(deep):
    deep.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=1, text=_model([7, 7])
            )
        )
    )
    # Typing faster than the deep check's delay: each version replaces the last one queued.
    for version, shape in ((2, [6, 6]), (3, [5, 5]), (4, [8, 8])):
        await asyncio.sleep(0.05)
        _change(deep, version, _model(shape))
    await wait_for_publication(deep, URI, 4)
    await _until(lambda: 4 in _deep_versions(deep))
    await asyncio.sleep(1.0)
    assert _runs(deep) == 1, deep.statuses
    assert _deep_versions(deep) == {4}
    (shape,) = [
        d
        for uri, version, diagnostics in deep.published
        if uri == URI and version == 4
        for d in diagnostics
        if d.code == "LCF302"
    ][-1:]
    assert "total size" in shape.message


async def test_a_version_edited_while_its_check_runs_never_publishes_its_findings(deep):
    deep.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=1, text=_model([7, 7])
            )
        )
    )
    await _until(lambda: _runs(deep) >= 1)  # version 1 is in the worker now
    _change(deep, 2, _model(None))  # the mistake is fixed while version 1 is checked
    await _until(lambda: _runs(deep) >= 2)
    await _until(lambda: deep.statuses[-1].get("deepCheck") == "idle")
    await asyncio.sleep(1.0)
    assert 1 not in _deep_versions(deep)
    for uri, version, diagnostics in deep.published:
        if uri == URI:
            assert not any(d.code == "LCF302" for d in diagnostics), (version, diagnostics)
    result = await deep.workspace_execute_command_async(
        types.ExecuteCommandParams(command="layercfg.deepCheck", arguments=[URI])
    )
    assert result["checked"] and result["version"] == 2 and result["problems"] == 0
