"""The deep check: Keras's own ``deserialize_keras_object`` (safe mode, always) run on a config,
with errors located at the key a person would fix, shapes propagated without allocating
weights, and the classic serialization defects of custom classes found.

Runs in the Keras worker. Findings carry JSON paths; the server turns them into ranges.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from . import handles
from .handles import hub_cache  # noqa: F401  (where callers have found it)
from .keras_api import KerasAPI

Path = tuple[str | int, ...]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_UNKNOWN_KWARG = re.compile(
    r"(?:unexpected keyword argument|Unrecognized keyword arguments?[^{]*\{)\s*'([^']+)'")
_MISSING_ARG = re.compile(r"missing \d+ required (?:positional|keyword-only) arguments?: (.+)")
_IDENTIFIER = re.compile(r"Could not interpret [\w ]*identifier: (.+?)(?:\.|$)", re.M)
_UNKNOWN_CLASS = re.compile(r"(?:Could not locate (?:class|function) |Unknown \w+: )'?([\w.>]+)'?")
_BACKTICK_ARG = re.compile(r"`(\w+)`")
_RECEIVED = re.compile(r"Received:? (\w+)=")
_SPECIAL = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__",
            "__slice__", "__typespec__", "__tuple__"}
# Modules whose functions a config may name in a ``function`` envelope: Keras writes
# "builtins" for its own activations, losses and the like. A function of any other Keras
# namespace (keras.config.set_floatx, keras.utils.get_file, keras.applications.ResNet50, ...)
# has effects beyond modeling and is never given to Keras.
# The largest saved_model.pb whose endpoints the deep check reads (it parses the graph whole).
_ENDPOINTS_MAX_BYTES = 64 << 20
_MODELING_FUNCTIONS = ("activations", "constraints", "initializers", "losses", "metrics",
                       "optimizers", "regularizers", "ops", "random")


def _modeling_function(module: str) -> bool:
    if module == "builtins":
        return True
    parts = module.split(".")
    if parts[0] != "keras":
        return True  # not Keras's: Keras's loader resolves it from configured modules only
    rest = parts[2:] if len(parts) > 1 and parts[1] == "src" else parts[1:]
    return bool(rest) and rest[0] in _MODELING_FUNCTIONS


def _buildable_bases(keras: Any) -> tuple[type, ...]:
    """The classes whose subclasses a config may name: what Keras builds from a config."""
    from keras.src.saving.keras_saveable import KerasSaveable

    bases: list[type] = [KerasSaveable]
    for owner, name in ((keras.initializers, "Initializer"), (keras.regularizers, "Regularizer"),
                        (keras.constraints, "Constraint"), (keras, "DTypePolicy"),
                        (keras.optimizers.schedules, "LearningRateSchedule"),
                        (keras.random, "SeedGenerator"), (keras, "quantizers")):
        found = getattr(owner, name, None)
        if name == "quantizers":
            found = getattr(found, "Quantizer", None) if found is not None else None
        if inspect.isclass(found):
            bases.append(found)
    return tuple(bases)


def _in_modules(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == m or name.startswith(f"{m}.") for m in modules)


@dataclass
class DeepFinding:
    path: Path
    part: str  # "value", "key" or "open", as the fast checks use them
    code: str
    message: str
    severity: int = 1
    data: dict[str, Any] | None = None
    related: list[dict[str, Any]] = field(default_factory=list)  # {file, line, message}


@dataclass
class LayerInfo:
    path: Path  # the layer's envelope
    name: str
    class_name: str
    output_shape: str | None
    params: int


def clean_message(exc: BaseException) -> str:
    """The useful part of what Keras raised: it wraps the real message, sometimes twice."""
    text = _ANSI.sub("", str(exc)).strip()
    for marker in ("Exception encountered:", "Exception encountered when calling"):
        if marker in text:
            tail = text.rsplit(marker, 1)[1]
            lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
            body = [ln for ln in lines[1:] if not ln.startswith(("Arguments received", "•"))]
            text = " ".join(body) if body else (lines[0] if lines else text)
    text = re.sub(r"\s*Full (?:object )?config: .*", "", text, flags=re.S)
    text = re.sub(r"\s*config=\{.*", "", text, flags=re.S)
    return f"{type(exc).__name__}: {' '.join(text.split())[:500]}"


def _envelopes(value: Any, path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Envelopes below ``value`` (not ``value`` itself), outer first."""
    stack: list[tuple[Any, Path]] = []
    if isinstance(value, dict):
        stack += [(v, (*path, k)) for k, v in reversed(list(value.items()))]
    elif isinstance(value, list):
        stack += [(v, (*path, i)) for i, v in reversed(list(enumerate(value)))]
    while stack:
        node, here = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("class_name"), str) and "config" in node:
                yield here, node
            stack += [(v, (*here, k)) for k, v in reversed(list(node.items()))]
        elif isinstance(node, list):
            stack += [(v, (*here, i)) for i, v in reversed(list(enumerate(node)))]


