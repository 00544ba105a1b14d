"""Which ``config.json`` files are Keras's: told by content, not by name.

A Keras config (``model.to_json()``, a model folder, a KerasHub preset) has a Keras envelope
at its root (``class_name`` + ``config``), or sits next to a ``metadata.json`` that names a
``keras_version``. Hugging Face Transformers (``model_type``, ``architectures``) and timm
(``architecture``, ``pretrained_cfg``) write ``config.json`` files too; those are left alone,
with the reason.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from typing import Any

METADATA = "metadata.json"
METADATA_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class Detection:
    """What a ``config.json`` is: ``kind`` is ``keras``, ``transformers``, ``timm`` or
    ``other``; ``keras`` says whether layercfg checks it; ``reason`` says why, in words."""

    kind: str
    keras: bool
    reason: str


def is_envelope(value: Any) -> bool:
    """A serialized Keras object at the root: ``class_name`` a string and ``config`` an
    object (``module`` and ``registered_name`` are Keras 3's, absent in Keras 2)."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("class_name"), str)
        and isinstance(value.get("config"), dict)
    )


def classify(value: Any, metadata: dict[str, Any] | None = None) -> Detection:
    """The kind of a parsed ``config.json``; ``metadata`` is its folder's ``metadata.json``."""
    if is_envelope(value):
        return Detection(
            "keras", True, f"a Keras envelope at the root (class_name {value['class_name']!r})"
        )
    if isinstance(value, dict):
        architectures = value.get("architectures")
        if (
            "model_type" in value
            or "transformers_version" in value
            or (isinstance(architectures, list) and architectures)
        ):
            what = value.get("model_type") or (architectures or ["?"])[0]
            return Detection(
                "transformers",
                False,
                f"a Hugging Face Transformers config "
                f"(model_type {what!r}), not a Keras object: left alone",
            )
        if isinstance(value.get("architecture"), str) and (
            "pretrained_cfg" in value or "num_classes" in value or "num_features" in value
        ):
            return Detection(
                "timm",
                False,
                f"a timm config (architecture "
                f"{value['architecture']!r}), not a Keras object: left alone",
            )
    version = (metadata or {}).get("keras_version")
    if isinstance(version, str):
        return Detection("keras", True, f"the folder's {METADATA} names keras_version {version!r}")
    if not isinstance(value, dict):
        return Detection("other", False, "not a JSON object: left alone")
    return Detection(
        "other",
        False,
        "no Keras envelope at the root (class_name and config) "
        f"and no {METADATA} with keras_version beside it: left alone",
    )


def read_json(path: str, max_bytes: int) -> Any:
    """A small JSON file, or None: regular files only (no FIFO, device or link), bounded."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        data = os.read(fd, max_bytes + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        return None
    try:
        return json.loads(data.decode("utf-8", errors="replace").removeprefix("\ufeff"))
    except (ValueError, RecursionError):
        return None


def sibling_metadata(path: str) -> dict[str, Any] | None:
    """The ``metadata.json`` next to ``path``, when it is a small regular JSON object."""
    value = read_json(os.path.join(os.path.dirname(path) or ".", METADATA), METADATA_MAX_BYTES)
    return value if isinstance(value, dict) else None


def classify_file(path: str, value: Any) -> Detection:
    return classify(value, sibling_metadata(path))


def is_candidate(name: str) -> bool:
    """A file name ``--detect`` looks at by content."""
    return name == "config.json"
