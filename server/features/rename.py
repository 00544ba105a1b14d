"""textDocument/prepareRename and textDocument/rename of layer names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from ..server import safe
from ..services import rename as renaming
from ..services.code_actions import workspace_edit
from .code_actions import action_support

if TYPE_CHECKING:
    from ..server import LayercfgServer


class RequestFailed(JsonRpcException):
    """LSP's RequestFailed: the request was valid, and refused; the message says why."""

    CODE = -32803


def register(server: LayercfgServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    @safe(None)
    def prepare_rename(
        ls: LayercfgServer, params: types.PrepareRenameParams
    ) -> types.PrepareRenamePlaceholder | None:
        document = ls.document(params.text_document.uri)
        if document is None:
            return None
        offset = document.lines.offset_at(params.position, ls.encoding)
        return renaming.prepare(document, offset, ls.encoding)

    @server.feature(types.TEXT_DOCUMENT_RENAME, types.RenameOptions(prepare_provider=True))
    def rename(ls: LayercfgServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
        outcome = _rename(ls, params)
        if isinstance(outcome, renaming.RenameRefused):
            raise RequestFailed(str(outcome))
        return outcome


@safe(None)
def _rename(ls: LayercfgServer, params: types.RenameParams) -> Any:
    document = ls.document(params.text_document.uri)
    if document is None:
        return None
    offset = document.lines.offset_at(params.position, ls.encoding)
    try:
        edits = renaming.rename_edits(document, offset, params.new_name)
    except renaming.RenameRefused as refused:
        return refused
    return workspace_edit(document, edits, ls.encoding, action_support(ls))
