"""The server without the protocol: a session, its catalogs, the publisher of diagnostics and
the deep-check scheduler, wired together. The LSP glue (``features/``) calls into ``Core``;
``Core`` reaches the client only through ``Edge``, which ``server.py`` implements with pygls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lsprotocol import types

from . import engine, flavor
from .catalogs import FLAVORS, CatalogEdge, CatalogManager, SourceWatcher
from .deepcheck import DeepChecks, DeepResult, run_check
from .document import Document
from .publisher import DiagnosticsEdge, Publisher
from .session import Session, fs_path
from .worker import WorkerClient, WorkerPool

log = logging.getLogger("layercfg")
# Information popups of one topic (a limited outline, limited folding): at most this many
# in this many seconds; the others are logged only.
NOTICE_BURST = 3
NOTICE_SECONDS = 60.0


class Edge(DiagnosticsEdge, CatalogEdge, Protocol):
    """Everything the core sends to, or asks of, the client."""

    def notify_status(self, status: dict[str, Any]) -> None: ...

    def show_message(self, kind: int, message: str) -> None: ...

    async def configuration(self) -> Any: ...

    async def watch_files(self, globs: list[tuple[str, str]]) -> bool: ...


@dataclass
class DeepState:
    deepCheck: str = "idle"  # noqa: N815 - the status notification's field name


class Core:
    def __init__(self, edge: Edge, workers: WorkerPool | None = None) -> None:
        self.edge = edge
        self.session = Session()
        self.workers = workers or WorkerPool()
        self.workers.on_idle_exit = self.send_status  # "the worker exited, idle"
        self.catalogs = CatalogManager(self.session, edge, self.worker, self._catalog_ready)
        self.publisher = Publisher(self.session, edge, self._check, self.catalogs.settled)
        self.deep = DeepChecks(self.session.document, self._run_deep, self, self._deep_running)
        self.deep_state = DeepState()
        self.watcher = SourceWatcher(self.catalogs.source_files, self.sources_changed)
        self._notices: set[tuple[str, str]] = set()
        self._noticed: dict[str, list[float]] = {}  # topic -> when the last ones were shown
        self._watching = False

    # -- wiring -------------------------------------------------------------------------------
    def worker(self, fresh: bool = False) -> WorkerClient:
        settings = self.session.settings
        return self.workers.get(
            settings.python,
            settings.trustWorkspace,
            self.session.modules(),
            self.session.workspace,
            fresh,
        )

    def _check(self, document: Document, cache: engine.LayerCache) -> list[engine.Checked]:
        chosen = self.catalogs.flavor_of(document)
        catalog = self.catalogs.slots[chosen].catalog
        # In a tf_keras document, being Keras 2 is information (the LCF108 upgrade offer).
        return flavor.adjust(
            engine.check_raw(document, catalog, self.session.settings, cache), chosen
        )

    async def _run_deep(self, document: Document) -> DeepResult:
        implementation = FLAVORS[self.catalogs.flavor_of(document)]
        return await run_check(
            self.worker(),
            document,
            self.session.settings,
            self.session.workspace,
            implementation=implementation,
        )

    def deep_arrived(self, uri: str, result: DeepResult) -> None:
        self.publisher.deep_arrived(uri, result)

    def _deep_running(self, running: bool) -> None:
        off = self.session.settings.deepCheck == "off"
        self.deep_state.deepCheck = "running" if running else ("off" if off else "idle")
        self.send_status()

    def _catalog_ready(self) -> None:
        self.publisher.changed()

    async def settled(self, document: Document | None = None) -> None:
        await self.catalogs.settled(document)

    # -- status and messages ------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        if self.workers.worker is not None:
            worker = "running"
        else:
            worker = "idle-exited" if self.workers.idle_exited else "none"
        return {**self.catalogs.status(), "deepCheck": self.deep_state.deepCheck, "worker": worker}

    def send_status(self) -> None:
        try:
            self.edge.notify_status(self.status())
        except Exception:
            log.debug("status notification not sent", exc_info=True)

    def status_changed(self) -> None:
        self.send_status()

    def notice_once(self, uri: str, topic: str, message: str) -> None:
        """An information message about a document, said once while it is open; shown at
        most ``NOTICE_BURST`` times a minute for its topic (a client opening and closing
        documents in a loop had a popup each time), logged always."""
        if (uri, topic) in self._notices:
            return
        self._notices.add((uri, topic))
        log.info("%s", message)
        now = time.monotonic()
        shown = [t for t in self._noticed.get(topic, []) if now - t < NOTICE_SECONDS]
        if len(shown) >= NOTICE_BURST:
            return
        self._noticed[topic] = [*shown, now]
        try:
            self.edge.show_message(types.MessageType.Info, message)
        except Exception:
            log.debug("message not shown", exc_info=True)

    # -- life cycle ---------------------------------------------------------------------------
    def initialize(
        self, capabilities: Any, root_uri: str | None, root_path: str | None, init_options: Any
    ) -> None:
        started = Session.start(capabilities, root_uri, root_path, init_options)
        session = self.session
        session.caps, session.workspace_root = started.caps, started.workspace_root
        session.init_options = init_options
        # A client that answers workspace/configuration is asked next (``initialized``): the
        # settings' problems are said after that, once.
        self.apply_settings(None, tell=not session.caps.configuration)

    async def initialized(self) -> None:
        if not await self.pull_configuration() and self.session.caps.configuration:
            self.apply_settings(None)  # the problems of the initialization options
        self.send_status()
        self.catalogs.start()
        await self.watch_sources()

    def apply_settings(self, configuration: Any, tell: bool = True) -> bool:
        """Resolve the settings; True when they changed. Each problem is shown once."""
        before, problems = self.session.apply_settings(configuration, remember=tell)
        for problem in problems:
            log.warning("settings: %s", problem)
            if tell:
                self.edge.show_message(types.MessageType.Warning, f"layercfg: {problem}")
        if self.deep_state.deepCheck != "running":
            self.deep_state.deepCheck = (
                "off" if self.session.settings.deepCheck == "off" else "idle"
            )
        minutes = self.session.settings.workerIdleMinutes
        self.workers.idle_seconds = minutes * 60 if minutes > 0 else None
        return before != self.session.settings

    async def pull_configuration(self) -> bool:
        """Ask for the ``layercfg`` section when the client can answer; False if it cannot."""
        if not self.session.caps.configuration:
            return False
        try:
            answer = await self.edge.configuration()
        except Exception as exc:
            log.warning("workspace/configuration failed: %s", exc)
            return False
        self.apply_settings(answer)
        return True

    async def settings_changed(self, pushed: Any) -> None:
        """workspace/didChangeConfiguration (``pushed``: the settings it carried)."""
        settings = self.session.settings
        before = (settings.modules, settings.trustWorkspace, settings.python, settings)
        if not await self.pull_configuration():
            self.apply_settings(pushed)
        self._after_settings(before)

    def _after_settings(self, before: tuple[Any, ...]) -> None:
        settings = self.session.settings
        if (settings.modules, settings.trustWorkspace, settings.python) != before[:3]:
            self.catalogs.start()
            if self._watching:
                asyncio.ensure_future(self.watch_sources())  # the patterns name the modules
            else:
                self.watcher.snapshot()
            return
        old = before[3]
        if old == settings:
            return  # nothing that is shown depends on what changed
        only_severity = old != settings and {
            k: v for k, v in vars(old).items() if k != "severity"
        } == {k: v for k, v in vars(settings).items() if k != "severity"}
        self.publisher.changed(recheck=not only_severity)

    async def watch_sources(self) -> None:
        """Have the custom modules' sources and pyproject.toml watched: by the client where
        it can register watchers for the server, else by polling."""
        if self.session.caps.watched_files_dynamic and self.session.workspace:
            try:
                if await self.edge.watch_files(self.catalogs.source_globs()):
                    self._watching = True
                    return
            except Exception as exc:
                log.warning("watching files through the client failed: %s", exc)
        self.watcher.start()

    def files_changed(self, uris: list[str]) -> None:
        """workspace/didChangeWatchedFiles."""
        paths = [Path(p) for p in (fs_path(uri) for uri in uris) if p]
        if paths:
            self.sources_changed(paths)

    def sources_changed(self, paths: list[Path]) -> None:
        """The custom modules' sources or pyproject.toml changed: the settings are read
        again, and the catalog is rebuilt in a new worker (the old one's imports stay);
        the open documents are checked again when it is ready."""
        log.info("changed: %s", ", ".join(p.name for p in paths))
        settings = self.session.settings
        before = (settings.modules, settings.trustWorkspace, settings.python, settings)
        if any(p.name == "pyproject.toml" for p in paths):
            self.apply_settings(self._last_configuration())
            settings = self.session.settings
            if (settings.modules, settings.trustWorkspace, settings.python) != before[:3]:
                self._after_settings(before)
                return
        if any(p.suffix == ".py" for p in paths) and self.session.modules():
            self.workers.retire()
            self.catalogs.start(fresh=True)
        else:
            self._after_settings(before)
        self.watcher.snapshot()

    def _last_configuration(self) -> Any:
        return self.session.last_configuration

    # -- documents ----------------------------------------------------------------------------
    def open(self, uri: str, text: str, version: int | None) -> None:
        self.session.documents[uri] = Document.parse(uri, text, version)
        self.publisher.opened(uri)
        self.schedule_deep(uri, "open")

    def change(self, uri: str, changes: list[Any], version: int | None) -> None:
        document = self.session.documents.get(uri)
        if document is None:
            return  # a change for a document never opened: nothing to apply it to
        self.session.documents[uri] = document.apply_changes(
            changes, version, self.session.encoding
        )
        self.publisher.edited(uri)
        self.schedule_deep(uri, "change")

    def close(self, uri: str) -> None:
        self.session.documents.pop(uri, None)
        self._notices = {notice for notice in self._notices if notice[0] != uri}
        self.deep.forget(uri)
        self.publisher.closed(uri)

    def schedule_deep(self, uri: str, trigger: str) -> None:
        """Start a deep check when the ``deepCheck`` setting asks for one on this trigger."""
        mode = self.session.settings.deepCheck
        if (mode == "onType" and trigger in ("open", "change")) or (
            mode == "onSave" and trigger == "save"
        ):
            self.deep.schedule(uri, 0.6 if trigger == "change" else 0.1)

    async def shutdown(self) -> None:
        self.watcher.stop()
        await self.workers.stop()
