"""The one owner of what a document's diagnostics are.

Per document version it keeps the checked problems (offsets, JSON path, code, data) of the
fast checks and of the deep check, as they were found: the user's severity overrides are
applied when they are turned into LSP diagnostics, here and nowhere else, so the cache never
holds an override and removing one restores the severity. Each change of what would be
shown (a new version, a deep result, the catalog, the settings) gives the document a new pull
``result_id``. Clients that pull are told to pull again (``workspace/diagnostic/refresh``)
where they support it; the others get ``publishDiagnostics``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from lsprotocol import types

from . import engine
from .deepcheck import beyond_fast
from .document import Document
from .services.validation import Superseded, checking, checkpoint
from .session import Session

log = logging.getLogger("layercfg")

# Pushed diagnostics: an edit after a quiet moment (none in the last ``DEBOUNCE_SECONDS``) is
# checked and published at once; the edits that follow it, each within ``DEBOUNCE_SECONDS``
# of the one before, are a burst, published once: its last version, ``DEBOUNCE_SECONDS`` after
# its last edit. Typing is not published keystroke by keystroke, a lone edit does not wait.
DEBOUNCE_SECONDS = 0.15
# A document up to this many characters has its diagnostics made on the event loop, not in a
# thread: its checks take a fraction of a millisecond (a Dense layer's, 1.5 kB: 0.2 ms), less
# than the two thread switches would add to every edit's round trip.
INLINE_CHARS = 16_000
# ... within this budget: a check on the loop that runs past it (thousands of findings in a
# small text: tens of milliseconds) gives up at its next checkpoint and is done in a thread,
# as a large document's, and so are the document's next ones while they stay that slow. A
# request never waits for more than the budget behind a check, the first one included.
INLINE_SECONDS = 0.005

Shown = tuple[types.Diagnostic, engine.Checked]
Checker = Callable[[Document, engine.LayerCache], list[engine.Checked]]


class DiagnosticsEdge(Protocol):
    """What the publisher needs of the connection to the client."""

    def publish(
        self, uri: str, version: int | None, diagnostics: list[types.Diagnostic]
    ) -> None: ...

    def refresh_diagnostics(self) -> None: ...

    def refresh_inlay_hints(self) -> None: ...


class DeepFindings(Protocol):
    """A deep result as the publisher keeps it."""

    version: int | None
    checked: list[engine.Checked]


@dataclass
class _Fast:
    document: Document
    checked: list[engine.Checked]

    @property
    def version(self) -> int | None:
        return self.document.version


_EPOCHS = itertools.count(1)
# When the check in progress on the loop must give up (perf_counter), in its context only.
_inline_deadline: ContextVar[float | None] = ContextVar("layercfg_inline", default=None)


def _in_time() -> bool:
    deadline = _inline_deadline.get()
    return deadline is None or time.perf_counter() < deadline


class Publisher:
    def __init__(
        self,
        session: Session,
        edge: DiagnosticsEdge,
        checker: Checker,
        settled: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.session = session
        self.edge = edge
        self.checker = checker
        self.settled = settled
        self._fast: dict[str, _Fast] = {}
        self._deep: dict[str, DeepFindings] = {}
        self._layer_caches: dict[str, engine.LayerCache] = {}
        # One computation of a document's results at a time: a request for the same version
        # waits for it and takes its result, one for a newer version starts once the stale
        # one has given up.
        self._locks: dict[str, threading.RLock] = {}
        self._changes: dict[str, int] = {}  # uri -> changes of its deep result
        self._epoch = next(_EPOCHS)  # catalog and settings
        self._shown: dict[str, tuple[str, list[Shown], list[types.Diagnostic]]] = {}
        # uri -> what each diagnostic of the last conversion was made of (places as lines
        # and characters) -> (problem, diagnostic): a problem a version still has, at the
        # same places, keeps its diagnostic
        self._made: dict[str, dict[tuple[Any, ...], tuple[engine.Checked, Any]]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._burst_until: dict[str, float] = {}  # uri -> loop time its edits are a burst to
        self._pushed: dict[str, tuple[Any, list[Any]]] = {}  # uri -> what was last pushed
        self._cost: dict[str, float] = {}  # uri -> seconds its last diagnostics took

    # -- what is shown ------------------------------------------------------------------------
    def result_id(self, document: Document) -> str:
        """Changes whenever what ``shown`` answers for this document may change."""
        return f"{document.version}:{self._epoch}.{self._changes.get(document.uri, 0)}"

    def checked(self, document: Document) -> list[engine.Checked]:
        """The fast checks' problems of this version, computed once (call it in a thread).

        Raises ``Superseded`` when ``document`` is not, or stops being, the current version:
        a check is not started for it, and one in progress stops at the next envelope.
        """
        uri = document.uri
        fast = self._fast.get(uri)
        if fast is not None and fast.document is document:
            return fast.checked
        with self._locks.setdefault(uri, threading.RLock()):
            fast = self._fast.get(uri)
            if fast is not None and fast.document is document:
                return fast.checked
            with checking(lambda: self.session.is_current(document) and _in_time()):
                checkpoint()
                cache = self._layer_caches.setdefault(uri, engine.LayerCache())
                found = self.checker(document, cache)
            if self.session.is_current(document):
                self._fast[uri] = _Fast(document, found)
            return found

    def deep_for(self, document: Document) -> DeepFindings | None:
        result = self._deep.get(document.uri)
        if result is None or result.version != document.version:
            return None
        # A version number can come back (a didOpen again, a version going backwards).
        return result if getattr(result, "document", None) in (None, document) else None

    def shown(self, document: Document) -> list[Shown]:
        """Every diagnostic of this version with the problem it was made from, after the
        severity overrides (call it in a thread)."""
        return self._converted(document)[0]

    def diagnostics(self, document: Document) -> list[types.Diagnostic]:
        return self._converted(document)[1]

    def _converted(self, document: Document) -> tuple[list[Shown], list[types.Diagnostic]]:
        result_id = self.result_id(document)
        cached = self._shown.get(document.uri)
        if cached is not None and cached[0] == result_id:
            return cached[1], cached[2]
        with self._locks.setdefault(document.uri, threading.RLock()):
            cached = self._shown.get(document.uri)
            if cached is not None and cached[0] == result_id:
                return cached[1], cached[2]
            shown = self._convert(document)
            diagnostics = [diagnostic for diagnostic, _ in shown]
            if self.session.is_current(document) and self.result_id(document) == result_id:
                self._shown[document.uri] = (result_id, shown, diagnostics)
            return shown, diagnostics

    def _convert(self, document: Document) -> list[Shown]:
        """The LSP diagnostics, made here once per result id: the overrides are applied to
        copies of the cached problems."""
        fast = self.checked(document)
        settings = self.session.settings
        encoding = self.session.encoding
        kept = []
        for item in fast:
            severity = settings.severity_for(item.problem.code, item.problem.severity)
            if severity is not None:
                kept.append(engine.with_severity(item, severity))
        shown: list[Shown] = []
        last = self._made.get(document.uri, {})
        made = {}
        items = engine.capped(kept)
        if items:  # the line index of a large text costs a pass over it: made when used
            point = document.lines.point_at
        for index, item in enumerate(items):
            if index % 256 == 0:
                checkpoint()
            problem = item.problem
            # What the diagnostic is made of, but its data: a problem moved with the text
            # whose places are the same lines and characters has the same diagnostic.
            made_of = (
                encoding,
                problem.severity,
                problem.code,
                problem.message,
                item.path,
                item.source,
                item.external,
                point(problem.start, encoding),
                point(problem.end, encoding),
                *((point(s, encoding), point(e, encoding), m) for s, e, m in problem.related),
            )
            known = last.get(made_of)
            if known is not None and known[0].problem.data == problem.data:
                diagnostic = known[1]
            else:
                diagnostic = engine.to_diagnostic(document, item, encoding)
            made[made_of] = (item, diagnostic)
            shown.append((diagnostic, item))
        if self.session.is_current(document):
            self._made[document.uri] = made
        deep = self.deep_for(document)
        for item in beyond_fast(deep.checked, fast) if deep is not None else ():
            severity = settings.severity_for(item.problem.code, item.problem.severity)
            if severity is not None:
                item = engine.with_severity(item, severity)
                shown.append((engine.to_diagnostic(document, item, encoding), item))
        return shown

    # -- changes ------------------------------------------------------------------------------
    def deep_arrived(self, uri: str, result: DeepFindings) -> None:
        """A deep result for the current version of ``uri``: shown with the fast findings."""
        self._deep[uri] = result
        self._changes[uri] = self._changes.get(uri, 0) + 1
        self._shown.pop(uri, None)
        self._announce([uri])
        if self.session.caps.inlay_hint_refresh:
            self._safely(self.edge.refresh_inlay_hints)

    def changed(self, recheck: bool = True) -> None:
        """The catalog or the settings changed: every document's diagnostics may differ.
        ``recheck``: the fast checks' problems too (not for a severity change)."""
        self._epoch = next(_EPOCHS)
        self._shown.clear()
        self._made.clear()
        if recheck:
            self._fast.clear()
        self._announce(list(self.session.documents))

    def opened(self, uri: str) -> None:
        self.schedule(uri, 0)

    def edited(self, uri: str) -> None:
        """An edit: published at once after a quiet moment, else with the burst it is in."""
        if self.session.caps.pull_diagnostics:
            return
        now = asyncio.get_running_loop().time()
        quiet = now >= self._burst_until.get(uri, now)
        self._burst_until[uri] = now + DEBOUNCE_SECONDS
        self.schedule(uri, 0 if quiet else DEBOUNCE_SECONDS)

    def closed(self, uri: str) -> None:
        for table in (
            self._fast,
            self._made,
            self._deep,
            self._layer_caches,
            self._locks,
            self._changes,
            self._shown,
            self._cost,
            self._burst_until,
            self._pushed,
        ):
            table.pop(uri, None)  # type: ignore[attr-defined]
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        if not self.session.caps.pull_diagnostics:
            self._safely(lambda: self.edge.publish(uri, None, []))

    def _announce(self, uris: list[str]) -> None:
        caps = self.session.caps
        if caps.pull_diagnostics and caps.diagnostic_refresh:
            self._safely(self.edge.refresh_diagnostics)
            return
        for uri in uris:
            self.schedule(uri, 0, force=True)

    @staticmethod
    def _safely(send: Callable[[], None]) -> None:
        try:
            send()
        except Exception:
            log.debug("not sent to the client", exc_info=True)

    # -- pushing ------------------------------------------------------------------------------
    def schedule(self, uri: str, delay: float = DEBOUNCE_SECONDS, force: bool = False) -> None:
        """Publish the document's diagnostics after ``delay`` (a client that pulls asks for
        them itself, unless ``force``: it cannot be told to pull again)."""
        if self.session.caps.pull_diagnostics and not force:
            return
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self._timers[uri] = loop.call_later(delay, lambda: asyncio.ensure_future(self.publish(uri)))

    async def publish(self, uri: str) -> None:
        self._timers.pop(uri, None)
        if self.settled is not None:
            await self.settled()
        document = self.session.document(uri)
        if document is None:
            return
        try:
            diagnostics = await self._diagnostics_soon(document)
        except Superseded:
            return  # the newer version has its own publish scheduled
        except Exception:
            log.error("diagnostics failed for %s:\n%s", uri, traceback.format_exc())
            return
        if not self.session.is_current(document):
            return  # never for a version that is no longer current
        sent = (document.version, diagnostics)
        if self._pushed.get(uri) == sent:
            return  # two publishes of one version (an edit's, a deep result's) that agree
        self._pushed[uri] = sent
        self.edge.publish(uri, document.version, diagnostics)
        _warm_later(document)

    async def report(
        self, uri: str, previous_result_id: str | None
    ) -> types.DocumentDiagnosticReport:
        """The answer to a ``textDocument/diagnostic`` pull."""
        if self.settled is not None:
            await self.settled()
        while True:
            document = self.session.document(uri)
            if document is None:
                return types.RelatedFullDocumentDiagnosticReport(items=[])
            result_id = self.result_id(document)
            if previous_result_id == result_id:
                return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result_id)
            try:
                items = await self._diagnostics_soon(document)
            except Superseded:
                continue  # the text changed meanwhile: the answer is the newer version's
            except Exception:
                log.error("diagnostics failed:\n%s", traceback.format_exc())
                items = []
            if self.result_id(document) != result_id:
                continue  # a deep result or a setting arrived meanwhile
            _warm_later(document)
            return types.RelatedFullDocumentDiagnosticReport(items=items, result_id=result_id)

    async def _diagnostics_soon(self, document: Document) -> list[types.Diagnostic]:
        """``diagnostics``: made at once when they are known already, on the loop within
        ``INLINE_SECONDS`` when the document is small and was not slow to check last time,
        else in a thread (the loop stays free while a large or slow document is checked)."""
        cached = self._shown.get(document.uri)
        if cached is not None and cached[0] == self.result_id(document):
            return self.diagnostics(document)
        cheap = self._cost.get(document.uri, 0.0) <= INLINE_SECONDS
        if cheap and len(document.text) <= INLINE_CHARS:
            try:
                return self._inline(document)
            except Superseded:
                if not self.session.is_current(document):
                    raise
                # Over the budget: what it found is kept (the layer cache), the rest is
                # done in a thread.
        return await asyncio.to_thread(self._timed, document)

    def _inline(self, document: Document) -> list[types.Diagnostic]:
        """``diagnostics`` on the loop; ``Superseded`` at the first checkpoint past the
        budget, the document's cost then marked as over it."""
        start = time.perf_counter()
        token = _inline_deadline.set(start + INLINE_SECONDS)
        try:
            with checking(lambda: self.session.is_current(document) and _in_time()):
                diagnostics = self.diagnostics(document)
        except Superseded:
            if self.session.is_current(document):  # not a newer version: the budget
                self._cost[document.uri] = max(time.perf_counter() - start, 2 * INLINE_SECONDS)
            raise
        finally:
            _inline_deadline.reset(token)
        self._cost[document.uri] = time.perf_counter() - start
        return diagnostics

    def _timed(self, document: Document) -> list[types.Diagnostic]:
        start = time.perf_counter()
        diagnostics = self.diagnostics(document)
        self._cost[document.uri] = time.perf_counter() - start
        return diagnostics


def _warm_later(document: Document) -> None:
    """Once its first diagnostics are out, a document opened without its syntax tree gets
    one, so that the first edit, hover or completion does not wait for the parse."""
    if not document.has_tree:
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: asyncio.ensure_future(asyncio.to_thread(document.warm)))
