"""Deep checks from the server's side: scheduling per document version, limits, and locating
the worker's findings as problems (source ``keras``) and inlay hints.

One check runs at a time (there is one worker). Only the latest version of a document is
checked: a queued older version is dropped, a check under way for a version that is no longer
current (edited, or closed) is cancelled, in the worker too, which stays up for the next one,
and a result for a version that is no longer current is never handed on. The scheduler knows
nothing of the server: it reads the current version of a document, runs a check, and hands
the result to a sink (the publisher), through the small interfaces below.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lsprotocol import types

from layercfg.codes import JsonPath
from layercfg.schema_builder.protocol import ErrorKind, Method

from . import engine
from .document import Document, Problem
from .settings import Settings
from .worker import WorkerClient, WorkerError

log = logging.getLogger("layercfg")

SOURCE = "keras"
ON_TYPE_DELAY = 0.6
# How often a running check looks whether its version is still current, besides being told
# at once by ``schedule`` and ``forget`` (an edit that schedules nothing, as with onSave).
SUPERSEDED_POLL = 0.25


_SERIALS = itertools.count(1)


@dataclass
class DeepResult:
    version: int | None
    checked: list[engine.Checked] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)
    total_params: int | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)  # as the worker sent them
    document: Document | None = None
    # Tells this result from any other.
    serial: int = field(default_factory=lambda: next(_SERIALS))

    @property
    def diagnostics(self) -> list[types.Diagnostic]:
        """The problems as LSP diagnostics (UTF-16), with Keras's own severities."""
        if self.document is None:
            return []
        return [engine.to_diagnostic(self.document, item) for item in self.checked]


def _span(document: Document, path: JsonPath, part: str) -> tuple[int, int]:
    span = document.locate(path, part)
    while span is None and path:
        path = path[:-1]
        span = document.locate((*path, "class_name"), "value") or document.locate(path, "value")
    return span or (0, min(1, len(document.text)))


def beyond_fast(deep: list[engine.Checked], fast: list[engine.Checked]) -> list[engine.Checked]:
    """The deep findings less those that restate a fast one: the same code at the same place
    with the fast message in its own (a class of a package the user did not configure, which
    neither check loads: the fast warning already says so and how to check it)."""
    said: dict[tuple[str, int, int], list[str]] = {}
    for item in fast:
        problem = item.problem
        said.setdefault((str(problem.code), problem.start, problem.end), []).append(problem.message)
    out = []
    for item in deep:
        problem = item.problem
        known = said.get((str(problem.code), problem.start, problem.end), ())
        if not any(problem.message.endswith(message) for message in known):
            out.append(item)
    return out


def to_checked(document: Document, findings: list[dict[str, Any]]) -> list[engine.Checked]:
    """The worker's findings located in the document, in the engine's form."""
    out = []
    for finding in findings:
        path = tuple(finding.get("path") or ())
        start, end = _span(document, path, finding.get("part", "value"))
        places = [p for p in finding.get("related") or () if isinstance(p, dict)]
        # Places in this document (the other inputs of a merge layer, say).
        inside = tuple(
            (*_span(document, tuple(place["path"]), str(place.get("part", "value"))), message)
            for place in places
            if not place.get("file") and isinstance(place.get("path"), list)
            for message in [str(place.get("message") or "here")]
        )
        problem = Problem(
            start,
            end,
            finding["code"],
            finding["message"],
            int(finding.get("severity", 1)),
            finding.get("data"),
            inside,
        )
        external = tuple(
            (str(place["file"]), int(place.get("line") or 1), place.get("message") or "here")
            for place in places
            if place.get("file")
        )
        out.append(engine.Checked(problem, path, SOURCE, external))
    return out


def limit_finding(message: str) -> dict[str, Any]:
    return {
        "path": ["class_name"],
        "part": "value",
        "code": "LCF304",
        "message": message,
        "severity": 1,
    }


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
    implementation: str = "keras",
) -> DeepResult:
    """One deep check of one document version, within the settings' limits, by the Keras
    of the document's flavor (``implementation``)."""
    params = {
        "implementation": implementation,
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
                Method.DEEP_CHECK.value,
                params,
                timeout=settings.deepCheckTimeout,
                memory_mb=settings.deepCheckMemoryMB,
            )
        except WorkerError as exc:
            if exc.kind in (ErrorKind.STOPPED, ErrorKind.CANCELLED) or worker.stopped:
                # The server is shutting down, or the check was cancelled: nothing to check
                # again, nothing to show.
                raise
            if exc.kind == ErrorKind.DIED and attempt == 1:
                log.warning("the Keras worker died during a deep check; checking again")
                continue
            reason = {
                ErrorKind.TIMEOUT: f"The deep check took longer than "
                f"{settings.deepCheckTimeout:g} s and was stopped "
                "(setting deepCheckTimeout).",
                ErrorKind.MEMORY: f"The deep check used more than {settings.deepCheckMemoryMB} "
                "MB and was stopped (setting deepCheckMemoryMB).",
                ErrorKind.DIED: f"The Keras worker died during the deep check: {exc}",
            }.get(exc.kind, f"The deep check failed: {exc}")  # type: ignore[call-overload]
            findings = [limit_finding(reason)]
            return DeepResult(
                document.version,
                to_checked(document, findings),
                findings=findings,
                document=document,
            )
        uncontained = answer.get("uncontained")
        if uncontained and not getattr(worker, "warned_uncontained", False):
            worker.warned_uncontained = True  # type: ignore[attr-defined]
            log.warning(
                "the Keras worker runs without some of its containment on this platform: %s",
                ", ".join(f"{k} ({v})" if v else k for k, v in uncontained.items()),
            )
        findings = answer.get("findings", [])
        return DeepResult(
            document.version,
            to_checked(document, findings),
            answer.get("layers", []),
            answer.get("total_params"),
            findings,
            document,
        )
    raise AssertionError("unreachable")


