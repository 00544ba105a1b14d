"""initialize / initialized / shutdown, settings changes, and client capabilities."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.uris import to_fs_path

from ..positions import normalize_encoding
from ..services.completion import ClientSupport

if TYPE_CHECKING:
    from ..server import LayercfgServer

log = logging.getLogger("layercfg")


def _support(params: types.InitializeParams, encoding: str) -> ClientSupport:
    """Client capabilities decide behaviour here, once."""
    caps = params.capabilities
    snippets = bool(
        get_capability(caps, "text_document.completion.completion_item.snippet_support", False)
    )
    formats = get_capability(caps, "text_document.hover.content_format", None) or []
    markdown = not formats or types.MarkupKind.Markdown in formats
    return ClientSupport(snippets=snippets, markdown=markdown, encoding=encoding)


def register(server: LayercfgServer) -> None:
    from ..server import LogHandler

    @server.feature(types.INITIALIZE)
    def initialize(ls: LayercfgServer, params: types.InitializeParams) -> None:
        handler = LogHandler(ls)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("layercfg")
        root.handlers = [h for h in root.handlers if not isinstance(h, LogHandler)] + [handler]
        root.setLevel(logging.INFO)
        root.propagate = False
        # pygls hands over an enum member; str() of it is not the encoding's name.
        encoding = normalize_encoding(ls.workspace.position_encoding)
        ls.support = _support(params, encoding)
        ls.pull_diagnostics = (
            get_capability(params.capabilities, "text_document.diagnostic", None) is not None
        )
        if params.root_uri:
            ls.workspace_root = Path(to_fs_path(params.root_uri) or ".")
        elif params.root_path:
            ls.workspace_root = Path(params.root_path)
        ls.init_options = params.initialization_options
        ls.apply_settings(params.initialization_options, None)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: LayercfgServer, params: types.InitializedParams) -> None:
        await _pull_configuration(ls)
        ls.send_status()
        ls.start_catalog()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: LayercfgServer, params: types.DidChangeConfigurationParams
    ) -> None:
        before = (ls.settings.modules, ls.settings.trustWorkspace, ls.settings.python)
        if not await _pull_configuration(ls):
            ls.apply_settings(ls.init_options, params.settings)
        if (ls.settings.modules, ls.settings.trustWorkspace, ls.settings.python) != before:
            ls.start_catalog()
        else:
            ls.revalidate_all()

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: LayercfgServer, params: None) -> None:
        await ls.shutdown_worker()


async def _pull_configuration(ls: LayercfgServer) -> bool:
    """Ask for the ``layercfg`` section when the client can answer; False when it cannot."""
    if not get_capability(ls.client_capabilities, "workspace.configuration", False):
        return False
    try:
        answer = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="layercfg")])
        )
    except Exception as exc:
        log.warning("workspace/configuration failed: %s", exc)
        return False
    ls.apply_settings(ls.init_options, answer[0] if answer else None)
    return True
