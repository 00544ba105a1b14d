"""The deep check's safety scan: the envelopes Keras must never be given (bytecode,
non-modeling APIs, SavedModels, hub handles), found without executing anything. Handles and
filepaths are checked offline."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any

from layercfg.codes import Code, JsonPath, Severity
from layercfg.server.catalog import named_package
from layercfg.server.services.findings import outside_message

from . import handles
from .deep_common import SPECIAL, CheckerBase, DeepFinding, envelopes
from .handles import hub_cache

# Modules whose functions a config may name in a ``function`` envelope: Keras writes
# "builtins" for its own activations, losses and the like. A function of any other Keras
# namespace (keras.config.set_floatx, keras.utils.get_file, keras.applications.ResNet50, ...)
# has effects beyond modeling and is never given to Keras.
_MODELING_FUNCTIONS = (
    "activations",
    "constraints",
    "initializers",
    "losses",
    "metrics",
    "optimizers",
    "regularizers",
    "ops",
    "random",
)
# The packages besides Keras whose modules Keras's loader imports (serialization_lib
# ``_retrieve_class_or_fn``): only when the user configures them in ``modules``.
_ALLOWLISTED = ("keras_hub", "keras_cv", "keras_nlp")
# The largest saved_model.pb whose endpoints the deep check reads (it parses the graph whole).
_ENDPOINTS_MAX_BYTES = 64 << 20


def _modeling_function(module: str) -> bool:
    if module == "builtins":
        return True
    parts = module.split(".")
    if parts[0] != "keras":
        return True  # not Keras's: Keras's loader resolves it from configured modules only
    rest = parts[2:] if len(parts) > 1 and parts[1] == "src" else parts[1:]
    return bool(rest) and rest[0] in _MODELING_FUNCTIONS


class SafetyScan(CheckerBase):
    # -- safety scan (nothing is executed) ---------------------------------------------------------
    def _scan(self, value: Any, findings: list[DeepFinding]) -> set[JsonPath]:
        """Envelopes Keras must never be given: bytecode, non-modeling APIs, handles."""
        unsafe: set[JsonPath] = set()
        outside: list[JsonPath] = []
        root = [((), value)] if isinstance(value, dict) and "class_name" in value else []
        for path, envelope in [*root, *envelopes(value)]:
            class_name = envelope.get("class_name")
            module = envelope.get("module") or ""
            if self._not_configured(envelope):
                # Keras's loader would import the package by module and run its classes'
                # constructors; a package the user did not configure is never imported. The
                # fast checks say the same of it: it is not checked.
                unsafe.add(path)
                if not any(path[: len(p)] == p for p in outside):
                    outside.append(path)
                    findings.append(self._unchecked(envelope, path))
            elif class_name == "__lambda__":
                unsafe.add(path)
                findings.append(
                    DeepFinding(
                        (*path, "class_name"),
                        "value",
                        Code.SAFE_MODE,
                        "Python bytecode (a lambda) in the config: refused by safe mode and never "
                        "executed. Replace the Lambda layer with a registered custom layer.",
                    )
                )
            elif (
                class_name == "function"
                and f"{module}.{envelope.get('config')}" in self._non_modeling
            ):
                unsafe.add(path)
                findings.append(
                    DeepFinding(
                        (*path, "config"),
                        "value",
                        Code.SAFE_MODE,
                        f"`{module}.{envelope.get('config')}` is not a modeling function; Keras "
                        "refuses it while loading a config.",
                    )
                )
            elif (
                class_name == "function"
                and isinstance(module, str)
                and not _modeling_function(module)
            ):
                unsafe.add(path)
                findings.append(
                    DeepFinding(
                        (*path, "module"),
                        "value",
                        Code.SAFE_MODE,
                        f"`{module}.{envelope.get('config')}` is not an activation, loss, metric "
                        "or other modeling function: a config has no business calling it, and it "
                        "is not loaded by the deep check.",
                    )
                )
            elif f"{module}.{class_name}" in self._non_modeling:
                unsafe.add(path)
                findings.append(
                    DeepFinding(
                        (*path, "class_name"),
                        "value",
                        Code.SAFE_MODE,
                        f"`{module}.{class_name}` is not a modeling API; Keras refuses it.",
                    )
                )
            elif (
                isinstance(class_name, str)
                and class_name not in SPECIAL
                and class_name != "function"
                and isinstance(module, str)
                and not self._builds_an_object(module, class_name)
            ):
                # Keras's loader returns whatever its exported names map to, functions
                # included, without calling it; a Lambda or a node may call it later.
                unsafe.add(path)
                findings.append(
                    DeepFinding(
                        (*path, "class_name"),
                        "value",
                        Code.SAFE_MODE,
                        f"`{module}.{class_name}` is not a layer, model or other Keras object "
                        "that a config describes; it is not loaded by the deep check.",
                    )
                )
            elif class_name == "TFSMLayer":
                unsafe.add(path)
                findings.append(
                    DeepFinding(
                        (*path, "class_name"),
                        "value",
                        Code.SAFE_MODE,
                        "TFSMLayer loads a SavedModel, which safe mode refuses: a program loads "
                        "it with safe_mode=False, from a folder it trusts. It is not loaded by "
                        "the deep check; its filepath and endpoints are checked offline.",
                        severity=2,
                    )
                )
                findings += self._handle(envelope, path, "filepath", hub=False)
            elif self.api.legacy and class_name == "KerasLayer":
                # tf_keras: a handle that is here is loaded for real (see deep_hub).
                found, load = self._hub_in_tf_keras(envelope, path)
                findings += found
                if not load:
                    unsafe.add(path)
            elif class_name == "KerasLayer" or str(envelope.get("registered_name") or "").endswith(
                ">KerasLayer"
            ):
                unsafe.add(path)
                findings += self._handle(envelope, path, "handle", hub=True)
        return unsafe

    def _not_configured(self, envelope: dict[str, Any]) -> str | None:
        """A class of keras_hub, keras_cv or keras_nlp when that package is not configured:
        named by its registered_name, or by its module alone (Keras imports the module once
        the registered_name, any package's, finds nothing)."""
        if self.api.legacy:
            return None
        module = envelope.get("module")
        root = module.split(".")[0] if isinstance(module, str) else None
        configured = {m.split(".")[0] for m in self.modules}
        named = (named_package(envelope), root)
        return next((p for p in named if p in _ALLOWLISTED and p not in configured), None)

    def _unchecked(self, envelope: dict[str, Any], path: JsonPath) -> DeepFinding:
        name, module = str(envelope.get("class_name")), envelope.get("module")
        return DeepFinding(
            (*path, "class_name"),
            "value",
            Code.UNKNOWN_CLASS,
            "Not loaded by the deep check: "
            + outside_message(name, module, envelope.get("registered_name")),
            severity=Severity.INFORMATION,
            data={"package": self._not_configured(envelope)},
        )

    def _builds_an_object(self, module: str, class_name: str) -> bool:
        """Whether a class envelope of a Keras module names a class Keras builds from a
        config (a layer, model, initializer, ...), as Keras's loader would resolve it; True
        for anything Keras would not resolve at all (it refuses that itself)."""
        root = module.split(".")[0]
        if root != "keras":
            return True
        target = self.api.exported_symbol(f"{module}.{class_name}")
        if target is None:
            module = self.api.loader_module(module)
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

    def _handle(self, envelope: dict[str, Any], path: JsonPath, key: str, hub: bool):
        """The handle (KerasLayer) or filepath (TFSMLayer), checked offline: nothing is
        loaded or downloaded; the SavedModel's endpoints are read from its saved_model.pb."""
        config = envelope.get("config") if isinstance(envelope.get("config"), dict) else {}
        handle = config.get(key)
        where = (*path, "config", key)
        status = ""
        if hub:
            status = (
                " tensorflow_hub.KerasLayer subclasses the Keras 2 (tf_keras) Layer and "
                "cannot be used in a Keras 3 model; keras.layers.TFSMLayer is the Keras 3 "
                "equivalent for a local SavedModel."
            )
        if not isinstance(handle, str) or not handle:
            return [
                DeepFinding(
                    where if key in config else (*path, "config"),
                    "value" if key in config else "open",
                    Code.UNRESOLVED_HANDLE,
                    f"`{key}` must be a SavedModel path or URL.{status}",
                )
            ]
        replacement = {
            "module": "keras.layers",
            "class_name": "TFSMLayer",
            "config": {"filepath": handle, "call_endpoint": "serving_default"},
            "registered_name": None,
        }
        data = {"replacement": replacement} if hub else None
        check = handles.check_handle(handle, base=self.base, hub=hub)
        notes = "".join(f" ({note})" for note in check.notes)
        if check.kind == "url" and check.ok and check.local:
            data = {**(data or {}), "cached": check.local}
            replacement["config"]["filepath"] = check.local
            found = (
                [
                    DeepFinding(
                        where,
                        "value",
                        Code.UNRESOLVED_HANDLE,
                        f"Not downloaded (no network): a cached copy is at {check.local}.{status}",
                        severity=Severity.INFORMATION,
                        data=data,
                    )
                ]
                if hub
                else []
            )
            return found + self._hub_rules(config, path, check)
        if check.kind == "url" and check.ok:
            cache = os.path.dirname(check.cache) if check.cache else hub_cache()[0]
            return [
                DeepFinding(
                    where,
                    "value",
                    Code.UNRESOLVED_HANDLE,
                    f"{handle!r} is a URL that layercfg never downloads, and no "
                    f"complete cached copy was found in {cache}{notes}.{status}",
                    severity=Severity.WARNING,
                    data=data,
                )
            ]
        if not check.ok:
            message = check.message[:1].upper() + check.message[1:]
            return [
                DeepFinding(
                    where, "value", Code.UNRESOLVED_HANDLE, f"{message}.{status}", data=data
                )
            ]
        if hub:
            return [
                DeepFinding(
                    where,
                    "value",
                    Code.UNRESOLVED_HANDLE,
                    status.strip(),
                    severity=Severity.WARNING,
                    data=data,
                )
            ] + self._hub_rules(config, path, check)
        return self._endpoints(config, path, check)

    def _hub_rules(
        self, config: dict[str, Any], path: JsonPath, check: handles.HandleCheck
    ) -> list[DeepFinding]:
        """What KerasLayer's constructor would refuse, for a model that is here."""
        from .external import hub_rules

        found = (
            handles.endpoints(check.local, _ENDPOINTS_MAX_BYTES)
            if check.local and check.format == "saved_model"
            else None
        )
        problem = hub_rules(config, check.format, found)
        if problem is None:
            return []
        key = next(
            (
                k
                for k in (
                    "trainable",
                    "signature_outputs_as_dict",
                    "output_key",
                    "signature",
                    "arguments",
                    "output_shape",
                )
                if f"`{k}" in problem and k in config
            ),
            None,
        )
        where = (*path, "config", key) if key else (*path, "class_name")
        return [
            DeepFinding(
                where, "value", Code.FROM_CONFIG_FAILED, f"KerasLayer would refuse this: {problem}."
            )
        ]

    def _endpoints(
        self, config: dict[str, Any], path: JsonPath, check: handles.HandleCheck
    ) -> list[DeepFinding]:
        """TFSMLayer's call endpoints, against what the SavedModel has."""
        found = handles.endpoints(check.local, _ENDPOINTS_MAX_BYTES) if check.local else None
        if not found:
            return []  # unreadable: nothing to say about the endpoints
        out = []
        for key, default in (("call_endpoint", "serve"), ("call_training_endpoint", None)):
            value = config.get(key, default)
            if isinstance(value, str) and value not in found:
                given = "" if key in config else " (the default)"
                out.append(
                    DeepFinding(
                        (*path, "config", key) if key in config else (*path, "config"),
                        "value" if key in config else "open",
                        Code.UNRESOLVED_HANDLE,
                        f"{key} {value!r}{given} is not an endpoint of the SavedModel at "
                        f"{check.local}; it has: {', '.join(sorted(found))}.",
                        data={"endpoints": sorted(found)},
                    )
                )
        return out
