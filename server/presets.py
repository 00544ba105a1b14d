"""KerasHub preset folders, checked as a unit.

A preset (``task.save_to_preset(dir)``) holds ``config.json`` (the backbone), ``task.json``,
``preprocessor.json``, ``tokenizer.json`` and converter files, each one Keras envelope without
``build_config``/``compile_config``, and ``metadata.json``, a plain object. ``task.json``
embeds the backbone and preprocessor configs and KerasHub builds the task from it, so an
embedded copy that drifted from ``config.json`` (a stale ``task.json`` written before new
constructor arguments existed) builds another backbone than the weights were saved for.
Drift is reported on the embedded copy, with the other file's place as a related location.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any

from . import engine
from .document import Document, Problem

METADATA = "metadata.json"
CONFIG = "config.json"
TASK = "task.json"
PREPROCESSOR = "preprocessor.json"
TOKENIZER = "tokenizer.json"
CONVERTERS = ("image_converter.json", "audio_converter.json", "video_converter.json")
# The envelope files in the order they are reported.
ENVELOPES = (CONFIG, TASK, PREPROCESSOR, TOKENIZER, *CONVERTERS)
DRIFT = "LCF601"
WARNING = 2
MAX_DRIFT = 200
# (file, pointer into it where the copy is, file the copy is of): KerasHub reads the copy.
_EMBEDDED = (
    (TASK, ("config", "backbone"), CONFIG),
    (TASK, ("config", "preprocessor"), PREPROCESSOR),
    (PREPROCESSOR, ("config", "tokenizer"), TOKENIZER),
    *((PREPROCESSOR, ("config", name.removesuffix(".json")), name) for name in CONVERTERS),
)
# Keys whose values are expected to differ between a copy and its file.
_IGNORED = {"build_config", "compile_config"}


@dataclass(frozen=True)
class Elsewhere:
    """A related location in another file of the preset."""

    path: str
    document: Document
    start: int
    end: int
    message: str


@dataclass(frozen=True)
class CrossChecked(engine.Checked):
    """A finding with related locations in other files."""

    elsewhere: tuple[Elsewhere, ...] = ()


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def is_preset(folder: str) -> bool:
    """A folder ``save_to_preset`` wrote: ``config.json`` and a ``metadata.json`` naming
    ``keras_version``, and a KerasHub mark (``keras_hub_version``, or a task, preprocessor,
    tokenizer or converter file). An unzipped ``.keras`` archive is not a preset."""
    from .detect import METADATA_MAX_BYTES, read_json

    if not _regular(os.path.join(folder, CONFIG)):
        return False
    metadata = read_json(os.path.join(folder, METADATA), METADATA_MAX_BYTES)
    if not isinstance(metadata, dict) or not isinstance(metadata.get("keras_version"), str):
        return False
    return "keras_hub_version" in metadata or any(
        _regular(os.path.join(folder, name)) for name in ENVELOPES[1:]
    )


def files(folder: str) -> list[str]:
    """The preset's JSON files that are there, ``metadata.json`` last."""
    names = [name for name in (*ENVELOPES, METADATA) if _regular(os.path.join(folder, name))]
    return [os.path.join(folder, name) for name in names]


def check_metadata(document: Document) -> list[engine.Checked]:
    """``metadata.json`` is a plain object (no envelope) with ``keras_version``."""
    value = document.value
    if not document.syntax_ok:
        return []
    if not isinstance(value, dict):
        return [
            engine.Checked(
                Problem(
                    0, min(len(document.text), 1), "LCF107", "metadata.json must be a JSON object"
                ),
                (),
            )
        ]
    if not isinstance(value.get("keras_version"), str):
        span = document.locate(("keras_version",), "value") or (0, min(len(document.text), 1))
        return [
            engine.Checked(
                Problem(
                    span[0],
                    span[1],
                    "LCF107",
                    "metadata.json names no keras_version string",
                    WARNING,
                ),
                (),
            )
        ]
    return []


