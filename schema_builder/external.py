"""``layercfg new`` for the layers that wrap an external model: ``tensorflow_hub.KerasLayer``
(tf_keras) and ``keras.layers.TFSMLayer`` (Keras 3), and ``--wrap Sequential`` for any layer.

Runs in the CLI, on the user's own command line: a local SavedModel they named is loaded here
to check the config (that is what they asked for); a URL is never downloaded, only checked
by its shape, or loaded from a complete copy in the tensorflow_hub cache. The deep check of a
document never comes here.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from typing import Any

from . import handles
from .generate import GenerateError, _checked_arguments, find_entry, one_line
from .keras_api import KerasAPI

HUB_NAMES = (
    "KerasLayer",
    "hub.KerasLayer",
    "tensorflow_hub.KerasLayer",
    "tensorflow_hub.keras_layer.KerasLayer",
    "tensorflow_hub>KerasLayer",
)
TFSM_NAMES = ("TFSMLayer", "keras.layers.TFSMLayer")
HUB_MODULE = "tensorflow_hub.keras_layer"
# What KerasLayer.get_config() writes after the base Layer's keys, in its order.
_HUB_KEYS = (
    "handle",
    "output_shape",
    "arguments",
    "signature",
    "output_key",
    "signature_outputs_as_dict",
)
TFSM_SAFE_MODE = (
    "Keras loads this config only with safe_mode=False "
    "(keras.saving.deserialize_keras_object(config, safe_mode=False), or "
    "keras.config.enable_unsafe_deserialization()): a SavedModel carries a TensorFlow graph "
    "that runs when it is loaded, which safe mode does not trust; load it only from a "
    "folder you trust."
)
DEFAULT_TEXT_INPUT = ([], "string")


@dataclass
class Generated:
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # for stderr: how it was checked


def kind_of(name: str) -> str | None:
    if name in HUB_NAMES:
        return "hub"
    if name in TFSM_NAMES:
        return "tfsm"
    return None


# -- tensorflow_hub.KerasLayer ---------------------------------------------------------------


def hub_rules(
    config: dict[str, Any], form: str | None, found: dict[str, handles.Endpoint] | None = None
) -> str | None:
    """What ``KerasLayer.__init__`` (and its call) would refuse, said before loading; None
    when nothing is wrong. ``form`` is the handle's format when known (``"tf1_hub"`` defaults
    the signature and output key to ``"default"``)."""
    signature = config.get("signature")
    as_dict = config.get("signature_outputs_as_dict")
    output_key = config.get("output_key")
    if form == "tf1_hub":
        signature = signature or "default"
        if not as_dict:
            output_key = output_key or "default"
    if signature is not None and not isinstance(signature, str):
        return "`signature` must be a string (the name of a signature of the SavedModel)"
    if signature and (output_key is not None) == bool(as_dict):
        return (
            "with a `signature`, set exactly one of `output_key` and "
            "`signature_outputs_as_dict=true`"
        )
    if not signature and as_dict:
        return (
            "`signature_outputs_as_dict` is only valid with a `signature` (or a model in "
            "the TF1 Hub format)"
        )
    if config.get("trainable") is True and (form == "tf1_hub" or signature):
        where = "the TF1 Hub format" if form == "tf1_hub" else "a SavedModel signature"
        return f"`trainable=true` is unsupported with {where}: it cannot be trained"
    arguments = config.get("arguments")
    if arguments is not None and not isinstance(arguments, dict):
        return "`arguments` must be a JSON object of keyword arguments for the model"
    shape = config.get("output_shape")
    if shape is not None and not isinstance(shape, (list, dict)):
        return "`output_shape` must be a list (or a nest of lists) of dimensions"
    if signature and form == "saved_model" and found is not None:
        names = sorted(n for n, e in found.items() if e.signature)
        if signature not in names:
            return (
                f"`signature` {signature!r} is not a signature of the SavedModel; it has: "
                f"{', '.join(names) or 'none'}"
            )
        outputs = found[signature].outputs
        if isinstance(output_key, str) and outputs and output_key not in outputs:
            return (
                f"`output_key` {output_key!r} is not an output of the signature "
                f"{signature!r}; it has: {', '.join(outputs)}"
            )
    return None


# The arguments a ``hub_rules`` message can be about, in the order they are looked for.
_RULE_KEYS = (
    "trainable",
    "signature_outputs_as_dict",
    "output_key",
    "signature",
    "arguments",
    "output_shape",
)


def hub_rule_key(problem: str, config: dict[str, Any]) -> str | None:
    """The argument a ``hub_rules`` message is about (the first one it names), if the config
    has it: where the finding goes."""
    named = [(problem.find(f"`{k}"), k) for k in _RULE_KEYS if f"`{k}" in problem and k in config]
    return min(named)[1] if named else None


def new_hub_layer(
    catalog: dict[str, Any],
    overrides: dict[str, Any],
    api: KerasAPI,
    wrap: str | None = None,
    input_shape: list | None = None,
    input_dtype: str | None = None,
    base: str | None = None,
) -> Generated:
    hub_cls = api.hub_layer_class()
    if hub_cls is None:
        raise GenerateError(
            "KerasLayer needs tensorflow_hub and tf_keras: install the hub extra (see the README)"
        )
    entry = find_entry(catalog, "KerasLayer")
    config = _checked_arguments(entry, overrides)
    original = config["handle"]
    check = handles.check_handle(original, base=base, hub=True)
    if not check.ok:
        raise GenerateError(f"KerasLayer handle: {check.message}")
    found = (
        handles.endpoints(check.local) if check.local and check.format == "saved_model" else None
    )
    problem = hub_rules(config, check.format, found)
    if problem:
        raise GenerateError(f"KerasLayer: {problem}")
    notes = [*check.notes]
    if "tags" in config:
        notes.append("`tags` is not written by KerasLayer.get_config(): left out")
    shape, dtype, guessed = _input_spec(input_shape, input_dtype, found, config)
    api.reset_global_state()
    if check.local:
        generated = _hub_loaded(api, hub_cls, config, check, wrap, shape, dtype)
        notes.insert(0, check.how_checked)
    else:
        generated = _hub_static(catalog, api, config, wrap, shape, dtype)
        notes.insert(
            0,
            "checked statically: the URL is not cached, never downloaded; "
            "the config follows what KerasLayer.get_config() writes and matches "
            "the tf_keras schema",
        )
    if wrap and guessed:
        notes.append(
            f"input: {_spec_text(shape, dtype)} assumed (a text embedding); give "
            "--input-shape and --input-dtype for other models"
        )
    notes.extend(_relative_note("handle", original, check, base))
    generated.notes = notes
    return generated


def _relative_note(key: str, given: str, check: handles.HandleCheck, base: str | None) -> list[str]:
    """A relative folder is written as given, from ``base`` (the current directory), while
    the deep check resolves it against the document's folder: say so."""
    if check.local is None or os.path.isabs(os.path.expanduser(given)):
        return []
    return [
        f"{key} {given!r} is written as given, a relative path: `layercfg check --deep` "
        f"resolves it against the document's folder, so save the config in "
        f"{base or os.getcwd()} or give an absolute path"
    ]


