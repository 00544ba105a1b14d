"""Handles of external models, checked offline: ``tensorflow_hub.KerasLayer`` ``handle`` (a URL
or a local SavedModel folder) and ``keras.layers.TFSMLayer`` ``filepath``.

Nothing here downloads: a URL is judged by its shape, and by a complete copy in the
tensorflow_hub cache when there is one that can be believed. The static part imports no
TensorFlow; reading the signatures of a SavedModel parses its ``saved_model.pb`` (a protobuf
is data, not code) and is the only part that needs TensorFlow's message definitions.
"""

from __future__ import annotations

import glob
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
TF1_HUB_MARKER = "tfhub_module.pb"
TARBALL = (".tar", ".tar.gz", ".tgz")
# The largest saved_model.pb whose signatures are read: the graph is parsed whole.
MAX_PROTO_BYTES = 1 << 30

_TFHUB_HOSTS = ("tfhub.dev", "www.tfhub.dev", "hub.tensorflow.google.cn")
_KAGGLE_HOSTS = ("kaggle.com", "www.kaggle.com")


def hub_cache() -> tuple[str, bool]:
    """The tensorflow_hub cache folder, and whether its copies can be believed: always when
    ``TFHUB_CACHE_DIR`` names it; the default, under the shared temp dir where anyone could
    plant one, only when it is ours and nobody else can write to it."""
    explicit = os.environ.get("TFHUB_CACHE_DIR")
    if explicit:
        return explicit, True
    # The worker's own temp dir is private; the client tells it the system's.
    shared = os.environ.get("LAYERCFG_SYSTEM_TMPDIR") or tempfile.gettempdir()
    folder = os.path.join(shared, "tfhub_modules")
    return folder, _private_to_us(folder)


def _private_to_us(path: str) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def module_dir_name(handle: str) -> str:
    """The cache folder's name tensorflow_hub gives a handle: the sha1 of the exact string."""
    return hashlib.sha1(handle.encode("utf8")).hexdigest()


def saved_model_format(folder: str) -> str | None:
    """``"tf1_hub"`` for the legacy TF1 Hub format, ``"saved_model"`` for a SavedModel
    folder, None for anything else."""
    if not os.path.isdir(folder):
        return None
    if os.path.isfile(os.path.join(folder, TF1_HUB_MARKER)):
        return "tf1_hub"
    if any(os.path.isfile(os.path.join(folder, name)) for name in SAVED_MODEL_FILES):
        return "saved_model"
    return None


def incomplete_marks(folder: str) -> list[str]:
    """What says a cache entry is still being written (or was abandoned mid-download):
    ``<sha1>.lock`` and ``<sha1>.<uid>.tmp`` beside it."""
    marks = [folder + ".lock"] if os.path.lexists(folder + ".lock") else []
    return marks + sorted(glob.glob(glob.escape(folder) + ".*.tmp"))


@dataclass
class HandleCheck:
    """What was learnt about one handle, without loading or downloading anything."""

    handle: str
    kind: str  # "url", "local" or "invalid"
    ok: bool  # usable as far as can be told offline
    message: str  # one sentence for the user
    severity: int = 1  # of the message when not ok (1 error, 2 warning)
    local: str | None = None  # the folder to load: the local path or a complete cache entry
    format: str | None = None  # "saved_model", "tf1_hub"
    cache: str | None = None  # the cache entry looked for, for a URL
    notes: list[str] = field(default_factory=list)

    @property
    def how_checked(self) -> str:
        if self.kind == "url" and self.local:
            return f"loaded from the complete cached copy at {self.local}, never downloaded"
        if self.local:
            return f"loaded from the SavedModel at {self.local}"
        return "checked statically: the URL is not cached, never downloaded"


def check_handle(handle: Any, base: str | None = None, hub: bool = True) -> HandleCheck:
    """A ``KerasLayer`` handle (``hub``) or a ``TFSMLayer`` filepath, judged offline.

    A relative path resolves against ``base`` (the document's folder), else the current
    directory."""
    what = "handle" if hub else "filepath"
    if not isinstance(handle, str) or not handle.strip():
        return HandleCheck(
            str(handle),
            "invalid",
            False,
            f"`{what}` must be a string: a SavedModel folder"
            f"{' or a URL' if hub else ''} (a non-string handle cannot be "
            "serialized)",
        )
    parsed = urlparse(handle)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https", "gs"):
        return _check_url(handle, parsed, hub)
    if scheme == "file":
        return _check_local(handle, parsed.path, base, hub)
    if scheme and len(scheme) > 1:  # not a Windows drive letter
        supported = "http(s)://, gs:// and local paths" if hub else "local paths and gs://"
        return HandleCheck(
            handle,
            "invalid",
            False,
            f"unsupported scheme {parsed.scheme!r} in {handle!r}: "
            f"{'tensorflow_hub' if hub else 'TFSMLayer'} reads {supported}",
        )
    return _check_local(handle, handle, base, hub)


