"""Deep checks from the server's side: scheduling per document version, limits, and turning the
worker's findings into located diagnostics (source ``keras``) and inlay hints.

One check runs at a time (there is one worker). Only the latest version of a document is
checked: a queued older version is dropped, and a result for a version that is no longer
current is never published.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from . import engine
from .document import Document, Problem
from .settings import Settings
from .worker import WorkerClient, WorkerError

if TYPE_CHECKING:
    from .server import LayercfgServer

log = logging.getLogger("layercfg")

SOURCE = "keras"
ON_TYPE_DELAY = 0.6
JsonPath = tuple[str | int, ...]


_SERIALS = itertools.count(1)


@dataclass
class DeepResult:
    version: int | None
    diagnostics: list[types.Diagnostic] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)
    total_params: int | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)  # as the worker sent them
    # Tells this result from any other, for the pull diagnostics' result id.
    serial: int = field(default_factory=lambda: next(_SERIALS))


def _span(document: Document, path: JsonPath, part: str) -> tuple[int, int]:
    span = document.locate(path, part)
    while span is None and path:
        path = path[:-1]
        span = document.locate((*path, "class_name"), "value") or document.locate(path, "value")
    return span or (0, min(1, len(document.text)))


def to_diagnostics(document: Document, findings: list[dict[str, Any]], encoding: str):
    out = []
    for finding in findings:
        path = tuple(finding.get("path") or ())
        start, end = _span(document, path, finding.get("part", "value"))
        related = []
        for place in finding.get("related") or []:
            if not place.get("file"):
                continue
            line = max(int(place.get("line") or 1) - 1, 0)
            position = types.Position(line=line, character=0)
            related.append(types.DiagnosticRelatedInformation(
                location=types.Location(uri=Path(place["file"]).as_uri(),
                                        range=types.Range(start=position, end=position)),
                message=place.get("message") or "here"))
        out.append(types.Diagnostic(
            range=document.lines.range_of(start, end, encoding),
            message=finding["message"],
            severity=types.DiagnosticSeverity(int(finding.get("severity", 1))),
            code=finding["code"],
            source=SOURCE,
            data=finding.get("data"),
            related_information=related or None,
        ))
    return out


def to_checked(document: Document, findings: list[dict[str, Any]]) -> list[engine.Checked]:
    """Deep findings in the engine's form, for ``layercfg check --deep``."""
    out = []
    for finding in findings:
        path = tuple(finding.get("path") or ())
        start, end = _span(document, path, finding.get("part", "value"))
        problem = Problem(start, end, finding["code"], finding["message"],
                          int(finding.get("severity", 1)), finding.get("data"))
        out.append(engine.Checked(problem, path, SOURCE))
    return out


def limit_diagnostic(document: Document, message: str, encoding: str) -> types.Diagnostic:
    start, end = _span(document, ("class_name",), "value")
    return types.Diagnostic(
        range=document.lines.range_of(start, end, encoding),
        message=message,
        severity=types.DiagnosticSeverity.Error,
        code="LCF304",
        source=SOURCE,
    )


def document_folder(uri: str) -> str | None:
    """The folder of a ``file:`` document: relative handles and filepaths in it resolve
    against it, as they do for the program that loads it from there."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return str(Path(unquote(parsed.path)).parent)


async def run_check(
    worker: WorkerClient,
    document: Document,
    settings: Settings,
    workspace: str | None,
    encoding: str = "utf-16",
) -> DeepResult:
    """One deep check of one document version, within the settings' limits."""
    params = {
        "value": document.value,
        "modules": list(settings.modules),
        "trusted": settings.trustWorkspace,
        "workspace": workspace,
        "memory_mb": settings.deepCheckMemoryMB,
        "base": document_folder(document.uri),
    }
    for attempt in (1, 2):
        try:
            answer = await worker.request(
                "deep_check", params, timeout=settings.deepCheckTimeout,
                memory_mb=settings.deepCheckMemoryMB)
        except WorkerError as exc:
            if exc.kind == "stopped" or worker.stopped:
                raise  # the server is shutting down: nothing to check again, nothing to show
            if exc.kind == "died" and attempt == 1:
                log.warning("the Keras worker died during a deep check; checking again")
                continue
            reason = {
                "timeout": f"The deep check took longer than {settings.deepCheckTimeout:g} s "
                           "and was stopped (setting deepCheckTimeout).",
                "memory": f"The deep check used more than {settings.deepCheckMemoryMB} MB and "
                          "was stopped (setting deepCheckMemoryMB).",
                "died": f"The Keras worker died during the deep check: {exc}",
            }.get(exc.kind, f"The deep check failed: {exc}")
            limit = {"path": ["class_name"], "part": "value", "code": "LCF304",
                     "message": reason, "severity": 1}
            return DeepResult(document.version, [limit_diagnostic(document, reason, encoding)],
                              findings=[limit])
        uncontained = answer.get("uncontained")
        if uncontained and not getattr(worker, "warned_uncontained", False):
            worker.warned_uncontained = True
            log.warning("the Keras worker runs without some of its containment on this "
                        "platform: %s", ", ".join(f"{k} ({v})" if v else k
                                                   for k, v in uncontained.items()))
        return DeepResult(
            document.version,
            to_diagnostics(document, answer.get("findings", []), encoding),
            answer.get("layers", []),
            answer.get("total_params"),
            answer.get("findings", []),
        )
    raise AssertionError("unreachable")


