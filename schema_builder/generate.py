"""``layercfg new``: a valid serialized config for a catalog class, checked by ``from_config``."""

from __future__ import annotations

import difflib
import json
import os
import sys
import traceback
from typing import Any

from .keras_api import KerasAPI


class GenerateError(Exception):
    """A request that cannot give a valid config; the message is one line for the user."""


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON where they parse (``units=64``), strings otherwise."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise GenerateError(f"expected key=value, got {pair!r}")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def find_entry(catalog: dict[str, Any], name: str) -> dict[str, Any]:
    """The catalog entry for ``Dense``, ``keras.layers.Dense``, an alias, or ``pkg>Name``."""
    wanted = name.strip()
    for entry in catalog["classes"]:
        names = {entry["id"], entry["class_name"], *entry["aliases"]}
        if entry.get("registered_name"):
            names.add(entry["registered_name"])
        if wanted in names:
            return entry
    known = sorted({e["class_name"] for e in catalog["classes"]})
    close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise GenerateError(f"unknown class {wanted!r}{hint}")


def _checked_arguments(entry: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The config to try: the entry's minimal config with ``overrides``; an unknown argument,
    or a required one without a value (given, or sampled by the builder), is an error."""
    params = entry["params"]
    for key in overrides:
        if key not in params:
            close = difflib.get_close_matches(key, list(params), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise GenerateError(f"{entry['class_name']} has no argument {key!r}{hint}")
    config = dict(entry["minimal_config"])
    config.update(overrides)
    missing = [
        k
        for k, p in params.items()
        if p["required"] and k not in overrides and config.get(k) is None
    ]
    if missing:
        raise GenerateError(f"{entry['class_name']} needs a value for: {', '.join(missing)}")
    return config


def new_config(
    catalog: dict[str, Any],
    name: str,
    overrides: dict[str, Any],
    api: KerasAPI | None = None,
    custom_objects: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The serialized config of ``name`` with its defaults and ``overrides``, as Keras writes it.

    ``custom_objects``: the classes of the configured modules, for those not registered
    with Keras (Keras's loader is told them by name; nothing else is looked up)."""
    entry = find_entry(catalog, name)
    if entry["family"] == "model" and entry["class_name"] != "Sequential":
        raise GenerateError(
            f"{entry['class_name']} configs describe a graph of layers; start from Sequential"
        )
    config = _checked_arguments(entry, overrides)
    api = api or KerasAPI(catalog.get("implementation", "keras"))
    envelope = {
        "module": entry["module"],
        "class_name": entry["class_name"],
        "config": config,
        "registered_name": entry.get("registered_name"),
    }
    if entry.get("custom") and not envelope["registered_name"] and custom_objects:
        # Keras's loader finds an unregistered class among custom_objects by this name.
        envelope["registered_name"] = entry["class_name"]
    api.reset_global_state()  # default names count from the start, as in a fresh program
    try:
        instance = api.deserialize(envelope, custom_objects)
        written = api.serialize(instance)
        # The printed config must itself load: that is the promise of `new`.
        api.deserialize(json.loads(json.dumps(written)), custom_objects)
    except GenerateError:
        raise
    except Exception as exc:
        message = one_line(exc)
        if entry.get("custom"):
            # The user's own class: name it, and the line of its code that failed.
            place = user_place(exc)
            message = f"{entry['class_name']}: {message}" + (f" ({place})" if place else "")
        raise GenerateError(message) from None
    if not isinstance(written, dict):
        raise GenerateError(f"{entry['class_name']} did not serialize to a config")
    return written


def user_place(exc: BaseException) -> str | None:
    """``file:line, in function: code`` of the innermost frame of the error (or of what it
    was raised from) in the user's own code: not Keras's, an installed package's or
    layercfg's. The file is relative to the current directory when it is under it."""
    own = tuple(
        os.path.dirname(os.path.abspath(module.__file__)) + os.sep
        for module in (sys.modules.get("layercfg"), sys.modules[__name__])
        if module is not None and module.__file__
    )
    seen: set[int] = set()
    error: BaseException | None = exc
    found = None
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        for frame in traceback.extract_tb(error.__traceback__):
            name = frame.filename.replace("\\", "/")
            if name.startswith("<") or os.path.abspath(frame.filename).startswith(own):
                continue
            if "/site-packages/" in name or "/dist-packages/" in name or "/lib/python" in name:
                continue
            found = frame
        if found is not None:
            break
        error = error.__cause__ or error.__context__
    if found is None:
        return None
    path = os.path.abspath(found.filename)
    relative = os.path.relpath(path)
    shown = relative if not relative.startswith("..") else path
    code = (found.line or "").strip()
    return f"{shown}:{found.lineno}, in {found.name}" + (f": {code[:120]}" if code else "")


def sampled_note(catalog: dict[str, Any], name: str, overrides: dict[str, Any]) -> str | None:
    """What ``new`` filled in for required arguments left out: the builder's sample values
    (``units=4``), which make a valid config but hardly the user's model; None when none."""
    entry = find_entry(catalog, name)
    minimal = entry["minimal_config"]
    filled = [
        f"{key}={json.dumps(minimal[key])}"
        for key, param in entry["params"].items()
        if param["required"] and key not in overrides and minimal.get(key) is not None
    ]
    if not filled:
        return None
    keys = ", ".join(item.split("=", 1)[0] for item in filled)
    one = len(filled) == 1
    return (
        f"note: {', '.join(filled)} {'is a sample value' if one else 'are sample values'}: "
        f"{'a required argument' if one else 'required arguments'} without a default; give "
        f"{keys} on the command line for your model"
    )


def custom_objects_note(catalog: dict[str, Any], name: str) -> str | None:
    """What a program needs to load the config of a custom class Keras 3 cannot locate by
    itself: one that is not registered, in a module Keras does not import (it imports by
    module only from keras, keras_hub, keras_cv and keras_nlp); None for any other class."""
    if catalog.get("implementation", "keras") != "keras":
        return None  # tf_keras imports the module a config names
    entry = find_entry(catalog, name)
    module = entry.get("module") or ""
    if not entry.get("custom") or entry.get("registered_name"):
        return None
    if module.split(".")[0] in ("keras", "keras_hub", "keras_cv", "keras_nlp"):
        return None
    cls = entry["class_name"]
    return (
        f"note: {cls} is not registered with keras.saving.register_keras_serializable: "
        f"Keras loads this config only when the program passes custom_objects={{{cls!r}: "
        f"{cls}}} (from {module}), or once the class is registered"
    )


def one_line(exc: BaseException) -> str:
    """Keras wraps the useful message; keep its last meaningful line."""
    text = str(exc).strip()
    marker = "Exception encountered:"
    if marker in text:
        text = text.rsplit(marker, 1)[1].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    message = lines[-1] if lines else type(exc).__name__
    return f"{type(exc).__name__}: {message}"[:400]
