"""The layercfg language server: state, the catalog's life cycle, and diagnostics scheduling.

Only this module and ``features/`` know pygls. The server never imports TensorFlow or Keras:
the catalog comes from the cache or from the Keras worker process.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import attrs
from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.exceptions import JsonRpcInvalidRequest
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import RPCRequest
from pygls.uris import to_fs_path

from layercfg import __version__
from layercfg.schema_builder import cachekey

from . import engine
from .catalog import Catalog
from .catalog import store as store_catalog
from .deepcheck import DeepChecks
from .document import Document
from .services.completion import ClientSupport, Completer
from .services.hover import Hoverer
from .services.schema_path import SchemaWalker
from .services.validation import Superseded, checking, checkpoint
from .settings import Settings, resolve
from .worker import WorkerClient, WorkerError

log = logging.getLogger("layercfg")

DEBOUNCE_SECONDS = 0.15
STATUS_NOTIFICATION = "layercfg/status"
F = TypeVar("F", bound=Callable[..., Any])


class IdleCollector:
    """Python's full garbage collections, run when the editor is quiet instead of when the
    allocator decides. With a 10 MB document open the heap holds millions of objects, and a
    full collection takes 25-40 ms: left to the allocator it lands inside requests (it was most
    of their p95). Installed, automatic collections cover the young generations only; a full
    one runs after ``IDLE_SECONDS`` without a message. The parsed values hold no cycles, so
    nothing waits long for it."""

    IDLE_SECONDS = 2.0
    _NEVER = 1 << 30

    def __init__(self) -> None:
        self.installed = False
        self._timer: asyncio.TimerHandle | None = None
        self._saved: tuple[int, int, int] | None = None

    def install(self) -> None:
        self._saved = gc.get_threshold()
        gc.set_threshold(self._saved[0], self._saved[1], self._NEVER)
        self.installed = True

    def uninstall(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
        self.installed = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def activity(self) -> None:
        """A message arrived: the full collection waits for the next quiet moment."""
        if not self.installed:
            return
        if self._timer is not None:
            self._timer.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(self.IDLE_SECONDS, self._collect)

    def _collect(self) -> None:
        self._timer = None
        gc.collect()


class Protocol(LanguageServerProtocol):
    """Document sync without pygls's own text store: the server keeps parsed Documents.
    Requests after ``shutdown`` get the InvalidRequest error LSP asks for."""

    # The id of the ``initialize`` request that ``handshake`` answered before this server
    # existed: its response is checked against the one sent, and not sent again.
    answered_early: Any = None

    def _send_response(self, msg_id, result=None, error=None):  # type: ignore[override]
        if self.answered_early is None or msg_id != self.answered_early:
            super()._send_response(msg_id, result, error)
            return
        self.answered_early = None
        self._result_types.pop(msg_id, None)
        from .handshake import initialize_result

        expected = initialize_result(self._initialize_params)
        sent = None if error is not None else self._converter.unstructure(result)
        if sent != expected:
            log.error(
                "the capabilities sent early differ from the server's: %s",
                json.dumps({"server": sent, "sent": expected, "error": repr(error)}),
            )

    def lsp_initialize(self, params):  # type: ignore[override]
        if self.answered_early is not None:  # kept only to check the early answer
            self._initialize_params = self._converter.unstructure(params)
        return (yield from super().lsp_initialize(params))

    def handle_message(self, message):  # type: ignore[override]
        collector = getattr(self._server, "idle_gc", None)
        if collector is not None:
            collector.activity()
        if (
            self._shutdown
            and isinstance(message, RPCRequest)
            and getattr(message, "method", "") != types.EXIT
        ):
            error = JsonRpcInvalidRequest("the server is shutting down")
            self._send_response(message.id, None, error.to_response_error())
            return
        super().handle_message(message)

    def lsp_text_document__did_open(self, params):  # type: ignore[override]
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    def lsp_text_document__did_change(self, params):  # type: ignore[override]
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    def lsp_text_document__did_close(self, params):  # type: ignore[override]
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None


# pygls finds built-in handlers through this marker; the overrides keep it.
for _name in ("lsp_initialize", "lsp_text_document__did_open", "lsp_text_document__did_change",
              "lsp_text_document__did_close"):
    _base = getattr(LanguageServerProtocol, _name)
    getattr(Protocol, _name).method_name = _base.method_name  # type: ignore[attr-defined]


def safe(default: Any = None) -> Callable[[F], F]:
    """A handler that logs its failure with the traceback and answers ``default``. Work given
    up because the document changed meanwhile (``Superseded``) is no failure."""

    def wrap(handler: F) -> F:
        if asyncio.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await handler(*args, **kwargs)
                except Superseded:
                    log.debug("%s: the document changed meanwhile", handler.__name__)
                    return default
                except Exception:
                    log.error("%s failed:\n%s", handler.__name__, traceback.format_exc())
                    return default

            return run_async  # type: ignore[return-value]

        @functools.wraps(handler)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            except Superseded:
                log.debug("%s: the document changed meanwhile", handler.__name__)
                return default
            except Exception:
                log.error("%s failed:\n%s", handler.__name__, traceback.format_exc())
                return default

        return run  # type: ignore[return-value]

    return wrap


@dataclass
class Status:
    catalog: str = "missing"  # missing | building | ready | failed
    kerasVersion: str | None = None  # noqa: N815 - the notification's field names
    backend: str | None = None
    message: str | None = None
    deepCheck: str = "idle"  # noqa: N815


@dataclass
class Published:
    version: int | None
    diagnostics: list[types.Diagnostic] = field(default_factory=list)


class LayercfgServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("layercfg", __version__, protocol_cls=Protocol)
        self.documents: dict[str, Document] = {}
        self.settings = Settings()
        self.support = ClientSupport()
        self.pull_diagnostics = False
        self.workspace_root: Path | None = None
        self.init_options: Any = None
        self.catalog: Catalog | None = None
        self.walker: SchemaWalker | None = None
        self.completer: Completer | None = None
        self.hoverer: Hoverer | None = None
        self.status = Status()
        self.worker: WorkerClient | None = None
        self._worker_key: tuple[Any, ...] | None = None  # what the worker was started for
        self._catalog_task: asyncio.Task[None] | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._results: dict[str, Published] = {}
        self._layer_caches: dict[str, engine.LayerCache] = {}
        # One computation of a document's diagnostics at a time: a request for the same
        # version waits for it and takes its result, one for a newer version starts once the
        # stale one has given up.
        self._diagnosing: dict[str, threading.Lock] = {}
        self._reported_failure = False
        self._notices: set[tuple[str, str]] = set()
        self.idle_gc = IdleCollector()
        # Set once the cached catalog was loaded or found missing: the first diagnostics wait
        # for it (a cached load takes tens of milliseconds), not for a build.
        self.catalog_settled = asyncio.Event()
        self.deep = DeepChecks(self)

    # -- documents ----------------------------------------------------------------------------
    def document(self, uri: str) -> Document | None:
        return self.documents.get(uri)

    @property
    def encoding(self) -> str:
        return self.support.encoding

    def notice_once(self, uri: str, topic: str, message: str) -> None:
        """An information message about a document, shown once while it is open."""
        if (uri, topic) in self._notices:
            return
        self._notices.add((uri, topic))
        log.info("%s", message)
        try:
            self.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Info, message=message))
        except Exception:
            log.debug("message not shown", exc_info=True)

    # -- status -------------------------------------------------------------------------------
    def send_status(self) -> None:
        try:
            self.protocol.notify(STATUS_NOTIFICATION, self.status.__dict__.copy())
        except Exception:
            log.debug("status notification not sent", exc_info=True)

    # -- catalog --------------------------------------------------------------------------------
    def use_catalog(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.walker = SchemaWalker(catalog)
        self.completer = Completer(catalog, self.walker)
        self.hoverer = Hoverer(catalog, self.walker)
        self.status.catalog = "ready"
        self.status.kerasVersion = catalog.data.get("keras_version")
        self.status.backend = catalog.data.get("backend")
        self.status.message = None
        self._results.clear()
        self.send_status()
        log.info("catalog ready: %d classes from %s %s", len(catalog.entries),
                 catalog.data.get("implementation"), catalog.data.get("keras_version"))
        self.revalidate_all()

    def modules(self) -> tuple[str, ...]:
        """Custom modules are imported only in a trusted workspace."""
        return self.settings.modules if self.settings.trustWorkspace else ()

    def _expected_catalog_name(self, filename: str) -> bool:
        """Whether the worker's catalog goes under the name this server would look it up by:
        a worker must not store its catalog as another key's (a trusted workspace's modules
        as the catalog of untrusted ones). For another interpreter only the part of the key
        this server can compute, the modules' hash, is checked."""
        search = [str(self.workspace_root)] + sys.path if self.workspace_root else None
        key = cachekey.compute(self.modules(), search_path=search)
        if self.settings.python in (None, sys.executable):
            return filename == key.filename
        return filename.endswith(f"-{key.modules_hash[:16]}.json")

    def cached_catalog_path(self) -> Path | None:
        """The cache file for the current key, when the worker would use this interpreter."""
        if self.settings.python not in (None, sys.executable):
            return None
        search = [str(self.workspace_root)] + sys.path if self.workspace_root else None
        key = cachekey.compute(self.modules(), search_path=search)
        path = cachekey.cache_dir() / key.filename
        return path if path.is_file() else None

    def start_catalog(self, rebuild: bool = False) -> None:
        if self._catalog_task is not None and not self._catalog_task.done():
            self._catalog_task.cancel()
        self._catalog_task = asyncio.ensure_future(self._load_catalog(rebuild))

    async def _load_catalog(self, rebuild: bool) -> None:
        path = None if rebuild else self.cached_catalog_path()
        if path is not None:
            try:
                catalog = await asyncio.to_thread(Catalog.load, path)
            except (OSError, ValueError) as exc:
                log.warning("cached catalog unreadable (%s); rebuilding", exc)
            else:
                self.use_catalog(catalog)
                self.catalog_settled.set()
                return
        self.catalog_settled.set()
        self.status.catalog = "building"
        self.send_status()
        token = f"layercfg-catalog-{id(self)}-{asyncio.get_running_loop().time()}"
        progress = await self._begin_progress(token, "Building the Keras catalog")
        try:
            worker = self.ensure_worker(fresh=rebuild)
            params = {
                "modules": list(self.settings.modules),
                "trusted": self.settings.trustWorkspace,
                "workspace": str(self.workspace_root) if self.workspace_root else None,
                "rebuild": rebuild,
            }
            result = await worker.request("catalog", params, timeout=600,
                                          progress=progress)
            catalog = Catalog(result["catalog"])
            filename = str(result.get("filename"))
            if not result.get("cached") and self._expected_catalog_name(filename):
                await asyncio.to_thread(store_catalog, cachekey.cache_dir(), filename,
                                        result["catalog"])
        except (WorkerError, OSError, ValueError, KeyError) as exc:
            self._end_progress(token, "failed")
            if isinstance(exc, WorkerError) and exc.kind == "stopped":
                return  # the server is shutting down: no failure to report
            self.catalog_failed(str(exc))
            return
        self._end_progress(token, "done")
        for skipped in result.get("skipped", []):
            log.info("catalog: skipped %s: %s", skipped.get("what"), skipped.get("reason"))
        self.use_catalog(catalog)

    def catalog_failed(self, reason: str) -> None:
        self.status.catalog = "failed"
        self.status.message = reason
        self.send_status()
        log.error("catalog failed: %s", reason)
        if not self._reported_failure:
            self._reported_failure = True
            self.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Error,
                message=f"layercfg: the Keras catalog could not be built: {reason}. "
                "Syntax checks still work.",
            ))

    def ensure_worker(self, fresh: bool = False) -> WorkerClient:
        """The worker for the current interpreter, trust and modules. A worker never serves
        another of those: what a trusted workspace's modules did in it (patches, registered
        classes) must not reach the checks, or the catalog, of an untrusted one. ``fresh``:
        a new one in any case (a rebuild must import the modules' sources as they are now)."""
        python = self.settings.python or sys.executable
        key = (python, self.settings.trustWorkspace, self.modules(),
               str(self.workspace_root) if self.workspace_root else None)
        if self.worker is None or fresh or self._worker_key != key:
            old, self.worker, self._worker_key = self.worker, WorkerClient(python), key
            if old is not None:
                asyncio.ensure_future(old.stop())
        return self.worker

    async def _begin_progress(self, token: str, title: str) -> Callable[[str, int], None] | None:
        capabilities = self.client_capabilities.window
        if not (capabilities and capabilities.work_done_progress):
            return None
        try:
            await self.work_done_progress.create_async(token)
        except Exception:
            return None
        self.work_done_progress.begin(token, types.WorkDoneProgressBegin(
            title=title, percentage=0, cancellable=False))

        def report(message: str, percentage: int) -> None:
            self.work_done_progress.report(token, types.WorkDoneProgressReport(
                message=message, percentage=percentage))

        return report

    def _end_progress(self, token: str, message: str) -> None:
        if token in self.work_done_progress.tokens:
            self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))

    # -- settings -------------------------------------------------------------------------------
    def apply_settings(self, init_options: Any, configuration: Any) -> None:
        before = self.settings
        self.settings, problems = resolve(init_options, configuration, self.workspace_root)
        for problem in problems:
            log.warning("settings: %s", problem)
            self.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Warning, message=f"layercfg: {problem}"))
        if before != self.settings:
            self._results.clear()
        if self.status.deepCheck != "running":
            self.status.deepCheck = "off" if self.settings.deepCheck == "off" else "idle"

    # -- diagnostics ----------------------------------------------------------------------------
    def diagnose(self, document: Document) -> list[types.Diagnostic]:
        """The diagnostics of a version, computed once (in a thread: it may take seconds).

        Raises ``Superseded`` when ``document`` is not, or stops being, the current version of
        its document: a check is not started for it, and one in progress stops at the next
        envelope. Nobody would see its result.
        """
        uri = document.uri
        cached = self._results.get(uri)
        if cached is not None and cached.version == document.version:
            return cached.diagnostics

        def current() -> bool:
            return self.documents.get(uri) is document

        with self._diagnosing.setdefault(uri, threading.Lock()):
            cached = self._results.get(uri)
            if cached is not None and cached.version == document.version:
                return cached.diagnostics
            with checking(current):
                checkpoint()
                return self._diagnose(document)

    def _diagnose(self, document: Document) -> list[types.Diagnostic]:
        cache = self._layer_caches.setdefault(document.uri, engine.LayerCache())
        checked = engine.check(document, self.catalog, self.settings, cache)
        diagnostics = []
        for index, item in enumerate(checked):
            if index % 1024 == 0:
                checkpoint()
            diagnostics.append(engine.to_diagnostic(document, item, self.encoding))
        deep = self.deep.result_for(document)
        if deep is not None:
            for diagnostic in deep.diagnostics:
                # The cached diagnostic keeps Keras's own severity: an override is applied to
                # a copy, so that removing it restores the severity.
                default = int(diagnostic.severity or types.DiagnosticSeverity.Error)
                severity = self.settings.severity_for(str(diagnostic.code), default)
                if severity is not None:
                    diagnostics.append(attrs.evolve(
                        diagnostic, severity=types.DiagnosticSeverity(severity)))
        if self.documents.get(document.uri) is document:
            self._results[document.uri] = Published(document.version, diagnostics)
        return diagnostics

    def schedule(self, uri: str, delay: float = DEBOUNCE_SECONDS) -> None:
        if self.pull_diagnostics:
            return  # the client asks for them
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self._timers[uri] = loop.call_later(
            delay, lambda: asyncio.ensure_future(self.publish(uri)))

    async def settled(self) -> None:
        try:
            await asyncio.wait_for(self.catalog_settled.wait(), 5)
        except asyncio.TimeoutError:
            pass

    async def publish(self, uri: str) -> None:
        self._timers.pop(uri, None)
        await self.settled()
        document = self.documents.get(uri)
        if document is None:
            return
        try:
            diagnostics = await asyncio.to_thread(self.diagnose, document)
        except Superseded:
            return  # the newer version has its own publish scheduled
        except Exception:
            log.error("diagnostics failed for %s:\n%s", uri, traceback.format_exc())
            return
        # Never publish for a version that is no longer current.
        if self.documents.get(uri) is not document:
            return
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, version=document.version, diagnostics=diagnostics))

    def deep_result_arrived(self, uri: str) -> None:
        """A deep result for the current version: show it with the fast findings."""
        self._results.pop(uri, None)
        if self.pull_diagnostics:
            try:
                self.workspace_diagnostic_refresh(None)
            except Exception:
                log.debug("diagnostic refresh not sent", exc_info=True)
        else:
            self.schedule(uri, 0)
        if get_capability(self.client_capabilities, "workspace.inlay_hint.refresh_support",
                          False):
            try:
                self.workspace_inlay_hint_refresh(None)
            except Exception:
                log.debug("inlay hint refresh not sent", exc_info=True)

    def schedule_deep(self, uri: str, trigger: str) -> None:
        """Start a deep check when the ``deepCheck`` setting asks for one on this trigger."""
        mode = self.settings.deepCheck
        if (mode == "onType" and trigger in ("open", "change")) or (
            mode == "onSave" and trigger == "save"
        ):
            self.deep.schedule(uri, 0.6 if trigger == "change" else 0.1)

    def revalidate_all(self) -> None:
        if self.pull_diagnostics:
            try:
                self.workspace_diagnostic_refresh(None)
            except Exception:
                log.debug("diagnostic refresh not sent", exc_info=True)
            return
        for uri in list(self.documents):
            self.schedule(uri, 0)

    def forget(self, uri: str) -> None:
        self.documents.pop(uri, None)
        self._notices = {notice for notice in self._notices if notice[0] != uri}
        self._results.pop(uri, None)
        self._layer_caches.pop(uri, None)
        self._diagnosing.pop(uri, None)
        self.deep.forget(uri)
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()

    def fs_path(self, uri: str) -> str | None:
        return to_fs_path(uri)

    async def shutdown_worker(self) -> None:
        if self.worker is not None:
            await self.worker.stop()


class LogHandler(logging.Handler):
    """Forwards log records to the client as window/logMessage; stdout carries the protocol."""

    LEVELS = {
        logging.ERROR: types.MessageType.Error,
        logging.WARNING: types.MessageType.Warning,
        logging.INFO: types.MessageType.Info,
        logging.DEBUG: types.MessageType.Log,
    }

    def __init__(self, server: LayercfgServer):
        super().__init__(logging.DEBUG)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = self.LEVELS.get(record.levelno, types.MessageType.Log)
            self.server.window_log_message(
                types.LogMessageParams(type=level, message=self.format(record)))
        except Exception:
            pass  # logging must never take the server down


def create_server() -> LayercfgServer:
    from .features import register_all

    server = LayercfgServer()
    register_all(server)
    return server


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
