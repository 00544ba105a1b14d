"""textDocument/codeAction and codeAction/resolve: quick fixes, fix all, canonical form."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.capabilities import get_capability

from ..server import LayercfgServer, safe
from ..services import code_actions
from ..services.code_actions import (
    CANONICAL_MODES,
    CANONICAL_TITLES,
    FIX_ALL,
    ActionSupport,
    Fixer,
)
from ..services.formatting import rewrite_edits
from ..worker import WorkerError

if TYPE_CHECKING:
    from ..document import Document

log = logging.getLogger("layercfg")

CANONICAL_COMMAND = "layercfg.canonicalForm"
FIX_ALL_TITLE = "Fix all auto-fixable problems (layercfg)"
CANONICAL_TIMEOUT = 120.0  # the first request imports Keras


def action_support(ls: LayercfgServer) -> ActionSupport:
    caps = ls.client_capabilities
    resolve = get_capability(caps, "text_document.code_action.resolve_support", None)
    return ActionSupport(
        snippet_edits=bool(
            get_capability(caps, "workspace.workspace_edit.snippet_edit_support", False)
        ),
        document_changes=bool(
            get_capability(caps, "workspace.workspace_edit.document_changes", False)
        ),
        resolve_edits=resolve is not None and "edit" in (resolve.properties or []),
        disabled=bool(get_capability(caps, "text_document.code_action.disabled_support", False)),
    )


_fixers: weakref.WeakKeyDictionary[LayercfgServer, Fixer] = weakref.WeakKeyDictionary()


def _fixer(ls: LayercfgServer) -> Fixer:
    """One Fixer per server and catalog (a new catalog, a new Fixer)."""
    fixer = _fixers.get(ls)
    if fixer is None or fixer.catalog is not ls.catalog:
        fixer = _fixers[ls] = Fixer(ls.catalog, ls.walker)
    return fixer


def register(server: LayercfgServer) -> None:
    kinds = [
        types.CodeActionKind.QuickFix,
        FIX_ALL,
        *CANONICAL_MODES,
    ]

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=kinds, resolve_provider=True),
    )
    @safe([])
    async def code_action(
        ls: LayercfgServer, params: types.CodeActionParams
    ) -> list[types.CodeAction]:
        await ls.settled()
        uri = params.text_document.uri
        document = ls.document(uri)
        if document is None:
            return []
        current = await asyncio.to_thread(ls.diagnose, document)
        if ls.document(uri) is not document:
            return []  # the text changed meanwhile: the client asks again
        return await asyncio.to_thread(_actions, ls, document, current, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    @safe(None)
    async def code_action_resolve(ls: LayercfgServer, action: types.CodeAction) -> Any:
        data = action.data if isinstance(action.data, dict) else {}
        document = ls.document(str(data.get("uri")))
        if document is None or document.version != data.get("version"):
            log.info("code action %r: the document changed; not applied", action.title)
            return action
        support = action_support(ls)
        if data.get("action") == "fixAll":
            text, _ = await asyncio.to_thread(
                code_actions.fix_all, document, ls.catalog, ls.settings, _fixer(ls)
            )
            edits = rewrite_edits(document.text, text)
        elif data.get("action") == "canonical":
            edits = await _canonical_edits(ls, document, str(data.get("mode")), action.title)
            if edits is None:
                return action
        else:
            return action
        if ls.document(document.uri) is not document:
            return action
        action.edit = code_actions.workspace_edit(document, edits, ls.encoding, support)
        return action

    # pygls reads the annotations of a command that gets arguments: LayercfgServer must be
    # importable here at run time, not only for type checkers.
    @server.command(CANONICAL_COMMAND)
    @safe(None)
    async def canonical_form(ls: LayercfgServer, *args: Any) -> bool:
        """For clients that cannot resolve actions: compute, then workspace/applyEdit."""
        values = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
        uri, version, mode = (list(values) + [None, None, None])[:3]
        document = ls.document(str(uri))
        if document is None or document.version != version:
            _tell(ls, "the document changed; run the action again")
            return False
        title = CANONICAL_TITLES.get(str(mode), "Canonical form")
        edits = await _canonical_edits(ls, document, str(mode), title)
        if edits is None or ls.document(document.uri) is not document:
            return False
        edit = code_actions.workspace_edit(document, edits, ls.encoding, action_support(ls))
        result = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label=title)
        )
        return bool(result and result.applied)


def _actions(
    ls: LayercfgServer,
    document: Document,
    current: list[types.Diagnostic],
    params: types.CodeActionParams,
) -> list[types.CodeAction]:
    support = action_support(ls)
    only = params.context.only
    fixer = _fixer(ls)
    actions: list[types.CodeAction] = []
    if code_actions.wanted(types.CodeActionKind.QuickFix, only):
        actions += code_actions.quick_fixes(
            document,
            fixer,
            params.context.diagnostics,
            current,
            params.range,
            support,
            ls.encoding,
        )
    if code_actions.wanted(FIX_ALL, only) and code_actions.has_safe_fix(
        document, fixer, current, ls.encoding
    ):
        action = types.CodeAction(title=FIX_ALL_TITLE, kind=FIX_ALL)
        if support.resolve_edits:
            action.data = {"uri": document.uri, "version": document.version, "action": "fixAll"}
        else:
            text, _ = code_actions.fix_all(document, ls.catalog, ls.settings, fixer)
            action.edit = code_actions.workspace_edit(
                document, rewrite_edits(document.text, text), ls.encoding, support
            )
        actions.append(action)
    if ls.catalog is not None:
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


async def _canonical_edits(
    ls: LayercfgServer, document: Document, mode: str, title: str
) -> list[Any] | None:
    """The edits of the canonical form, computed by Keras in the worker; None (with a message
    to the user) when it cannot be."""
    refusal = code_actions.canonical_refusal(document, ls.diagnose(document))
    if refusal is not None:
        _tell(ls, f"{title}: {refusal}")
        return None
    params = {
        "value": document.value,
        "mode": mode,
        "modules": list(ls.settings.modules),
        "trusted": ls.settings.trustWorkspace,
        "workspace": str(ls.workspace_root) if ls.workspace_root else None,
        "memory_mb": ls.settings.deepCheckMemoryMB,
    }
    try:
        result = await ls.ensure_worker().request(
            "canonical", params, timeout=max(CANONICAL_TIMEOUT, ls.settings.deepCheckTimeout),
            memory_mb=ls.settings.deepCheckMemoryMB,
        )
    except WorkerError as exc:
        _tell(ls, f"{title}: {exc}")
        return None
    if ls.document(document.uri) is not document:
        return None
    return await asyncio.to_thread(code_actions.rewrite_whole, document, result["value"])


def _tell(ls: LayercfgServer, message: str) -> None:
    log.warning("%s", message)
    ls.window_show_message(
        types.ShowMessageParams(type=types.MessageType.Warning, message=f"layercfg: {message}")
    )
