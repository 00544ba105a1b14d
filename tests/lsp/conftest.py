"""End-to-end fixtures: the real server over stdio, driven by pytest-lsp's client."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER = [sys.executable, "-m", "layercfg", "lsp"]


def _fields(params: Any) -> dict[str, Any]:
    if isinstance(params, dict):
        return params
    return {k: getattr(params, k) for k in dir(params) if not k.startswith("_")}


def record_status(client: LanguageClient) -> None:
    """Keep every ``layercfg/status`` notification on ``client.statuses``."""
    client.statuses = []  # type: ignore[attr-defined]

    @client.feature("layercfg/status")
    def status(params: Any) -> None:
        client.statuses.append(_fields(params))  # type: ignore[attr-defined]


async def wait_for_status(client: LanguageClient, state: str, timeout: float = 120) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for status in client.statuses:  # type: ignore[attr-defined]
            if status.get("catalog") == state:
                return status
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no status {state!r}; got {client.statuses}")  # type: ignore[attr-defined]


def record_publications(client: LanguageClient) -> None:
    """Keep every publishDiagnostics as (uri, version, diagnostics) on ``client.published``."""
    client.published = []  # type: ignore[attr-defined]
    # Take over pytest-lsp's own handler; this one keeps its bookkeeping too.
    client.protocol.fm._features.pop(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, None)

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def publish(params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(  # type: ignore[attr-defined]
            (params.uri, params.version, params.diagnostics)
        )


async def wait_for_publication(
    client: LanguageClient, uri: str, version: int | None, timeout: float = 30
) -> list[types.Diagnostic]:
    """The diagnostics published for ``uri`` at ``version`` (None: after a close)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for published_uri, published_version, diagnostics in client.published:  # type: ignore
            if published_uri == uri and published_version == version:
                return diagnostics
        await asyncio.sleep(0.02)
    raise TimeoutError(f"nothing published for {uri} version {version}")


async def start(client: LanguageClient, params: types.InitializeParams) -> None:
    record_status(client)
    record_publications(client)
    client.init_result = await client.initialize_session(params)  # type: ignore[attr-defined]


def capabilities(name: str, pull: bool = False) -> types.ClientCapabilities:
    caps = client_capabilities(name)
    if pull:  # as VS Code 1.100 pulls: with refresh support
        caps.text_document.diagnostic = types.DiagnosticClientCapabilities(
            dynamic_registration=False, related_document_support=False
        )
        caps.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(
            refresh_support=True
        )
    return caps


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def vscode(lsp_client: LanguageClient, plain_catalog):
    """VS Code's capabilities with pull diagnostics; the session catalog is cached."""
    lsp_client.set_configuration({"deepCheck": "off"}, section="layercfg")
    params = types.InitializeParams(
        capabilities=capabilities("visual-studio-code", pull=True),
        initialization_options={"deepCheck": "off"},
    )
    await start(lsp_client, params)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def neovim(lsp_client: LanguageClient, plain_catalog):
    """Neovim 0.7's capabilities: push diagnostics, no snippets in completion items."""
    params = types.InitializeParams(capabilities=capabilities("neovim@v0.7.0"))
    await start(lsp_client, params)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def deep(lsp_client: LanguageClient, plain_catalog):
    """Push diagnostics (Neovim 0.7) and deep checks as the user types."""
    await start(
        lsp_client,
        types.InitializeParams(
            capabilities=capabilities("neovim@v0.7.0"),
            initialization_options={"deepCheck": "onType", "deepCheckTimeout": 120},
        ),
    )
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def bad_dense() -> str:
    return (
        '{\n  "module": "keras.layers",\n  "class_name": "Dense",\n  "config": {\n'
        '    "unitz": 4,\n    "padding": "same",\n    "activation": "rleu"\n  },\n'
        '  "registered_name": null\n}\n'
    )
