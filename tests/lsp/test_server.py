"""The language server end to end, through a real LSP client over stdio."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from .conftest import SERVER, capabilities, start, wait_for_publication, wait_for_status

URI = "file:///project/model.layercfg.json"


def _open(client: LanguageClient, text: str, uri: str = URI, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="json", version=version, text=text
            )
        )
    )


def _position(text: str, marker: str, shift: int = 0) -> types.Position:
    offset = text.index(marker) + shift
    line = text.count("\n", 0, offset)
    return types.Position(line=line, character=offset - (text.rfind("\n", 0, offset) + 1))


async def test_initialize_advertises_the_features(vscode: LanguageClient):
    caps = vscode.init_result.capabilities  # type: ignore[attr-defined]
    assert (await wait_for_status(vscode, "ready"))["kerasVersion"]
    assert caps.completion_provider is not None and caps.hover_provider
    assert caps.definition_provider and caps.references_provider
    assert caps.document_symbol_provider and caps.folding_range_provider
    assert caps.diagnostic_provider is not None
    assert set(caps.execute_command_provider.commands) >= {
        "layercfg.rebuildCatalog",
        "layercfg.showSchema",
    }


async def test_pull_diagnostics_are_located(vscode: LanguageClient, bad_dense: str):
    _open(vscode, bad_dense)
    report = await vscode.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    codes = {d.code for d in report.items}
    assert codes >= {"LCF102", "LCF105"}
    (unknown,) = [d for d in report.items if d.code == "LCF102" and "unitz" in d.message]
    assert unknown.range.start == _position(bad_dense, '"unitz"')
    assert unknown.range.end == _position(bad_dense, '"unitz"', len('"unitz"'))
    assert unknown.source == "layercfg"
    assert "units" in json.dumps(unknown.data)
    (activation,) = [d for d in report.items if d.code == "LCF105"]
    assert activation.range.start == _position(bad_dense, '"rleu"')
    assert "relu" in json.dumps(activation.data)
    again = await vscode.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(
            text_document=types.TextDocumentIdentifier(uri=URI), previous_result_id=report.result_id
        )
    )
    assert again.kind == "unchanged"


async def test_push_diagnostics_follow_edits_and_clear_on_close(
    neovim: LanguageClient, bad_dense: str
):
    _open(neovim, bad_dense)
    diagnostics = await wait_for_publication(neovim, URI, 1)
    assert {"LCF102", "LCF105"} <= {d.code for d in diagnostics}
    fixed = (
        bad_dense.replace('"unitz"', '"units"')
        .replace('"rleu"', '"relu"')
        .replace('"padding": "same"', '"use_bias": true')
    )
    neovim.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    assert list(await wait_for_publication(neovim, URI, 2)) == []
    neovim.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    assert list(await wait_for_publication(neovim, URI, None)) == []


async def test_a_stale_version_is_never_published(neovim: LanguageClient):
    text = '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 1}}'
    _open(neovim, text)
    await wait_for_publication(neovim, URI, 1)
    for version in range(2, 40):
        units = '"x"' if version % 2 else str(version)
        neovim.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
                content_changes=[
                    types.TextDocumentContentChangeWholeDocument(
                        text=text.replace('"units": 1', f'"units": {units}')
                    )
                ],
            )
        )
    last = await wait_for_publication(neovim, URI, 39)
    assert [d.code for d in last] == ["LCF104"]  # the last text has a string for units
    await asyncio.sleep(0.5)
    versions = [v for uri, v, _ in neovim.published if uri == URI]
    assert versions == sorted(versions) and versions[-1] == 39
    assert len(versions) < 10  # debounced: not one publication per keystroke


async def test_completion_offers_the_class_keys(neovim: LanguageClient):
    text = '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3, }}'
    _open(neovim, text)
    result = await neovim.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI), position=_position(text, ", }", 2)
        )
    )
    labels = [item.label for item in result.items]
    assert "activation" in labels and "use_bias" in labels and "units" not in labels
    assert all(item.insert_text_format != types.InsertTextFormat.Snippet for item in result.items)


async def test_hover_on_a_key_and_a_class(vscode: LanguageClient):
    text = '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3}}'
    _open(vscode, text)
    hover = await vscode.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=_position(text, '"units"', 2),
        )
    )
    assert "dimensionality of the output space" in hover.contents.value
    hover = await vscode.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=_position(text, '"Dense"', 2),
        )
    )
    assert "densely-connected" in hover.contents.value and "Dense(units" in hover.contents.value


async def test_definition_and_symbols(vscode: LanguageClient):
    path = os.path.join(
        os.path.dirname(__file__), "..", "..", "examples", "functional_classifier.layercfg.json"
    )
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    _open(vscode, text)
    located = await vscode.text_document_definition_async(
        types.DefinitionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=_position(text, '"class_name": "Dense"', 16),
        )
    )
    assert located and located[0].uri.endswith("dense.py")
    symbols = await vscode.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    (model,) = symbols
    assert model.name == "classifier"
    assert [(c.name, c.detail) for c in model.children] == [
        ("features", "InputLayer"),
        ("hidden", "Dense"),
        ("score", "Dense"),
    ]


async def test_invalid_settings_are_reported(vscode: LanguageClient):
    assert any("deepCheck" not in m.message for m in vscode.messages) or not vscode.messages
    vscode.set_configuration({"deepCheck": "sometimes"}, section="layercfg")
    vscode.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    for _ in range(50):
        if any("deepCheck" in m.message for m in vscode.messages):
            break
        await asyncio.sleep(0.1)
    assert any(
        "deepCheck: expected one of onType, onSave, off" in m.message for m in vscode.messages
    )


COLD_CACHE = tempfile.mkdtemp(prefix="layercfg-cold-")


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER,
        server_env={**os.environ, "LAYERCFG_CACHE_DIR": COLD_CACHE, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
)
async def cold(lsp_client: LanguageClient):
    """A server whose catalog cache is empty: it builds one and reports progress."""
    params = types.InitializeParams(capabilities=capabilities("visual-studio-code", pull=True))
    await start(lsp_client, params)
    yield
    await lsp_client.shutdown_session()


async def test_a_missing_catalog_is_built_with_progress_while_syntax_is_served(
    cold: LanguageClient,
):
    text = '{"class_name": "Dense", "config": {"unitz": 4,}}'
    _open(cold, text)
    report = await cold.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    assert "LCF002" in {d.code for d in report.items}  # the trailing comma, before the catalog
    status = await wait_for_status(cold, "ready", timeout=300)
    assert status["kerasVersion"]
    assert cold.progress_reports, "no work-done progress was reported"
    (reports,) = cold.progress_reports.values()
    assert reports[0].kind == "begin" and reports[-1].kind == "end"
    # The refresh follows the "ready" status: give it the time to arrive.
    for _ in range(100):
        if cold.diagnostic_refresh_count >= 1:
            break
        await asyncio.sleep(0.05)
    assert cold.diagnostic_refresh_count >= 1
    report = await cold.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    assert {"LCF002", "LCF102"} <= {d.code for d in report.items}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def utf8(lsp_client: LanguageClient, plain_catalog):
    """A client that negotiates UTF-8 positions and pulls diagnostics."""
    caps = capabilities("visual-studio-code", pull=True)
    caps.general = types.GeneralClientCapabilities(
        position_encodings=[types.PositionEncodingKind.Utf8]
    )
    await start(lsp_client, types.InitializeParams(capabilities=caps))
    yield
    await lsp_client.shutdown_session()


async def test_negotiated_utf8_positions_with_non_ascii_names(utf8: LanguageClient):
    assert utf8.init_result.capabilities.position_encoding == "utf-8"  # type: ignore
    text = (
        '{"module": "keras.layers", "class_name": "Dense",\r\n'
        ' "config": {"name": "çouche_😀", "units": 2, "unitz": 4}}'
    )
    _open(utf8, text)
    report = await utf8.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    (unknown,) = [d for d in report.items if d.code == "LCF102"]
    line = text.split("\r\n")[1]
    column = len(line[: line.index('"unitz"')].encode("utf-8"))
    assert unknown.range.start == types.Position(line=1, character=column)
    hover = await utf8.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(
                line=1, character=len(line[: line.index('"units"')].encode("utf-8")) + 2
            ),
        )
    )
    assert "dimensionality" in hover.contents.value


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def broken(lsp_client: LanguageClient, plain_catalog):
    """A server told to run the Keras worker with an interpreter that does not exist."""
    caps = capabilities("visual-studio-code", pull=True)
    await start(
        lsp_client,
        types.InitializeParams(
            capabilities=caps, initialization_options={"python": "/nonexistent/python3"}
        ),
    )
    yield
    await lsp_client.shutdown_session()


async def test_a_failing_worker_is_reported_once_and_syntax_still_served(broken: LanguageClient):
    status = await wait_for_status(broken, "failed")
    assert "nonexistent" in status["message"]
    _open(broken, '{"class_name": "Dense", "config": {"units": 3,}}')
    report = await broken.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    assert [d.code for d in report.items] == ["LCF002"]
    broken.workspace_execute_command(types.ExecuteCommandParams(command="layercfg.rebuildCatalog"))
    await asyncio.sleep(1)
    errors = [m for m in broken.messages if m.type == types.MessageType.Error]
    assert len(errors) == 1 and "could not be built" in errors[0].message
