"""What the server offers and what the client can do, in one place, without pygls.

The server's side (trigger characters, code action kinds, commands, the diagnostic provider)
is declared here and registered through pygls's public ``feature``/``command`` decorators, so
``initialize_result`` (the answer those registrations make pygls send) cannot drift from them;
a test compares the two for many clients. The client's side is read once, at ``initialize``,
into ``ClientCaps``: every "does the client support ..." question is answered by its fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from layercfg import __version__

SERVER_NAME = "layercfg"
DIAGNOSTIC_IDENTIFIER = "layercfg"
TRIGGER_CHARACTERS = ('"', ":", "{", ",", "[")
QUICK_FIX = "quickfix"
FIX_ALL = "source.fixAll.layercfg"
FILL_DEFAULTS = "source.layercfg.fillDefaults"
REMOVE_DEFAULTS = "source.layercfg.removeDefaults"
CONVERT_TO_TFSM = "refactor.rewrite.layercfg.tfsm"  # hub.KerasLayer -> TFSMLayer (convert.py)
CODE_ACTION_KINDS = (QUICK_FIX, FIX_ALL, FILL_DEFAULTS, REMOVE_DEFAULTS, CONVERT_TO_TFSM)

REBUILD_CATALOG = "layercfg.rebuildCatalog"
SHOW_SCHEMA = "layercfg.showSchema"
DEEP_CHECK = "layercfg.deepCheck"
CANONICAL_FORM = "layercfg.canonicalForm"
COMMANDS = (REBUILD_CATALOG, SHOW_SCHEMA, DEEP_CHECK, CANONICAL_FORM)

STATUS_NOTIFICATION = "layercfg/status"
WATCHED_FILES_REGISTRATION = "layercfg-watched-files"
ENCODINGS = ("utf-8", "utf-16", "utf-32")


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def position_encoding(capabilities: dict[str, Any]) -> str:
    """The client's first supported choice, else UTF-16 (what pygls negotiates)."""
    offered = _get(capabilities, "general", "positionEncodings")
    if isinstance(offered, list):
        for name in offered:
            if name in ENCODINGS:
                return name
    return "utf-16"


@dataclass(frozen=True)
class ClientCaps:
    """The client's capabilities, as the server uses them. Made once, at ``initialize``."""

    encoding: str = "utf-16"
    pull_diagnostics: bool = False
    diagnostic_refresh: bool = False
    inlay_hint_refresh: bool = False
    configuration: bool = False
    watched_files_dynamic: bool = False
    watched_files_relative: bool = False
    work_done_progress: bool = False
    show_message: bool = True
    # completion and hover
    snippets: bool = False
    markdown: bool = True
    # code actions and edits
    snippet_edits: bool = False
    document_changes: bool = False
    resolve_edits: bool = False
    disabled_actions: bool = False
    prepare_rename: bool = False
    folding_range_limit: int | None = None

    @classmethod
    def from_json(cls, capabilities: Any) -> ClientCaps:
        """From the ``capabilities`` of ``InitializeParams``, as JSON (camelCase keys)."""
        caps = capabilities if isinstance(capabilities, dict) else {}
        text = _get(caps, "textDocument") or {}
        workspace = _get(caps, "workspace") or {}
        formats = _get(text, "hover", "contentFormat") or []
        resolve = _get(text, "codeAction", "resolveSupport", "properties") or []
        limit = _get(text, "foldingRange", "rangeLimit")
        return cls(
            encoding=position_encoding(caps),
            pull_diagnostics=isinstance(_get(text, "diagnostic"), dict),
            diagnostic_refresh=_get(workspace, "diagnostics", "refreshSupport") is True,
            inlay_hint_refresh=_get(workspace, "inlayHint", "refreshSupport") is True,
            configuration=_get(workspace, "configuration") is True,
            watched_files_dynamic=_get(workspace, "didChangeWatchedFiles", "dynamicRegistration")
            is True,
            watched_files_relative=_get(
                workspace, "didChangeWatchedFiles", "relativePatternSupport"
            )
            is True,
            work_done_progress=_get(caps, "window", "workDoneProgress") is True,
            snippets=_get(text, "completion", "completionItem", "snippetSupport") is True,
            markdown=not formats or "markdown" in formats,
            snippet_edits=_get(workspace, "workspaceEdit", "snippetEditSupport") is True,
            document_changes=_get(workspace, "workspaceEdit", "documentChanges") is True,
            resolve_edits=isinstance(resolve, list) and "edit" in resolve,
            disabled_actions=_get(text, "codeAction", "disabledSupport") is True,
            prepare_rename=_get(text, "rename", "prepareSupport") is True,
            folding_range_limit=limit if isinstance(limit, int) and limit > 0 else None,
        )


def initialize_result(params: dict[str, Any]) -> dict[str, Any]:
    """The ``InitializeResult`` the server sends for these ``initialize`` parameters (JSON),
    as pygls builds it from the features registered with the constants above."""
    capabilities = params.get("capabilities") or {}
    prepare = _get(capabilities, "textDocument", "rename", "prepareSupport")
    sync: dict[str, Any] = {"openClose": True, "change": 2}
    # The server has no willSave handlers; pygls says so only to a client that asked.
    for key in ("willSave", "willSaveWaitUntil"):
        if _get(capabilities, "textDocument", "synchronization", key) is not None:
            sync[key] = False
    sync["save"] = True
    return {
        "capabilities": {
            "positionEncoding": position_encoding(capabilities),
            "textDocumentSync": sync,
            "completionProvider": {"triggerCharacters": list(TRIGGER_CHARACTERS)},
            "hoverProvider": True,
            "definitionProvider": True,
            "referencesProvider": True,
            "documentSymbolProvider": True,
            "codeActionProvider": {
                "codeActionKinds": list(CODE_ACTION_KINDS),
                "resolveProvider": True,
            },
            "documentFormattingProvider": True,
            "documentRangeFormattingProvider": True,
            "renameProvider": {"prepareProvider": True} if prepare else True,
            "foldingRangeProvider": True,
            "executeCommandProvider": {"commands": list(COMMANDS)},
            "inlayHintProvider": {"resolveProvider": False},
            "diagnosticProvider": {
                "interFileDependencies": False,
                "workspaceDiagnostics": False,
                "identifier": DIAGNOSTIC_IDENTIFIER,
            },
            "workspace": {
                "workspaceFolders": {"supported": True, "changeNotifications": True},
                "fileOperations": {},
            },
        },
        "serverInfo": {"name": SERVER_NAME, "version": __version__},
    }