class DeepChecks:
    """The server's queue of deep checks."""

    def __init__(self, server: LayercfgServer):
        self.server = server
        self.results: dict[str, DeepResult] = {}
        self._queue: dict[str, float] = {}  # uri -> earliest start (loop time)
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._running_uri: str | None = None

    def result_for(self, document: Document) -> DeepResult | None:
        result = self.results.get(document.uri)
        return result if result is not None and result.version == document.version else None

    def schedule(self, uri: str, delay: float = ON_TYPE_DELAY) -> None:
        loop = asyncio.get_running_loop()
        self._queue[uri] = loop.time() + delay
        self._wake.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run())

    def forget(self, uri: str) -> None:
        self._queue.pop(uri, None)
        self.results.pop(uri, None)

    async def check_now(self, uri: str) -> DeepResult | None:
        document = self.server.documents.get(uri)
        if document is None:
            return None
        self._queue.pop(uri, None)
        result = await self._check(document)
        return result

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            uri, start = min(self._queue.items(), key=lambda item: item[1])
            wait = start - loop.time()
            if wait > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except asyncio.TimeoutError:
                    pass
                continue  # the queue may have changed meanwhile
            del self._queue[uri]
            document = self.server.documents.get(uri)
            if document is None:
                continue
            try:
                await self._check(document)
            except Exception:
                log.exception("deep check of %s failed", uri)

    async def _check(self, document: Document) -> DeepResult | None:
        server = self.server
        # Parsing a large document strictly takes a while: not on the event loop.
        if not await asyncio.to_thread(_checkable, document):
            return None
        if server.documents.get(document.uri) is not document:
            return None  # changed meanwhile: the newer version is the one to check
        server.status.deepCheck = "running"
        server.send_status()
        self._running_uri = document.uri
        try:
            result = await run_check(
                server.ensure_worker(), document, server.settings,
                str(server.workspace_root) if server.workspace_root else None,
                server.encoding)
        except WorkerError as exc:
            if exc.kind != "stopped":
                raise
            return None
        finally:
            self._running_uri = None
            server.status.deepCheck = "idle" if server.settings.deepCheck != "off" else "off"
            server.send_status()
        # A result for a version that is no longer current is never published.
        if server.documents.get(document.uri) is not document:
            return None
        self.results[document.uri] = result
        server.deep_result_arrived(document.uri)
        return result


def _checkable(document: Document) -> bool:
    return document.syntax_ok and isinstance(document.value, dict)


def inlay_hints(
    document: Document, result: DeepResult, encoding: str, visible: types.Range | None = None
) -> list[types.InlayHint]:
    hints = []
    for layer in result.layers:
        path = tuple(layer.get("path") or ())
        span = document.locate((*path, "class_name"), "value")
        if span is None:
            continue
        position = document.lines.position_at(span[1], encoding)
        if visible is not None and not (visible.start.line <= position.line <= visible.end.line):
            continue
        parts = []
        if layer.get("output_shape"):
            parts.append(f"→ {layer['output_shape']}")
        parts.append(f"{layer.get('params', 0):,} params")
        hints.append(types.InlayHint(position=position, label=" " + " · ".join(parts),
                                     kind=types.InlayHintKind.Type, padding_left=True))
    if result.total_params is not None and len(result.layers) > 1:
        span = document.locate(("class_name",), "value")
        if span is not None:
            position = document.lines.position_at(span[1], encoding)
            hints.append(types.InlayHint(position=position,
                                         label=f" {result.total_params:,} params in all",
                                         kind=types.InlayHintKind.Type, padding_left=True))
    return hints
