"""Which class's schema an envelope's config is checked against, in the exported schema:
picked as the server picks it (registered_name, module, class_name, by package), and where a
class's schema says nothing of a value, the scan for nested envelopes the server makes
(``any_value``, ``loose_envelope``, ``scan.*``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from layercfg.server.services.findings import SPECIAL_CLASS_NAMES
from layercfg.server.services.schema_match import item_schemas, property_schemas

from .introspect import ClassInfo
from .schema import escape_pattern, json_type


def keras_package(module: str | None) -> str | None:
    """``layers`` for ``keras.layers`` and ``keras.src.layers.core``; None for other modules."""
    parts = module.split(".") if module else []
    if len(parts) < 2 or parts[0] != "keras":
        return None
    if parts[1] == "src":
        return parts[2] if len(parts) > 2 else None
    return parts[1]


def dispatch_schema(
    members: list[ClassInfo],
    class_id: Callable[[ClassInfo], str],
    covered: set[str],
    *,
    unknown: dict[str, Any] | None = None,
    scanned: Callable[[ClassInfo], str | None] | None = None,
) -> dict[str, Any]:
    """The config schema an envelope's class gets, picked as the server (and Keras) picks it:
    by ``registered_name`` among registered custom classes, then ``class_name`` with
    ``module``, then ``class_name`` alone (Keras's own classes before custom ones), among the
    classes of the package a ``registered_name`` (``pkg>X``) or a Keras-imported ``module``
    (``keras_hub.*``) names. A class of Keras named with a private ``keras.src.*`` module of
    another package is not that class.

    Where no class is picked, ``unknown`` applies (default: unchecked in a private Keras
    module of a package the catalog does not cover, where Keras finds the class by itself;
    nothing fits otherwise). A class name none of ``members`` has gets it too, but for the
    names Keras writes for values that are not classes (``__keras_tensor__``...), which are
    not checked, and ``function``, which is no class. ``scanned`` names the ``$defs`` entry
    that checks, beside its class's schema, what the config holds where that schema says
    nothing (``scan_schemas``).
    """
    if unknown is None:
        unknown = {
            "if": _outside(covered),
            "then": {},
            "else": {"properties": {"class_name": False}},
        }

    def config(info: ClassInfo) -> dict[str, Any]:
        schema: dict[str, Any] = {"$ref": def_ref(class_id(info))}
        scan = scanned(info) if scanned else None
        if scan:
            schema = {"allOf": [schema, {"$ref": def_ref(scan)}]}
        return {"properties": {"config": schema}}

    def checked(info: ClassInfo) -> dict[str, Any]:
        return _module_fits(info, config(info), unknown)

    registered: dict[str, ClassInfo] = {}
    by_module: dict[tuple[str, str | None], ClassInfo] = {}
    by_name: dict[str, list[ClassInfo]] = {}
    for info in members:
        if info.custom and info.registered_name:
            registered.setdefault(info.registered_name, info)
        for name in [info.class_name, *info.aliases]:
            by_module.setdefault((name, info.module), info)
            by_name.setdefault(name, []).append(info)
    by_class = []
    for name in sorted(by_name):
        ordered = sorted(by_name[name], key=lambda i: bool(i.custom))
        chosen = _by_package(ordered, checked, unknown)
        modules = {
            module: info
            for (n, module), info in by_module.items()
            if n == name and module is not None
        }
        if modules:
            chosen = {
                "if": _holds("module", {"enum": sorted(modules)}),
                "then": {
                    "allOf": [
                        {"if": _holds("module", {"const": m}), "then": config(modules[m])}
                        for m in sorted(modules)
                    ]
                },
                "else": chosen,
            }
        by_class.append({"if": _holds("class_name", {"const": name}), "then": chosen})
    by_class.append(
        {
            "if": _holds("class_name", {"type": "string", "not": {"enum": sorted(by_name)}}),
            "then": {
                "if": _holds("class_name", {"enum": sorted(SPECIAL_CLASS_NAMES)}),
                "then": {},
                "else": {
                    "if": _holds("class_name", {"const": "function"}),
                    "then": {"properties": {"class_name": {"not": {"const": "function"}}}},
                    "else": unknown,
                },
            },
        }
    )
    if not registered:
        return {"allOf": by_class}
    return {
        "if": _holds("registered_name", {"enum": sorted(registered)}),
        "then": {
            "allOf": [
                {"if": _holds("registered_name", {"const": r}), "then": config(registered[r])}
                for r in sorted(registered)
            ]
        },
        "else": {"allOf": by_class},
    }


def def_ref(name: str) -> str:
    """The ``$ref`` of a definition: a JSON pointer in a URI fragment, which takes no ``>``
    (``keras_hub>BertBackbone``) unescaped."""
    return "#/$defs/" + quote(name.replace("~", "~0").replace("/", "~1"), safe="~")


# Packages other than Keras whose modules Keras's loader imports by module.
_MODULE_PACKAGES = ("keras_cv", "keras_hub", "keras_nlp")
_OWN_PREFIX = r"^(?!keras[.>])[^.>]+[^>]*>"  # a registered_name naming a package, not Keras
_IMPORTED = rf"^({'|'.join(_MODULE_PACKAGES)})(\.|$)"


def _packages_of(info: ClassInfo) -> set[str]:
    registered = info.registered_name.split(">")[0] if info.registered_name else ""
    return {p for p in ((info.module or "").split(".")[0], registered) if p}


def _named(key: str, pattern: str) -> dict[str, Any]:
    return _holds(key, {"type": "string", "pattern": pattern})


def _by_package(
    ordered: list[ClassInfo],
    checked: Callable[[ClassInfo], dict[str, Any]],
    unknown: dict[str, Any],
) -> dict[str, Any]:
    """The class picked by ``class_name`` alone among ``ordered`` (Keras's own first): the
    first of the package a ``registered_name`` (``pkg>X``) names, else of the
    Keras-imported package the ``module`` is in, else the first; ``unknown`` when the
    package named has no class of that name."""

    def of(package: str) -> dict[str, Any]:
        found = next((i for i in ordered if package in _packages_of(i)), None)
        return unknown if found is None else checked(found)

    # A package is named by its root (``pkg`` of ``pkg.sub>X``).
    packages = sorted({p for i in ordered for p in _packages_of(i) if "." not in p} - {"keras"})
    if not packages:
        # Keras's own class: any package named is one that has no class of that name.
        return {
            "if": {"anyOf": [_named("registered_name", _OWN_PREFIX), _named("module", _IMPORTED)]},
            "then": unknown,
            "else": checked(ordered[0]),
        }
    known = "|".join(escape_pattern(p) for p in packages)
    by_registered = {
        "if": _named("registered_name", rf"^({known})[.>]"),
        "then": {
            "allOf": [
                {"if": _named("registered_name", rf"^{escape_pattern(p)}[.>]"), "then": of(p)}
                for p in packages
            ]
        },
        "else": unknown,
    }
    by_module = {
        "allOf": [{"if": _named("module", rf"^{p}(\.|$)"), "then": of(p)} for p in _MODULE_PACKAGES]
    }
    return {
        "if": _named("registered_name", _OWN_PREFIX),
        "then": by_registered,
        "else": {
            "if": _named("module", _IMPORTED),
            "then": by_module,
            "else": checked(ordered[0]),
        },
    }


def _holds(key: str, test: dict[str, Any]) -> dict[str, Any]:
    return {"required": [key], "properties": {key: test}}


def _module_fits(info: ClassInfo, then: dict[str, Any], unknown: dict[str, Any]) -> dict[str, Any]:
    home = keras_package(info.module)
    if home is None or info.custom:
        return then
    other = {"type": "string", "pattern": r"^keras\.src\.", "not": {"pattern": _package(home)}}
    return {"if": _holds("module", other), "then": unknown, "else": then}


def _outside(covered: set[str]) -> dict[str, Any]:
    """A private Keras module of a package the catalog does not cover (``keras.src.ops``
    when only layers are): Keras imports it and finds the class there."""
    module: dict[str, Any] = {"type": "string", "pattern": r"^keras\.src\."}
    if covered:
        module["not"] = {"pattern": "|".join(_package(p) for p in sorted(covered))}
    return _holds("module", module)


def _package(package: str) -> str:
    return rf"^keras\.src\.{escape_pattern(package)}(?:\.|$)"


# -- what the exported schema checks beside the classes' schemas -----------------------------------
#
# The server checks an envelope's config against its class's schema with a JSON Schema engine,
# then looks for nested envelopes where that schema says nothing (an argument typed ``{}``, an
# object without properties, an array without items) and checks each against the class it
# names. The definitions below give the exported schema that second step, for any
# schema-aware editor: ``any_value`` where the server scans, ``loose_envelope`` for an
# object found there, ``scan.<class>`` per config, ``unknown.<family>`` where no class is
# picked. The server's own walk never reaches them: they hang off the envelopes' ``allOf``
# and the dispatch, which it replaces by its own class pick.

ANY_VALUE = {"$ref": "#/$defs/any_value"}
_ENVELOPE_PREFIX = "#/$defs/envelope."
_FUNCTIONAL = "#/$defs/functional_layer"


def _kind_of(family: str) -> str:
    return "layer" if family in ("layer", "model") else family


def exported_checks(
    defs: dict[str, Any], infos: list[ClassInfo], class_id: Callable[[ClassInfo], str]
) -> dict[str, Any]:
    """``dispatch.<family>`` and the definitions the exported schema checks nested envelopes
    and unknown classes with, as the fast checks do; ``defs`` holds the classes' schemas, the
    envelopes and the shared definitions they use."""
    out: dict[str, Any] = {}
    scanner = _Scanner(defs)
    scans: dict[str, str] = {}
    for info in infos:
        found = scanner.object_scan([defs[class_id(info)]])
        if found is not None:
            scans[class_id(info)] = f"scan.{class_id(info)}"
            out[f"scan.{class_id(info)}"] = found
    by_kind: dict[str, list[ClassInfo]] = {}
    for info in infos:
        by_kind.setdefault(_kind_of(info.family), []).append(info)
    names = {
        kind: sorted({n for i in members for n in [i.class_name, *i.aliases]})
        for kind, members in by_kind.items()
    }
    covered = {p for p in (keras_package(info.module) for info in infos) if p is not None}
    modules = sorted({info.module for info in infos if info.module})
    for kind in ("layer", "initializer", "regularizer", "constraint", "dtype_policy"):
        others = sorted({n for k, found in names.items() if k != kind for n in found})
        out[f"unknown.{kind}"] = _unknown(covered, names.get(kind, []), others, modules)
        out[f"dispatch.{kind}"] = dispatch_schema(
            by_kind.get(kind, []),
            class_id,
            covered,
            unknown={"$ref": f"#/$defs/unknown.{kind}"},
            scanned=lambda info: scans.get(class_id(info)),
        )
    out["any_value"] = {
        "if": {
            "type": "object",
            "required": ["class_name", "config"],
            "properties": {"class_name": {"type": "string"}},
        },
        "then": {
            "if": {"properties": {"class_name": {"enum": sorted(SPECIAL_CLASS_NAMES)}}},
            "then": {"additionalProperties": ANY_VALUE},
            "else": {"$ref": "#/$defs/loose_envelope"},
        },
        "else": {"additionalProperties": ANY_VALUE, "items": ANY_VALUE},
        "description": "Where the schema says nothing of a value: a serialized object in it "
        "is checked against the class it names.",
    }
    out["loose_envelope"] = _loose(infos, "functional_layer" in defs, modules)
    out["scan.envelope"] = _envelope_scan(scanner, defs["envelope.layer"])
    if "functional_layer" in defs:
        out["scan.functional_layer"] = _envelope_scan(scanner, defs["functional_layer"])
    return out


def _unknown(
    covered: set[str], names: list[str], others: list[str], modules: list[str]
) -> dict[str, Any]:
    """No class of the family is picked: an unknown class, but where the server (and Keras)
    let it be: in a private Keras module the catalog does not cover, or a class of a package
    the catalog was not told about; the config is scanned either way. The error is the
    class_name's: not one of the family's ``names``, or one whose class is not the one
    meant there (a Keras layer named with another package)."""
    custom = {
        "anyOf": [
            _holds("module", {"type": "string", "not": {"pattern": r"^keras(\.|$)"}}),
            _named("registered_name", ">"),
        ]
    }
    elsewhere = [{"not": _holds("class_name", {"enum": others})}] if others else []
    lenient = {"allOf": [custom, *elsewhere, {"not": _holds("module", {"enum": modules})}]}
    return {
        "properties": {"config": ANY_VALUE},
        "if": {"anyOf": [_outside(covered), lenient]},
        "else": {"properties": {"class_name": {"enum": names, "not": {"enum": names}}}},
    }


def _loose(infos: list[ClassInfo], functional: bool, modules: list[str]) -> dict[str, Any]:
    """An object with ``class_name`` and ``config`` where the schema says nothing: checked as
    an envelope of the family of the class it names (registered_name first, then class_name,
    Keras's own first); a class not found is unknown only in a module the catalog covers."""

    def envelope(kind: str) -> dict[str, Any]:
        if kind == "layer" and functional:
            return {
                "if": {"required": ["inbound_nodes"]},
                "then": {"$ref": _FUNCTIONAL},
                "else": {"$ref": _ENVELOPE_PREFIX + "layer"},
            }
        return {"$ref": _ENVELOPE_PREFIX + kind}

    registered: dict[str, str] = {}
    first: dict[str, str] = {}
    for info in sorted(infos, key=lambda i: bool(i.custom)):
        for name in [info.class_name, *info.aliases]:
            first.setdefault(name, _kind_of(info.family))
    for info in infos:
        if info.custom and info.registered_name:
            registered.setdefault(info.registered_name, _kind_of(info.family))

    def grouped(table: dict[str, str], key: str) -> list[dict[str, Any]]:
        kinds = sorted(set(table.values()))
        return [
            {
                "if": _holds(key, {"enum": sorted(n for n, k in table.items() if k == kind)}),
                "then": envelope(kind),
            }
            for kind in kinds
        ]

    by_name = grouped(first, "class_name")
    by_name.append(
        {
            "if": _holds("class_name", {"not": {"enum": sorted(first)}}),
            "then": {
                "if": _holds("module", {"enum": modules}),
                "then": {"properties": {"class_name": {"enum": sorted(first)}}},
            },
        }
    )
    picked: dict[str, Any] = {"allOf": by_name}
    if registered:
        picked = {
            "if": _holds("registered_name", {"enum": sorted(registered)}),
            "then": {"allOf": grouped(registered, "registered_name")},
            "else": picked,
        }
    return {"if": _holds("class_name", {"const": "function"}), "then": {}, "else": picked}


def _envelope_scan(scanner: _Scanner, envelope: dict[str, Any]) -> dict[str, Any]:
    """An envelope's own keys (build_config...) as the server scans them, and its config when
    it names no class_name."""
    shell = {
        "type": "object",
        "properties": {
            k: s
            for k, s in (envelope.get("properties") or {}).items()
            if k not in ("class_name", "config")
        },
        "additionalProperties": False,  # other keys are a warning of their own, not scanned
    }
    schema = scanner.object_scan([shell]) or {}
    return {
        **schema,
        "if": {"required": ["class_name"]},
        "else": {"properties": {"config": ANY_VALUE}},
    }


def _json_types(schema: dict[str, Any]) -> set[str] | None:
    declared = schema.get("type")
    if declared is None:
        if "const" in schema:
            return {json_type(schema["const"])}
        return None
    types = set(declared) if isinstance(declared, list) else {declared}
    return types | ({"integer"} if "number" in types else set())


class _Scanner:
    """Where the server scans a value for nested envelopes, as schemas applying
    ``any_value`` there: ``schema_match.Matcher.envelopes_in`` read statically."""

    def __init__(self, defs: dict[str, Any]):
        self.defs = defs
        self._memo: dict[tuple[str, tuple[int, ...]], dict[str, Any] | None] = {}
        self._busy: set[tuple[str, tuple[int, ...]]] = set()
        self._kept: list[list[Any]] = []  # keys are ids: what they name stays alive

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        for _ in range(32):
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                break
            target = self.defs.get(ref[len("#/$defs/") :]) if ref.startswith("#/$defs/") else None
            if not isinstance(target, dict):
                return {}
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **extra} if extra else target
        return schema

    def _unfold(self, schemas: list[Any], jtype: str) -> tuple[bool, list[dict[str, Any]]]:
        """Whether an envelope definition applies to a value of ``jtype``, and the fragments
        that do (``$ref`` resolved, ``allOf``, fitting ``anyOf`` branches, ``then`` and
        ``else`` unfolded)."""
        envelope = False
        found: list[dict[str, Any]] = []
        pending = list(schemas)
        while pending:
            sub = pending.pop()
            if not isinstance(sub, dict):
                continue
            ref = sub.get("$ref")
            if isinstance(ref, str) and (ref.startswith(_ENVELOPE_PREFIX) or ref == _FUNCTIONAL):
                envelope = True
                continue
            resolved = self._resolve(sub) if ref is not None else sub
            found.append(resolved)
            pending.extend(resolved.get("allOf", ()))
            for keyword in ("anyOf", "oneOf"):
                for branch in resolved.get(keyword, ()):
                    types = _json_types(self._resolve(branch)) if isinstance(branch, dict) else None
                    if types is None or jtype in types:
                        pending.append(branch)
            for keyword in ("then", "else"):
                if isinstance(resolved.get(keyword), dict):
                    pending.append(resolved[keyword])
        return envelope, found

    def _types(self, schema: Any, depth: int = 0) -> set[str]:
        """The JSON types a value may have to pass ``schema`` (envelopes are objects)."""
        every = {"object", "array", "string", "integer", "number", "boolean", "null"}
        if not isinstance(schema, dict) or depth > 16:
            return every if schema is not False else set()
        ref = schema.get("$ref")
        if isinstance(ref, str) and (ref.startswith(_ENVELOPE_PREFIX) or ref == _FUNCTIONAL):
            return {"object"}
        schema = self._resolve(schema) if ref is not None else schema
        types = _json_types(schema) or every
        for part in schema.get("allOf", ()):
            types &= self._types(part, depth + 1)
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                types &= set().union(*(self._types(b, depth + 1) for b in schema[keyword]))
        return types

    def scan(self, schemas: list[Any]) -> dict[str, Any] | None:
        """What applies to a value where ``schemas`` do (None: nothing). A value of a type
        they refuse is an error of theirs already: it is not scanned."""
        types = {"object", "array"}
        for schema in schemas:
            types &= self._types(schema)
        obj = self.object_scan(schemas) if "object" in types else None
        arr = self._array_scan(schemas) if "array" in types else None
        if obj == ANY_VALUE and arr == {"items": ANY_VALUE}:
            return ANY_VALUE
        if obj == ANY_VALUE:
            obj = {"if": {"type": "object"}, "then": ANY_VALUE}
        merged = {**(obj or {}), **(arr or {})}
        return merged or None

    def object_scan(self, schemas: list[Any]) -> dict[str, Any] | None:
        return self._once("object", schemas, self._object)

    def _once(
        self,
        kind: str,
        schemas: list[Any],
        compute: Callable[[list[Any]], dict[str, Any] | None],
    ) -> dict[str, Any] | None:
        """``compute(schemas)`` once per (kind, schemas); None while it is being computed
        (a recursive definition scans as nothing more)."""
        key = (kind, tuple(map(id, schemas)))
        if key in self._memo:
            return self._memo[key]
        if key in self._busy:
            return None
        self._busy.add(key)
        try:
            found = compute(schemas)
        finally:
            self._busy.discard(key)
        self._memo[key] = found
        self._kept.append(schemas)  # the ids in the key stay theirs
        return found

    def _object(self, schemas: list[Any]) -> dict[str, Any] | None:
        envelope, found = self._unfold(schemas, "object")
        if envelope:
            return None  # checked by the envelope's own definition
        if not any("properties" in s or "additionalProperties" in s for s in found):
            return ANY_VALUE
        closed = any(s.get("additionalProperties") is False for s in found)
        keys = list(dict.fromkeys(k for s in found for k in (s.get("properties") or {})))
        others = [
            s["additionalProperties"]
            for s in found
            if isinstance(s.get("additionalProperties"), dict)
        ]
        properties: dict[str, Any] = {}
        for name in keys:
            children = property_schemas(found, name)
            properties[name] = self.scan(children) if children else (None if closed else ANY_VALUE)
        rest = self.scan(others) if others else (None if closed else ANY_VALUE)
        schema: dict[str, Any] = {}
        if rest is not None:
            schema["properties"] = {k: v or {} for k, v in properties.items()}
            schema["additionalProperties"] = rest
        elif any(v is not None for v in properties.values()):
            schema["properties"] = {k: v for k, v in properties.items() if v is not None}
        return schema or None

    def _array_scan(self, schemas: list[Any]) -> dict[str, Any] | None:
        return self._once("array", schemas, self._array)

    def _array(self, schemas: list[Any]) -> dict[str, Any] | None:
        _, found = self._unfold(schemas, "array")
        prefixes = [s.get("prefixItems") or [] for s in found]
        items = [s["items"] for s in found if isinstance(s.get("items"), dict)]
        schema: dict[str, Any] = {}
        longest = max((len(p) for p in prefixes), default=0)
        if longest:
            prefix = []
            for index in range(longest):
                children = item_schemas(found, index)
                prefix.append(self.scan(children) if children else ANY_VALUE)
            if any(p is not None for p in prefix):
                schema["prefixItems"] = [p or {} for p in prefix]
        rest = self.scan(items) if items else ANY_VALUE
        if rest is not None:
            schema["items"] = rest
        return schema or None
