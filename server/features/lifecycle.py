"""initialize / initialized / shutdown, settings changes, and watched files."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types
from lsprotocol.converters import get_converter

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from ..core import Core

log = logging.getLogger("layercfg")


class LogHandler(logging.Handler):
    """Forwards log records to the client as window/logMessage; stdout carries the protocol."""

    LEVELS = {
        logging.ERROR: types.MessageType.Error,
        logging.WARNING: types.MessageType.Warning,
        logging.INFO: types.MessageType.Info,
        logging.DEBUG: types.MessageType.Log,
    }

    def __init__(self, server: LanguageServer):
        super().__init__(logging.DEBUG)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = self.LEVELS.get(record.levelno, types.MessageType.Log)
            self.server.window_log_message(
                types.LogMessageParams(type=level, message=self.format(record))
            )
        except Exception:
            pass  # logging must never take the server down


def register(server: LanguageServer, core: Core) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        handler = LogHandler(server)
        # The client shows each message's level itself.
        handler.setFormatter(logging.Formatter("%(message)s"))
        root = logging.getLogger("layercfg")
        root.handlers = [h for h in root.handlers if not isinstance(h, LogHandler)] + [handler]
        root.setLevel(logging.INFO)
        root.propagate = False
        capabilities = get_converter().unstructure(params.capabilities)
        core.initialize(
            capabilities, params.root_uri, params.root_path, params.initialization_options
        )

    @server.feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        await core.initialized()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        await core.settings_changed(params.settings)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(params: types.DidChangeWatchedFilesParams) -> None:
        core.files_changed([change.uri for change in params.changes])

    @server.feature(types.SHUTDOWN)
    async def shutdown(params: None) -> None:
        await core.shutdown()
