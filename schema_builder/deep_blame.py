"""Which key of a config Keras's error is about, read from the error itself: its message (the
argument it names, the value it quotes) and its traceback (the layer Keras was loading or
calling, the expression of the constructor that failed and the values it read).

Nothing here loads anything: a failed load is located from what it left behind, so locating
costs no more than the load did.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import linecache
import re
from collections.abc import Iterator
from types import FrameType
from typing import Any

_IDENT = re.compile(r"[A-Za-z_]\w*")
_SCALARS = (str, int, float, bool, list, dict, type(None))
# Locals of Keras's (and tf_keras's) model loading that hold the layer being loaded or called.
_LAYER_LOCALS = ("layer_data", "layer_config", "entry", "layer")
# The innermost frames of a constructor looked in (a recursion has thousands).
_FRAMES = 64


def chain(error: BaseException) -> list[BaseException]:
    """``error`` and what it wraps (Keras re-raises a constructor's TypeError), outer first."""
    out: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not e for e in out):
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def frames(error: BaseException) -> list[tuple[FrameType, int]]:
    """Every frame the error went through, outermost first: (frame, last instruction)."""
    out: list[tuple[FrameType, int]] = []
    seen: set[int] = set()
    for exc in chain(error):
        tb = exc.__traceback__
        while tb is not None:
            if id(tb.tb_frame) not in seen:
                seen.add(id(tb.tb_frame))
                out.append((tb.tb_frame, tb.tb_lasti))
            tb = tb.tb_next
    return out


def _entry_name(item: Any) -> str | None:
    if isinstance(item, dict):
        name = item.get("name")
        config = item.get("config")
        if not isinstance(name, str) and isinstance(config, dict):
            name = config.get("name")
        return name if isinstance(name, str) else None
    name = getattr(type(item), "name", None)
    if isinstance(name, property) or hasattr(item, "_inbound_nodes"):
        try:
            name = vars(item).get("name", vars(item).get("_name"))
        except TypeError:
            return None
        return name if isinstance(name, str) else None
    return None


def failing_layer(error: BaseException, names: dict[str, int], package: str) -> int | None:
    """The index of the model's layer Keras was loading or calling when it failed: read from
    the locals of the model-loading frames (``process_layer``'s ``layer_data``,
    ``process_node``'s ``layer``, Sequential's ``layer_config`` and ``layer``), innermost
    first, the first that names one of the model's own layers (a nested model's layers are
    its own; a layer's own constructor is not looked in)."""
    loaders = tuple(f"{package}.src.{part}" for part in ("models", "saving", "engine"))
    for frame, _ in reversed(frames(error)):
        module = frame.f_globals.get("__name__", "")
        if not (module == __package__ or module.startswith(f"{__package__}.")):
            if not module.startswith(loaders):
                continue
        for local in _LAYER_LOCALS:
            item = frame.f_locals.get(local)
            if item is None:
                continue
            name = _entry_name(item)
            if name is not None and name in names:
                return names[name]
    return None


def _segment(frame: FrameType, lasti: int) -> str:
    """The source text of the expression the frame was running when the error went up."""
    code = frame.f_code
    try:
        positions = list(code.co_positions())[lasti // 2]
    except (AttributeError, IndexError):
        positions = (frame.f_lineno, frame.f_lineno, None, None)
    start, end, col, end_col = positions
    if start is None:
        return ""
    lines = linecache.getlines(code.co_filename, frame.f_globals)
    if not lines or start > len(lines):
        return ""
    end = end or start
    text = lines[start - 1 : end]
    if col is not None and end_col is not None and text:
        if len(text) == 1:
            text = [text[0][col:end_col]]
        else:
            text = [text[0][col:], *text[1:-1], text[-1][:end_col]]
    return "".join(text)


def _constructor_frames(error: BaseException) -> list[tuple[FrameType, int]]:
    """The frames below the innermost ``from_config``: the failing class's own code."""
    found = frames(error)
    start = 0
    for index, (frame, _) in enumerate(found):
        if frame.f_code.co_name == "from_config":
            start = index + 1
    return found[start:]


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return list(a) == list(b)
        return False
    try:
        return bool(a == b)
    except Exception:  # an object of the user's with an odd __eq__
        return False


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, (list, dict)):
        return repr(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError):  # not a JSON value (a local holding tensors)
        return ""


