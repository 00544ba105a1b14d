"""Which class, and which schema, applies at a JSON path: one matcher for validation, hover,
completion, navigation and code actions, so that "what is this object" has one answer.

An envelope's class is picked as Keras resolves it (``pick``): by ``registered_name`` among
registered classes, then ``class_name`` with ``module``, then ``class_name`` alone, within the
families the position takes; a private ``keras.src.*`` module of another package rules a class
out. The envelope's ``config`` then gets that class's config schema. Elsewhere the emitted
JSON Schema is descended guided by the document's values: ``$ref`` is resolved, ``allOf``
unfolded, ``if``/``then`` followed where its condition holds, and ``anyOf`` keeps the branches
that fit the value found there (all of them where there is no value yet, e.g. while typing).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from ...codes import JsonPath
from ..catalog import LAYER_FAMILIES, Catalog, Entry
from .findings import MAX_DEPTH, SPECIAL_CLASS_NAMES, json_type

Schema = dict[str, Any]
PREFIX = "#/$defs/"

_MISSING = object()


# -- the class of an envelope ---------------------------------------------------------------------


def keras_package(module: str | None) -> str | None:
    """``layers`` for ``keras.layers`` and ``keras.src.layers.core.dense``; None for ``keras``."""
    if not module:
        return None
    parts = module.split(".")
    if parts[0] != "keras" or len(parts) < 2:
        return None
    if parts[1] == "src":
        return parts[2] if len(parts) > 2 else None
    return parts[1]


def module_fits(value: dict[str, Any], entry: Entry) -> bool:
    """Whether Keras, importing the envelope's ``module``, can find this entry's class.

    Only private ``keras.src.*`` modules are told apart (a Functional model holds
    ``keras.src.ops.numpy.Reshape`` operations, which are not ``keras.layers.Reshape``); a
    public module that differs is a warning of the identity check.
    """
    module = value.get("module")
    if not isinstance(module, str) or module == entry.get("module"):
        return True
    if entry.get("custom") and value.get("registered_name") == entry.get("registered_name"):
        return True
    if not module.startswith("keras.src."):
        return True
    home = keras_package(entry.get("module"))
    return home is None or home == keras_package(module)


def pick(catalog: Catalog, envelope: Any, families: Collection[str] | None = None) -> Entry | None:
    """The class an envelope names, among ``families`` (None: any), as validation checks it."""
    if type(envelope) is not dict:
        return None
    entry = catalog.lookup(envelope, families)
    if entry is not None and not module_fits(envelope, entry):
        return None
    return entry


def envelope_families(schema: Any) -> frozenset[str] | None:
    """The class families of an envelope definition (one that dispatches on class_name)."""
    if not isinstance(schema, dict):
        return None
    properties = schema.get("properties")
    if not isinstance(properties, dict) or "class_name" not in properties:
        return None
    if "config" not in properties:
        return None
    for part in schema.get("allOf", ()):
        ref = part.get("$ref", "") if isinstance(part, dict) else ""
        if ref.startswith(PREFIX + "dispatch."):
            family = ref[len(PREFIX + "dispatch.") :]
            return LAYER_FAMILIES if family in LAYER_FAMILIES else frozenset({family})
    return None


def envelope_kind(family: str) -> str:
    """The ``$defs`` name of the envelope of a family."""
    return "envelope.layer" if family in LAYER_FAMILIES else f"envelope.{family}"


def is_envelope_ref(ref: Any) -> TypeGuard[str]:
    """A ``$ref`` to an envelope definition (whose config the class picks)."""
    return isinstance(ref, str) and (
        ref.startswith(PREFIX + "envelope.") or ref == PREFIX + "functional_layer"
    )


# -- what applies at a path -----------------------------------------------------------------------


@dataclass
class Match:
    """What applies at a path."""

    schemas: list[Schema]  # expanded schema fragments for the value at the path
    value: Any = _MISSING  # the value found there, or _MISSING
    entry: Entry | None = None  # class of the nearest enclosing envelope
    envelope_path: JsonPath | None = None
    param: dict[str, Any] | None = None  # catalog parameter, when the path is a config key
    key: str | None = None
    # enclosing envelopes and their classes, outer first
    parents: list[tuple[JsonPath, Entry]] = field(default_factory=list)

    @property
    def has_value(self) -> bool:
        return self.value is not _MISSING


def _type_fits(schema: Schema, value: Any) -> bool:
    declared = schema.get("type")
    if declared is None:
        if "const" in schema:
            return bool(schema["const"] == value)
        return True
    types = declared if isinstance(declared, list) else [declared]
    actual = json_type(value)
    return actual in types or (actual == "integer" and "number" in types)


def _condition_holds(condition: Schema, value: Any) -> bool:
    """The ``if`` of a constraint: ``required``, and ``properties`` by const, enum or type."""
    if not isinstance(value, dict):
        return False
    for key in condition.get("required", []):
        if key not in value:
            return False
    for key, test in condition.get("properties", {}).items():
        if key not in value or not isinstance(test, dict):
            continue
        if "const" in test and value[key] != test["const"]:
            return False
        if "enum" in test and value[key] not in test["enum"]:
            return False
        if "type" in test and not _type_fits({"type": test["type"]}, value[key]):
            return False
    return True


class Matcher:
    """The matcher of one catalog."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._unfolded: dict[Any, tuple[str | None, list[Schema], bool, bool]] = {}

    def resolve(self, schema: Schema) -> Schema:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            target = self.catalog.resolve(schema["$ref"])
            if target is None:
                return {}
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **extra} if extra else target
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def expand(self, schemas: list[Schema], value: Any = _MISSING) -> list[Schema]:
        """Fragments that apply to ``value``: refs resolved, allOf/if-then/anyOf unfolded. An
        envelope's class dispatch is not unfolded: ``config`` picks the class (``pick``)."""
        out: list[Schema] = []
        seen: set[int] = set()
        stack = list(reversed(schemas))
        while stack:
            schema = self.resolve(stack.pop())
            if id(schema) in seen:
                continue
            seen.add(id(schema))
            out.append(schema)
            if envelope_families(schema) is not None:
                continue
            for sub in reversed(schema.get("allOf", [])):
                stack.append(sub)
            if "if" in schema and value is not _MISSING:
                branch = schema.get("then" if _condition_holds(schema["if"], value) else "else")
                if isinstance(branch, dict):
                    stack.append(branch)
            for keyword in ("anyOf", "oneOf"):
                branches = schema.get(keyword, [])
                fitting = [
                    b for b in branches if value is _MISSING or _type_fits(self.resolve(b), value)
                ]
                stack.extend(reversed(fitting))
        return out

    def envelope_entry(self, expanded: list[Schema], value: Any) -> Entry | None:
        """The class of the envelope ``value``, where ``expanded`` applies to it."""
        if type(value) is not dict or "class_name" not in value:
            return None
        families: frozenset[str] | None = None
        described = False
        for schema in expanded:
            found = envelope_families(schema)
            if found is not None:
                families = found if families is None else families | found
            if schema.get("properties") or schema.get("items") or schema.get("anyOf"):
                described = True
        if families is None and described:
            return None  # an object the schema describes, not an envelope
        if families is None and "config" not in value:
            return None
        return pick(self.catalog, value, families)

    def match(self, root: Any, path: JsonPath) -> Match:
        schemas = [self.catalog.schema] if self.catalog.schema else []
        value: Any = root
        entry = None
        envelope_path: JsonPath | None = None
        param = None
        key = None
        parents: list[tuple[JsonPath, Entry]] = []
        for depth, step in enumerate(path):
            expanded = self.expand(schemas, value)
            here = path[:depth]
            children: list[Schema] = []
            if step == "config" and isinstance(value, dict):
                found = self.envelope_entry(expanded, value)
                if found is not None:
                    entry, envelope_path = found, here
                    parents.append((here, found))
                    children.append(self.catalog.schema_for(found))
            if not children:
                for schema in expanded:
                    if isinstance(step, str):
                        props = schema.get("properties", {})
                        if step in props:
                            children.append(props[step])
                        elif isinstance(schema.get("additionalProperties"), dict):
                            children.append(schema["additionalProperties"])
                    else:
                        prefix = schema.get("prefixItems", [])
                        if step < len(prefix):
                            children.append(prefix[step])
                        elif isinstance(schema.get("items"), dict):
                            children.append(schema["items"])
            param = None
            key = step if isinstance(step, str) else None
            if (
                entry is not None
                and envelope_path is not None
                and here == (*envelope_path, "config")
                and isinstance(step, str)
            ):
                param = entry.get("params", {}).get(step)
            schemas = children
            value = _child(value, step)
        return Match(
            schemas=self.expand(schemas, value),
            value=value,
            entry=entry,
            envelope_path=envelope_path,
            param=param,
            key=key,
            parents=parents,
        )

    def class_of(self, root: Any, envelope_path: JsonPath) -> Entry | None:
        """The class of the envelope at ``envelope_path``, as validation picks it."""
        return self.match(root, (*envelope_path, "config")).entry

    def _unfold(
        self, schemas: list[Schema], item: Any
    ) -> tuple[str | None, list[Schema], bool, bool]:
        """The envelope kind a value takes there (or None), the fragments that apply to it,
        whether they close the object's keys, and whether they describe its children."""
        kind = None
        found: list[Schema] = []
        pending = list(schemas)
        while pending:
            sub = pending.pop()
            if not isinstance(sub, dict):
                continue
            ref = sub.get("$ref")
            if is_envelope_ref(ref):
                kind = ref[len(PREFIX) :]
                continue
            resolved = self.resolve(sub) if ref is not None else sub
            found.append(resolved)
            pending.extend(resolved.get("allOf", ()))
            for keyword in ("anyOf", "oneOf"):
                branches = [
                    b for b in resolved.get(keyword, ()) if _type_fits(self.resolve(b), item)
                ]
                if type(item) is dict and len(branches) > 1:
                    # An object naming its class_name takes the branch made for it.
                    name = item.get("class_name")
                    exact = [b for b in branches if _names_class(b, name)]
                    branches = exact or branches
                pending.extend(branches)
            for keyword in ("then", "else"):
                if isinstance(resolved.get(keyword), dict):
                    pending.append(resolved[keyword])
        if type(item) is dict:
            closed = any(sub.get("additionalProperties") is False for sub in found)
            described = any("properties" in s or "additionalProperties" in s for s in found)
        else:
            closed = False
            described = any("prefixItems" in s or "items" in s for s in found)
        return kind, found, closed, described

    # -- nested envelopes, for validation ----------------------------------------------------
    def envelopes_in(
        self, schema: Schema, value: Any, path: JsonPath
    ) -> Iterator[tuple[JsonPath, Any, str | None, frozenset[str] | None]]:
        """The envelopes inside ``value`` (which ``schema`` describes), outermost only: (path,
        envelope, ``$defs`` kind, families). Where the schema says nothing about a value, an
        object with ``class_name`` and ``config`` is an envelope of any family (kind None)."""
        stack: list[tuple[list[Schema], Any, JsonPath]] = [([schema], value, path)]
        while stack:
            schemas, item, here = stack.pop()
            if len(here) > MAX_DEPTH or not (type(item) is dict or type(item) is list):
                continue
            children: list[Schema]
            memo_key = (tuple(map(id, schemas)), type(item), _class_name(item))
            unfolded = self._unfolded.get(memo_key)
            if unfolded is None:
                unfolded = self._unfold(schemas, item)
                if len(self._unfolded) > 65536:
                    self._unfolded.clear()
                self._unfolded[memo_key] = unfolded
            kind, found, closed, described = unfolded
            if kind is not None and type(item) is dict:
                families = envelope_families(self.catalog.resolve(PREFIX + kind))
                yield here, item, kind, families
                continue
            if type(item) is dict:
                if not described and _loose(item):
                    yield here, item, None, None
                    continue
                for key in reversed(list(item)):
                    children = property_schemas(found, key)
                    child = item[key]
                    if (children or not closed) and (type(child) is dict or type(child) is list):
                        stack.append((children, child, (*here, key)))
            else:
                for index in range(len(item) - 1, -1, -1):
                    children = item_schemas(found, index)
                    child = item[index]
                    if type(child) is dict or type(child) is list:
                        stack.append((children, child, (*here, index)))


