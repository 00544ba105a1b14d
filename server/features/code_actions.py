"""textDocument/codeAction and codeAction/resolve: quick fixes, fix all, canonical form.

Quick fixes are made from the problems the publisher keeps for the version (offsets, JSON
path, code, data), never guessed again from a diagnostic's range.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..capabilities import CANONICAL_FORM, CODE_ACTION_KINDS
from ..deepcheck import document_folder
from ..handlers import safe
from ..services import code_actions, convert, fixes
from ..services.code_actions import (
    CANONICAL_MODES,
    CANONICAL_TITLES,
    FIX_ALL,
    Fixer,
)
from ..services.formatting import Edit, rewrite_edits
from ..worker import WorkerError

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from ..core import Core
    from ..document import Document
    from ..publisher import Shown

log = logging.getLogger("layercfg")

CANONICAL_COMMAND = CANONICAL_FORM
FIX_ALL_TITLE = "Fix all auto-fixable problems (layercfg)"
CANONICAL_TIMEOUT = 120.0  # the first request imports Keras


class _Fixers:
    """One Fixer per catalog (a new catalog, a new Fixer)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._fixer: Fixer | None = None

    def __call__(self, document: Document | None = None) -> Fixer:
        slot = self.core.catalogs.slot(document)
        if self._fixer is None or self._fixer.catalog is not slot.catalog:
            self._fixer = Fixer(slot.catalog, slot.walker)
        return self._fixer


def register(server: LanguageServer, core: Core) -> None:
    fixers = _Fixers(core)
    session = core.session

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=list(CODE_ACTION_KINDS), resolve_provider=True),
    )
    @safe([])
    async def code_action(params: types.CodeActionParams) -> list[types.CodeAction]:
        await core.settled()
        uri = params.text_document.uri
        document = session.document(uri)
        if document is None:
            return []
        shown = await asyncio.to_thread(core.publisher.shown, document)
        if session.document(uri) is not document:
            return []  # the text changed meanwhile: the client asks again
        return await asyncio.to_thread(_actions, core, fixers(document), document, shown, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    @safe(None)
    async def code_action_resolve(action: types.CodeAction) -> Any:
        data = action.data if isinstance(action.data, dict) else {}
        document = session.document(str(data.get("uri")))
        if document is None or document.version != data.get("version"):
            log.info("code action %r: the document changed; not applied", action.title)
            return action
        if data.get("action") == "fixAll":
            text, _ = await asyncio.to_thread(
                code_actions.fix_all,
                document,
                core.catalogs.catalog_for(document),
                session.settings,
                fixers(document),
            )
            edits = rewrite_edits(document.text, text)
        elif data.get("action") == "canonical":
            canonical = await _canonical_edits(core, document, str(data.get("mode")), action.title)
            if canonical is None:
                return action
            edits = canonical
        else:
            return action
        if session.document(document.uri) is not document:
            return action
        action.edit = code_actions.workspace_edit(
            document, edits, session.encoding, session.action_support
        )
        return action

    @server.command(CANONICAL_COMMAND)
    @safe(None)
    async def canonical_form(*args: Any) -> bool:
        """For clients that cannot resolve actions: compute, then workspace/applyEdit."""
        values = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
        uri, version, mode = (list(values) + [None, None, None])[:3]
        document = session.document(str(uri))
        if document is None or document.version != version:
            _tell(core, "the document changed; run the action again")
            return False
        title = CANONICAL_TITLES.get(str(mode), "Canonical form")
        edits = await _canonical_edits(core, document, str(mode), title)
        if edits is None or session.document(document.uri) is not document:
            return False
        edit = code_actions.workspace_edit(
            document, edits, session.encoding, session.action_support
        )
        result = await server.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label=title)
        )
        return bool(result and result.applied)