def distinctive(value: Any) -> bool:
    """A value whose text, found in a message, points at it: not a bare small number."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        return len(value) >= 2
    if isinstance(value, float):
        return not value.is_integer()
    return isinstance(value, (list, dict)) and bool(value)


def quoted_value(config: dict[str, Any], message: str) -> str | None:
    """The one key whose (distinctive) value the message quotes."""
    hits = []
    for key, value in config.items():
        if not distinctive(value):
            continue
        if _quotes(message, value):
            hits.append(key)
    return hits[0] if len(hits) == 1 else None


def _variables(frame: FrameType) -> Iterator[tuple[str, Any]]:
    yield from frame.f_locals.items()
    owner = frame.f_locals.get("self")
    try:
        attributes = vars(owner) if owner is not None else {}
    except TypeError:
        attributes = {}
    for name, value in list(attributes.items()):
        yield name.lstrip("_"), value


def read_value(config: dict[str, Any], error: BaseException, message: str) -> str | None:
    """The config key whose value the failing expression read: innermost frame first, a name
    of the expression that holds the very value the config gave that key.

    The values the innermost expression read are the ones that failed: in the frames around
    it, a key whose value is one of them is preferred to one that was only passed beside it
    (``Conv2D(filters=stem_filters, data_format=data_format)`` failing on ``self.filters``
    is about ``stem_filters``); and when no expression names a key, the one key holding a
    value the failure read is the key (``n + 2`` on ``n = self.num_mels``)."""
    failed: list[Any] | None = None  # what the innermost expression that read any read
    first: str | None = None
    for frame, lasti in reversed(_constructor_frames(error)[-_FRAMES:]):
        names = set(_IDENT.findall(_segment(frame, lasti)))
        if not names:
            continue
        read = [(n, v) for n, v in _variables(frame) if n in names and isinstance(v, _SCALARS)]
        if failed is None and read:
            failed = _failed_values(frame, read, message)
        hits = []
        for name, value in read:
            if name in config and isinstance(config[name], _SCALARS):
                if _same(value, config[name]) and name not in hits:
                    hits.append(name)
        flowing = [k for k in hits if any(_same(config[k], v) for v in failed or ())]
        if flowing:
            return _tiebreak(config, flowing, message)
        if hits and first is None:
            first = _tiebreak(config, hits, message)
    if first is not None:
        return first
    holders = [k for k, value in config.items() if any(_same(value, v) for v in failed or ())]
    return holders[0] if len(holders) == 1 else None


def _failed_values(frame: FrameType, read: list[tuple[str, Any]], message: str) -> list[Any]:
    """The values the innermost failing expression read; when it read none of its function's
    arguments (``raise ValueError(error_msg)`` in ``standardize_tuple(value, ...)``), the
    arguments whose value the message quotes too ("Received kernel_size=4")."""
    code = frame.f_code
    arguments = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    values = [value for _, value in read]
    if not any(name in arguments for name, _ in read):
        for name in arguments:
            value = frame.f_locals.get(name)
            if isinstance(value, (str, int, float)) and _quotes(message, value):
                values.append(value)
    # A bare number is no trace of a value: another key may hold the same 2 by chance.
    return [value for value in values if isinstance(value, str) or distinctive(value)]


def _quotes(message: str, value: Any) -> bool:
    text = _text(value)
    return bool(text) and re.search(rf"(?<![\w.]){re.escape(text)}(?!\w|\.\w)", message) is not None


def _tiebreak(config: dict[str, Any], hits: list[str], message: str) -> str | None:
    if len(hits) == 1:
        return hits[0]
    quoted = [k for k in hits if distinctive(config[k]) and _text(config[k]) in message]
    if len(quoted) == 1:
        return quoted[0]
    # An arithmetic or indexing TypeError ("'int' and 'str'"): the value that is not a
    # number is the one Keras could not use.
    named = [k for k in hits if f"'{type(config[k]).__name__}'" in message]
    odd = [k for k in (named or hits) if not isinstance(config[k], (int, float))]
    if len(odd) == 1:
        return odd[0]
    return None


def misspelt(config: dict[str, Any], missing: list[str], cls: type | None) -> str | None:
    """The key of the config that names a required argument Keras found missing wrongly:
    one the constructor does not take, spelt most like the missing one."""
    accepted = _accepted(cls) if cls is not None else frozenset()
    candidates = [k for k in config if k not in accepted and k not in missing]
    best, score = None, 0.0
    for name in missing:
        for key in candidates:
            ratio = difflib.SequenceMatcher(None, name, key).ratio()
            if name.startswith(key) or key.startswith(name):
                ratio = max(ratio, 0.8)
            if ratio > score:
                best, score = key, ratio
    return best if score >= 0.5 else None


@functools.lru_cache(maxsize=256)
def _accepted(cls: type) -> frozenset[str]:
    """The argument names of the constructors of ``cls`` and its bases (Python's own
    ``object`` aside)."""
    accepted: set[str] = set()
    for klass in inspect.getmro(cls):
        init = vars(klass).get("__init__")
        if init is None or klass is object or not inspect.isfunction(init):
            continue
        try:
            accepted |= set(inspect.signature(init).parameters)
        except (TypeError, ValueError):
            continue
    return frozenset(accepted)


def failing_class(error: BaseException) -> type | None:
    """The class whose ``from_config`` or constructor raised: the innermost ``cls``."""
    for frame, _ in reversed(frames(error)):
        cls = frame.f_locals.get("cls")
        if inspect.isclass(cls) and frame.f_code.co_name in ("from_config", "__init__"):
            return cls
        owner = frame.f_locals.get("self")
        if owner is not None and frame.f_code.co_name == "__init__":
            return type(owner)
    return None


def nested_load(error: BaseException) -> bool:
    """Whether the error went through the loading of an envelope inside the one loaded."""
    loads = [f for f, _ in frames(error) if f.f_code.co_name == "deserialize_keras_object"]
    return len(loads) > 1


def missing_key(error: BaseException, config: dict[str, Any]) -> str | None:
    """The key a ``from_config`` read from its config and did not find (a KeyError raised in
    the ``from_config`` itself: ``config["vision_encoder"]``), when it is not in ``config``."""
    innermost = chain(error)[-1]
    if not isinstance(innermost, KeyError) or len(innermost.args) != 1:
        return None
    key = innermost.args[0]
    if not isinstance(key, str) or key in config:
        return None
    tb = innermost.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None or tb.tb_frame.f_code.co_name != "from_config":
        return None
    return key


def failing_class_name(error: BaseException) -> str:
    cls = failing_class(error)
    return cls.__name__ if cls is not None else "the class"


def loaded_class(error: BaseException) -> type | None:
    """The class of the envelope that was loaded: the outermost ``from_config``'s ``cls``."""
    for frame, _ in frames(error):
        cls = frame.f_locals.get("cls")
        if inspect.isclass(cls) and frame.f_code.co_name == "from_config":
            return cls
    return None
