"""The messages between the language server and the Keras worker, shared by both sides.

Dependency-free on purpose: the worker imports it before it contains itself, and the server
without importing Keras. One message per line, JSON:

- a request ``{"id", "nonce", "method", "params"}`` on the worker's stdin;
- an answer ``{"id", "nonce", "result"}`` or ``{"id", "nonce", "error": {"kind", "message",
  "traceback"?}}`` on the answer pipe;
- a progress notification ``{"method": "progress", "nonce", "params": {"id", "message",
  "percentage"}}`` on the answer pipe, for a pending request;
- a cancel ``{"id", "nonce"}`` of a pending request, on the cancel pipe: the worker stops
  that request at its next safe point and answers it with the error kind ``cancelled``, or
  answers it as usual when it was done already; a cancel for no request under way is kept
  for a request not started yet, and otherwise does nothing.

Each answer carries its request's nonce: the client believes nothing else on the pipe.
"""

from __future__ import annotations

import enum
import gc
import json
import os
import stat
from pathlib import Path
from typing import Any, TypedDict


class _Name(str, enum.Enum):
    """An enum whose members print as their wire value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Method(_Name):
    PING = "ping"
    CATALOG = "catalog"
    NEW = "new"
    DEEP_CHECK = "deep_check"
    CANONICAL = "canonical"
    SHUTDOWN = "shutdown"


class ErrorKind(_Name):
    """Why a request failed. The worker sends the first group; the client adds the second."""

    # sent by the worker
    METHOD = "method"  # no such method
    PROTOCOL = "protocol"  # a request line that is not a JSON object, or an answer not ours
    SCOPE = "scope"  # another workspace's modules were imported in this worker
    CANONICAL = "canonical"  # the canonical form cannot be computed
    CANCELLED = "cancelled"  # stopped by a cancel from the client; the worker goes on
    ERROR = "error"  # anything else (the exception's class name may stand in its place)
    # decided by the client
    TIMEOUT = "timeout"
    MEMORY = "memory"
    DIED = "died"
    STOPPED = "stopped"

    @classmethod
    def of(cls, value: Any) -> ErrorKind | str:
        """The member for a kind on the wire; an unknown one (an exception's class name)
        stays a string."""
        try:
            return cls(value)
        except ValueError:
            return str(value) if isinstance(value, str) and value else cls.ERROR


class Request(TypedDict):
    id: int
    nonce: str
    method: str
    params: dict[str, Any]


class ErrorBody(TypedDict, total=False):
    kind: str
    message: str
    traceback: str


class Answer(TypedDict, total=False):
    id: Any
    nonce: str | None
    result: Any
    error: ErrorBody


class ProgressParams(TypedDict):
    id: Any
    message: str
    percentage: int


class ScopeParams(TypedDict, total=False):
    """What every request that may import workspace modules carries."""

    modules: list[str]
    trusted: bool
    workspace: str | None


class CatalogParams(ScopeParams, total=False):
    rebuild: bool
    implementation: str


class CatalogResult(TypedDict, total=False):
    path: str
    filename: str
    cached: bool
    catalog: dict[str, Any]
    key: dict[str, Any]
    skipped: list[dict[str, Any]]
    # module name -> the file it was imported from (None: no file), for every configured
    # module and every module a custom class of the catalog was defined in
    imported: dict[str, str | None]
    # module name -> the source files the cache key hashed for it
    hashed: dict[str, list[str]]
    # False when the catalog must not be stored under ``filename``: its classes did not all
    # come from the hashed sources, or those changed while it was built
    cacheable: bool


class DeepCheckParams(ScopeParams, total=False):
    value: Any
    memory_mb: int
    base: str | None


class CanonicalParams(ScopeParams, total=False):
    value: Any
    mode: str
    memory_mb: int


def error(ident: Any, kind: ErrorKind | str, message: str, trace: str | None = None) -> Answer:
    body: ErrorBody = {
        "kind": str(kind.value if isinstance(kind, ErrorKind) else kind),
        "message": message,
    }
    if trace is not None:
        body["traceback"] = trace
    return {"id": ident, "error": body}


def cancel(ident: int, nonce: str) -> bytes:
    """The line that cancels request ``ident`` (with its nonce), for the cancel pipe."""
    return json.dumps({"id": ident, "nonce": nonce}).encode() + b"\n"


def progress(ident: Any, message: str, percentage: int) -> dict[str, Any]:
    params: ProgressParams = {"id": ident, "message": message, "percentage": percentage}
    return {"method": "progress", "params": params}


# -- catalog entries ------------------------------------------------------------------------------


class SourceRef(TypedDict):
    file: str | None
    line: int | None


class _EntryKeys(TypedDict):
    # The keys every entry has, which the server reads with [].
    id: str
    class_name: str
    family: str


class ClassEntry(_EntryKeys, total=False):
    """One class of a catalog's ``classes``, as the builder writes it; the server reads the
    other keys with .get, as a small catalog may leave them out."""

    aliases: list[str]
    module: str | None
    registered_name: str | None
    custom: bool
    summary: str
    doc: str
    doc_url: str | None
    signature: str
    source: SourceRef
    params: dict[str, dict[str, Any]]  # name -> the parameter's JSON (introspect.Param)
    accepts_kwargs: bool
    minimal_config: dict[str, Any]
    sample_config: dict[str, Any] | None
    instantiated: bool
    instantiate_error: str | None
    notes: list[str]
    schema_ref: str


# -- the cached catalog files ----------------------------------------------------------------


# The largest cached file read (a keras_hub catalog is about 14 MB): a bigger one is not a
# catalog this builder wrote, and reading it whole could take the server's memory.
MAX_CACHED_BYTES = 128 << 20


def read_cached(path: str | Path) -> Any:
    """A cached file's JSON. The garbage collector waits during the parse: the hundreds of
    thousands of containers a keras_hub catalog makes would have it run tens of times (0.7 s
    to 0.3 s for 14 MB). ValueError for what is not JSON, nested too deeply included; OSError
    for what is not a regular file (a FIFO named so would block the open, a device never
    end) or is over ``MAX_CACHED_BYTES``, refused before a byte is read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(f"{path}: not a regular file")
        if status.st_size > MAX_CACHED_BYTES:
            raise OSError(f"{path}: {status.st_size} bytes, more than a catalog's cap")
        handle = os.fdopen(fd, encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        text = handle.read()
    enabled = gc.isenabled()
    gc.disable()
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply") from None
    finally:
        if enabled:
            gc.enable()


def checked_catalog(data: Any) -> dict[str, Any]:
    """``data`` when it has a catalog's shape (the parts the server indexes at load: an
    object whose ``classes`` are entries with a string id, class_name and family, whose
    ``names`` and ``schema`` are objects); ValueError otherwise. A cache file cut short,
    written by another tool or by hand is then rebuilt, as one that is not JSON."""
    if not isinstance(data, dict):
        raise ValueError("not a catalog: not an object")
    classes = data.get("classes")
    if not isinstance(classes, list):
        raise ValueError("not a catalog: classes is not a list")
    for entry in classes:
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(key), str) for key in _EntryKeys.__annotations__
        ):
            raise ValueError("not a catalog: a class without a string id, class_name, family")
    for key in ("names", "schema"):
        if not isinstance(data.get(key, {}), dict):
            raise ValueError(f"not a catalog: {key} is not an object")
    if not isinstance(data.get("schema", {}).get("$defs", {}), dict):
        raise ValueError("not a catalog: schema.$defs is not an object")
    return data


def read_catalog(path: str | Path) -> dict[str, Any]:
    """A cached catalog (``read_cached``, ``checked_catalog``)."""
    return checked_catalog(read_cached(path))
