"""What the deep check's parts share: the finding types, the walk over a config's envelopes,
Keras's messages made readable, and loading an envelope without allocating weights."""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import os
import re
import traceback
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from layercfg.codes import JsonPath, Severity

from .keras_api import KerasAPI

if TYPE_CHECKING:
    from .deep_replay import ReplayMemo

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Envelopes Keras writes for values, not for objects built from a config.
SPECIAL = {
    "__keras_tensor__",
    "__tensor__",
    "__numpy__",
    "__bytes__",
    "__ellipsis__",
    "__slice__",
    "__typespec__",
    "__tuple__",
}


@dataclass
class DeepFinding:
    path: JsonPath
    part: str  # "value", "key" or "open", as the fast checks use them
    code: str
    message: str
    severity: int = Severity.ERROR
    data: dict[str, Any] | None = None
    # {file, line, message} in the user's source; {path, message} at a place in the document
    related: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LayerInfo:
    path: JsonPath  # the layer's envelope
    name: str
    class_name: str
    output_shape: str | None
    params: int


def clean_message(exc: BaseException) -> str:
    """The useful part of what Keras raised: it wraps the real message, sometimes twice."""
    text = _ANSI.sub("", str(exc)).strip()
    # Model.from_config's TypeError quotes the whole config, then the constructor's own.
    revived = "Error encountered during deserialization:"
    if revived in text:
        text = text.rsplit(revived, 1)[1].strip()
    for marker in ("Exception encountered:", "Exception encountered when calling"):
        if marker in text:
            tail = text.rsplit(marker, 1)[1]
            lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
            body = [ln for ln in lines[1:] if not ln.startswith(("Arguments received", "•"))]
            text = " ".join(body) if body else (lines[0] if lines else text)
    text = re.sub(r"\s*Full (?:object )?config: .*", "", text, flags=re.S)
    text = re.sub(r"\s*config=\{.*", "", text, flags=re.S)
    return f"{type(exc).__name__}: {' '.join(text.split())[:500]}"


def envelopes(
    value: Any, path: JsonPath = (), skip: Collection[int] = ()
) -> Iterator[tuple[JsonPath, dict[str, Any]]]:
    """Envelopes below ``value`` (not ``value`` itself), outer first. Only containers are
    visited: a model's numbers (shapes, sizes) are most of its values and hold no envelope.
    ``skip``: the ids of containers that are neither yielded nor entered."""
    stack: list[tuple[Any, JsonPath]] = []

    def below(node: Any, here: JsonPath) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        children = [(v, (*here, k)) for k, v in items if isinstance(v, (dict, list))]
        children.reverse()
        stack.extend(children)

    if isinstance(value, (dict, list)):
        below(value, path)
    while stack:
        node, here = stack.pop()
        if skip and id(node) in skip:
            continue
        if isinstance(node, dict) and isinstance(node.get("class_name"), str) and "config" in node:
            yield here, node
        below(node, here)


def text_of(value: Any) -> str:
    """A JSON value's one text (sorted keys, no spaces): what the memo's keys are made of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class CheckerBase:
    """The state every part of the deep check reads; ``DeepChecker`` sets it up."""

    api: KerasAPI
    keras: Any
    custom_objects: dict[str, Any]
    modules: tuple[str, ...]
    memory_bytes: int
    base: str | None
    _stateless: Any
    _non_modeling: Any
    _buildable: tuple[type, ...]
    # What earlier checks of this worker found (None: every check afresh); see deep_replay.
    memo: ReplayMemo | None = None
    # During a check: the texts of its layers, each made once for the scan and the replay.
    _layer_texts: dict[int, tuple[dict[str, Any], str]] | None = None

    def _layer_text(self, entry: dict[str, Any]) -> str:
        """A layer entry's text without its ``inbound_nodes`` (what the layer is, whatever
        feeds it)."""
        texts = self._layer_texts
        made = texts.get(id(entry)) if texts is not None else None
        if made is not None and made[0] is entry:
            return made[1]
        text = text_of({k: v for k, v in entry.items() if k != "inbound_nodes"})
        if texts is not None:
            texts[id(entry)] = (entry, text)  # the entry kept: its id is not reused meanwhile
        return text

    def _reset(self, free_memory: bool = False) -> None:
        """Forget what the last check created or changed: names, deferred variables, shared
        objects, Keras's global settings. The garbage is collected once, after each check."""
        self.api.reset_global_state(free_memory)

    def _deserialize(self, envelope: dict[str, Any]) -> tuple[Any, BaseException | None, list]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with self._stateless(initialize_variables=False):
                    obj = self.api.deserialize(copy.deepcopy(envelope), self.custom_objects)
            except Exception as exc:  # Keras's refusal is the finding
                return None, exc, list(caught)
        return obj, None, list(caught)

    def _user_frames(self, error: BaseException) -> list[dict[str, Any]]:
        """The frames of the traceback that are in the user's own files (not Keras's)."""
        out = []
        own = os.path.dirname(os.path.abspath(__file__))
        for frame in traceback.extract_tb(error.__traceback__):
            name = frame.filename.replace("\\", "/")
            if os.path.abspath(frame.filename).startswith(own):
                continue
            if "/site-packages/" in name or "/dist-packages/" in name or "/lib/python" in name:
                continue
            if name.startswith("<"):
                continue
            out.append(
                {
                    "file": frame.filename,
                    "line": frame.lineno,
                    "message": f"in {frame.name}: {frame.line or ''}".strip(),
                }
            )
        return out[-1:]


def inside(value: Any, path: JsonPath) -> Any:
    for step in path:
        if isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        elif isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        else:
            return None
    return value


def source_of(function: Any, what: str) -> list[dict[str, Any]]:
    try:
        lines, line = inspect.getsourcelines(function)
        path = inspect.getsourcefile(function)
    except (OSError, TypeError):
        return []
    return [{"file": path, "line": line, "message": what}] if path else []
