"""Flavor per document in the language server: a Keras 2 document (tf_keras wrote it, or it
holds a tensorflow_hub.KerasLayer) is validated, completed and hovered against the tf_keras
catalog; the ``layercfg.flavor`` setting forces one. Over stdio, VS Code's capabilities."""

from __future__ import annotations

import json

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from .conftest import SERVER, capabilities, start, wait_for_status

pytest.importorskip("tf_keras")
pytest.importorskip("tensorflow_hub")

URI = "file:///project/hub.layercfg.json"
URL = "https://tfhub.dev/google/nnlm-en-dim50/2"

HUB_MODEL = json.dumps(
    {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_input_shape": [None], "dtype": "string", "name": "text"},
                    "registered_name": None,
                },
                {
                    "module": "tensorflow_hub.keras_layer",
                    "class_name": "KerasLayer",
                    "config": {"name": "keras_layer", "trainable": False, "handle": URL},
                    "registered_name": "KerasLayer",
                },
            ],
        },
        "keras_version": "2.21.0",
        "backend": "tensorflow",
    },
    indent=2,
)


@pytest.fixture(scope="module")
def tf_keras_catalog(cache_dir):
    from layercfg.schema_builder.catalog import load_or_build

    return load_or_build((), "tf_keras")


async def _started(client: LanguageClient, settings: dict) -> None:
    client.set_configuration(settings, section="layercfg")
    params = types.InitializeParams(
        capabilities=capabilities("visual-studio-code", pull=True),
        initialization_options=settings,
    )
    await start(client, params)
    await wait_for_status(client, "ready")
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=1, text=HUB_MODEL
            )
        )
    )


async def _codes(client: LanguageClient, wanted: str | None = None, tries: int = 200) -> dict:
    """Pull diagnostics until ``wanted`` shows (the tf_keras catalog loads after the first
    Keras 2 document asks for it); code -> diagnostics."""
    import asyncio

    found: dict = {}
    for _ in range(tries):
        report = await client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=URI))
        )
        found = {}
        for item in report.items:
            found.setdefault(item.code, []).append(item)
        if wanted is None or wanted in found:
            return found
        await asyncio.sleep(0.1)
    return found


def _position(marker: str, shift: int = 1) -> types.Position:
    offset = HUB_MODEL.index(marker) + shift
    line = HUB_MODEL.count("\n", 0, offset)
    return types.Position(line=line, character=offset - (HUB_MODEL.rfind("\n", 0, offset) + 1))


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def detected(lsp_client: LanguageClient, plain_catalog, tf_keras_catalog):
    await _started(lsp_client, {"deepCheck": "off"})
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def forced_keras(lsp_client: LanguageClient, plain_catalog, tf_keras_catalog):
    await _started(lsp_client, {"deepCheck": "off", "flavor": "keras"})
    yield
    await lsp_client.shutdown_session()


async def test_a_keras2_document_is_checked_as_tf_keras(detected: LanguageClient):
    lsp_client = detected
    found = await _codes(lsp_client, "LCF108")
    assert "LCF101" not in found, found  # KerasLayer is in the tf_keras catalog
    assert all(d.severity == types.DiagnosticSeverity.Information for d in found["LCF108"])
    hover = await lsp_client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=URI), position=_position('"handle"')
        )
    )
    assert hover is not None and "saved model" in str(hover.contents).lower()
    completion = await lsp_client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=_position('"trainable"', 0),
        )
    )
    items = completion.items if hasattr(completion, "items") else completion
    labels = {item.label.strip('"') for item in items or []}
    assert {"signature", "output_key"} <= labels, labels


async def test_the_flavor_setting_forces_keras(forced_keras: LanguageClient):
    lsp_client = forced_keras
    found = await _codes(lsp_client, "LCF101")
    assert "LCF101" in found  # no KerasLayer in Keras 3
    assert any(d.severity != types.DiagnosticSeverity.Information for d in found["LCF108"])
