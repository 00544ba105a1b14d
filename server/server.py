"""The layercfg language server: pygls's side of it.

``Core`` (``core.py``) is the server without the protocol; this module connects it to pygls:
``LayercfgServer`` holds a ``Core``, ``PyglsEdge`` carries what the core sends to the client,
and the handlers in ``features/`` are registered with pygls's public decorators. The server
never imports TensorFlow or Keras: the catalog comes from the cache or from the Keras worker.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import json
import logging
import uuid
from typing import Any

from cattrs import ClassValidationError, transform_error
from lsprotocol import types
from pygls.exceptions import (
    FeatureRequestError,
    JsonRpcException,
    JsonRpcInvalidRequest,
)
from pygls.feature_manager import is_thread_function
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCProtocol, LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import RPCNotification, RPCRequest

from layercfg import __version__

from .capabilities import SERVER_NAME, STATUS_NOTIFICATION, WATCHED_FILES_REGISTRATION
from .core import Core
from .notices import Notices
from .publisher import DEBOUNCE_SECONDS

__all__ = ["DEBOUNCE_SECONDS", "IdleCollector", "LayercfgServer", "create_server"]

log = logging.getLogger("layercfg")


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
        kind = _kind(message)
        if kind is None or self._shutdown or message.jsonrpc != JsonRPCProtocol.VERSION:
            super().handle_message(message)  # responses, errors, the unexpected: as pygls does
            return
        # pygls's own dispatch, its kind of message known from the class.
        context = contextvars.copy_context()
        if kind == "request":
            context.run(self._handle_request, message.id, message.method, message.params)
        else:
            context.run(self._handle_notification, message.method, message.params)

    def structure_message(self, data):  # type: ignore[override]
        """pygls's, with a message that does not fit its method logged in one line (pygls
        logs cattrs's whole traceback, tens of lines, for each)."""
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            log.warning("%s", _unfit(data, exc.__cause__))
            raise

    # Document sync: the built-in handlers would first update pygls's text store, which this
    # server does not use; these replace them and hand the notification to the feature.
    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params):  # type: ignore[override]
        self._to_feature(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params):  # type: ignore[override]
        self._to_feature(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params):  # type: ignore[override]
        self._to_feature(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _to_feature(self, method: str, params: Any) -> None:
        """The feature, called at once when it is a plain function (as pygls would, without
        a generator's round through its handler machinery for every keystroke)."""
        handler = self.fm.features.get(method)
        if handler is None:
            return
        if (
            asyncio.iscoroutinefunction(handler)
            or is_thread_function(handler)
            or inspect.isgeneratorfunction(handler)
        ):
            self._execute_handler(
                str(uuid.uuid4()), handler, self._check_handler_result, args=(params,)
            )
            return
        handler(params)


# Message class -> "request", "notification" or None (anything else). pygls tells them apart
# with isinstance against runtime-checkable protocols, about 20 microseconds each, up to three
# per message; the structured messages are attrs classes, whose instances all have the same
# attributes, so the answer for one instance is the answer for its class.
_KINDS: dict[type, str | None] = {}


def _kind(message: Any) -> str | None:
    cls = type(message)
    try:
        return _KINDS[cls]
    except KeyError:
        pass
    kind = None
    if hasattr(cls, "__attrs_attrs__"):
        if isinstance(message, RPCRequest):
            kind = "request"
        elif isinstance(message, RPCNotification):
            kind = "notification"
    _KINDS[cls] = kind
    return kind


def _unfit(data: dict[str, Any], cause: BaseException | None) -> str:
    """One line for a message that does not deserialize: its kind, method and what of it
    does not fit (cattrs's errors by place, not the values)."""
    method = data.get("method")
    if isinstance(method, str):
        kind = "request" if "id" in data else "notification"
        what = f"a {kind} {_short(method, 80)!r}"
    else:
        what = "an error" if "error" in data else "a response"
    if isinstance(cause, ClassValidationError):
        reasons = transform_error(cause)
        detail = "; ".join(reasons[:3]) + (f" (and {len(reasons) - 3} more)" if reasons[3:] else "")
    else:
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else "unknown reason"
    return f"{what} that does not fit its method: {_short(detail, 300)}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Progress:
    def __init__(self, server: LanguageServer, token: str) -> None:
        self.server, self.token = server, token

    def report(self, message: str, percentage: int) -> None:
        self.server.work_done_progress.report(
            self.token, types.WorkDoneProgressReport(message=message, percentage=percentage)
        )

    def end(self, message: str) -> None:
        if self.token in self.server.work_done_progress.tokens:
            self.server.work_done_progress.end(
                self.token, types.WorkDoneProgressEnd(message=message)
            )


class PyglsEdge:
    """What the core sends to, and asks of, the client, through pygls."""

    def __init__(self, server: LanguageServer) -> None:
        self.server = server
        self._core: Core | None = None
        self._watching = False
        self._tokens = 0

    def bind(self, core: Core) -> None:
        self._core = core

    def publish(self, uri: str, version: int | None, diagnostics: list[types.Diagnostic]) -> None:
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=diagnostics)
        )

    def refresh_diagnostics(self) -> None:
        self.server.workspace_diagnostic_refresh(None)

    def refresh_inlay_hints(self) -> None:
        self.server.workspace_inlay_hint_refresh(None)

    def notify_status(self, status: dict[str, Any]) -> None:
        self.server.protocol.notify(STATUS_NOTIFICATION, status)

    def status_changed(self) -> None:
        if self._core is not None:
            self._core.send_status()

    def show_message(self, kind: int, message: str) -> None:
        self.server.window_show_message(
            types.ShowMessageParams(type=types.MessageType(kind), message=message)
        )

    def show_error(self, message: str) -> None:
        self.show_message(types.MessageType.Error, message)

    async def configuration(self) -> Any:
        answer = await self.server.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="layercfg")])
        )
        return answer[0] if answer else None

    async def begin_progress(self, title: str) -> _Progress | None:
        if self._core is None or not self._core.session.caps.work_done_progress:
            return None
        self._tokens += 1
        token = f"layercfg-{id(self)}-{self._tokens}"
        try:
            await self.server.work_done_progress.create_async(token)
        except Exception:
            return None
        self.server.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title=title, percentage=0, cancellable=False)
        )
        return _Progress(self.server, token)

    async def watch_files(self, globs: list[tuple[str, str]]) -> bool:
        """Register (again) a watcher of these (base folder, pattern) globs with the client."""
        from pathlib import Path

        assert self._core is not None
        relative = self._core.session.caps.watched_files_relative
        watchers = []
        for base, pattern in globs:
            glob: Any = (
                types.RelativePattern(base_uri=Path(base).as_uri(), pattern=pattern)
                if relative
                else f"{Path(base).as_posix().rstrip('/')}/{pattern}"
            )
            watchers.append(types.FileSystemWatcher(glob_pattern=glob))
        if self._watching:
            await self.server.client_unregister_capability_async(
                types.UnregistrationParams(
                    unregisterations=[
                        types.Unregistration(
                            id=WATCHED_FILES_REGISTRATION,
                            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                        )
                    ]
                )
            )
            self._watching = False
        if not watchers:
            return True
        await self.server.client_register_capability_async(
            types.RegistrationParams(
                registrations=[
                    types.Registration(
                        id=WATCHED_FILES_REGISTRATION,
                        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                        register_options=types.DidChangeWatchedFilesRegistrationOptions(
                            watchers=watchers
                        ),
                    )
                ]
            )
        )
        self._watching = True
        return True


class LayercfgServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(SERVER_NAME, __version__, protocol_cls=Protocol)
        self.edge = PyglsEdge(self)
        self.core = Core(self.edge)
        self.edge.bind(self.core)
        self.idle_gc = IdleCollector()
        self.notices = Notices(self.edge.show_error)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """An error the client did not ask about, shown once in a while (``Notices``); a
        request's own error is in its answer, as pygls leaves it."""
        if source is FeatureRequestError:
            return
        # The transport's (a message it cannot read) are logged by it, with their details.
        transport = source is JsonRpcException
        what = "a message from the client is dropped" if transport else "error in server"
        self.notices.report(source.__name__, f"layercfg: {what}: {error}", logged=transport)

    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        """Serve over stdio, stdin read by the event loop (``stdio.py``)."""
        from .stdio import start_io

        start_io(self, stdin, stdout)


class _Deserialize(logging.Filter):
    """pygls's traceback of a message that does not deserialize: ``Protocol`` logs it in one
    line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unable to deserialize message")


class _BenignCancel(logging.Filter):
    """pygls warns when the client cancels a request that was answered already (VS Code does
    that all the time for pulled diagnostics): nothing went wrong, nothing to log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Cancel notification for unknown message id")


class _Quoted(logging.Filter):
    """pygls's lines that quote the client (an unknown method's name) quote at most 200
    characters of each value: a name of megabytes is not echoed to the log whole."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, str) and len(arg) > 200 for arg in record.args
        ):
            record.args = tuple(_short(a, 200) if isinstance(a, str) else a for a in record.args)
        return True


def create_server() -> LayercfgServer:
    from .features import register_all

    rpc = logging.getLogger("pygls.protocol.json_rpc")
    for kind in (_BenignCancel, _Deserialize, _Quoted):
        if not any(isinstance(f, kind) for f in rpc.filters):
            rpc.addFilter(kind())
    server = LayercfgServer()
    register_all(server, server.core)
    return server


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
