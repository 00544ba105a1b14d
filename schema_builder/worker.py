"""The Keras worker: a subprocess that speaks line-delimited JSON on its pipes.

Requests ``{"id", "method", "params"}`` arrive on stdin, one per line; answers
``{"id", "result"}`` or ``{"id", "error": {"message", "kind"}}`` and notifications
``{"method": "progress", "params": {"id", "message", "percentage"}}`` leave on the original
stdout. Anything Keras, TensorFlow or user code prints goes to stderr, never into the protocol.
Methods: ``ping``, ``catalog``, ``new``, ``deep_check``, ``canonical``, ``shutdown``. The
worker never opens a network connection: ``disable_network`` refuses every attempt.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, TextIO


class Worker:
    def __init__(self, out: TextIO):
        self.out = out
        self.api: Any = None

    def send(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message, separators=(",", ":")) + "\n")
        self.out.flush()

    def handle(self, request: dict[str, Any]) -> bool:
        """Answer one request; False when the worker should stop."""
        ident = request.get("id")
        method = request.get("method")
        params = request.get("params") or {}
        handler = getattr(self, f"do_{method}", None) if isinstance(method, str) else None
        if handler is None:
            self.send(
                {"id": ident, "error": {"kind": "method", "message": f"unknown method {method!r}"}}
            )
            return True
        try:
            result = handler(ident, params)
        except Exception as exc:
            kind = getattr(exc, "kind", type(exc).__name__)
            self.send(
                {
                    "id": ident,
                    "error": {
                        "kind": kind,
                        "message": str(exc) or type(exc).__name__,
                        "traceback": traceback.format_exc(limit=20),
                    },
                }
            )
            return True
        try:
            self.send({"id": ident, "result": result})
        except (TypeError, ValueError, RecursionError) as exc:  # a result JSON cannot carry
            self.send({"id": ident, "error": {"kind": type(exc).__name__,
                                              "message": f"the answer could not be sent: {exc}"}})
        return method != "shutdown"

    def do_ping(self, ident: Any, params: dict[str, Any]) -> dict[str, Any]:
        return {"pid": os.getpid()}

    def do_shutdown(self, ident: Any, params: dict[str, Any]) -> None:
        return None

    def _modules(self, params: dict[str, Any]) -> tuple[str, ...]:
        from .catalog import workspace_on_path

        if params.get("trusted") and params.get("workspace"):
            workspace_on_path(params["workspace"])
            return tuple(params.get("modules") or ())
        return ()

    def do_catalog(self, ident: Any, params: dict[str, Any]) -> dict[str, Any]:
        from . import catalog

        def progress(message: str, percentage: int) -> None:
            self.send(
                {
                    "method": "progress",
                    "params": {"id": ident, "message": message, "percentage": percentage},
                }
            )

        modules = self._modules(params)
        data = catalog.load_or_build(
            modules,
            params.get("implementation", "keras"),
            progress=progress,
            rebuild=bool(params.get("rebuild")),
        )
        path = catalog.cache_path(modules, params.get("implementation", "keras"))
        return {"path": str(path), "key": data["key"], "skipped": data["skipped"]}

    def do_deep_check(self, ident: Any, params: dict[str, Any]) -> dict[str, Any]:
        """Keras's own loading of a document (``params["value"]``), located; see deep.py."""
        from .deep import DeepChecker
        from .keras_api import KerasAPI

        modules = self._modules(params)
        for module in modules:
            __import__(module)
        if self.api is None:
            self.api = KerasAPI(params.get("implementation", "keras"))
        memory = int(params.get("memory_mb") or 2048) * 2**20
        checker = DeepChecker(self.api, memory_bytes=memory)
        return checker.check(params.get("value"))

    def do_canonical(self, ident: Any, params: dict[str, Any]) -> dict[str, Any]:
        """The document with its defaults filled in or removed; see canonical.py."""
        from .canonical import canonical
        from .keras_api import KerasAPI

        for module in self._modules(params):
            __import__(module)
        if self.api is None:
            self.api = KerasAPI(params.get("implementation", "keras"))
        return canonical(params.get("value"), str(params.get("mode")), self.api)

    def do_new(self, ident: Any, params: dict[str, Any]) -> dict[str, Any]:
        from . import catalog, generate

        modules = self._modules(params)
        data = catalog.load_or_build(modules, params.get("implementation", "keras"))
        for module in modules:
            __import__(module)
        return generate.new_config(data, params["class_name"], params.get("config") or {})


class NetworkDisabled(OSError):
    """Raised by every attempt to open a network connection in the worker."""


def disable_network() -> None:
    """Configs are data: nothing a check loads may reach the network."""
    import socket

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NetworkDisabled("network access is disabled in the layercfg Keras worker")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.socket.sendto = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]


def die_with_parent() -> None:
    """End with the process that started this worker, even when that one is killed: nobody
    else would enforce the check's time limit and memory cap (Linux; elsewhere a no-op)."""
    parent = os.environ.pop("LAYERCFG_WORKER_PARENT", "")
    if not parent.isdigit() or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        set_parent_death_signal = 1  # PR_SET_PDEATHSIG
        if libc.prctl(set_parent_death_signal, int(signal.SIGKILL), 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # it ended before the request above was made
        os._exit(1)


def main() -> int:
    die_with_parent()
    disable_network()
    # Keep the protocol on a private copy of stdout; fd 1 now leads to stderr.
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    worker = Worker(protocol)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
        except (ValueError, RecursionError) as exc:  # nested too deeply for json
            worker.send({"id": None, "error": {"kind": "protocol", "message": str(exc)}})
            continue
        if not worker.handle(request):
            break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
