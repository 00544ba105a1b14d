"""``.keras`` archives as read-only ``layercfg:`` documents, and ``config.json`` detection.

- ``layercfg/archiveContent`` ``{"uri"}``: the pretty-printed ``config.json`` of an archive,
  for a ``layercfg:`` URI or the archive's own ``file:`` URI:
  ``{"uri", "text", "readOnly", "archive", "member", "kerasVersion", "notes"}``. An editor
  shows ``text`` under ``uri`` (VS Code: a TextDocumentContentProvider) and opens it as a
  document: diagnostics, hover, outline and the rest then work as on any file.
- ``workspace/textDocumentContent`` (LSP 3.18) answers the same text for clients that ask.
- ``layercfg/detect`` ``{"uri"}``: whether a ``config.json`` is Keras's, with the reason
  (``{"kind", "keras", "reason"}``), so that an editor can offer to check it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from .. import archives, detect

log = logging.getLogger("layercfg")

ARCHIVE_CONTENT = "layercfg/archiveContent"
DETECT = "layercfg/detect"
MAX_BYTES = archives.DEFAULT_MAX_BYTES


def _uri_of(params: Any) -> str | None:
    if isinstance(params, dict):
        uri = params.get("uri")
    else:
        uri = getattr(params, "uri", None)
    return uri if isinstance(uri, str) else None


def archive_content(uri: str) -> dict[str, Any] | None:
    """The answer of ``layercfg/archiveContent`` (None: not an archive's URI); raises
    ``ArchiveError`` for an archive that is not read."""
    target = archives.parse_view_uri(uri)
    path = target[0] if target else archives.archive_of_uri(uri)
    if path is None:
        return None
    archive = archives.read(path, MAX_BYTES)
    notes = []
    if archives.saved_by_keras2(archive):
        from .. import document as document_module

        value = document_module.Document.parse(uri, archive.view).value
        finding = archives.dialect_finding(archive, value)
        if finding is not None:
            notes.append(finding.message)
    return {
        "uri": archives.view_uri(path, archive.member),
        "text": archive.view,
        "readOnly": True,
        "archive": path,
        "member": archive.member,
        "kerasVersion": archive.keras_version,
        "notes": notes,
    }


def detect_uri(uri: str) -> dict[str, Any] | None:
    from pygls.uris import to_fs_path

    if not uri.startswith("file:"):
        return None
    path = to_fs_path(uri)
    if not path:
        return None
    value = detect.read_json(path, MAX_BYTES)
    found = detect.classify_file(path, value)
    return {"kind": found.kind, "keras": found.keras, "reason": found.reason}


def register(server: Any, core: Any = None) -> None:
    @server.feature(ARCHIVE_CONTENT)
    async def layercfg_archive_content(params: Any) -> Any:
        uri = _uri_of(params)
        if uri is None:
            return None
        try:
            return await asyncio.to_thread(archive_content, uri)
        except archives.ArchiveError as exc:
            log.warning("%s", exc)
            return {"error": str(exc)}
        except Exception:
            log.exception("archiveContent failed for %s", uri)
            return None

    @server.feature(DETECT)
    async def layercfg_detect(params: Any) -> Any:
        uri = _uri_of(params)
        if uri is None:
            return None
        try:
            return await asyncio.to_thread(detect_uri, uri)
        except Exception:
            log.exception("detect failed for %s", uri)
            return None

    @server.feature(types.WORKSPACE_TEXT_DOCUMENT_CONTENT)
    async def workspace_text_document_content(
        params: types.TextDocumentContentParams,
    ) -> types.TextDocumentContentResult | None:
        try:
            answer = await asyncio.to_thread(archive_content, params.uri)
        except Exception:
            log.exception("textDocumentContent failed for %s", params.uri)
            return None
        return None if answer is None else types.TextDocumentContentResult(text=answer["text"])
