"""Quick fixes, fix all, canonical form, rename and formatting end to end, over stdio with
real editors' capabilities."""

from __future__ import annotations

import ast
import asyncio
import copy
import json
import warnings
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from .conftest import SERVER, capabilities, start, wait_for_status

URI = "file:///project/actions.layercfg.json"

HAND_WRITTEN = (
    '{\n  "module": "keras.layers",\n  "class_name": "Conv2D",\n  "config": {\n'
    '    "name": "conv",\n    "filters": 8,\n    "kernel_size": 3,\n    "strides": [1, 1],\n'
    '    "padding": "same",\n    "use_bias": true\n  },\n  "registered_name": null\n}\n'
)


def _open(client: LanguageClient, text: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=version, text=text
            )
        )
    )


def _change(client: LanguageClient, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def _offset(text: str, position: types.Position) -> int:
    lines = text.split("\n")
    return sum(len(line) + 1 for line in lines[: position.line]) + position.character


def _position(text: str, marker: str, shift: int = 0) -> types.Position:
    offset = text.index(marker) + shift
    line = text.count("\n", 0, offset)
    return types.Position(line=line, character=offset - (text.rfind("\n", 0, offset) + 1))


def _apply(text: str, edits: list[Any]) -> str:
    """The client's side of a TextEdit list (ASCII texts: UTF-16 columns are str columns)."""
    spans = []
    for edit in edits:
        new_text = edit.new_text if hasattr(edit, "new_text") else edit.snippet.value
        spans.append((_offset(text, edit.range.start), _offset(text, edit.range.end), new_text))
    for begin, end, new_text in sorted(spans, reverse=True):
        text = text[:begin] + new_text + text[end:]
    return text


def _edits_of(edit: types.WorkspaceEdit, version: int | None = None) -> list[Any]:
    if edit.document_changes:
        (change,) = edit.document_changes
        assert change.text_document.uri == URI
        if version is not None:
            assert change.text_document.version == version
        return list(change.edits)
    return list(edit.changes[URI])


async def _pull(client: LanguageClient) -> list[types.Diagnostic]:
    report = await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    return list(report.items)


async def _actions(
    client: LanguageClient,
    diagnostics: list[types.Diagnostic],
    only: list[str] | None = None,
    where: types.Range | None = None,
) -> list[types.CodeAction]:
    everything = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)
    )
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=where or (diagnostics[0].range if diagnostics else everything),
            context=types.CodeActionContext(diagnostics=diagnostics, only=only),
        )
    )
    return [_as_action(a) for a in result or []]


def _as_action(item: Any) -> types.CodeAction:
    """lsprotocol's client-side hook reads any code action that has a ``command`` as a bare
    Command, with the command object turned into its repr; editors tell them apart by the
    type of ``command``, as LSP says. Put the action back together."""
    if isinstance(item, types.CodeAction):
        return item
    command = ast.literal_eval(item.command)
    return types.CodeAction(title=item.title, command=types.Command(**command))


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def vscode(lsp_client: LanguageClient, plain_catalog):
    """VS Code's capabilities (resolve, documentChanges, disabled actions), pull diagnostics."""
    lsp_client.set_configuration({"deepCheck": "off"}, section="layercfg")
    params = types.InitializeParams(
        capabilities=capabilities("visual-studio-code", pull=True),
        initialization_options={"deepCheck": "off"},
    )
    await start(lsp_client, params)
    await wait_for_status(lsp_client, "ready")
    yield
    await lsp_client.shutdown_session()


def _plain_capabilities() -> types.ClientCapabilities:
    """An editor without resolve, documentChanges or snippets (Helix-like)."""
    caps = capabilities("visual-studio-code", pull=True)
    caps.text_document.code_action.resolve_support = None
    caps.text_document.code_action.disabled_support = None
    caps.workspace.workspace_edit.document_changes = None
    return caps


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def plain(lsp_client: LanguageClient, plain_catalog):
    lsp_client.applied = []  # type: ignore[attr-defined]

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        lsp_client.applied.append(params)  # type: ignore[attr-defined]
        return types.ApplyWorkspaceEditResult(applied=True)

    params = types.InitializeParams(
        capabilities=_plain_capabilities(), initialization_options={"deepCheck": "off"}
    )
    await start(lsp_client, params)
    await wait_for_status(lsp_client, "ready")
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def snippets(lsp_client: LanguageClient, plain_catalog):
    """A client that takes SnippetTextEdits in workspace edits (LSP 3.18)."""
    caps = capabilities("visual-studio-code", pull=True)
    caps.workspace.workspace_edit.snippet_edit_support = True
    params = types.InitializeParams(capabilities=caps, initialization_options={"deepCheck": "off"})
    await start(lsp_client, params)
    await wait_for_status(lsp_client, "ready")
    yield
    await lsp_client.shutdown_session()