class DeepSink(Protocol):
    """Where results go: the publisher."""

    def deep_arrived(self, uri: str, result: DeepResult) -> None: ...


Current = Callable[[str], "Document | None"]
Runner = Callable[[Document], Awaitable[DeepResult]]


class DeepChecks:
    """The queue of deep checks. ``current(uri)`` is the current version of a document (None
    when closed), ``run`` checks one version, ``sink`` takes the results of current versions,
    and ``running(state)`` is told when a check starts and ends."""

    def __init__(
        self,
        current: Current,
        run: Runner,
        sink: DeepSink,
        running: Callable[[bool], None] | None = None,
    ) -> None:
        self.current = current
        self.run = run
        self.sink = sink
        self.running = running or (lambda state: None)
        self.results: dict[str, DeepResult] = {}
        self._queue: dict[str, float] = {}  # uri -> earliest start (loop time)
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        # The checks under way (the queue's and a command's): each task, and the version it
        # checks; a task is cancelled once its version is superseded.
        self._running: dict[asyncio.Future[DeepResult], Document] = {}
        self.cancelled = 0  # checks cancelled for being superseded

    def result_for(self, document: Document) -> DeepResult | None:
        result = self.results.get(document.uri)
        if result is None or result.version != document.version:
            return None
        # A version number can come back (a didOpen again, a version going backwards).
        return result if result.document in (None, document) else None

    def schedule(self, uri: str, delay: float = ON_TYPE_DELAY) -> None:
        loop = asyncio.get_running_loop()
        self._queue[uri] = loop.time() + delay
        self._wake.set()
        self._supersede()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run())

    def forget(self, uri: str) -> None:
        self._queue.pop(uri, None)
        self.results.pop(uri, None)
        self._supersede()

    def _supersede(self) -> None:
        """Cancel the checks under way whose version is no longer the current one."""
        for task, document in list(self._running.items()):
            if task.done() or self.current(document.uri) is document:
                continue
            log.info(
                "deep check of %s (version %s) cancelled: superseded",
                document.uri,
                document.version,
            )
            self.cancelled += 1
            task.cancel()

    async def check_now(self, uri: str) -> DeepResult | None:
        document = self.current(uri)
        if document is None:
            return None
        self._queue.pop(uri, None)
        return await self._check(document)

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
            document = self.current(uri)
            if document is None:
                continue
            try:
                await self._check(document)
            except Exception:
                log.exception("deep check of %s failed", uri)

    async def _check(self, document: Document) -> DeepResult | None:
        # Parsing a large document strictly takes a while: not on the event loop.
        if not await asyncio.to_thread(_checkable, document):
            return None
        if self.current(document.uri) is not document:
            return None  # changed meanwhile: the newer version is the one to check
        self.running(True)
        task = asyncio.ensure_future(self.run(document))
        self._running[task] = document
        try:
            result = await self._outcome(task)
        except WorkerError as exc:
            if exc.kind not in (ErrorKind.STOPPED, ErrorKind.CANCELLED):
                raise
            return None
        finally:
            self._running.pop(task, None)
            self.running(False)
        if result is None:  # cancelled: superseded
            return None
        # A result for a version that is no longer current is never handed on.
        if self.current(document.uri) is not document:
            return None
        self.results[document.uri] = result
        self.sink.deep_arrived(document.uri, result)
        return result

    async def _outcome(self, task: asyncio.Future[DeepResult]) -> DeepResult | None:
        """The check's result; None when it was cancelled for being superseded."""
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=SUPERSEDED_POLL)
                self._supersede()
        except asyncio.CancelledError:
            task.cancel()  # the scheduler itself is cancelled: the check goes with it
            raise
        if task.cancelled():
            return None
        return task.result()


def _checkable(document: Document) -> bool:
    return document.syntax_ok and isinstance(document.value, dict)


def inlay_hints(
    document: Document, result: DeepResult, encoding: str, visible: types.Range | None = None
) -> list[types.InlayHint]:
    hints = []
    hidden = _hidden_layers(document, visible, encoding) if visible is not None else None
    for layer in result.layers:
        path = tuple(layer.get("path") or ())
        if hidden is not None and path[:2] == ("config", "layers") and path[2:] in hidden:
            continue  # its hint, inside its envelope, is not in view either
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
        hints.append(
            types.InlayHint(
                position=position,
                label=" " + " · ".join(parts),
                kind=types.InlayHintKind.Type,
                padding_left=True,
            )
        )
    if result.total_params is not None and len(result.layers) > 1:
        span = document.locate(("class_name",), "value")
        if span is not None:
            position = document.lines.position_at(span[1], encoding)
            hints.append(
                types.InlayHint(
                    position=position,
                    label=f" {result.total_params:,} params in all",
                    kind=types.InlayHintKind.Type,
                    padding_left=True,
                )
            )
    return hints


def _hidden_layers(document: Document, visible: types.Range, encoding: str) -> set[JsonPath]:
    """The model's layers that lie wholly outside the lines of ``visible`` (each as its path
    below ``config.layers``), found in one pass: a thousand-layer model's hints are located
    only where the editor shows them."""
    path: JsonPath = ("config", "layers")
    spans = document.item_spans(path)
    if not spans:
        return set()
    lines = document.lines
    return {
        (index,)
        for index, (start, end) in enumerate(spans)
        if lines.position_at(end, encoding).line < visible.start.line
        or lines.position_at(start, encoding).line > visible.end.line
    }
