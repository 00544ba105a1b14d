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
from layercfg.server.services.security_lists import FILE_KEYS, TF_OP_LAYERS, tf_modeling_op

from . import handles
from .deep_common import SPECIAL, CheckerBase, DeepFinding, digest, envelopes, text_of
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
# Where a model's layers are.
_LAYERS = ("config", "layers")


def _modeling_function(module: str) -> bool:
    if module == "builtins":
        return True
    parts = module.split(".")
    if parts[0] != "keras":
        return True  # not Keras's: Keras's loader resolves it from configured modules only
    rest = parts[2:] if len(parts) > 1 and parts[1] == "src" else parts[1:]
    return bool(rest) and rest[0] in _MODELING_FUNCTIONS


def _tf_op_ok(envelope: dict[str, Any]) -> bool:
    config = envelope.get("config")
    return tf_modeling_op(config.get("function") if isinstance(config, dict) else None)


def _file_read(envelope: dict[str, Any]) -> str | None:
    """The key of the envelope's config that names a file its class reads (``vocabulary``,
    ``merges``, ...), when one does."""
    config = envelope.get("config")
    if not isinstance(config, dict):
        return None
    return next(
        (k for k in sorted(FILE_KEYS) if isinstance(config.get(k), str) and config[k]), None
    )


class SafetyScan(CheckerBase):
    # -- safety scan (nothing is executed) ---------------------------------------------------------
    def _scan(self, value: Any, findings: list[DeepFinding]) -> set[JsonPath]:
        """Envelopes Keras must never be given: bytecode, non-modeling APIs, handles."""
        unsafe: set[JsonPath] = set()
        outside: list[JsonPath] = []
        start = len(findings)
        clean, fresh = self._clean_layers(value)
        other: list[JsonPath] = []  # where a verdict depends on more than the text
        root = [((), value)] if isinstance(value, dict) and "class_name" in value else []
        for path, envelope in [*root, *envelopes(value, skip=clean)]:
            if self._scan_envelope(path, envelope, findings, unsafe, outside):
                other.append(path)
        if fresh and self.memo is not None:
            # A layer the scan refuses nothing of, on its text alone, is not scanned again.
            said = [*unsafe, *other, *(f.path for f in findings[start:])]
            dirty = {p[2] for p in said if len(p) > 2 and p[:2] == _LAYERS}
            for index, key in fresh.items():
                if index not in dirty:
                    self.memo.put(key, True)
        return unsafe

    def _clean_layers(self, value: Any) -> tuple[set[int], dict[int, Any]]:
        """The layers of a model whose scan an earlier check found clean (the ids of their
        entries, for the walk to skip), and the memo's keys of the others, by index. A
        layer's key is its text and its inbound nodes' text: the scan of a layer reads
        nothing else (but for handles, which are never found clean)."""
        config = value.get("config") if isinstance(value, dict) else None
        entries = config.get("layers") if isinstance(config, dict) else None
        if self.memo is None or not isinstance(entries, list):
            return set(), {}
        clean: set[int] = set()
        fresh: dict[int, Any] = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            try:
                nodes = text_of(entry.get("inbound_nodes"))
                key = ("scan", digest(self._layer_text(entry)), digest(nodes))
            except (ValueError, TypeError, RecursionError):
                continue  # scanned as it is, every time
            if self.memo.seen(key):
                clean.add(id(entry))
            else:
                fresh[index] = key
        return clean, fresh

    def _scan_envelope(
        self,
        path: JsonPath,
        envelope: dict[str, Any],
        findings: list[DeepFinding],
        unsafe: set[JsonPath],
        outside: list[JsonPath],
    ) -> bool:
        """One envelope of the scan: what it refuses goes to ``unsafe`` and ``findings``.
        True when the verdict depends on more than the envelope's text (files, handles)."""
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
        elif self.api.legacy and (read := _file_read(envelope)) is not None:
            # tf_keras opens it while loading (a lookup layer's vocabulary), and what it
            # holds comes back in its errors: Keras 3's safe mode refuses it, so does this.
            unsafe.add(path)
            findings.append(
                DeepFinding(
                    (*path, "config", read),
                    "value",
                    Code.SAFE_MODE,
                    f"tf_keras would open `{read}` as a file while loading; Keras 3's safe "
                    "mode refuses that, and the deep check never opens it. Give the values "
                    "inline, or load the file from a program that trusts it.",
                )
            )
        elif self.api.legacy and class_name in TF_OP_LAYERS and not _tf_op_ok(envelope):
            # tf_keras calls the TensorFlow symbol it names on its inbound values, constants
            # and keyword arguments of the document included, while the model is rebuilt.
            unsafe.add(path)
            findings.append(
                DeepFinding(
                    (*path, "config", "function"),
                    "value",
                    Code.SAFE_MODE,
                    f"`tf.{(envelope.get('config') or {}).get('function')}` is not a math or "
                    f"neural-network op: a {class_name} calls it while the model is rebuilt "
                    "(on the document's constants and keyword arguments), and the deep check "
                    "never does.",
                )
            )
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
            class_name == "function" and f"{module}.{envelope.get('config')}" in self._non_modeling
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
            class_name == "function" and isinstance(module, str) and not _modeling_function(module)
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
            return True
        elif self.api.legacy and class_name == "KerasLayer":
            # tf_keras: checked offline, never loaded (see deep_hub).
            found, load = self._hub_in_tf_keras(envelope, path)
            findings += found
            if not load:
                unsafe.add(path)
            return True
        elif class_name == "KerasLayer" or str(envelope.get("registered_name") or "").endswith(
            ">KerasLayer"
        ):
            unsafe.add(path)
            findings += self._handle(envelope, path, "handle", hub=True)
            return True
        return False

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
            return [
                DeepFinding(
                    (*path, "config", "filepath"),
                    "value",
                    Code.UNRESOLVED_HANDLE,
                    f"The SavedModel at {check.local} could not be read offline (its "
                    "saved_model.pb is damaged, too large, nested too deeply or has no "
                    "signature): its endpoints were not checked.",
                    severity=Severity.WARNING,
                )
            ]
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
