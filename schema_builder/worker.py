"""The Keras worker: a subprocess that speaks line-delimited JSON on private pipes.

Requests ``{"id", "nonce", "method", "params"}`` arrive on stdin, one per line. Answers
``{"id", "nonce", "result"}`` or ``{"id", "nonce", "error": {"message", "kind"}}`` and
notifications ``{"method": "progress", "nonce", "params": {"id", "message", "percentage"}}``
leave on the answer pipe, a file descriptor the client passes (``--answer-fd``) that nothing
else writes to: fd 1 and fd 2 both lead to the client's log. Each answer carries its
request's nonce, so the client tells its answers from anything else.

A deep check (or a canonical form) under way is cancelled by a ``{"id", "nonce"}`` line on a
third pipe (``--cancel-fd``), read by a thread of its own: the check stops at its next safe
point (see deep_cancel.py) and the request is answered with the error kind ``cancelled``.
The worker, Keras imported and its memo of layers whole, goes on with the next request.

Before it imports anything, the worker contains itself (``sandbox.contain``): no network, no
new processes, no writes outside its private temp dir and the catalog cache. It never enables
unsafe deserialization. Methods: ``ping``, ``catalog``, ``new``, ``deep_check``,
``canonical``, ``shutdown``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Mapping
from typing import Any, TextIO

from . import protocol
from .deep_cancel import Cancelled, Cancels, hook_keras


class Worker:
    def __init__(self, out: TextIO, containment: dict[str, Any] | None = None):
        self.out = out
        self.api: Any = None
        self.containment = containment or {}
        self.nonce: str | None = None  # of the request being answered
        self._folders: set[str] = set()
        # Set when the address-space cap left too little room: end after the answer.
        self.recycle = False
        # (trusted, modules, workspace) once trusted modules were imported: the only
        # requests this worker answers from then on.
        self._scope: tuple[Any, ...] | None = None
        # What deep checks found layer by layer, per (implementation, modules, folder): the
        # next check of an edited document reuses every layer the edit did not touch.
        self._memos: dict[tuple[Any, ...], Any] = {}
        # The request that may be cancelled now, and the cancels that came early.
        self.cancels = Cancels()

    def send(self, message: Mapping[str, Any]) -> None:
        message = {**message, "nonce": self.nonce}
        self.out.write(json.dumps(message, separators=(",", ":")) + "\n")
        self.out.flush()

    def handle(self, request: dict[str, Any]) -> bool:
        """Answer one request; False when the worker should stop."""
        ident = request.get("id")
        method = request.get("method")
        params = request.get("params") or {}
        nonce = request.get("nonce")
        self.nonce = nonce if isinstance(nonce, str) else None
        known = method in {m.value for m in protocol.Method}
        handler = getattr(self, f"do_{method}", None) if known else None
        if handler is None:
            self.send(
                protocol.error(ident, protocol.ErrorKind.METHOD, f"unknown method {method!r}")
            )
            return True
        try:
            result = handler(ident, params)
        except Cancelled:
            self.send(protocol.error(ident, protocol.ErrorKind.CANCELLED, "cancelled"))
            return True
        except Exception as exc:
            kind = getattr(exc, "kind", type(exc).__name__)
            if not isinstance(kind, str):
                kind = type(exc).__name__
            self.send(
                protocol.error(
                    ident, kind, str(exc) or type(exc).__name__, traceback.format_exc(limit=20)
                )
            )
            return True
        try:
            self.send({"id": ident, "result": result})
        except (TypeError, ValueError, RecursionError) as exc:  # a result JSON cannot carry
            self.send(
                protocol.error(ident, type(exc).__name__, f"the answer could not be sent: {exc}")
            )
        return method != protocol.Method.SHUTDOWN.value

    def do_ping(self, ident: Any, params: dict[str, Any]) -> dict[str, Any]:
        return {"pid": os.getpid(), "containment": self.containment}

    def do_shutdown(self, ident: Any, params: dict[str, Any]) -> None:
        return None

    def _modules(self, params: dict[str, Any]) -> tuple[str, ...]:
        """The configured modules, when the workspace is trusted; none otherwise. Only the
        folders they are found in go on ``sys.path``, and after everything else, so that a
        file of the workspace never stands in for a module of Keras, TensorFlow or Python."""
        from .cachekey import workspace_folders

        trusted = bool(params.get("trusted"))
        modules = tuple(m for m in params.get("modules") or () if isinstance(m, str) and m)
        workspace = params.get("workspace")
        scope = (trusted, modules if trusted else (), workspace if trusted else None)
        if self._scope is not None and scope != self._scope:
            # What those modules did here (patches, registrations) would reach this request.
            raise ScopeError(
                "this worker imported another workspace's modules; a fresh "
                "worker must answer this request"
            )
        if not trusted:
            return ()
        if modules:
            self._scope = scope
        if modules and isinstance(workspace, str) and workspace:
            self._keras(params)  # imported before any workspace folder is on the path
            for folder in workspace_folders(modules, workspace):
                if folder not in self._folders and folder not in sys.path:
                    sys.path.append(folder)
                self._folders.add(folder)
        return modules

    def _keras(self, params: dict[str, Any]) -> Any:
        from .keras_api import IMPLEMENTATIONS, KerasAPI

        name = params.get("implementation", "keras")
        name = name if name in IMPLEMENTATIONS else "keras"
        if self.api is None or self.api.name != name:
            # One of each at most: a tf_keras document after a Keras 3 one keeps both loaded.
            self._apis = getattr(self, "_apis", {})
            if name not in self._apis:
                self._apis[name] = KerasAPI(name)
            self.api = self._apis[name]
        return self.api

    def do_catalog(self, ident: Any, params: dict[str, Any]) -> protocol.CatalogResult:
        def report(message: str, percentage: int) -> None:
            self.send(protocol.progress(ident, message, percentage))

        modules = self._modules(params)
        data, path, cached = _catalog_data(modules, params, report)
        # The worker cannot write the cache (it writes nowhere but its temp dir): the client
        # stores what it sends, under the file name given here, when it is ``cacheable``.
        result: protocol.CatalogResult = {
            "path": str(path),
            "filename": path.name,
            "cached": cached,
            "catalog": data,
            "key": data["key"],
            "skipped": data["skipped"],
            "cacheable": False,
        }
        if not cached:
            result.update(_provenance(modules, data, params, path.name))
        return result

    def do_deep_check(self, ident: Any, params: dict[str, Any]) -> dict[str, Any]:
        """Keras's own loading of a document (``params["value"]``), located; see deep.py."""
        from .deep import DeepChecker
        from .sandbox import cap_address_space

        modules = self._modules(params)
        for module in modules:
            __import__(module)
        from .keras_loading import classes_of

        api = self._keras(params)
        memory = _memory_bytes(params)
        # The document's folder, for relative handles; read (never written) by the checks.
        base = params.get("base")
        base = base if isinstance(base, str) else None
        # What tf_keras's loader may import, and where KerasLayer handles resolve from.
        api.modules, api.document_folder = modules, base
        # Unregistered classes of the configured modules, given by name as a user would.
        checker = DeepChecker(
            api,
            custom_objects=classes_of(modules),
            memory_bytes=memory,
            modules=modules,
            base=base,
            memo=self._memo((api.name, modules, base)),
        )
        hook_keras(api.keras.saving.deserialize_keras_object)
        with cap_address_space(2 * memory) as cap:
            try:
                with self.cancels.region(ident, self.nonce):
                    result = checker.check(params.get("value"))
            finally:  # cancelled or not
                self.recycle = self.recycle or not cap.roomy
        missing = {
            name: self.containment.get("reasons", {}).get(name, "")
            for name, ok in self.containment.get("holds", {}).items()
            if not ok
        }
        if missing:
            result["uncontained"] = missing  # said to the user, once per worker
        return result

    def _memo(self, key: tuple[Any, ...]) -> Any:
        from .deep_replay import ReplayMemo

        if key not in self._memos:
            while len(self._memos) >= 4:  # a few folders at a time; the oldest goes
                self._memos.pop(next(iter(self._memos)))
            self._memos[key] = ReplayMemo()
        return self._memos[key]

    def do_canonical(self, ident: Any, params: dict[str, Any]) -> dict[str, Any]:
        """The document with its defaults filled in or removed; see canonical.py."""
        from .canonical import CanonicalError, canonical
        from .deep import DeepChecker
        from .sandbox import cap_address_space

        modules = self._modules(params)
        for module in modules:
            __import__(module)
        api = self._keras(params)
        refused = DeepChecker(api, modules=modules).unsafe_parts(params.get("value"))
        if refused:
            raise CanonicalError(f"not computed: {refused[0].message}")
        hook_keras(api.keras.saving.deserialize_keras_object)
        with cap_address_space(2 * _memory_bytes(params)) as cap:
            try:
                with self.cancels.region(ident, self.nonce):
                    result = canonical(params.get("value"), str(params.get("mode")), api)
            finally:
                self.recycle = self.recycle or not cap.roomy
        return result

    def do_new(self, ident: Any, params: dict[str, Any]) -> dict[str, Any]:
        from . import generate

        modules = self._modules(params)
        data, _, _ = _catalog_data(modules, params)
        for module in modules:
            __import__(module)
        return generate.new_config(data, params["class_name"], params.get("config") or {})


