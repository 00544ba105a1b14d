"""The server as VS Code 1.100 talks to it: pull diagnostics re-pulled with the previous
result id after a refresh, commands sent with ``arguments: []``, dynamic registration."""

from __future__ import annotations

import asyncio
import json

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from .conftest import SERVER, start, wait_for_status
from .test_deep_e2e import _shape_mistake

URI = "file:///project/vscode.layercfg.json"


def vscode_1_100() -> types.ClientCapabilities:
    """What VS Code 1.100 adds to the profile pytest-lsp ships (1.65): pull diagnostics with
    refresh, watched files with dynamic registration and relative patterns."""
    caps = client_capabilities("visual-studio-code")
    caps.text_document.diagnostic = types.DiagnosticClientCapabilities(
        dynamic_registration=True, related_document_support=False
    )
    caps.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
    caps.workspace.did_change_watched_files = types.DidChangeWatchedFilesClientCapabilities(
        dynamic_registration=True, relative_pattern_support=True
    )
    return caps


class Puller:
    """Pulls as VS Code does: with the result id of its last report, keeping the last full
    report's items when the answer is 'unchanged'."""

    def __init__(self, client: LanguageClient, uri: str):
        self.client, self.uri = client, uri
        self.result_id: str | None = None
        self.items: list[types.Diagnostic] = []

    async def pull(self) -> list[types.Diagnostic]:
        report = await self.client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(
                text_document=types.TextDocumentIdentifier(uri=self.uri),
                previous_result_id=self.result_id,
            )
        )
        if report.kind == "full":
            self.items = list(report.items)
        self.result_id = report.result_id
        return self.items


async def _refreshed(client: LanguageClient, count: int, timeout: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while client.diagnostic_refresh_count <= count:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("no workspace/diagnostic/refresh")
        await asyncio.sleep(0.05)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def code(lsp_client: LanguageClient, plain_catalog):
    lsp_client.set_configuration(
        {"deepCheck": "onType", "deepCheckTimeout": 120}, section="layercfg"
    )
    await start(
        lsp_client,
        types.InitializeParams(
            capabilities=vscode_1_100(),
            initialization_options={"deepCheck": "onType", "deepCheckTimeout": 120},
        ),
    )
    yield
    await lsp_client.shutdown_session()


def _open(client: LanguageClient, text: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=version, text=text
            )
        )
    )


async def _until_deep(
    code: LanguageClient, puller: Puller, refreshes: int, timeout: float = 180
) -> list[types.Diagnostic]:
    """Pull after each refresh, as VS Code does, until deep (source keras) findings show."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await _refreshed(code, refreshes, timeout)
        refreshes = code.diagnostic_refresh_count
        items = await puller.pull()
        if any(d.source == "keras" for d in items):
            return items
        assert asyncio.get_running_loop().time() < deadline, "deep findings never shown"


async def test_deep_findings_reach_a_client_that_repulls_with_its_result_id(code):
    puller = Puller(code, URI)
    refreshes = code.diagnostic_refresh_count
    _open(code, _shape_mistake())
    first = await puller.pull()
    assert not [d for d in first if d.source == "keras"]
    items = await _until_deep(code, puller, refreshes)
    (shape,) = [d for d in items if d.source == "keras"]
    assert shape.code == "LCF302"


async def test_removing_an_override_restores_a_deep_findings_severity(code):
    puller = Puller(code, URI)
    refreshes = code.diagnostic_refresh_count
    _open(code, _shape_mistake())
    await puller.pull()
    await _until_deep(code, puller, refreshes)
    for override, expected in (
        ({"LCF302": "hint"}, types.DiagnosticSeverity.Hint),
        ({}, types.DiagnosticSeverity.Error),
    ):
        refreshes = code.diagnostic_refresh_count
        code.set_configuration(
            {"deepCheck": "onType", "deepCheckTimeout": 120, "severity": override},
            section="layercfg",
        )
        code.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await _refreshed(code, refreshes, timeout=30)
        (shape,) = [d for d in await puller.pull() if d.code == "LCF302"]
        assert shape.severity == expected, override


async def test_commands_sent_with_empty_arguments_run(code):
    await wait_for_status(code, "ready")
    for command in ("layercfg.rebuildCatalog", "layercfg.showSchema"):
        await code.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command, arguments=[])
        )
    schema = await code.workspace_execute_command_async(
        types.ExecuteCommandParams(command="layercfg.showSchema", arguments=[])
    )
    assert json.loads(schema)["$schema"].endswith("2020-12/schema")
    await asyncio.sleep(0.5)
    failures = [
        m.message
        for m in code.log_messages
        if m.type == types.MessageType.Error and "failed" in m.message
    ]
    assert failures == []


async def test_removing_a_severity_override_restores_the_severity(code):
    text = (
        '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 2,'
        ' "unitz": 3}, "registered_name": null}'
    )
    puller = Puller(code, URI)
    _open(code, text)
    (unknown,) = [d for d in await puller.pull() if d.code == "LCF102"]
    assert unknown.severity == types.DiagnosticSeverity.Error
    for override, expected in (
        ({"LCF102": "hint"}, types.DiagnosticSeverity.Hint),
        ({}, types.DiagnosticSeverity.Error),
    ):
        refreshes = code.diagnostic_refresh_count
        code.set_configuration({"deepCheck": "off", "severity": override}, section="layercfg")
        code.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await _refreshed(code, refreshes, timeout=30)
        (unknown,) = [d for d in await puller.pull() if d.code == "LCF102"]
        assert unknown.severity == expected, override


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def misconfigured(lsp_client: LanguageClient, plain_catalog):
    """VS Code sends the same (here invalid) settings as initialization options and as the
    answer to workspace/configuration."""
    bad = {"deepCheck": "sometimes", "deepCheckTimeout": -1}
    lsp_client.set_configuration(bad, section="layercfg")
    await start(
        lsp_client,
        types.InitializeParams(capabilities=vscode_1_100(), initialization_options=bad),
    )
    yield
    await lsp_client.shutdown_session()


def _said(client: LanguageClient, word: str) -> int:
    return sum(1 for m in client.messages if word in m.message)


async def test_an_invalid_setting_is_said_once_per_change(misconfigured):
    client = misconfigured
    await wait_for_status(client, "ready")
    await asyncio.sleep(0.5)
    assert _said(client, "deepCheck:") == 1 and _said(client, "deepCheckTimeout") == 1
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(1)
    assert _said(client, "deepCheck:") == 1  # still wrong: not said again
    client.set_configuration(
        {"deepCheck": "sometimes", "deepCheckTimeout": -1, "severity": {"LCF102": "loud"}},
        section="layercfg",
    )
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    for _ in range(100):
        if _said(client, "LCF102"):
            break
        await asyncio.sleep(0.05)
    assert _said(client, "LCF102") == 1 and _said(client, "deepCheck:") == 1
