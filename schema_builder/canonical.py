"""The canonical form of a document, computed by Keras itself (in the worker).

``fill``: the document as Keras writes it, ``serialize(deserialize(document))``: every key
``get_config()`` writes, with its default where the document has none.
``prune``: the document without the config keys whose value is the default, keeping the
user's own spelling of the others; checked by loading both and comparing what Keras writes.

Safe mode is always on, and weights are never allocated (a stateless scope, as in the deep
check); a document Keras cannot load is refused with Keras's reason.
"""

from __future__ import annotations

import copy
import inspect
import json
import warnings
from typing import Any

from .generate import one_line as _one_line
from .keras_api import KerasAPI

MODES = ("fill", "prune")
_SPECIAL = {"__keras_tensor__", "__numpy__", "__tuple__", "__bytes__", "__lambda__", "function"}
_ENVELOPE_EXTRAS = ("build_config", "compile_config", "name", "inbound_nodes", "shared_object_id")

# Config keys of wrappers and RNNs that hold a layer of their own, pruned the same way.
_WRAPPED = ("layer", "backward_layer", "cell")


class CanonicalError(Exception):
    """The canonical form cannot be computed; the message is for the user."""

    kind = "canonical"


def canonical(value: Any, mode: str, api: KerasAPI) -> dict[str, Any]:
    """``{"value": the canonical document, "changed": bool}``."""
    if mode not in MODES:
        raise CanonicalError(f"unknown canonical mode {mode!r}; expected one of {MODES}")
    if not _is_envelope(value):
        raise CanonicalError("the document is not a serialized Keras object")
    full = _roundtrip(api, value)
    if mode == "fill":
        result = full
    else:
        result = _Pruner(api).envelope(value)
        if _comparable(_roundtrip(api, result)) != _comparable(full):
            raise CanonicalError(
                "removing the default values would change what Keras loads; nothing was removed"
            )
    return {"value": result, "changed": result != value}


def _is_envelope(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("class_name"), str)
        and value["class_name"] not in _SPECIAL
        and isinstance(value.get("config"), dict)
    )


def _plain(value: Any) -> Any:
    """What Keras wrote, as JSON values (tuples become lists, NumPy scalars numbers)."""

    def default(obj: Any) -> Any:
        if hasattr(obj, "tolist"):
            return obj.tolist()
        if hasattr(obj, "item"):
            return obj.item()
        raise TypeError(f"{type(obj).__name__} is not JSON")

    return json.loads(json.dumps(value, default=default))


def _load(api: KerasAPI, value: Any) -> Any:
    # Layer names come from per-session counters: a fresh session gives the same ones each
    # time, so that two loads of one document can be compared.
    from keras.src.backend.common.stateless_scope import StatelessScope

    api.reset_global_state()
    with warnings.catch_warnings(), StatelessScope(initialize_variables=False):
        warnings.simplefilter("ignore")
        try:
            return api.deserialize(copy.deepcopy(value))
        except Exception as exc:
            raise CanonicalError(f"Keras cannot load the document: {_one_line(exc)}") from None


def _roundtrip(api: KerasAPI, value: Any) -> Any:
    return _write(api, _load(api, value))


def _write(api: KerasAPI, obj: Any) -> Any:
    with warnings.catch_warnings(), api.safe_mode():
        warnings.simplefilter("ignore")
        try:
            return _plain(api.serialize(obj))
        except Exception as exc:
            raise CanonicalError(f"Keras cannot write the object: {_one_line(exc)}") from None


def _comparable(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class _Pruner:
    def __init__(self, api: KerasAPI):
        self.api = api

    def envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        """The envelope with the default-valued keys of its config (and of its model's
        layers, at any depth) left out."""
        config = value["config"]
        bare = {k: v for k, v in value.items() if k not in _ENVELOPE_EXTRAS}
        try:
            obj = _load(self.api, bare)
            written = _write(self.api, obj)["config"]
        except CanonicalError:
            obj = written = None  # a model's layer that cannot stand alone: kept as it is
        required = _required(type(obj)) if obj is not None else None
        defaults = self.defaults(bare, required) if required is not None else None
        pruned: dict[str, Any] = {}
        for key, item in config.items():
            if key == "layers" and isinstance(item, list):
                pruned[key] = [self.envelope(x) if _is_envelope(x) else x for x in item]
                continue
            if (
                key != "name"
                and key not in (required or ())
                and defaults is not None
                and key in defaults
                and isinstance(written, dict)
                and _comparable(written.get(key)) == _comparable(defaults[key])
            ):
                continue
            pruned[key] = self.envelope(item) if key in _WRAPPED and _is_envelope(item) else item
        if written is not None and defaults is not None and pruned != config:
            check = _roundtrip(self.api, {**bare, "config": pruned})["config"]
            if _comparable(_without_name(check, config)) != _comparable(
                _without_name(written, config)
            ):
                return value  # a default that depends on another key: keep this one whole
        return {**value, "config": pruned}

    def defaults(self, envelope: dict[str, Any], required: list[str]) -> dict[str, Any] | None:
        """What Keras writes for this class given only its required arguments (the user's
        values for them, so that defaults depending on them come out right)."""
        config = envelope["config"]
        minimal = {k: config[k] for k in (*required, "name") if k in config}
        if any(k not in config for k in required):
            return None
        try:
            return _roundtrip(self.api, {**envelope, "config": minimal})["config"]
        except CanonicalError:
            return None  # a class that needs more than its signature says (a model)


def _required(cls: type) -> list[str] | None:
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [
        p.name
        for p in list(signature.parameters.values())[1:]
        if p.kind in kinds and p.default is inspect.Parameter.empty
    ]


def _without_name(config: Any, user: dict[str, Any]) -> Any:
    """A config without the name Keras made up where the user wrote none."""
    if isinstance(config, dict) and "name" not in user:
        return {k: v for k, v in config.items() if k != "name"}
    return config
