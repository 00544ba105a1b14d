"""The fast checks (source ``layercfg``): a parsed ``*.layercfg.json`` value against the catalog's
schemas, envelope rules, the legacy Keras 2 format and the links between a model's layers.

Each envelope's class is picked by ``schema_match.pick`` (registered_name, module, class_name),
its config is validated by the JSON Schema engine (``schema_engine``) against the schema that
``layercfg schema`` exports, and the Keras-aware rules sit on top: identity (module,
registered_name: ``identity``), unknown classes with did-you-mean, legacy folding (``legacy``),
links (``links``).
"""

from __future__ import annotations

import difflib  # noqa: F401 - tests count did-you-mean lookups through this name
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from ...codes import JsonPath
from ..catalog import LAYER_FAMILIES, Catalog, Entry, class_names
from .findings import (
    _MISSING,
    ERROR,
    HINT,
    INFORMATION,
    MAX_DEPTH,
    MAX_SHOWN,
    SPECIAL_CLASS_NAMES,
    WARNING,
    Finding,
    Related,
    SchemaError,
    _a,
    _legacy_marker,
    _missing,
    _or_list,
    _quote,
    _scalar,
    _words,
    _wrong_type,
    json_type,
    outside_message,
)
from .identity import check_identity
from .legacy import LEGACY_TOP_KEYS, fold_legacy, legacy_config
from .links import validate_model_links
from .schema_engine import Engine, class_config_schema
from .schema_match import (
    PREFIX,
    envelope_families,
    envelope_kind,
    keras_package,
    matcher,
    module_fits,
)
from .suggest import (
    CLASS_RENAMES,
    KEY_RENAMES,
    MAX_COMPARED,
    MAX_SUGGESTED_LENGTH,
    MAX_SUGGESTIONS,
    Superseded,
    _close_matches,
    _closest_keys,
    _Keys,
    _memo,
    checking,
    checkpoint,
)
from .suggest import _scope as _scope

__all__ = [
    "CLASS_RENAMES", "ERROR", "HINT", "INFORMATION", "KEY_RENAMES", "MAX_COMPARED", "MAX_DEPTH",
    "MAX_SHOWN", "MAX_SUGGESTED_LENGTH", "MAX_SUGGESTIONS", "SPECIAL_CLASS_NAMES", "WARNING",
    "Finding", "JsonPath", "Related", "SchemaError", "Superseded", "_memo", "checking",
    "checkpoint", "fold_legacy", "json_type", "model_layers", "validate", "validate_envelope",
    "validate_model_links",
]  # fmt: skip

_PREFIX = PREFIX


# -- public API ----------------------------------------------------------------------------------


def validate(value: Any, catalog: Catalog) -> list[Finding]:
    """Every fast-check finding for a whole document.

    Composed of the pieces the server can cache: the top-level envelope without its model's
    layers, each layer on its own (``model_layers``), the cross-layer links, and the folding
    of Keras 2 markers into one LCF108 finding.
    """
    if _scope.get() is None:
        with checking():
            return validate(value, catalog)
    findings = validate_envelope(value, catalog, (), shallow=True)
    for path, layer, kind in model_layers(value, catalog):
        findings.extend(validate_envelope(layer, catalog, path, kind=kind, top_level=False))
    findings.extend(validate_model_links(value, ()))
    return fold_legacy(value, findings, catalog.keras2)