def _check_local(handle: str, path: str, base: str | None, hub: bool) -> HandleCheck:
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        path = os.path.join(base or os.getcwd(), path)
    path = os.path.normpath(path)
    form = saved_model_format(path)
    if form is None:
        where = "" if os.path.isdir(path) else " (no such folder)"
        return HandleCheck(
            handle,
            "local",
            False,
            f"no SavedModel at {path}{where}: expected saved_model.pb or "
            f"saved_model.pbtxt{' (or tfhub_module.pb)' if hub else ''} in "
            "that folder",
        )
    check = HandleCheck(handle, "local", True, f"a SavedModel at {path}", local=path, format=form)
    if form == "tf1_hub":
        check.message = f"a model in the legacy TF1 Hub format at {path}"
        if not hub:
            check.ok = False
            check.message += ": TFSMLayer needs a TF2 SavedModel"
    return check


def _check_url(handle: str, parsed: Any, hub: bool) -> HandleCheck:
    if not parsed.netloc or not parsed.path.strip("/"):
        return HandleCheck(handle, "invalid", False, f"malformed URL {handle!r}")
    if parsed.scheme.lower() in ("http", "https") and not hub:
        return HandleCheck(
            handle,
            "invalid",
            False,
            f"TFSMLayer loads a SavedModel folder, not {handle!r}: download it "
            "and give its local path",
        )
    check = HandleCheck(handle, "url", True, f"a well-formed URL: {handle}")
    host = parsed.netloc.lower()
    parts = [p for p in parsed.path.split("/") if p]
    if host in _TFHUB_HOSTS:
        if len(parts) < 3 or not parts[-1].isdigit():
            check.ok = False
            check.message = (
                f"{handle!r} has no version: tfhub.dev handles end in "
                "/<version>, as https://tfhub.dev/google/nnlm-en-dim50/2"
            )
            return check
        check.notes.append(
            "tfhub.dev handles are served from Kaggle Models now "
            "(https://www.kaggle.com/models), which tensorflow_hub follows; that this "
            "model is there cannot be checked offline"
        )
    elif host in _KAGGLE_HOSTS:
        check = _kaggle(handle, parts, check)
        if not check.ok:
            return check
    elif parsed.scheme.lower() == "gs" and not handle.lower().endswith(TARBALL):
        check.notes.append(
            "a gs:// folder is read from Cloud Storage on each load; only "
            "gs:// tarballs and http(s) handles are cached"
        )
        return check
    if hub:
        _look_in_cache(check)
    return check


def _kaggle(handle: str, parts: list[str], check: HandleCheck) -> HandleCheck:
    """``/models/<owner>/<model>/<framework>/<variation>/<version>``, or its long form with
    ``frameworks/``, ``variations/`` and ``versions/``."""
    if not parts or parts[0] != "models":
        check.ok = False
        check.message = (
            f"{handle!r} is not a Kaggle model handle: they read "
            "https://www.kaggle.com/models/<owner>/<model>/<framework>/"
            "<variation>/<version>"
        )
        return check
    rest = parts[1:]
    if (
        len(rest) >= 8
        and rest[2] == "frameworks"
        and rest[4] == "variations"
        and rest[6] == "versions"
    ):
        rest = [rest[0], rest[1], rest[3], rest[5], *rest[7:]]
    if len(rest) < 5 or not rest[4].isdigit():
        check.ok = False
        check.message = (
            f"{handle!r} has no version: Kaggle model handles read "
            ".../models/<owner>/<model>/<framework>/<variation>/<version>"
        )
        return check
    if rest[2].lower() not in ("tensorflow2", "tensorflow1", "tfjs", "tflite"):
        check.notes.append(
            f"framework {rest[2]!r}: tensorflow_hub loads TensorFlow2 "
            "(SavedModel) and TensorFlow1 (TF1 Hub format) models"
        )
    return check


