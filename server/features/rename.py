"""textDocument/prepareRename and textDocument/rename of layer names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from ..handlers import safe
from ..services import rename as renaming
from ..services.code_actions import workspace_edit

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from ..core import Core


class RequestFailed(JsonRpcException):
    """LSP's RequestFailed: the request was valid, and refused; the message says why."""

    CODE = -32803


def register(server: LanguageServer, core: Core) -> None:
    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    @safe(None)
    def prepare_rename(params: types.PrepareRenameParams) -> types.PrepareRenamePlaceholder | None:
        document = core.session.document(params.text_document.uri)
        if document is None:
            return None
        offset = document.lines.offset_at(params.position, core.session.encoding)
        return renaming.prepare(document, offset, core.session.encoding)

    @server.feature(types.TEXT_DOCUMENT_RENAME, types.RenameOptions(prepare_provider=True))
    def rename(params: types.RenameParams) -> types.WorkspaceEdit | None:
        outcome = _rename(core, params)
        if isinstance(outcome, renaming.RenameRefused):
            raise RequestFailed(str(outcome))
        return outcome


@safe(None)
def _rename(core: Core, params: types.RenameParams) -> Any:
    document = core.session.document(params.text_document.uri)
    if document is None:
        return None
    encoding = core.session.encoding
    offset = document.lines.offset_at(params.position, encoding)
    try:
        edits = renaming.rename_edits(document, offset, params.new_name)
    except renaming.RenameRefused as refused:
        return refused
    return workspace_edit(document, edits, encoding, core.session.action_support)