def validate_envelope(
    value: Any,
    catalog: Catalog,
    path_prefix: JsonPath = (),
    *,
    kind: str | None = None,
    shallow: bool = False,
    top_level: bool | None = None,
) -> list[Finding]:
    """Findings for one envelope (a layer, a model, or the document), nested envelopes included.

    Pure: the result depends on the arguments only (inside ``checking``, findings past its
    did-you-mean budget keep their plain message). A server caches
    ``validate_envelope(layer, catalog, (), kind=kind, top_level=False)`` by the layer's text
    and moves the findings to where the layer is with ``Finding.prefixed(path)``.
    ``kind`` names the ``$defs`` entry it is checked against (default: the document's root,
    ``envelope.layer``; ``functional_layer`` for an entry of a Functional model's ``layers``).
    ``shallow`` leaves out the items of a model's ``layers`` (check them with ``model_layers``).
    ``top_level`` (default: ``path_prefix == ()``) applies the rules of the document's root.
    """
    validator = _validator(catalog)
    node = validator.root if kind is None else validator.envelope(kind)
    out: list[Finding] = []
    at_top = not path_prefix if top_level is None else top_level
    node.check_envelope(value, path_prefix, out, top_level=at_top, shallow=shallow)
    return out


def model_layers(value: Any, catalog: Catalog) -> Iterator[tuple[JsonPath, Any, str]]:
    """(path, layer envelope, kind) for each item of the top-level model's ``layers``: what
    ``validate_envelope(..., shallow=True)`` leaves out."""
    if not isinstance(value, dict) or not isinstance(value.get("config"), dict):
        return
    layers = value["config"].get("layers")
    if not isinstance(layers, list):
        return
    kind = _validator(catalog).layers_kind(value)
    if kind is None:
        return
    for index, layer in enumerate(layers):
        yield ("config", "layers", index), layer, kind


# -- envelopes -----------------------------------------------------------------------------------


class _Envelope:
    """``{"module", "class_name", "config", ...}`` of one ``$defs`` kind: checked against the
    class it names."""

    def __init__(self, v: _Validator, kind: str, schema: dict[str, Any]):
        self.v = v
        self.kind = kind
        self.families = envelope_families(schema) or LAYER_FAMILIES
        self.family_label = (
            "layer" if self.families == LAYER_FAMILIES else _words(min(self.families))
        )
        properties = {
            k: s
            for k, s in (schema.get("properties") or {}).items()
            if k not in ("class_name", "config")
        }
        self.properties = properties
        self._keys = _Keys(tuple(schema.get("properties") or ()))
        # The envelope's own keys (module, registered_name, ...) are validated by the engine.
        self.shell: dict[str, Any] = {"type": "object", "properties": properties}

    def check_envelope(
        self,
        value: Any,
        path: JsonPath,
        out: list[Finding],
        *,
        top_level: bool = False,
        shallow: bool = False,
    ) -> None:
        if type(value) is not dict:
            out.append(_wrong_type(value, path, ["object"]))
            return
        if len(path) > MAX_DEPTH:
            return
        checkpoint()
        shell = {k: item for k, item in value.items() if k in self.properties}
        if shell:
            self.v.engine.check(("shell", self.kind), self.shell, shell, path, out)
            self.v._nested(self.shell, shell, path, out)
        for key in value:
            if key == "class_name" or key == "config" or key in self.properties:
                continue
            if top_level and key in LEGACY_TOP_KEYS:
                message = f"{key!r} is written by Keras 2's to_json(); Keras 3 ignores it."
                out.append(_legacy_marker(path + (key,), key, message))
            else:
                candidates = _closest_keys(key, self._keys)
                hint = f" Did you mean {_or_list(candidates)}?" if candidates else ""
                out.append(
                    Finding(
                        path + (key,),
                        "key",
                        "LCF107",
                        f"Unknown envelope key {_quote(key)}: Keras ignores it.{hint}",
                        severity=WARNING,
                        data={"key": key, "candidates": candidates},
                    )
                )
        nodes = value.get("inbound_nodes")
        if type(nodes) is list and any(type(node) is list for node in nodes):
            # Keras 3 still reads these [[name, node_index, tensor_index, kwargs], ...] lists.
            out.append(
                _legacy_marker(
                    path + ("inbound_nodes",),
                    "inbound_nodes",
                    "Keras 2 inbound_nodes lists: Keras 3 still reads them, "
                    'but writes {"args": [...], "kwargs": {...}} nodes.',
                )
            )
        class_name = value.get("class_name", _MISSING)
        config = value.get("config", _MISSING)
        if class_name is _MISSING:
            out.append(_missing(path, "class_name", "envelope"))
            if config is not _MISSING:
                self.v.scan(config, path + ("config",), out)
            return
        if type(class_name) is not str:
            out.append(_wrong_type(class_name, path + ("class_name",), ["string"]))
            return
        if class_name in SPECIAL_CLASS_NAMES:
            return
        if class_name == "function":
            self._function(value, path, out)
            return
        if config is _MISSING:
            out.append(_missing(path, "config", "envelope"))
        entry = self.v.pick(value, self.families)
        if entry is None:
            if not self.v.outside_catalog(value.get("module")):
                out.append(self.v.unknown_class(value, path, self.families, self.family_label))
            if config is not _MISSING:
                self.v.scan(config, path + ("config",), out)
            return
        check_identity(self.v.catalog, value, entry, path, out, top_level)
        if config is _MISSING:
            return
        if config is None:
            config = {}  # Keras reads a null config as {}
        elif type(config) is not dict:
            out.append(
                Finding(
                    path + ("config",),
                    "value",
                    "LCF107",
                    f"The config of {entry['class_name']} must be an object, "
                    f"not {_a(json_type(config))}.",
                    data={"expected": ["object"], "value": _scalar(config)},
                )
            )
            return
        if shallow and isinstance(config.get("layers"), list) and self.v.layers_kind(value):
            config = {**config, "layers": []}  # model_layers() hands them out one by one
        if "module" not in value and not top_level and entry["family"] in LAYER_FAMILIES:
            config = self.v.legacy(config, entry, path + ("config",), out)
        self.v.check_config(entry, config, path + ("config",), out)

    def _function(self, value: dict[str, Any], path: JsonPath, out: list[Finding]) -> None:
        config = value.get("config", _MISSING)
        if config is _MISSING:
            out.append(_missing(path, "config", "function envelope"))
        elif type(config) is not str:
            out.append(
                Finding(
                    path + ("config",),
                    "value",
                    "LCF107",
                    "The config of a function envelope is the function's name, a string.",
                    data={"expected": ["string"], "value": _scalar(config)},
                )
            )


