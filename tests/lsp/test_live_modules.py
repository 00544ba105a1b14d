"""A custom module edited on disk changes the checks without a restart: through
workspace/didChangeWatchedFiles, which the server registers with a client that can (VS Code),
and through the server's own polling of the sources with a client that cannot."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from .conftest import SERVER, start
from .test_vscode_profile import Puller, vscode_1_100

MODULE = "live_layers"
SOURCE = '''
import keras


class Gain(keras.layers.Layer):
    """Multiplies its input.

    Args:
        factor: Float, the factor.{more_doc}
        **kwargs: Base layer keyword arguments.
    """

    def __init__(self, factor=1.0,{more_arg} **kwargs):
        super().__init__(**kwargs)
        self.factor = factor{more_set}

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {{**super().get_config(), "factor": self.factor{more_get}}}
'''


def source(offset: bool) -> str:
    """The module; with ``offset``, a second constructor argument."""
    return SOURCE.format(
        more_doc="\n        offset: Float, added after." if offset else "",
        more_arg=" offset=0.0," if offset else "",
        more_set="\n        self.offset = offset" if offset else "",
        more_get=', "offset": self.offset' if offset else "",
    )


def document(module: str) -> str:
    return (
        f'{{"module": "{module}", "class_name": "Gain", "config": {{"name": "gain", "factor": 2.0,'
        ' "offset": 1.0}, "registered_name": null}'
    )


def _settings(module: str) -> dict:
    return {"modules": [module], "trustWorkspace": True, "deepCheck": "off"}


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.2)


def _ready_count(client: LanguageClient) -> int:
    return sum(
        1
        for s in client.statuses
        if s.get("catalog") == "ready"  # type: ignore[attr-defined]
    )


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / f"{MODULE}.py").write_text(source(offset=False))
    return tmp_path, MODULE


async def _start(client: LanguageClient, root: Path, module: str, caps) -> None:
    client.set_configuration(_settings(module), section="layercfg")
    client.registrations = []  # type: ignore[attr-defined]

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    await start(
        client,
        types.InitializeParams(
            capabilities=caps,
            root_uri=root.as_uri(),
            initialization_options=_settings(module),
        ),
    )


async def _codes_until(puller: Puller, accept, timeout: float = 300) -> set:
    seen: set = set()

    async def check() -> bool:
        nonlocal seen
        seen = {d.code for d in await puller.pull()}
        return accept(seen)

    await _until(check, timeout, f"diagnostics never matched; last {seen}")
    return seen


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def code(lsp_client: LanguageClient, plain_catalog):
    yield lsp_client
    await lsp_client.shutdown_session()


async def test_an_edited_module_is_taken_in_through_watched_files(code, workspace):
    root, module = workspace
    await _start(code, root, module, vscode_1_100())
    await _until(lambda: _async(_ready_count(code) >= 1), 300, "no catalog")
    (registration,) = [
        r
        for r in code.registrations  # type: ignore[attr-defined]
        if r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    ]
    watchers = registration.register_options["watchers"]
    patterns = [w["globPattern"]["pattern"] for w in watchers]
    assert f"{module}.py" in patterns and "pyproject.toml" in patterns
    uri = (root / "model.layercfg.json").as_uri()
    code.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="json", version=1, text=document(module)
            )
        )
    )
    puller = Puller(code, uri)
    assert "LCF102" in await _codes_until(puller, lambda codes: "LCF102" in codes)
    (root / f"{module}.py").write_text(source(offset=True))
    code.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[
                types.FileEvent(
                    uri=(root / f"{module}.py").as_uri(), type=types.FileChangeType.Changed
                )
            ]
        )
    )
    assert "LCF102" not in await _codes_until(puller, lambda codes: "LCF102" not in codes)


async def _async(value):
    return value


def _no_watching() -> types.ClientCapabilities:
    """Neovim 0.7 with pull diagnostics: no dynamic registration of watched files."""
    caps = client_capabilities("neovim@v0.7.0")
    caps.text_document.diagnostic = types.DiagnosticClientCapabilities(
        dynamic_registration=False, related_document_support=False
    )
    caps.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
    caps.workspace.did_change_watched_files = types.DidChangeWatchedFilesClientCapabilities(
        dynamic_registration=False
    )
    return caps


async def test_without_watched_files_the_server_polls_the_sources(code, workspace):
    root, module = workspace
    await _start(code, root, module, _no_watching())
    await _until(lambda: _async(_ready_count(code) >= 1), 300, "no catalog")
    assert code.registrations == []  # type: ignore[attr-defined]
    uri = (root / "model.layercfg.json").as_uri()
    code.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="json", version=1, text=document(module)
            )
        )
    )
    puller = Puller(code, uri)
    assert "LCF102" in await _codes_until(puller, lambda codes: "LCF102" in codes)
    (root / f"{module}.py").write_text(source(offset=True))
    assert "LCF102" not in await _codes_until(puller, lambda codes: "LCF102" not in codes)
