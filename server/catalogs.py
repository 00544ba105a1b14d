"""The catalogs a session uses, and their life cycle: load from the cache, build in the Keras
worker, store, and know which files they were built from (so that an edit of a custom
module's source is noticed).

One ``CatalogSlot`` per flavor (``keras`` today; a ``tf_keras`` slot is one more entry in
``FLAVORS``, and ``flavor_of`` picks a document's). A catalog is stored under its cache key only
when every class in it came from the sources that key hashed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from layercfg.schema_builder import cachekey
from layercfg.schema_builder.protocol import CatalogResult, ErrorKind, Method

from .catalog import Catalog
from .catalog import store as store_catalog
from .document import Document
from .services.completion import Completer
from .services.hover import Hoverer
from .services.schema_match import Matcher
from .session import Session
from .worker import WorkerClient, WorkerError

log = logging.getLogger("layercfg")

# flavor -> the implementation its catalog is built with; tf_keras where the hub extra is
# installed (found without importing it), its catalog built when a document first needs it.
FLAVORS = {"keras": "keras", "tf_keras": "tf_keras"}
DEFAULT_FLAVOR = "keras"
_FLAVOR_MEMO = 256  # documents whose flavor is remembered, by (uri, version)


def hub_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(n) is not None for n in ("tf_keras", "tensorflow_hub"))


BUILD_TIMEOUT = 600


class Progress(Protocol):
    def report(self, message: str, percentage: int) -> None: ...

    def end(self, message: str) -> None: ...


class CatalogEdge(Protocol):
    """What the manager needs of the client connection."""

    def status_changed(self) -> None: ...

    async def begin_progress(self, title: str) -> Progress | None: ...

    def show_error(self, message: str) -> None: ...


@dataclass
class CatalogSlot:
    """One flavor's catalog and the services built on it."""

    flavor: str
    implementation: str
    catalog: Catalog | None = None
    walker: Matcher | None = None
    completer: Completer | None = None
    hoverer: Hoverer | None = None
    state: str = "missing"  # missing | building | ready | failed
    message: str | None = None
    task: asyncio.Task[None] | None = None
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    def use(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.walker = Matcher(catalog)
        self.completer = Completer(catalog, self.walker)
        self.hoverer = Hoverer(catalog, self.walker)
        self.state, self.message = "ready", None


class CatalogManager:
    def __init__(
        self,
        session: Session,
        edge: CatalogEdge,
        worker: Callable[[bool], WorkerClient],
        ready: Callable[[], None],
    ) -> None:
        """``worker(fresh)`` gives the worker for the session's settings (a new one when
        ``fresh``); ``ready()`` is called when a catalog was taken into use."""
        self.session = session
        self.edge = edge
        self.worker = worker
        self.ready = ready
        names = FLAVORS if hub_installed() else {DEFAULT_FLAVOR: FLAVORS[DEFAULT_FLAVOR]}
        self.slots = {name: CatalogSlot(name, impl) for name, impl in names.items()}
        self._reported_failure = False
        self._flavors: dict[tuple[str, int | None], str] = {}
        self._detected: dict[str, Any] = {}  # uri -> flavor.DetectMemo of its last version
        self._wanted = {DEFAULT_FLAVOR}  # the flavors whose catalog is loaded
        self._options: tuple[bool, bool] = (False, False)  # of the last start()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lookups ------------------------------------------------------------------------------
    def flavor_of(self, document: Document | None) -> str:
        """The document's flavor: the ``flavor`` setting when it names one, else detected (a
        Keras 2 document is tf_keras); tf_keras only where its catalog can be had. A flavor
        first seen here has its catalog loaded (any thread may ask)."""
        if document is None:
            return DEFAULT_FLAVOR
        from . import flavor

        key = (document.uri, document.version)
        chosen = self._flavors.get(key)
        if chosen is None:
            memo = self._detected.get(document.uri)
            if memo is None:
                memo = self._detected[document.uri] = flavor.DetectMemo()
            chosen = flavor.choose(
                self.session.settings.flavor, document.value, "tf_keras" in self.slots, memo
            )
            if len(self._flavors) >= _FLAVOR_MEMO:
                self._flavors.clear()
                self._detected.clear()
            self._flavors[key] = chosen
        if chosen not in self._wanted and self._loop is not None:
            self._wanted.add(chosen)
            self._loop.call_soon_threadsafe(self._start_slot, self.slots[chosen])
        return chosen

    def slot(self, document: Document | None = None) -> CatalogSlot:
        return self.slots[self.flavor_of(document)]

    def catalog_for(self, document: Document | None = None) -> Catalog | None:
        return self.slot(document).catalog

    @property
    def main(self) -> CatalogSlot:
        return self.slots[DEFAULT_FLAVOR]

    async def settled(self, document: Document | None = None, timeout: float = 5) -> None:
        """Wait (up to ``timeout``) until the cached catalog was loaded or found missing: the
        first diagnostics wait for that (tens of milliseconds), not for a build."""
        try:
            await asyncio.wait_for(self.slot(document).settled.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    # -- the key and the files it hashes ------------------------------------------------------
    def search_path(self) -> list[str]:
        return cachekey.search_path(self.session.modules(), self.session.workspace)

    def key(self, implementation: str) -> cachekey.CacheKey:
        return cachekey.compute(self.session.modules(), implementation, self.search_path())

    def own_interpreter(self) -> bool:
        return self.session.settings.python in (None, sys.executable)

    def source_files(self) -> list[Path]:
        """The files the catalogs depend on: the configured modules' sources (trusted
        workspace only) and the workspace's pyproject.toml."""
        files = [
            Path(p)
            for names in cachekey.hashed_sources(
                self.session.modules(), self.search_path()
            ).values()
            for p in names
        ]
        if self.session.workspace_root is not None:
            files.append(self.session.workspace_root / "pyproject.toml")
        return files

    def source_globs(self) -> list[tuple[str, str]]:
        """(base folder, pattern) of the files to watch, for a client that watches them."""
        root = self.session.workspace
        if root is None:
            return []
        patterns = ["pyproject.toml"]
        for name in self.session.modules():
            top = name.split(".")[0]
            for prefix in ("", "src/"):
                patterns += [f"{prefix}{top}/**/*.py", f"{prefix}{top}.py"]
        return [(root, pattern) for pattern in dict.fromkeys(patterns)]

    def cached_path(self, slot: CatalogSlot) -> Path | None:
        """The cache file for the current key, when the worker would use this interpreter."""
        if not self.own_interpreter():
            return None
        path = cachekey.cache_dir() / self.key(slot.implementation).filename
        return path if path.is_file() else None

    def storable(self, slot: CatalogSlot, result: CatalogResult) -> bool:
        """Whether a catalog the worker built may be stored under the name it gives: the name
        is this server's key for it (a worker must not store its catalog as another key's),
        and every class came from the sources that key hashed (not an older import, nor a
        module shadowed by another file, nor sources edited during the build)."""
        filename = str(result.get("filename"))
        if result.get("cached") or not result.get("cacheable"):
            return False
        imported = result.get("imported") or {}
        if not self.own_interpreter():
            # Only the part of the key this server can compute, the modules' hash, is checked.
            key = self.key(slot.implementation)
            hashed = {f for names in (result.get("hashed") or {}).values() for f in names}
            return filename.endswith(f"-{key.modules_hash[:16]}-b{key.builder[:8]}.json") and all(
                f in hashed for f in imported.values()
            )
        if filename != self.key(slot.implementation).filename:
            return False
        hashed = {
            p
            for names in cachekey.hashed_sources(
                self.session.modules(), self.search_path()
            ).values()
            for p in names
        }
        return all(file is not None and file in hashed for file in imported.values())

    # -- life cycle ---------------------------------------------------------------------------
    def start(self, rebuild: bool = False, fresh: bool = False) -> None:
        """(Re)load every flavor's catalog: from the cache when it holds one for the current
        key (unless ``rebuild``), else built by a worker (a new one if ``fresh``). Only the
        flavors documents have needed so far; the others wait for their first document."""
        self._loop = asyncio.get_running_loop()
        self._options = (rebuild, fresh)
        self._flavors.clear()  # the setting may have changed
        for slot in self.slots.values():
            if slot.flavor in self._wanted:
                self._start_slot(slot)

    def _start_slot(self, slot: CatalogSlot) -> None:
        if slot.task is not None and not slot.task.done():
            slot.task.cancel()
        slot.task = asyncio.ensure_future(self._load(slot, *self._options))

    async def _load(self, slot: CatalogSlot, rebuild: bool, fresh: bool) -> None:
        path = None if rebuild else self.cached_path(slot)
        if path is not None:
            try:
                catalog = await asyncio.to_thread(Catalog.load, path)
            except (OSError, ValueError) as exc:
                log.warning("cached catalog unreadable (%s); rebuilding", exc)
            else:
                self._use(slot, catalog)
                slot.settled.set()
                return
        slot.settled.set()
        if rebuild and self.own_interpreter():
            # A rebuild reads Keras's own classes again: the worker finds no part to reuse.
            part = cachekey.cache_dir() / self.key(slot.implementation).part_filename
            try:
                await asyncio.to_thread(part.unlink, True)
            except OSError as exc:
                log.warning("the cached part of the catalog could not be removed (%s)", exc)
        slot.state = "building"
        self.edge.status_changed()
        progress = await self.edge.begin_progress("Building the Keras catalog")
        settings = self.session.settings
        try:
            worker = self.worker(rebuild or fresh)
            params = {
                "modules": list(settings.modules),
                "trusted": settings.trustWorkspace,
                "workspace": self.session.workspace,
                "rebuild": rebuild,
                "implementation": slot.implementation,
            }
            result: CatalogResult = await worker.request(
                Method.CATALOG.value,
                params,
                timeout=BUILD_TIMEOUT,
                progress=progress.report if progress is not None else None,
            )
            # What the build read of Keras itself, apart from the catalog: kept for the
            # next build (a package's reuses it) from a build without modules alone, where
            # no module of a workspace was imported.
            part = result["catalog"].pop("part", None)
            catalog = Catalog(result["catalog"])
            if self.storable(slot, result):
                await asyncio.to_thread(
                    store_catalog, cachekey.cache_dir(), str(result["filename"]), result["catalog"]
                )
                if isinstance(part, dict) and not self.session.modules() and self.own_interpreter():
                    filename = self.key(slot.implementation).part_filename
                    await asyncio.to_thread(store_catalog, cachekey.cache_dir(), filename, part)
            elif not result.get("cached"):
                log.info(
                    "catalog not cached: its classes were not all imported from the "
                    "sources its key hashed (%s)",
                    result.get("imported"),
                )
        except (WorkerError, OSError, ValueError, KeyError, TypeError) as exc:
            if progress is not None:
                progress.end("failed")
            if isinstance(exc, WorkerError) and exc.kind == ErrorKind.STOPPED:
                return  # the server is shutting down: no failure to report
            self.failed(slot, str(exc))
            return
        if progress is not None:
            progress.end("done")
        for skipped in result.get("skipped", []):
            log.info("catalog: skipped %s: %s", skipped.get("what"), skipped.get("reason"))
        self._use(slot, catalog)

    def _use(self, slot: CatalogSlot, catalog: Catalog) -> None:
        slot.use(catalog)
        log.info(
            "catalog ready: %d classes from %s %s",
            len(catalog.entries),
            catalog.data.get("implementation"),
            catalog.data.get("keras_version"),
        )
        self.edge.status_changed()
        self.ready()

    def failed(self, slot: CatalogSlot, reason: str) -> None:
        slot.state, slot.message = "failed", reason
        self.edge.status_changed()
        log.error("catalog failed: %s", reason)
        if not self._reported_failure:
            self._reported_failure = True
            self.edge.show_error(
                f"layercfg: the Keras catalog could not be built: {reason}. "
                "Syntax checks still work."
            )

    def status(self) -> dict[str, Any]:
        main = self.main
        data = main.catalog.data if main.catalog is not None else {}
        return {
            "catalog": main.state,
            "kerasVersion": data.get("keras_version"),
            "backend": data.get("backend"),
            "message": main.message,
            "flavor": main.flavor,  # the catalog's Keras: keras (3) or tf_keras (2)
            # Where the classes of configured packages came from (registered, defined).
            "packages": data.get("packages") or {},
        }


class SourceWatcher:
    """Polls files for changes, for clients that do not watch files for the server: each
    ``POLL_SECONDS`` the files ``targets()`` lists are looked at (size and modification
    time), and ``changed(paths)`` is called with those that changed, appeared or went."""

    POLL_SECONDS = 1.0

    def __init__(
        self, targets: Callable[[], list[Path]], changed: Callable[[list[Path]], None]
    ) -> None:
        self.targets = targets
        self.changed = changed
        self._seen: dict[Path, tuple[int, int] | None] = {}
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int] | None:
        try:
            info = path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def snapshot(self) -> None:
        self._seen = {path: self._stamp(path) for path in self.targets()}

    def poll(self) -> list[Path]:
        current = {path: self._stamp(path) for path in self.targets()}
        differ = [
            path
            for path in current.keys() | self._seen.keys()
            if current.get(path) != self._seen.get(path)
        ]
        self._seen = current
        return sorted(differ)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self.snapshot()
            self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.POLL_SECONDS)
            try:
                differ = await asyncio.to_thread(self.poll)
            except Exception:
                log.debug("polling the sources failed", exc_info=True)
                continue
            if differ:
                self.changed(differ)