def _hub_envelope(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "module": HUB_MODULE,
        "class_name": "KerasLayer",
        "config": config,
        "registered_name": "KerasLayer",
    }


def _hub_loaded(
    api: KerasAPI,
    hub_cls: type,
    config: dict[str, Any],
    check: handles.HandleCheck,
    wrap: str | None,
    shape,
    dtype,
) -> Generated:
    """Load the SavedModel the user named (a local folder or a complete cached copy) through
    Keras's safe loader, and print what tf_keras writes, with the handle as given."""
    custom = {"KerasLayer": hub_cls}
    local = {**config, "handle": check.local}
    try:
        layer = api.deserialize(_hub_envelope(local), custom)
        target = _sequential(api, layer, shape, dtype) if wrap else layer
        written = json.loads(json.dumps(api.serialize(target)))
        inner = written["config"]["layers"][-1] if wrap else written
        # The printed config must load: again, from the same folder.
        api.reset_global_state()
        api.deserialize(copy.deepcopy(written), custom)
        inner["config"]["handle"] = check.handle
    except GenerateError:
        raise
    except Exception as exc:
        raise GenerateError(one_line(exc)) from None
    return Generated(written)


def _hub_static(
    catalog: dict[str, Any], api: KerasAPI, config: dict[str, Any], wrap: str | None, shape, dtype
) -> Generated:
    """What tf_keras would write for a KerasLayer whose model is not here: the base Layer's
    keys as tf_keras computes them, then KerasLayer's own, as its get_config() adds them."""
    base_keys = {k: v for k, v in config.items() if k not in _HUB_KEYS and k != "tags"}
    base_keys.setdefault("name", "keras_layer")
    base_keys.setdefault("trainable", False)

    class KerasLayer(api.keras.layers.Layer):  # a stand-in with KerasLayer's name, no model
        def get_config(self) -> dict[str, Any]:
            return super().get_config()

    try:
        layer_config = KerasLayer(**base_keys).get_config()
    except Exception as exc:
        raise GenerateError(one_line(exc)) from None
    for key in _HUB_KEYS:
        value = config.get(key)
        if (
            key == "handle"
            or (key in ("signature", "output_key") and value is not None)
            or (key not in ("handle", "signature", "output_key") and value)
        ):
            layer_config[key] = value
    envelope = json.loads(json.dumps(_hub_envelope(layer_config)))
    if wrap:
        try:
            input_layer = api.serialize(api.keras.layers.InputLayer(input_shape=shape, dtype=dtype))
        except Exception as exc:
            raise GenerateError(one_line(exc)) from None
        batch = [None, *shape]
        envelope["build_config"] = {"input_shape": batch}
        envelope = json.loads(
            json.dumps(
                {
                    "module": "keras",
                    "class_name": "Sequential",
                    "config": {"name": "sequential", "layers": [input_layer, envelope]},
                    "registered_name": None,
                    "build_config": {"input_shape": batch},
                }
            )
        )
    _match_schema(catalog, envelope)
    return Generated(envelope)