class ScopeError(RuntimeError):
    """A request for other modules or trust than those this worker has imported."""

    kind = protocol.ErrorKind.SCOPE.value


def _catalog_data(
    modules: tuple[str, ...], params: dict[str, Any], progress: Any = None
) -> tuple[dict[str, Any], Any, bool]:
    """The catalog for these modules: the cached one, else built here (and not written)."""
    from . import catalog, catalog_cache

    implementation = params.get("implementation", "keras")
    path = catalog_cache.cache_path(modules, implementation)
    if not params.get("rebuild") and path.is_file():
        try:
            return protocol.read_catalog(path), path, True
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt
    built: dict[str, Any] = dict(catalog.CatalogBuilder(implementation, modules, progress).build())
    return built, path, False


def _provenance(
    modules: tuple[str, ...], data: dict[str, Any], params: dict[str, Any], filename: str
) -> protocol.CatalogResult:
    """Where the catalog's classes came from, and whether that is what its cache key hashed:
    every configured module, and every module a custom class was defined in, imported from
    one of the hashed files, which did not change while the catalog was built."""
    from . import cachekey

    search = list(sys.path)
    hashed = cachekey.hashed_sources(modules, search)
    files = {file for names in hashed.values() for file in names}
    names = set(modules) | {
        str(entry.get("module"))
        for entry in data.get("classes", ())
        if entry.get("custom") and entry.get("module")
    }
    imported: dict[str, str | None] = {}
    for name in sorted(names):
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None) if module is not None else None
        imported[name] = os.path.realpath(file) if isinstance(file, str) else None
    implementation = params.get("implementation", "keras")
    unchanged = cachekey.compute(modules, implementation, search).filename == filename
    from_hashed = all(file is not None and file in files for file in imported.values())
    return {"imported": imported, "hashed": hashed, "cacheable": unchanged and from_hashed}