async def test_the_features_are_advertised(vscode: LanguageClient):
    caps = vscode.init_result.capabilities  # type: ignore[attr-defined]
    actions = caps.code_action_provider
    assert actions.resolve_provider
    assert {
        "quickfix",
        "source.fixAll.layercfg",
        "source.layercfg.fillDefaults",
        "source.layercfg.removeDefaults",
    } <= set(actions.code_action_kinds)
    assert caps.rename_provider.prepare_provider
    assert caps.document_formatting_provider and caps.document_range_formatting_provider
    assert "layercfg.canonicalForm" in caps.execute_command_provider.commands


async def test_a_quick_fix_tied_to_its_diagnostic(vscode: LanguageClient, bad_dense: str):
    _open(vscode, bad_dense)
    diagnostics = await _pull(vscode)
    (unknown,) = [d for d in diagnostics if d.code == "LCF102" and "unitz" in d.message]
    actions = await _actions(vscode, [unknown])
    preferred = [a for a in actions if a.is_preferred]
    assert [a.title for a in preferred] == ["Change to 'units'"]
    assert preferred[0].kind == types.CodeActionKind.QuickFix
    assert preferred[0].diagnostics[0].message == unknown.message
    assert "Remove 'unitz'" in [a.title for a in actions]
    after = _apply(bad_dense, _edits_of(preferred[0].edit, version=1))
    _change(vscode, after, 2)
    assert not any(d.code == "LCF102" and "unitz" in d.message for d in await _pull(vscode))


async def test_no_action_for_a_diagnostic_of_an_older_text(vscode: LanguageClient, bad_dense: str):
    _open(vscode, bad_dense)
    (unknown,) = [d for d in await _pull(vscode) if d.code == "LCF102" and "unitz" in d.message]
    _change(vscode, bad_dense.replace("{\n", '{\n  "build_config": null,\n', 1), 2)
    assert await _actions(vscode, [unknown], only=[types.CodeActionKind.QuickFix]) == []
    # The same mistake, now one line down: its current diagnostic gets the fixes.
    (moved,) = [d for d in await _pull(vscode) if d.code == "LCF102" and "unitz" in d.message]
    assert moved.range.start.line == unknown.range.start.line + 1
    assert await _actions(vscode, [moved], only=[types.CodeActionKind.QuickFix])


async def test_fix_all_is_resolved_on_demand(vscode: LanguageClient):
    text = (
        '{\n  "module": "keras.layers",\n  "class_name": "Dence",\n  "config": {\n'
        '    "unitz": "4",\n    "use_bias": "true",\n  },\n  "registered_name": null\n}\n'
    )
    _open(vscode, text)
    await _pull(vscode)
    (action,) = await _actions(vscode, [], only=["source.fixAll"])
    assert action.kind == "source.fixAll.layercfg" and action.edit is None
    resolved = await vscode.code_action_resolve_async(action)
    after = _apply(text, _edits_of(resolved.edit, version=1))
    assert json.loads(after)["config"] == {"units": 4, "use_bias": True}
    assert '"class_name": "Dense"' in after
    _change(vscode, after, 2)
    assert await _pull(vscode) == []
    assert await _actions(vscode, [], only=["source.fixAll"]) == []