def _at(document: Document, path: tuple[str | int, ...], part: str) -> tuple[int, int]:
    span = document.locate(path, part)
    while span is None and path:
        path = path[:-1]
        span = document.locate(path, "value")
    return span or (0, min(len(document.text), 1))


def _pointer(path: tuple[str | int, ...]) -> str:
    return engine.json_pointer(path) or "/"


def _compare(
    copy: Any,
    original: Any,
    path: tuple[str | int, ...],
    out: list[tuple[str, tuple[str | int, ...], str, str]],
) -> None:
    """(kind, path below the envelope, part in the copy, part in the file) of each
    difference; objects are compared key by key, anything else as a whole."""
    if len(out) >= MAX_DRIFT:
        return
    if isinstance(copy, dict) and isinstance(original, dict):
        for key, value in original.items():
            if key in _IGNORED or len(out) >= MAX_DRIFT:
                continue
            if key not in copy:
                out.append(("missing", (*path, key), "open", "key"))
            else:
                _compare(copy[key], value, (*path, key), out)
        for key in copy:
            if key not in original and key not in _IGNORED and len(out) < MAX_DRIFT:
                out.append(("extra", (*path, key), "key", "open"))
    elif copy != original or type(copy) is not type(original):
        out.append(("value", path, "value", "value"))


def drift(documents: dict[str, tuple[str, Document]]) -> dict[str, list[engine.Checked]]:
    """Findings, by file name, of the embedded copies that disagree with their files.
    ``documents`` maps a file name (``task.json``) to its display path and document."""
    found: dict[str, list[engine.Checked]] = {}
    for name, inside, of in _EMBEDDED:
        if name not in documents or of not in documents:
            continue
        host_path, host = documents[name]
        other_path, other = documents[of]
        if not (host.syntax_ok and other.syntax_ok):
            continue
        copy = host.value
        for step in inside:
            copy = copy.get(step) if isinstance(copy, dict) else None
        if not isinstance(copy, dict) or not isinstance(other.value, dict):
            continue
        differences: list[tuple[str, tuple[str | int, ...], str, str]] = []
        _compare(copy, other.value, (), differences)
        what = f"The {inside[-1]} in {name}"
        for kind, below, host_part, other_part in differences:
            here = (*inside, *below)
            key = below[-1] if below else None
            if kind == "missing":
                message = (
                    f"{what} has no {key!r}, which {of} sets to "
                    f"{_short(_get(other.value, below))} (at {_pointer(below)}): "
                    f"KerasHub builds the task from {name}, so it gets the "
                    f"constructor's default; a stale {name}?"
                )
                related = f"{of} sets {key!r} here"
            elif kind == "extra":
                message = (
                    f"{what} sets {key!r}, which {of} does not have (at "
                    f"{_pointer(below)}): the two files describe different objects"
                )
                related = f"{of} has no {key!r} here"
            else:
                message = (
                    f"{what} has {_short(_get(copy, below))} at {_pointer(below)}, "
                    f"{of} has {_short(_get(other.value, below))}: KerasHub builds "
                    f"the task from {name}, not from {of}"
                )
                related = f"{of} has {_short(_get(other.value, below))} here"
            start, end = _at(host, here, host_part)
            o_start, o_end = _at(other, below, other_part)
            problem = Problem(
                start,
                end,
                DRIFT,
                message,
                WARNING,
                {
                    "kind": "preset_drift",
                    "file": of,
                    "pointer": _pointer(below),
                    "difference": kind,
                },
            )
            # A missing key is the object's finding (its pointer is the object's).
            found.setdefault(name, []).append(
                CrossChecked(
                    problem,
                    here[:-1] if kind == "missing" else here,
                    elsewhere=(Elsewhere(other_path, other, o_start, o_end, related),),
                )
            )
    return found


def _get(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value


def _short(value: Any, limit: int = 60) -> str:
    import json

    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