def _memory_bytes(params: dict[str, Any]) -> int:
    from .limits import clamp_memory_mb

    return clamp_memory_mb(params.get("memory_mb")) * 2**20


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


def _arguments(argv: list[str]) -> tuple[int, str, int | None]:
    import argparse

    parser = argparse.ArgumentParser(prog="layercfg-worker")
    parser.add_argument("--answer-fd", type=int, required=True)
    parser.add_argument("--private", required=True, help="the worker's own temp dir")
    parser.add_argument("--cancel-fd", type=int, help="the pipe cancels arrive on")
    args = parser.parse_args(argv)
    return args.answer_fd, args.private, args.cancel_fd


def main(argv: list[str] | None = None) -> int:
    answer_fd, private, cancel_fd = _arguments(sys.argv[1:] if argv is None else argv)
    die_with_parent()
    from .sandbox import contain

    os.chdir(private)
    # Writable: the private temp dir alone. Not the catalog cache, which every later
    # workspace trusts: the client writes what this worker builds.
    containment = contain([private])
    disable_network()  # and in Python too, where the platform offers no containment
    answers = os.fdopen(answer_fd, "w", encoding="utf-8", buffering=1)
    os.set_inheritable(answer_fd, False)
    os.dup2(2, 1)  # whatever Keras, TensorFlow or other code prints goes to the log
    sys.stdout = sys.stderr
    worker = Worker(answers, containment.summary())
    if cancel_fd is not None:
        from .deep_cancel import listen

        os.set_inheritable(cancel_fd, False)
        listen(cancel_fd, worker.cancels)  # a thread, once contained: it is contained too
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
        except (ValueError, RecursionError) as exc:  # nested too deeply for json
            worker.send(protocol.error(None, protocol.ErrorKind.PROTOCOL, str(exc)))
            continue
        if not worker.handle(request) or worker.recycle:
            break
    # Everything is answered and flushed; TensorFlow's own teardown takes a second or more
    # and has nothing left to do.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