def property_schemas(schemas: list[Schema], key: str) -> list[Schema]:
    """What applies to the value of ``key`` in an object that ``schemas`` describe (the
    runtime scan and the exported schema's static reading of it step down alike)."""
    children = []
    for sub in schemas:
        properties = sub.get("properties") or {}
        if key in properties:
            children.append(properties[key])
        elif isinstance(sub.get("additionalProperties"), dict):
            children.append(sub["additionalProperties"])
    return children


def item_schemas(schemas: list[Schema], index: int) -> list[Schema]:
    """What applies to item ``index`` of an array that ``schemas`` describe."""
    children = []
    for sub in schemas:
        prefix = sub.get("prefixItems") or []
        if index < len(prefix):
            children.append(prefix[index])
        elif isinstance(sub.get("items"), dict):
            children.append(sub["items"])
    return children


def _class_name(item: Any) -> Any:
    name = item.get("class_name") if type(item) is dict else None
    return name if type(name) is str else None


def _names_class(schema: Any, name: Any) -> bool:
    test = (schema.get("properties") or {}).get("class_name") if isinstance(schema, dict) else None
    if not isinstance(test, dict) or not isinstance(name, str):
        return False
    return test.get("const") == name or name in (test.get("enum") or ())


def _loose(value: dict[str, Any]) -> bool:
    name = value.get("class_name")
    return "config" in value and type(name) is str and name not in SPECIAL_CLASS_NAMES


def _child(value: Any, step: str | int) -> Any:
    if isinstance(step, str) and isinstance(value, dict):
        return value.get(step, _MISSING)
    if isinstance(step, int) and isinstance(value, list) and 0 <= step < len(value):
        return value[step]
    return _MISSING


def missing() -> Any:
    return _MISSING


def value_at(value: Any, path: JsonPath) -> Any:
    """The value at ``path``, or None where the path leads nowhere."""
    for step in path:
        if isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        elif isinstance(step, int) and isinstance(value, list) and 0 <= step < len(value):
            value = value[step]
        else:
            return None
    return value


_matchers: dict[int, tuple[Catalog, Matcher]] = {}


def matcher(catalog: Catalog) -> Matcher:
    """The matcher of a catalog (one per catalog object)."""
    found = _matchers.get(id(catalog))
    if found is None or found[0] is not catalog:
        if len(_matchers) > 16:
            _matchers.clear()
        found = _matchers[id(catalog)] = (catalog, Matcher(catalog))
    return found[1]


def match(catalog: Catalog, value: Any, path: JsonPath) -> Match:
    """What applies at ``path`` in the document ``value``: the enclosing class and schemas."""
    return matcher(catalog).match(value, path)