class DeepChecker:
    def __init__(
        self,
        api: KerasAPI,
        custom_objects: dict[str, Any] | None = None,
        memory_bytes: int = 2048 * 2**20,
        modules: tuple[str, ...] = (),
        base: str | None = None,
    ):
        self.api = api
        self.memory_bytes = memory_bytes
        # The document's folder: relative handles and filepaths resolve against it.
        self.base = base if isinstance(base, str) and os.path.isabs(base) else None
        self.keras = api.keras
        self.custom_objects = custom_objects or {}
        # The configured (and trusted) modules: the only ones custom classes come from.
        self.modules = tuple(modules)
        from keras.src.backend.common.stateless_scope import StatelessScope
        from keras.src.saving import serialization_lib

        self._stateless = StatelessScope
        self._non_modeling = serialization_lib.NON_MODELING_APIS
        self._buildable = _buildable_bases(self.keras)

    # -- entry point -----------------------------------------------------------------------------
    def check(self, value: Any) -> dict[str, Any]:
        self._reset()  # whatever the last document did to Keras's global state is undone
        try:
            with self.api.safe_mode():
                return self._check(value)
        finally:
            self._reset()  # the next check starts from a clean Keras, as after a finding

    def _check(self, value: Any) -> dict[str, Any]:
        findings: list[DeepFinding] = []
        layers: list[LayerInfo] = []
        unsafe = self._scan(value, findings)
        self._reset()
        if not isinstance(value, dict) or "class_name" not in value:
            return self._result(findings, layers, None)
        if not unsafe:
            model, error, caught = self._deserialize(value)
            findings += self._warnings(value, caught)
            if error is None:
                layers = self._layers(value, model)
                findings += self._too_big(layers)
                findings += self._custom_defects(value, unsafe=unsafe)
                total = sum(info.params for info in layers) if layers else _params(model)
                return self._result(findings, layers, total)
            too_deep = self._too_deep(value, error)
            if too_deep is not None:
                # Loading each layer alone would not fail, and would take minutes on a model
                # this deep: the reason is known, so say it now.
                error = None
                findings.append(too_deep)
                findings += self._custom_defects(value, unsafe=unsafe)
                return self._result(findings, layers, None)
        else:
            error = None
        located = self._locate(value, unsafe)
        if not located and error is not None:
            located = [self._finding_for(value, (), error)]
        findings += located
        failed = {f.path[:-1] for f in located if f.path and f.path[-1] == "class_name"}
        findings += self._custom_defects(value, failed, unsafe)
        return self._result(findings, layers, None)

    def _result(self, findings, layers, total) -> dict[str, Any]:
        self._reset()
        unique: dict[tuple, DeepFinding] = {}
        for finding in findings:
            unique.setdefault((finding.path, finding.code, finding.message), finding)
        return {
            "findings": [asdict(f) for f in unique.values()],
            "layers": [asdict(info) for info in layers],
            "total_params": total,
        }

    def _reset(self) -> None:
        """Forget what the last check created or changed: names, deferred variables, shared
        objects, Keras's global settings."""
        self.api.reset_global_state()

    # -- Keras, without allocating weights ---------------------------------------------------------
    def _deserialize(self, envelope: dict[str, Any]) -> tuple[Any, BaseException | None, list]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with self._stateless(initialize_variables=False):
                    obj = self.api.deserialize(copy.deepcopy(envelope), self.custom_objects)
            except Exception as exc:  # Keras's refusal is the finding
                return None, exc, list(caught)
        return obj, None, list(caught)

    def _too_deep(self, value: dict[str, Any], error: BaseException) -> DeepFinding | None:
        """The finding for a model whose graph Keras itself recurses through too deeply."""
        recursion = _recursion_error(error)
        if recursion is None:
            return None
        where = _recursing_function(recursion)
        package = self.keras.__name__
        if where is None or not (where == package or where.startswith(f"{package}.")):
            return None  # a recursion in user code: the locating pass finds its layer
        limit = sys.getrecursionlimit()
        config = value.get("config") if isinstance(value.get("config"), dict) else {}
        entries = config.get("layers")
        count = len(entries) if isinstance(entries, list) else None
        size = f"; it has {count:,} layers" if count is not None else ""
        message = (f"Keras cannot load this model: its layer graph is deeper than Python's "
                   f"recursion limit ({limit:,}) lets Keras walk (RecursionError in {where}"
                   f"{size}). A program that loads it must raise sys.setrecursionlimit first, "
                   "or the model must have fewer layers in a chain.")
        return DeepFinding(("class_name",), "value", "LCF301", message,
                           data={"recursionLimit": limit, "function": where, "layers": count})

    def _warnings(self, value: dict[str, Any], caught: list) -> list[DeepFinding]:
        out = []
        names = _layer_names(value)
        for item in caught:
            if not issubclass(item.category, UserWarning):
                continue
            message = " ".join(str(item.message).split())
            path: Path = ("class_name",)
            for name, layer_path in names.items():
                if f"'{name}'" in message or f'"{name}"' in message:
                    path = (*layer_path, "class_name")
                    break
            if "build" in message and "build_config" in value and path == ("class_name",):
                path, part = ("build_config",), "value"
            else:
                part = "value"
            out.append(DeepFinding(path, part, "LCF305", f"Keras warned while loading: {message}",
                                   severity=2))
        return out

    # -- safety scan (nothing is executed) ---------------------------------------------------------
    def _scan(self, value: Any, findings: list[DeepFinding]) -> set[Path]:
        """Envelopes Keras must never be given: bytecode, non-modeling APIs, handles."""
        unsafe: set[Path] = set()
        root = [((), value)] if isinstance(value, dict) and "class_name" in value else []
        for path, envelope in [*root, *_envelopes(value)]:
            class_name = envelope.get("class_name")
            module = envelope.get("module") or ""
            if class_name == "__lambda__":
                unsafe.add(path)
                findings.append(DeepFinding(
                    (*path, "class_name"), "value", "LCF303",
                    "Python bytecode (a lambda) in the config: refused by safe mode and never "
                    "executed. Replace the Lambda layer with a registered custom layer."))
            elif class_name == "function" and f"{module}.{envelope.get('config')}" in \
                    self._non_modeling:
                unsafe.add(path)
                findings.append(DeepFinding(
                    (*path, "config"), "value", "LCF303",
                    f"`{module}.{envelope.get('config')}` is not a modeling function; Keras "
                    "refuses it while loading a config."))
            elif class_name == "function" and isinstance(module, str) and \
                    not _modeling_function(module):
                unsafe.add(path)
                findings.append(DeepFinding(
                    (*path, "module"), "value", "LCF303",
                    f"`{module}.{envelope.get('config')}` is not an activation, loss, metric "
                    "or other modeling function: a config has no business calling it, and it "
                    "is not loaded by the deep check."))
            elif f"{module}.{class_name}" in self._non_modeling:
                unsafe.add(path)
                findings.append(DeepFinding(
                    (*path, "class_name"), "value", "LCF303",
                    f"`{module}.{class_name}` is not a modeling API; Keras refuses it."))
            elif isinstance(class_name, str) and class_name not in _SPECIAL and \
                    class_name != "function" and isinstance(module, str) and \
                    not self._builds_an_object(module, class_name):
                # Keras's loader returns whatever its exported names map to, functions
                # included, without calling it; a Lambda or a node may call it later.
                unsafe.add(path)
                findings.append(DeepFinding(
                    (*path, "class_name"), "value", "LCF303",
                    f"`{module}.{class_name}` is not a layer, model or other Keras object "
                    "that a config describes; it is not loaded by the deep check."))
            elif class_name == "TFSMLayer":
                unsafe.add(path)
                findings.append(DeepFinding(
                    (*path, "class_name"), "value", "LCF303",
                    "TFSMLayer loads a SavedModel, which safe mode refuses; it is not loaded "
                    "by the deep check."))
                findings += self._handle(envelope, path, "filepath", hub=False)
            elif class_name == "KerasLayer" or str(envelope.get("registered_name") or "") \
                    .endswith(">KerasLayer"):
                unsafe.add(path)
                findings += self._handle(envelope, path, "handle", hub=True)
        return unsafe

    def _builds_an_object(self, module: str, class_name: str) -> bool:
        """Whether a class envelope of a Keras module names a class Keras builds from a
        config (a layer, model, initializer, ...), as Keras's loader would resolve it; True
        for anything Keras would not resolve at all (it refuses that itself)."""
        root = module.split(".")[0]
        if root != "keras":
            return True
        target = self.keras.src.api_export.get_symbol_from_name(f"{module}.{class_name}") \
            if hasattr(self.keras, "src") else None
        if target is None:
            loaded = sys.modules.get(module)
            if loaded is None:
                try:
                    loaded = importlib.import_module(module)
                except Exception:  # Keras fails on it the same way, and says so
                    return True
            target = vars(loaded).get(class_name)
        if target is None:
            return True
        return inspect.isclass(target) and issubclass(target, self._buildable)

    def unsafe_parts(self, value: Any) -> list[DeepFinding]:
        """What the safety scan refuses in ``value``; nothing is loaded to find it."""
        findings: list[DeepFinding] = []
        self._scan(value, findings)
        return findings

    def _handle(self, envelope: dict[str, Any], path: Path, key: str, hub: bool):
        """The handle (KerasLayer) or filepath (TFSMLayer), checked offline: nothing is
        loaded or downloaded; the SavedModel's endpoints are read from its saved_model.pb."""
        config = envelope.get("config") if isinstance(envelope.get("config"), dict) else {}
        handle = config.get(key)
        where = (*path, "config", key)
        status = ""
        if hub:
            status = (" tensorflow_hub.KerasLayer subclasses the Keras 2 (tf_keras) Layer and "
                      "cannot be used in a Keras 3 model; keras.layers.TFSMLayer is the Keras 3 "
                      "equivalent for a local SavedModel.")
        if not isinstance(handle, str) or not handle:
            return [DeepFinding(where if key in config else (*path, "config"),
                                "value" if key in config else "open", "LCF306",
                                f"`{key}` must be a SavedModel path or URL.{status}")]
        replacement = {"module": "keras.layers", "class_name": "TFSMLayer",
                       "config": {"filepath": handle, "call_endpoint": "serving_default"},
                       "registered_name": None}
        data = {"replacement": replacement} if hub else None
        check = handles.check_handle(handle, base=self.base, hub=hub)
        notes = "".join(f" ({note})" for note in check.notes)
        if check.kind == "url" and check.ok and check.local:
            data = {**(data or {}), "cached": check.local}
            replacement["config"]["filepath"] = check.local
            found = [DeepFinding(where, "value", "LCF306",
                                 f"Not downloaded (no network): a cached copy is at "
                                 f"{check.local}.{status}", severity=3, data=data)] if hub else []
            return found + self._hub_rules(config, path, check)
        if check.kind == "url" and check.ok:
            cache = os.path.dirname(check.cache) if check.cache else hub_cache()[0]
            return [DeepFinding(where, "value", "LCF306",
                                f"{handle!r} is a URL that layercfg never downloads, and no "
                                f"complete cached copy was found in {cache}{notes}.{status}",
                                severity=2, data=data)]
        if not check.ok:
            message = check.message[:1].upper() + check.message[1:]
            return [DeepFinding(where, "value", "LCF306", f"{message}.{status}", data=data)]
        if hub:
            return [DeepFinding(where, "value", "LCF306", status.strip(), severity=2,
                                data=data)] + self._hub_rules(config, path, check)
        return self._endpoints(config, path, check)

    def _hub_rules(self, config: dict[str, Any], path: Path,
                   check: handles.HandleCheck) -> list[DeepFinding]:
        """What KerasLayer's constructor would refuse, for a model that is here."""
        from .external import hub_rules

        found = handles.endpoints(check.local, _ENDPOINTS_MAX_BYTES) \
            if check.local and check.format == "saved_model" else None
        problem = hub_rules(config, check.format, found)
        if problem is None:
            return []
        key = next((k for k in ("trainable", "signature_outputs_as_dict", "output_key",
                                "signature", "arguments", "output_shape")
                    if f"`{k}" in problem and k in config), None)
        where = (*path, "config", key) if key else (*path, "class_name")
        return [DeepFinding(where, "value", "LCF301", f"KerasLayer would refuse this: {problem}.")]

    def _endpoints(self, config: dict[str, Any], path: Path,
                   check: handles.HandleCheck) -> list[DeepFinding]:
        """TFSMLayer's call endpoints, against what the SavedModel has."""
        found = handles.endpoints(check.local, _ENDPOINTS_MAX_BYTES) if check.local else None
        if not found:
            return []  # unreadable: nothing to say about the endpoints
        out = []
        for key, default in (("call_endpoint", "serve"), ("call_training_endpoint", None)):
            value = config.get(key, default)
            if isinstance(value, str) and value not in found:
                given = "" if key in config else " (the default)"
                out.append(DeepFinding(
                    (*path, "config", key) if key in config else (*path, "config"),
                    "value" if key in config else "open", "LCF306",
                    f"{key} {value!r}{given} is not an endpoint of the SavedModel at "
                    f"{check.local}; it has: {', '.join(sorted(found))}.",
                    data={"endpoints": sorted(found)}))
        return out

    # -- locating a failure, bottom-up -------------------------------------------------------------
    def _locate(self, value: dict[str, Any], unsafe: set[Path]) -> list[DeepFinding]:
        config = value.get("config")
        entries = config.get("layers") if isinstance(config, dict) else None
        if isinstance(entries, list):
            found = []
            for index, entry in enumerate(entries):
                path: Path = ("config", "layers", index)
                if not isinstance(entry, dict) or any(p[: len(path)] == path for p in unsafe):
                    continue
                plain = {k: v for k, v in entry.items() if k not in ("name", "inbound_nodes")}
                finding = self._check_envelope(plain, path)
                if finding is not None:
                    found.append(finding)
            if found or unsafe:
                return found
            return self._propagate(value)
        if unsafe:
            return []
        finding = self._check_envelope(value, ())
        if finding is not None:
            return [finding]
        return self._build_single(value)

    def _check_envelope(self, envelope: dict[str, Any], path: Path) -> DeepFinding | None:
        """The innermost failing envelope at or below ``path``, as a finding; None if it loads."""
        _, error, _ = self._deserialize(envelope)
        self._reset()
        if error is None:
            return None
        config = envelope.get("config")
        for sub, nested in _envelopes(config, (*path, "config")):
            if nested.get("class_name") in _SPECIAL or sub[-1] == "layers":
                continue
            relative = sub[len(path):]
            if _inside(config, relative[1:]) is not nested:
                continue
            inner = self._check_envelope(nested, sub)
            if inner is not None:
                return inner
        return self._finding_for(envelope, path, error)

    def _finding_for(self, envelope: dict[str, Any], path: Path, error: BaseException):
        message = clean_message(error)
        config = envelope.get("config") if isinstance(envelope.get("config"), dict) else {}
        related = self._user_frames(error)
        if "safe mode" in message.lower() or "safe_mode" in message or "lambda" in message.lower():
            code = "LCF303"
        elif related and self._custom_class(envelope) is not None:
            code = "LCF401"  # the failure is in the user's own serialization code
            message = f"{envelope.get('class_name')}: {message}"
        else:
            code = "LCF301"
        match = _UNKNOWN_KWARG.search(message)
        if match and match.group(1) in config:
            return DeepFinding((*path, "config", match.group(1)), "key", code, message,
                               related=related)
        match = _MISSING_ARG.search(message)
        if match:
            missing = re.findall(r"'(\w+)'", match.group(1))
            return DeepFinding((*path, "config"), "open", code, message,
                               data={"keys": missing}, related=related)
        match = _IDENTIFIER.search(message)
        if match:
            wanted = match.group(1).strip().strip("'\"")
            for key, item in config.items():
                if item == wanted or (isinstance(item, str) and item in wanted):
                    return DeepFinding((*path, "config", key), "value", code, message,
                                       related=related)
        match = _UNKNOWN_CLASS.search(message)
        if match:
            return DeepFinding((*path, "class_name"), "value", code, message, related=related)
        for pattern in (_RECEIVED, _BACKTICK_ARG):
            for name in pattern.findall(message):
                if name in config:
                    return DeepFinding((*path, "config", name), "value", code, message,
                                       related=related)
        for key in sorted(config, key=len, reverse=True):
            if re.search(rf"\b{re.escape(key)}\b", message):
                return DeepFinding((*path, "config", key), "value", code, message,
                                   related=related)
        return DeepFinding((*path, "class_name"), "value", code, message, related=related)

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
            out.append({"file": frame.filename, "line": frame.lineno,
                        "message": f"in {frame.name}: {frame.line or ''}".strip()})
        return out[-1:]

    # -- shapes -------------------------------------------------------------------------------
    def _propagate(self, value: dict[str, Any]) -> list[DeepFinding]:
        """Every layer loads alone, so the failure is in calling them: find the first one."""
        config = value["config"]
        entries = config["layers"]
        from keras.src.models.functional import deserialize_node

        created: dict[str, Any] = {}
        pending: list[tuple[int, Any, Any]] = []
        try:
            with self._stateless(initialize_variables=False), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for index, entry in enumerate(entries):
                    plain = {k: v for k, v in entry.items() if k not in ("name", "inbound_nodes")}
                    layer = self.api.deserialize(copy.deepcopy(plain), self.custom_objects)
                    name = entry.get("name") or layer.name
                    created[name] = layer
                    nodes = entry.get("inbound_nodes")
                    if nodes is None:  # Sequential
                        nodes = []
                    for node in nodes:
                        pending.append((index, layer, node))
                if all("inbound_nodes" not in e for e in entries):
                    return self._propagate_sequential(value, entries, created)
                progress = True
                while pending and progress:
                    progress = False
                    waiting = []
                    for index, layer, node in pending:
                        try:
                            args, kwargs = deserialize_node(copy.deepcopy(node), created)
                        except IndexError:
                            waiting.append((index, layer, node))
                            continue
                        try:
                            layer(*args, **kwargs)
                        except Exception as exc:
                            return [self._call_failure(entries, index, layer, args, exc)]
                        progress = True
                    pending = waiting
        except Exception as exc:
            return [DeepFinding(("class_name",), "value", "LCF302", clean_message(exc))]
        finally:
            self._reset()
        return []

    def _propagate_sequential(self, value, entries, created) -> list[DeepFinding]:
        layers = list(created.values())
        shape = _input_shape(value, entries)
        if shape is None:
            return []
        tensor = self.keras.KerasTensor(shape)
        start = 1 if entries and entries[0].get("class_name") == "InputLayer" else 0
        for index in range(start, len(layers)):
            try:
                tensor = layers[index](tensor)
            except Exception as exc:
                return [self._call_failure(entries, index, layers[index], [tensor], exc)]
        return []

    def _call_failure(self, entries, index, layer, args, exc) -> DeepFinding:
        shapes = [tuple(a.shape) for a in args if hasattr(a, "shape")]
        given = ", ".join(str(s) for s in shapes) or "its inputs"
        message = (f"{type(layer).__name__} '{layer.name}' cannot be called on {given}: "
                   f"{clean_message(exc)}")
        return DeepFinding(("config", "layers", index, "class_name"), "value", "LCF302", message)

    def _build_single(self, value: dict[str, Any]) -> list[DeepFinding]:
        build = value.get("build_config")
        if not isinstance(build, dict) or build.get("input_shape") is None:
            return []
        try:
            with self._stateless(initialize_variables=False), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plain = {k: v for k, v in value.items() if k not in ("build_config",
                                                                     "compile_config")}
                layer = self.api.deserialize(copy.deepcopy(plain), self.custom_objects)
                layer(self.keras.KerasTensor(tuple(build["input_shape"])))
        except Exception as exc:
            return [DeepFinding(("build_config", "input_shape"), "value", "LCF302",
                                f"Building with input shape {tuple(build['input_shape'])} "
                                f"fails: {clean_message(exc)}")]
        finally:
            self._reset()
        return []

    def _layers(self, value: dict[str, Any], model: Any) -> list[LayerInfo]:
        config = value.get("config") if isinstance(value.get("config"), dict) else {}
        entries = config.get("layers")
        out: list[LayerInfo] = []
        if isinstance(entries, list) and hasattr(model, "layers"):
            by_name = {layer.name: layer for layer in model.layers}
            if getattr(model, "_input_layers", None) is None and hasattr(model, "inputs"):
                pass
            for index, entry in enumerate(entries):
                if not isinstance(entry, dict):
                    continue
                cfg = entry.get("config") if isinstance(entry.get("config"), dict) else {}
                name = entry.get("name") or cfg.get("name")
                layer = by_name.get(name)
                if layer is None and entry.get("class_name") == "InputLayer":
                    out.append(LayerInfo(("config", "layers", index), str(name), "InputLayer",
                                         _shape_text(cfg.get("batch_shape")), 0))
                    continue
                if layer is None:
                    continue
                out.append(LayerInfo(("config", "layers", index), layer.name,
                                     type(layer).__name__, _output_shape(layer), _params(layer)))
        elif model is not None and hasattr(model, "count_params"):
            shape = _output_shape(model)
            build = value.get("build_config") if isinstance(value.get("build_config"), dict) else {}
            if shape is None and isinstance(build.get("input_shape"), list):
                try:
                    with self._stateless(initialize_variables=False):
                        spec = model.compute_output_spec(
                            self.keras.KerasTensor(tuple(build["input_shape"])))
                    shape = _shape_text(tuple(spec.shape))
                except Exception:
                    shape = None
            out.append(LayerInfo((), model.name, type(model).__name__, shape, _params(model)))
        return out

    def _too_big(self, layers: list[LayerInfo]) -> list[DeepFinding]:
        """Weights were never allocated; say so when they could not be."""
        out = []
        for info in layers:
            size = info.params * 4
            if size > self.memory_bytes:
                out.append(DeepFinding(
                    (*info.path, "class_name"), "value", "LCF302",
                    f"{info.class_name} '{info.name}' has {info.params:,} parameters "
                    f"({_bytes(size)} as float32), more than this machine's deep-check memory "
                    f"cap of {_bytes(self.memory_bytes)}: check its sizes. Its weights were not "
                    "allocated.", severity=2, data={"params": info.params}))
        return out

    # -- custom classes (LCF401) -------------------------------------------------------------------
    def _custom_defects(self, value: Any, failed: set[Path] = frozenset(),
                        unsafe: set[Path] = frozenset()) -> list[DeepFinding]:
        seen: set[type] = set()
        out: list[DeepFinding] = []
        root = [((), value)] if isinstance(value, dict) and "class_name" in value else []
        for path, envelope in [*root, *_envelopes(value)]:
            if path in failed:
                continue
            # Never load an envelope the safety scan refused, nor one that holds one.
            if any(p[: len(path)] == path or path[: len(p)] == p for p in unsafe):
                continue
            cls = self._custom_class(envelope)
            if cls is None or cls in seen:
                continue
            seen.add(cls)
            out += self._defects_of(cls, envelope, path)
        return out

    def _custom_class(self, envelope: dict[str, Any]) -> type | None:
        """The class of a configured (trusted) module the envelope names; None for any other,
        whatever module the document names: a class is never looked up elsewhere."""
        name = envelope.get("class_name")
        if not self.modules or not isinstance(name, str) or name in _SPECIAL \
                or name == "function":
            return None
        registered = envelope.get("registered_name")
        module = envelope.get("module") or ""
        if not isinstance(module, str) or module == "keras" or module.startswith("keras."):
            return None
        found = None
        if isinstance(registered, str):
            found = self.keras.saving.get_registered_object(registered, self.custom_objects)
        if found is None and module and _in_modules(module, self.modules):
            imported = sys.modules.get(module)
            found = vars(imported).get(name) if imported is not None else None
        if not inspect.isclass(found) or not _in_modules(found.__module__, self.modules):
            return None
        return found

    def _defects_of(self, cls: type, envelope: dict[str, Any], path: Path) -> list[DeepFinding]:
        where = (*path, "class_name")
        out = []
        try:
            signature = inspect.signature(cls.__init__)
        except (TypeError, ValueError):
            return out
        params = [p for p in list(signature.parameters.values())[1:]
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if not any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
            out.append(DeepFinding(where, "value", "LCF401",
                                   f"{cls.__name__}.__init__ does not accept **kwargs: Keras "
                                   "passes name, trainable and dtype to every layer.",
                                   related=_source_of(cls.__init__, "__init__ without **kwargs")))
        plain = {k: v for k, v in envelope.items()
                 if k not in ("name", "inbound_nodes", "build_config", "compile_config")}
        # The class came from a configured module: Keras's loader is told it by name.
        registered = envelope.get("registered_name")
        if not isinstance(registered, str) or not registered:
            registered = plain["registered_name"] = cls.__name__
        custom = {**self.custom_objects, cls.__name__: cls, registered: cls}
        try:
            # Keras's own loader calls from_config, in safe mode; never this code directly.
            with self._stateless(initialize_variables=False), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                instance = self.api.deserialize(copy.deepcopy(plain), custom)
                if not isinstance(instance, cls):
                    return out
                written = instance.get_config()
        except Exception as exc:
            out.append(DeepFinding(where, "value", "LCF401",
                                   f"{cls.__name__}.from_config fails on this config: "
                                   f"{clean_message(exc)}",
                                   related=self._user_frames(exc)
                                   or _source_of(cls.from_config, "from_config")))
            self._reset()
            return out
        missing = [p.name for p in params if p.name not in written]
        if missing:
            out.append(DeepFinding(where, "value", "LCF401",
                                   f"{cls.__name__}.get_config() leaves out the constructor "
                                   f"argument{'s' if len(missing) > 1 else ''} "
                                   f"{', '.join(repr(m) for m in missing)}: a saved model would "
                                   "lose them.",
                                   data={"missing": missing},
                                   related=_source_of(cls.get_config, "get_config")))
        try:
            with self._stateless(initialize_variables=False), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                again = self.api.deserialize(
                    json.loads(json.dumps(self.api.serialize(instance))), custom)
        except Exception as exc:
            out.append(DeepFinding(where, "value", "LCF401",
                                   f"{cls.__name__}.from_config(get_config()) does not round "
                                   f"trip: {clean_message(exc)}",
                                   related=self._user_frames(exc)
                                   or _source_of(cls.from_config, "from_config")))
            again = None
        for holder in (instance, again):
            if holder is None:
                continue
            for attribute, item in vars(holder).items():
                if isinstance(item, dict) and "class_name" in item and "config" in item:
                    out.append(DeepFinding(
                        where, "value", "LCF401",
                        f"{cls.__name__}.{attribute} is still a config dict after from_config: "
                        "deserialize nested layers there (keras.saving.deserialize_keras_object).",
                        related=_source_of(cls.from_config if "from_config" in vars(cls)
                                           else cls.__init__, "from_config")))
                    break
            else:
                continue
            break
        self._reset()
        return out


def _recursion_error(error: BaseException) -> RecursionError | None:
    """The RecursionError behind ``error``: Keras sometimes wraps what it caught."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, RecursionError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _recursing_function(error: BaseException) -> str | None:
    """The dotted name of the function that appears most often in the traceback."""
    counts: dict[str, int] = {}
    tb = error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        function = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)  # 3.11+
        name = f"{frame.f_globals.get('__name__', '?')}.{function}"
        counts[name] = counts.get(name, 0) + 1
        tb = tb.tb_next
    if not counts:
        return None
    name, count = max(counts.items(), key=lambda item: item[1])
    return name if count > 1 else None


def _inside(value: Any, path: Path) -> Any:
    for step in path:
        if isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        elif isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        else:
            return None
    return value


def _source_of(function: Any, what: str) -> list[dict[str, Any]]:
    try:
        lines, line = inspect.getsourcelines(function)
        path = inspect.getsourcefile(function)
    except (OSError, TypeError):
        return []
    return [{"file": path, "line": line, "message": what}] if path else []


def _bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size < 1024 or unit == "PB":
            return f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} PB"


def _layer_names(value: dict[str, Any]) -> dict[str, Path]:
    config = value.get("config") if isinstance(value.get("config"), dict) else {}
    names = {}
    for index, entry in enumerate(config.get("layers") or []):
        if isinstance(entry, dict):
            cfg = entry.get("config") if isinstance(entry.get("config"), dict) else {}
            name = entry.get("name") or cfg.get("name")
            if isinstance(name, str):
                names[name] = ("config", "layers", index)
    return names


def _input_shape(value: dict[str, Any], entries: list[Any]) -> tuple | None:
    first = entries[0] if entries and isinstance(entries[0], dict) else {}
    if first.get("class_name") == "InputLayer":
        cfg = first.get("config") or {}
        shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
        if shape:
            return tuple(shape)
    config = value.get("config") or {}
    for shape in (config.get("build_input_shape"),
                  (value.get("build_config") or {}).get("input_shape")):
        if isinstance(shape, list) and shape and not isinstance(shape[0], list):
            return tuple(shape)
    return None


def _shape_text(shape: Any) -> str | None:
    if shape is None:
        return None
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return ", ".join(_shape_text(s) or "?" for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _output_shape(layer: Any) -> str | None:
    try:
        nodes = getattr(layer, "_inbound_nodes", None) or []
        if nodes:
            outputs = nodes[0].output_tensors
            return ", ".join(_shape_text(tuple(t.shape)) or "?" for t in outputs)
        output = getattr(layer, "output", None)
        if output is not None and hasattr(output, "shape"):
            return _shape_text(tuple(output.shape))
    except Exception:
        return None
    return None


def _params(layer: Any) -> int:
    try:
        return int(layer.count_params()) if getattr(layer, "built", False) else 0
    except Exception:
        return 0