def _look_in_cache(check: HandleCheck) -> None:
    cache, believed = hub_cache()
    entry = os.path.join(cache, module_dir_name(check.handle))
    check.cache = entry
    if not believed:
        if os.path.isdir(entry):
            check.notes.append(
                f"a copy at {entry} was not used: {cache} is not private to "
                "you (set TFHUB_CACHE_DIR)"
            )
        return
    form = saved_model_format(entry)
    marks = incomplete_marks(entry)
    if form is not None and not marks:
        check.local, check.format = entry, form
        check.message = f"a well-formed URL with a complete cached copy at {entry}"
    elif form is not None or os.path.isdir(entry):
        why = ", ".join(os.path.basename(m) for m in marks) or "no saved_model.pb in it"
        check.notes.append(f"the cached copy at {entry} is incomplete ({why}); not used")


# -- SavedModel signatures (a protobuf read as data) -------------------------------------------


@dataclass
class Endpoint:
    """A signature of a SavedModel, or a function attribute of its root object."""

    name: str
    signature: bool
    # For signatures: argument name -> (dtype name, shape without the batch dimension).
    inputs: dict[str, tuple[str, list[int | None] | None]] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)


def _read_regular(path: str, max_bytes: int) -> bytes | None:
    """The bytes of a regular file of at most ``max_bytes``: a FIFO or a device named
    ``saved_model.pb`` cannot block or flood the reader."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks) if size <= max_bytes else None
    finally:
        os.close(fd)


def _read_saved_model(folder: str, max_bytes: int = MAX_PROTO_BYTES) -> Any | None:
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    for name in SAVED_MODEL_FILES:
        path = os.path.join(folder, name)
        try:
            data = _read_regular(path, max_bytes)
        except OSError:
            continue
        if data is None:
            return None
        try:
            if name.endswith(".pbtxt"):
                text_format.Parse(data.decode("utf-8"), proto)
            else:
                proto.ParseFromString(data)
        except (message.DecodeError, text_format.ParseError, UnicodeDecodeError, RecursionError):
            return None  # RecursionError: a text message nested too deeply
        return proto if proto.meta_graphs else None
    return None


def endpoints(folder: str, max_bytes: int = MAX_PROTO_BYTES) -> dict[str, Endpoint] | None:
    """The signatures of the SavedModel in ``folder`` (first meta graph) and the functions
    its root object has, read from ``saved_model.pb``/``.pbtxt`` without loading it (a
    protobuf is data); None when they cannot be read (no file, too large, not a SavedModel
    message, no meta graph)."""
    proto = _read_saved_model(folder, max_bytes)
    if proto is None:
        return None
    from tensorflow.python.framework import dtypes

    graph = proto.meta_graphs[0]
    found: dict[str, Endpoint] = {}
    for name, signature in graph.signature_def.items():
        if name.startswith("__"):
            continue  # __saved_model_init_op and the like
        inputs = {}
        for arg, info in signature.inputs.items():
            try:
                dtype = dtypes.as_dtype(info.dtype).name
            except (TypeError, ValueError):
                dtype = "unknown"
            shape = (
                None
                if info.tensor_shape.unknown_rank
                else [None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim][1:]
            )
            inputs[arg] = (dtype, shape)
        found[name] = Endpoint(name, True, inputs, sorted(signature.outputs))
    nodes = graph.object_graph_def.nodes
    if nodes:
        for child in nodes[0].children:
            if (
                child.node_id < len(nodes)
                and nodes[child.node_id].WhichOneof("kind")
                in ("function", "bare_concrete_function")
                and child.local_name not in found
            ):
                found[child.local_name] = Endpoint(child.local_name, False)
    return found


def write_probe_saved_model(folder: str) -> str:
    """A tiny SavedModel (string batch in, ``[batch, 2]`` floats out, signature
    ``serving_default``) written to ``folder``: what the builder instantiates KerasLayer
    with, so that its catalog entry never loads a real model."""
    import tensorflow as tf

    class Probe(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
        def __call__(self, text):
            length = tf.cast(tf.strings.length(text), tf.float32)
            return tf.stack([length, length], axis=1)

    probe = Probe()
    path = os.path.join(folder, "probe")
    tf.saved_model.save(
        probe, path, signatures={"serving_default": probe.__call__.get_concrete_function()}
    )
    return path