async def test_canonical_form_through_the_keras_worker(vscode: LanguageClient):
    import keras

    _open(vscode, HAND_WRITTEN)
    assert await _pull(vscode) == []
    actions = await _actions(vscode, [], only=["source.layercfg"])
    by_kind = {a.kind: a for a in actions}
    assert set(by_kind) == {"source.layercfg.fillDefaults", "source.layercfg.removeDefaults"}
    resolved = await asyncio.wait_for(
        vscode.code_action_resolve_async(by_kind["source.layercfg.removeDefaults"]), 180
    )
    pruned = _apply(HAND_WRITTEN, _edits_of(resolved.edit, version=1))
    assert json.loads(pruned)["config"] == {
        "name": "conv",
        "filters": 8,
        "kernel_size": 3,
        "padding": "same",
    }
    resolved = await vscode.code_action_resolve_async(by_kind["source.layercfg.fillDefaults"])
    filled = json.loads(_apply(HAND_WRITTEN, _edits_of(resolved.edit, version=1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = keras.saving.deserialize_keras_object(copy.deepcopy(filled))
        assert filled == json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
        keras.saving.deserialize_keras_object(json.loads(pruned))
    # With an error in the document, both are refused with the reason.
    _change(vscode, HAND_WRITTEN.replace('"same"', '"sme"'), 2)
    await _pull(vscode)
    actions = await _actions(vscode, [], only=["source.layercfg"])
    assert len(actions) == 2
    assert all(a.disabled and "Fix the errors first" in a.disabled.reason for a in actions)
    assert all(a.edit is None and a.data is None for a in actions)


async def test_a_stale_resolve_applies_nothing(vscode: LanguageClient):
    _open(vscode, HAND_WRITTEN)
    await _pull(vscode)
    (action,) = await _actions(vscode, [], only=["source.layercfg.removeDefaults"])
    _change(vscode, HAND_WRITTEN.replace('"conv"', '"conv_1"'), 2)
    await _pull(vscode)
    resolved = await vscode.code_action_resolve_async(action)
    assert resolved.edit is None


async def test_canonical_form_as_a_command_without_resolve(plain: LanguageClient):
    _open(plain, HAND_WRITTEN)
    await _pull(plain)
    actions = await _actions(plain, [], only=["source.layercfg.removeDefaults"])
    (action,) = actions
    assert action.edit is None and action.command.command == "layercfg.canonicalForm"
    applied = await asyncio.wait_for(
        plain.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=action.command.command, arguments=action.command.arguments
            )
        ),
        180,
    )
    assert applied is True
    (params,) = plain.applied  # type: ignore[attr-defined]
    pruned = _apply(HAND_WRITTEN, params.edit.changes[URI])
    assert "strides" not in pruned and '"padding": "same"' in pruned
    # Errors: nothing offered where disabled actions cannot be shown.
    _change(plain, HAND_WRITTEN.replace('"same"', '"sme"'), 2)
    await _pull(plain)
    assert await _actions(plain, [], only=["source.layercfg"]) == []


async def test_snippet_for_a_missing_key(snippets: LanguageClient):
    text = (
        '{\n  "module": "keras.layers",\n  "class_name": "Dense",\n  "config": {\n'
        '    "activation": "relu"\n  },\n  "registered_name": null\n}\n'
    )
    _open(snippets, text)
    (missing,) = [d for d in await _pull(snippets) if d.code == "LCF103"]
    (action,) = await _actions(snippets, [missing], only=[types.CodeActionKind.QuickFix])
    (edit,) = _edits_of(action.edit, version=1)
    assert isinstance(edit, types.SnippetTextEdit)
    assert edit.snippet.value == '"units": ${1:4},\n    '


async def test_rename_a_layer(vscode: LanguageClient):
    text = json.dumps(
        {
            "module": "keras",
            "class_name": "Functional",
            "config": {
                "name": "m",
                "layers": [
                    {
                        "module": "keras.layers",
                        "class_name": "InputLayer",
                        "config": {"batch_shape": [None, 2], "name": "i"},
                        "registered_name": None,
                        "name": "i",
                        "inbound_nodes": [],
                    },
                    {
                        "module": "keras.layers",
                        "class_name": "Dense",
                        "config": {"name": "d", "units": 1},
                        "registered_name": None,
                        "name": "d",
                        "inbound_nodes": [
                            {
                                "args": [
                                    {
                                        "class_name": "__keras_tensor__",
                                        "config": {
                                            "shape": [None, 2],
                                            "dtype": "float32",
                                            "keras_history": ["i", 0, 0],
                                        },
                                    }
                                ],
                                "kwargs": {},
                            }
                        ],
                    },
                ],
                "input_layers": ["i", 0, 0],
                "output_layers": ["d", 0, 0],
            },
            "registered_name": "Functional",
        },
        indent=2,
    )
    _open(vscode, text)
    where = _position(text, '"i"', 1)
    prepared = await vscode.text_document_prepare_rename_async(
        types.PrepareRenameParams(
            text_document=types.TextDocumentIdentifier(uri=URI), position=where
        )
    )
    assert prepared.placeholder == "i"
    edit = await vscode.text_document_rename_async(
        types.RenameParams(
            text_document=types.TextDocumentIdentifier(uri=URI), position=where, new_name="features"
        )
    )
    after = json.loads(_apply(text, _edits_of(edit, version=1)))
    assert after["config"]["input_layers"] == ["features", 0, 0]
    assert after["config"]["layers"][0]["config"]["name"] == "features"
    history = after["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]
    assert history["keras_history"] == ["features", 0, 0]
    references = await vscode.text_document_references_async(
        types.ReferenceParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=where,
            context=types.ReferenceContext(include_declaration=True),
        )
    )
    assert len(references) == len(_edits_of(edit))
    with pytest.raises(JsonRpcException, match="A layer named 'd' already exists"):
        await vscode.text_document_rename_async(
            types.RenameParams(
                text_document=types.TextDocumentIdentifier(uri=URI), position=where, new_name="d"
            )
        )
    nothing = await vscode.text_document_prepare_rename_async(
        types.PrepareRenameParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=_position(text, '"units"', 2),
        )
    )
    assert nothing is None


async def test_formatting_and_its_refusal(vscode: LanguageClient):
    text = (
        '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3}, '
        '"registered_name": null}\n'
    )
    _open(vscode, text)
    options = types.FormattingOptions(tab_size=4, insert_spaces=True)
    edits = await vscode.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=types.TextDocumentIdentifier(uri=URI), options=options
        )
    )
    after = _apply(text, edits)
    assert after == json.dumps(json.loads(text), indent=2) + "\n"
    _change(vscode, after, 2)
    assert not await vscode.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=types.TextDocumentIdentifier(uri=URI), options=options
        )
    )
    _change(vscode, after.replace('"units": 3', '"units": 3,,'), 3)
    with pytest.raises(JsonRpcException, match="syntax errors"):
        await vscode.text_document_formatting_async(
            types.DocumentFormattingParams(
                text_document=types.TextDocumentIdentifier(uri=URI), options=options
            )
        )