# -- the validator of one catalog ----------------------------------------------------------------


class _Validator:
    """The engine's validators of one catalog and the catalog-wide lookups."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._lock = threading.RLock()
        enum_labels: dict[frozenset[Any], str] = {}
        for family, label in (
            ("initializer", "initializer"),
            ("regularizer", "regularizer"),
            ("constraint", "constraint"),
            ("activation", "activation"),
            ("dtype", "dtype"),
        ):
            names = catalog.names.get(family)
            if names:
                enum_labels.setdefault(frozenset(names), label)
        self.engine = Engine(catalog, enum_labels)
        self.matcher = matcher(catalog)
        self._envelopes: dict[str, _Envelope] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        root = catalog.schema.get("$ref", _PREFIX + "envelope.layer")
        self.root = self.envelope(root[len(_PREFIX) :])
        self._class_lists: dict[frozenset[str] | None, tuple[_Keys, dict[str, Entry]]] = {}
        self._module_families: dict[str, frozenset[str]] = {}
        self._covered_packages = frozenset(
            package for package in map(keras_package, catalog.modules) if package is not None
        )

    def envelope(self, kind: str) -> _Envelope:
        found = self._envelopes.get(kind)
        if found is None:
            schema = self.catalog.resolve(_PREFIX + kind)
            if schema is None:
                raise SchemaError(f"unresolvable $ref {_PREFIX + kind!r}")
            with self._lock:
                found = self._envelopes.setdefault(kind, _Envelope(self, kind, schema))
        return found

    def pick(self, value: dict[str, Any], families: frozenset[str] | None) -> Entry | None:
        entry = self.catalog.lookup(value, families)
        if entry is not None and not module_fits(value, entry):
            return None  # same class_name, but Keras would import another module's class
        return entry

    def config_schema(self, entry: Entry) -> dict[str, Any]:
        schema = self._configs.get(entry["id"])
        if schema is None:
            schema = self._configs[entry["id"]] = class_config_schema(self.catalog, entry)
        return schema

    def check_config(
        self, entry: Entry, config: dict[str, Any], path: JsonPath, out: list[Finding]
    ) -> None:
        """The config against its class's schema (by the engine), then its nested envelopes,
        each against the class it names."""
        schema = self.config_schema(entry)
        self.engine.check(entry["id"], schema, config, path, out)
        if _has_float(config):
            self.engine.integral_floats(entry["id"], schema, config, path, out)
        self._nested(schema, config, path, out)

    def _nested(
        self, schema: dict[str, Any], value: Any, path: JsonPath, out: list[Finding]
    ) -> None:
        for where, envelope, kind, _ in self.matcher.envelopes_in(schema, value, path):
            if kind is None:
                self._loose_envelope(envelope, where, out)
            else:
                self.envelope(kind).check_envelope(envelope, where, out)

    def layers_kind(self, value: dict[str, Any]) -> str | None:
        """The ``$defs`` name the items of this model's ``layers`` are checked against."""
        entry = self.catalog.lookup(value, LAYER_FAMILIES)
        if entry is None:
            return None
        node = (self.config_schema(entry).get("properties") or {}).get("layers")
        seen = 0
        while isinstance(node, dict) and "items" not in node and "$ref" in node and seen < 32:
            node = self.catalog.resolve(node["$ref"])
            seen += 1
        items = node.get("items") if isinstance(node, dict) else None
        ref = items.get("$ref") if isinstance(items, dict) else None
        if not isinstance(ref, str) or not ref.startswith(_PREFIX):
            return None
        return ref[len(_PREFIX) :]

    def scan(self, value: Any, path: JsonPath, out: list[Finding]) -> None:
        """Where the schema says nothing: envelopes of known classes are still checked."""
        self._nested({}, value, path, out)

    def legacy(
        self, config: dict[str, Any], entry: Entry, path: JsonPath, out: list[Finding]
    ) -> dict[str, Any]:
        schema = self.config_schema(entry)
        properties = schema.get("properties") or {}

        def passes(key: str, value: Any) -> bool:
            return self.engine.passes((entry["id"], key), properties[key], value)

        def check(key: str, value: Any, at: JsonPath) -> list[Finding]:
            found: list[Finding] = []
            self.engine.check((entry["id"], key), properties[key], value, at, found)
            return found

        return legacy_config(config, entry["class_name"], properties, passes, check, path, out)

    def _loose_envelope(self, value: dict[str, Any], path: JsonPath, out: list[Finding]) -> None:
        class_name = value["class_name"]
        if type(class_name) is not str or class_name in SPECIAL_CLASS_NAMES:
            return
        if class_name == "function":
            return
        entry = self.catalog.lookup(value)
        if entry is not None:
            kind = envelope_kind(entry["family"])
            if kind == "envelope.layer" and "inbound_nodes" in value:
                # An entry of a model's layers whose model the catalog does not know.
                kind = "functional_layer" if "functional_layer" in self.catalog.defs else kind
            self.envelope(kind).check_envelope(value, path, out)
            return
        module = value.get("module")
        # Optimizers, losses, metrics... are not in the catalog; only a module the catalog
        # covers tells that the class should have been found.
        if isinstance(module, str) and module in self.catalog.modules:
            families = self._module_families.get(module)
            if families is None:
                families = self._module_families[module] = frozenset(
                    e["family"] for e in self.catalog.entries if e["module"] == module
                )
            label = "layer" if families & LAYER_FAMILIES else _words(min(families))
            out.append(self.unknown_class(value, path, families, label))

    def outside_catalog(self, module: Any) -> bool:
        """A private Keras module the catalog does not cover (operations, losses...): Keras
        imports it and finds the class there, so an unknown class_name is not a finding."""
        if not isinstance(module, str) or not module.startswith("keras.src."):
            return False
        return keras_package(module) not in self._covered_packages

    def unknown_class(
        self, value: dict[str, Any], path: JsonPath, families: frozenset[str], label: str
    ) -> Finding:
        name = value["class_name"]
        candidates = [c for c in self._class_candidates(name, families) if c["class_name"] != name]
        elsewhere = [e for e in self.catalog.find(name) if e["family"] not in families]
        if elsewhere:
            other = _words(elsewhere[0]["family"])
            message = f"{_quote(name)} is {_a(other)}, not {_a(label)}."
        else:
            message = f"Unknown {label} class {_quote(name)}."
        module = value.get("module")
        registered = value.get("registered_name")
        custom = (isinstance(module, str) and module.split(".")[0] != "keras") or (
            isinstance(registered, str) and ">" in registered
        )
        if custom and not elsewhere and module not in self.catalog.modules:
            # A class of a package layercfg was not told about: it may well exist.
            message = outside_message(name, module, registered)
            severity = WARNING
        else:
            severity = ERROR
            if candidates:
                message += f" Did you mean {_or_list([c['class_name'] for c in candidates[:3]])}?"
        return Finding(
            path + ("class_name",),
            "value",
            "LCF101",
            message,
            severity=severity,
            data={"class_name": name, "candidates": candidates, "module": module},
        )

    def _class_names(self, group: frozenset[str] | None) -> tuple[_Keys, dict[str, Entry]]:
        """The class names (aliases included) of a group of families (None: all), and the
        class of each."""
        found = self._class_lists.get(group)
        if found is None:
            entries = self.catalog.entries if group is None else self.catalog.in_families(group)
            by_name: dict[str, Entry] = {}
            for entry in entries:
                for alias in class_names(entry):
                    by_name.setdefault(alias, entry)
            found = self._class_lists[group] = (_Keys(tuple(by_name)), by_name)
        return found

    def _class_candidates(self, name: str, families: frozenset[str]) -> list[dict[str, Any]]:
        ranked: list[Entry] = []
        renamed = CLASS_RENAMES.get(name)
        if renamed:
            ranked.extend(self.catalog.find(renamed, families) or self.catalog.find(renamed))
        for group in (families, None):
            names, by_name = self._class_names(group)
            same = names.lowered.get(name.lower())
            close = [same] if same is not None else []
            close += _close_matches(name, names.names, 5)
            ranked.extend(by_name[n] for n in close)
        seen: set[str] = set()
        candidates = []
        for entry in ranked:
            if entry["id"] in seen:
                continue
            seen.add(entry["id"])
            candidates.append(
                {
                    "class_name": entry["class_name"],
                    "module": entry.get("module"),
                    "registered_name": entry.get("registered_name"),
                }
            )
        return candidates[:5]


_validators: weakref.WeakKeyDictionary[Catalog, _Validator] = weakref.WeakKeyDictionary()
_validators_lock = threading.Lock()


def _validator(catalog: Catalog) -> _Validator:
    validator = _validators.get(catalog)
    if validator is None:
        with _validators_lock:
            validator = _validators.get(catalog)
            if validator is None:
                validator = _validators[catalog] = _Validator(catalog)
    return validator


def _has_float(config: dict[str, Any]) -> bool:
    """A float anywhere in the config's top-level values or one level down (where Keras
    configs hold numbers); deeper ones are left to the schema."""
    for item in config.values():
        if type(item) is float:
            return True
        if type(item) is list and any(type(x) is float for x in item):
            return True
    return False