def _match_schema(catalog: dict[str, Any], envelope: dict[str, Any]) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(catalog["schema"])
    error = jsonschema.exceptions.best_match(validator.iter_errors(envelope))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the config"
        raise GenerateError(
            f"KerasLayer config does not match the tf_keras schema at {where}: {error.message}"[
                :400
            ]
        )


# -- keras.layers.TFSMLayer --------------------------------------------------------------------


def new_tfsm_layer(
    catalog: dict[str, Any],
    overrides: dict[str, Any],
    api: KerasAPI,
    wrap: str | None = None,
    input_shape: list | None = None,
    input_dtype: str | None = None,
    base: str | None = None,
) -> Generated:
    entry = find_entry(catalog, "TFSMLayer")
    config = _checked_arguments(entry, overrides)
    original = config["filepath"]
    check = handles.check_handle(original, base=base, hub=False)
    if not check.ok:
        raise GenerateError(f"TFSMLayer filepath: {check.message}")
    found = handles.endpoints(check.local)
    params = entry["params"]
    if found is not None:
        available = ", ".join(sorted(found)) or "none"
        for key in ("call_endpoint", "call_training_endpoint"):
            value = config.get(key, params.get(key, {}).get("default"))
            if value is not None and value not in found:
                given = "" if key in config else " (the default)"
                raise GenerateError(
                    f"TFSMLayer {key} {value!r}{given} is not an endpoint of "
                    f"the SavedModel at {check.local}; it has: {available}"
                )
    endpoint = config.get("call_endpoint", params.get("call_endpoint", {}).get("default"))
    chosen = found.get(endpoint) if found and isinstance(endpoint, str) else None
    shape, dtype, guessed = _input_spec(
        input_shape, input_dtype, {endpoint: chosen} if chosen else None, {}
    )
    api.reset_global_state()
    try:
        # The user's own folder, named on their command line: constructed here, since the
        # safe loader refuses TFSMLayer (below). Never on a document's behalf.
        layer = api.keras.layers.TFSMLayer(**{**config, "filepath": check.local})
        target = _sequential(api, layer, shape, dtype) if wrap else layer
        written = json.loads(json.dumps(api.serialize(target)))
    except GenerateError:
        raise
    except Exception as exc:
        raise GenerateError(one_line(exc)) from None
    inner = written["config"]["layers"][-1] if wrap else written
    inner["config"]["filepath"] = original
    notes = [
        f"loaded from the SavedModel at {check.local} (endpoint {endpoint!r} checked "
        f"in its saved_model.pb)",
        TFSM_SAFE_MODE,
    ]
    if wrap and guessed:
        notes.append(
            f"input: {_spec_text(shape, dtype)} assumed; give --input-shape and --input-dtype"
        )
    notes.extend(_relative_note("filepath", original, check, base))
    return Generated(written, notes)


# -- --wrap Sequential ---------------------------------------------------------------------------


def wrap_layer(
    api: KerasAPI,
    layer_config: dict[str, Any],
    shape: list | None,
    dtype: str | None,
    custom_objects: dict[str, Any] | None = None,
) -> Generated:
    """A minimal Sequential model around an already checked layer config."""
    if shape is None:
        raise GenerateError(
            "--wrap Sequential needs --input-shape (without the batch "
            "dimension), e.g. --input-shape [32]"
        )
    api.reset_global_state()
    try:
        layer = api.deserialize(copy.deepcopy(layer_config), custom_objects)
        written = json.loads(
            json.dumps(api.serialize(_sequential(api, layer, shape, dtype or "float32")))
        )
        api.reset_global_state()
        api.deserialize(copy.deepcopy(written), custom_objects)
    except GenerateError:
        raise
    except Exception as exc:
        raise GenerateError(one_line(exc)) from None
    return Generated(written)


def _sequential(api: KerasAPI, layer: Any, shape: list, dtype: str) -> Any:
    keras = api.keras
    if api.legacy:
        return keras.Sequential([keras.layers.InputLayer(input_shape=shape, dtype=dtype), layer])
    return keras.Sequential([keras.Input(shape=tuple(shape), dtype=dtype), layer])


def _input_spec(
    shape: list | None,
    dtype: str | None,
    found: dict[str, handles.Endpoint] | None,
    config: dict[str, Any],
) -> tuple[list, str, bool]:
    """(shape, dtype, guessed): the options, else the one input of the signature used, else
    a batch of strings (what a text embedding takes)."""
    if shape is not None:
        return shape, dtype or "float32", False
    if found:
        name = config.get("signature") or "serving_default"
        endpoint = found.get(name) or next(iter(found.values()))
        if endpoint.signature and len(endpoint.inputs) == 1:
            ((found_dtype, found_shape),) = endpoint.inputs.values()
            if found_shape is not None:
                return found_shape, dtype or found_dtype, False
    default_shape, default_dtype = DEFAULT_TEXT_INPUT
    return list(default_shape), dtype or default_dtype, True


def _spec_text(shape: list, dtype: str) -> str:
    return f"shape [{', '.join('None' if d is None else str(d) for d in shape)}] of {dtype}"