def _actions(
    core: Core,
    fixer: Fixer,
    document: Document,
    shown: list[Shown],
    params: types.CodeActionParams,
) -> list[types.CodeAction]:
    session = core.session
    support = session.action_support
    encoding = session.encoding
    only = params.context.only
    current = [diagnostic for diagnostic, _ in shown]
    actions: list[types.CodeAction] = []
    if code_actions.wanted(types.CodeActionKind.QuickFix, only):
        actions += code_actions.quick_fixes(
            document, fixer, params.context.diagnostics, shown, params.range, support, encoding
        )
    if code_actions.wanted(FIX_ALL, only) and code_actions.has_safe_fix(
        document, fixer, shown, encoding
    ):
        action = types.CodeAction(title=FIX_ALL_TITLE, kind=FIX_ALL)
        if support.resolve_edits:
            action.data = {"uri": document.uri, "version": document.version, "action": "fixAll"}
        else:
            text, _ = code_actions.fix_all(
                document, core.catalogs.catalog_for(document), session.settings, fixer
            )
            action.edit = code_actions.workspace_edit(
                document, rewrite_edits(document.text, text), encoding, support
            )
        actions.append(action)
    if code_actions.wanted(convert.KIND, only):
        actions += _convert_actions(document, params.range, encoding, support)
    if core.catalogs.catalog_for(document) is not None:
        refusal = code_actions.canonical_refusal(document, current)
        for kind, mode in CANONICAL_MODES.items():
            if not code_actions.wanted(kind, only):
                continue
            title = CANONICAL_TITLES[mode]
            if refusal is not None:
                if support.disabled:
                    actions.append(
                        types.CodeAction(
                            title=title,
                            kind=kind,
                            disabled=types.CodeActionDisabled(reason=refusal),
                        )
                    )
                continue
            if support.resolve_edits:
                data = {
                    "uri": document.uri,
                    "version": document.version,
                    "action": "canonical",
                    "mode": mode,
                }
                actions.append(types.CodeAction(title=title, kind=kind, data=data))
            else:
                command = types.Command(
                    title=title,
                    command=CANONICAL_COMMAND,
                    arguments=[document.uri, document.version, mode],
                )
                actions.append(types.CodeAction(title=title, kind=kind, command=command))
    return actions


def _convert_actions(document: Document, rng: types.Range, encoding: str, support: Any):
    """hub.KerasLayer -> TFSMLayer for the layers in the range (services/convert.py)."""

    def edit_for(value: Any) -> types.WorkspaceEdit:
        edits = fixes.rewrite_whole(document, value)
        return code_actions.workspace_edit(document, edits, encoding, support)

    return convert.code_actions(
        document,
        rng,
        encoding,
        document_folder(document.uri),
        edit_for,
        disabled=bool(support.disabled),
    )


async def _canonical_edits(
    core: Core, document: Document, mode: str, title: str
) -> list[Edit] | None:
    """The edits of the canonical form, computed by Keras in the worker; None (with a message
    to the user) when it cannot be."""
    current = await asyncio.to_thread(core.publisher.diagnostics, document)
    refusal = code_actions.canonical_refusal(document, current)
    if refusal is not None:
        _tell(core, f"{title}: {refusal}")
        return None
    settings = core.session.settings
    params = {
        "value": document.value,
        "mode": mode,
        "modules": list(settings.modules),
        "trusted": settings.trustWorkspace,
        "workspace": core.session.workspace,
        "memory_mb": settings.deepCheckMemoryMB,
    }
    try:
        result = await core.worker().request(
            "canonical",
            params,
            timeout=max(CANONICAL_TIMEOUT, settings.deepCheckTimeout),
            memory_mb=settings.deepCheckMemoryMB,
        )
    except WorkerError as exc:
        _tell(core, f"{title}: {exc}")
        return None
    if core.session.document(document.uri) is not document:
        return None
    return await asyncio.to_thread(fixes.rewrite_whole, document, result["value"])


def _tell(core: Core, message: str) -> None:
    log.warning("%s", message)
    core.edge.show_message(types.MessageType.Warning, f"layercfg: {message}")
