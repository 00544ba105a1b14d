"""The JSON Schema engine behind the fast checks: each envelope's config (and the envelope's own
keys) is validated by ``jsonschema_rs`` against the catalog's draft 2020-12 schema, the one
``layercfg schema`` exports, and the engine's errors (which carry instance paths) become
``Finding``s with the project's codes, messages and data (``schema_errors``).

Validators are compiled once per catalog, lazily per class. Nested envelopes are not
dispatched by the engine (their definitions are replaced by ``{"type": "object"}`` here): the
caller checks each against the class ``schema_match.pick`` chooses, as hover and completion do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import jsonschema_rs

from ...codes import JsonPath
from ..catalog import Catalog, Entry
from .findings import (
    MAX_DEPTH,
    Finding,
    SchemaError,
    _wrong_type,
    json_type,
)
from .schema_errors import ALL_TYPES, Mapper
from .schema_match import PREFIX, is_envelope_ref
from .suggest import _Keys

# The keywords the catalog's schemas use and the findings know how to word; any other one
# fails loudly when its validator is compiled.
KEYWORDS = frozenset(
    {
        "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "minItems", "maxItems", "pattern", "items", "prefixItems", "properties", "required",
        "additionalProperties", "anyOf", "allOf", "$ref", "if", "then", "else", "$defs",
    }
)  # fmt: skip
ANNOTATIONS = frozenset(
    {
        "$schema", "$id", "$comment", "title", "description", "markdownDescription", "default",
        "defaultSnippets", "enumDescriptions", "examples", "deprecated", "readOnly",
        "writeOnly", "format",
    }
)  # fmt: skip
# A nested envelope, for the engine: an object (its class is checked by the caller) that is no
# function envelope, as in the exported schema, whose class_name enum has no "function".
_STUB: dict[str, Any] = {
    "type": "object",
    "properties": {"class_name": {"not": {"const": "function"}}},
}
_MISSING = object()


def _offline(uri: str) -> Any:
    """What jsonschema_rs would fetch (a ``$schema`` or ``$id`` deep in a catalog the worker
    wrote): never fetched, the server does not touch the network."""
    raise ValueError(f"{uri} is not fetched: the schema engine works offline")


class Engine:
    """The compiled validators of one catalog."""

    def __init__(self, catalog: Catalog, enum_labels: dict[frozenset[Any], str]):
        self.catalog = catalog
        self.enum_labels = enum_labels
        self._lock = threading.RLock()
        self._compiled: dict[Any, tuple[Any, dict[str, Any]]] = {}
        self._keys: dict[int, _Keys] = {}
        self._types: dict[int, frozenset[str] | None] = {}

    # -- compiling -------------------------------------------------------------------------
    def compiled(self, key: Any, schema: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The validator of ``schema`` (cached under ``key``) and the schema it runs: the
        given one, with the definitions it reaches and nested envelopes left to the caller."""
        found = self._compiled.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._compiled.get(key)
            if found is None:
                root = {**schema, "$defs": self._reached(schema)}
                root.pop("$schema", None)
                try:
                    validator = jsonschema_rs.Draft202012Validator(root, retriever=_offline)
                except (ValueError, jsonschema_rs.ReferencingError) as error:
                    raise SchemaError(f"{key}: {error}") from None
                found = self._compiled[key] = (validator, root)
        return found

    def _reached(self, schema: Any) -> dict[str, Any]:
        """The definitions ``schema`` reaches, checked for keywords the findings can word."""
        defs: dict[str, Any] = {}
        stack: list[tuple[Any, str]] = [(schema, "")]
        while stack:
            node, where = stack.pop()
            if isinstance(node, list):
                stack.extend((item, f"{where}/{i}") for i, item in enumerate(node))
                continue
            if not isinstance(node, dict):
                continue
            for keyword, argument in node.items():
                if keyword in ANNOTATIONS:
                    continue
                if keyword not in KEYWORDS:
                    raise SchemaError(f"{where}: unsupported schema keyword {keyword!r}")
                if keyword == "$ref":
                    if not isinstance(argument, str) or not argument.startswith(PREFIX):
                        raise SchemaError(f"{where}: unsupported $ref {argument!r}")
                    name = argument[len(PREFIX) :].replace("~1", "/").replace("~0", "~")
                    if name in defs:
                        continue
                    if is_envelope_ref(argument):
                        defs[name] = _STUB
                        continue
                    target = self.catalog.resolve(argument)
                    if target is None:
                        raise SchemaError(f"unresolvable $ref {argument!r}")
                    defs[name] = target
                    stack.append((target, argument))
                elif keyword == "properties" and isinstance(argument, dict):
                    stack.extend((s, f"{where}/properties/{k}") for k, s in argument.items())
                elif keyword in ("enum", "const", "required", "type", "$defs"):
                    continue
                elif isinstance(argument, (dict, list)):
                    stack.append((argument, f"{where}/{keyword}"))
        return defs

    # -- checking ----------------------------------------------------------------------------
    def check(
        self, key: Any, schema: dict[str, Any], value: Any, path: JsonPath, out: list[Finding]
    ) -> None:
        """The findings of ``value`` (at ``path``) against ``schema``, in document order."""
        validator, root = self.compiled(key, schema)
        limit = MAX_DEPTH - len(path)
        if limit <= 0:
            return
        checked, cut = _within(value, limit)
        try:
            if validator.is_valid(checked):
                return
            errors = [e for e in validator.iter_errors(checked) if len(e.instance_path) < cut]
        except UnicodeEncodeError:  # a lone surrogate ("\ud800"), which JSON text may escape
            value = checked = _cut(checked, cut, _no_surrogates)
            if validator.is_valid(checked):
                return
            errors = [e for e in validator.iter_errors(checked) if len(e.instance_path) < cut]
        found = Mapper(self, root, value, path).findings(errors)
        out.extend(_in_document_order(found, value, len(path)))

    def integral_floats(
        self, key: Any, schema: dict[str, Any], value: Any, path: JsonPath, out: list[Finding]
    ) -> None:
        """``64.0`` where only an integer goes: JSON Schema takes it for one, Keras does not
        ("could not be deserialized properly")."""
        _, root = self.compiled(key, schema)
        for where, number in _floats(value, MAX_DEPTH - len(path)):
            types: frozenset[str] | None = None
            for fragment in self._fragments_at(root, where):
                found = self.possible_types(fragment, root)
                if found is not None:
                    types = found if types is None else types & found
            if types and "integer" in types and "number" not in _declared(root, where, self):
                out.append(_wrong_type(number, path + where, sorted(types - {"number"})))

    def _fragments_at(self, root: dict[str, Any], where: JsonPath) -> list[Any]:
        current: list[Any] = [root]
        for step in where:
            children: list[Any] = []
            for fragment in self._unfold(root, current):
                if isinstance(step, str):
                    properties = fragment.get("properties") or {}
                    if step in properties:
                        children.append(properties[step])
                    elif isinstance(fragment.get("additionalProperties"), dict):
                        children.append(fragment["additionalProperties"])
                else:
                    prefix = fragment.get("prefixItems") or []
                    if step < len(prefix):
                        children.append(prefix[step])
                    elif isinstance(fragment.get("items"), dict):
                        children.append(fragment["items"])
            current = children
        return current

    def _unfold(self, root: dict[str, Any], schemas: list[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        pending = list(schemas)
        while pending and len(out) < 256:
            schema = pending.pop()
            if not isinstance(schema, dict):
                continue
            out.append(schema)
            ref = schema.get("$ref")
            if isinstance(ref, str):
                pending.append(root["$defs"].get(ref[len(PREFIX) :], {}))
            for keyword in ("allOf", "anyOf"):
                pending.extend(schema.get(keyword) or ())
            for keyword in ("then", "else"):
                if isinstance(schema.get(keyword), dict):
                    pending.append(schema[keyword])
        return out

    def passes(self, key: Any, schema: dict[str, Any], value: Any) -> bool:
        validator, _ = self.compiled(key, schema)
        checked, cut = _within(value, MAX_DEPTH)
        try:
            return bool(validator.is_valid(checked))
        except UnicodeEncodeError:
            return bool(validator.is_valid(_cut(checked, cut, _no_surrogates)))

    # -- helpers of the mapper ---------------------------------------------------------------
    def keys_of(self, schema: dict[str, Any]) -> _Keys:
        keys = self._keys.get(id(schema))
        if keys is None:
            keys = self._keys[id(schema)] = _Keys(tuple(schema.get("properties") or ()))
        return keys

    def possible_types(
        self, schema: Any, root: dict[str, Any], visiting: frozenset[int] = frozenset()
    ) -> frozenset[str] | None:
        """What JSON types can pass ``schema`` at all (None: any): anyOf picks its branch by
        the value's type."""
        if not isinstance(schema, dict):
            return None
        if id(schema) in self._types:
            return self._types[id(schema)]
        if id(schema) in visiting:
            return None
        visiting = visiting | {id(schema)}
        declared = schema.get("type")
        found: frozenset[str] | None = None
        if declared is not None:
            found = frozenset(declared if isinstance(declared, list) else [declared])
        if "const" in schema:
            found = _meet(found, frozenset({json_type(schema["const"])}))
        if isinstance(schema.get("enum"), list):
            found = _meet(found, frozenset(json_type(v) for v in schema["enum"]))
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = root["$defs"].get(ref[len(PREFIX) :], {})
            found = _meet(found, self.possible_types(target, root, visiting))
        if isinstance(schema.get("anyOf"), list):
            union: set[str] = set()
            for branch in schema["anyOf"]:
                types = self.possible_types(branch, root, visiting)
                if types is None:
                    union = set(ALL_TYPES)
                    break
                union |= types
            found = _meet(found, frozenset(union))
        for part in schema.get("allOf", ()):
            found = _meet(found, self.possible_types(part, root, visiting))
        if found is not None and "number" in found:
            found = found | {"integer"}
        if len(visiting) == 1:
            self._types[id(schema)] = found
        return found


def _meet(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    if "number" in a:
        a = a | {"integer"}
    if "number" in b:
        b = b | {"integer"}
    return a & b


def _floats(value: Any, limit: int) -> Iterator[tuple[JsonPath, float]]:
    """The floats with an integral value in ``value``, with their paths."""
    stack: list[tuple[Any, JsonPath]] = [(value, ())]
    while stack:
        node, here = stack.pop()
        if len(here) >= limit:
            continue
        items = node.items() if type(node) is dict else enumerate(node)
        for key, item in items:
            if type(item) is float and item.is_integer():
                yield (*here, key), item
            elif type(item) is dict or type(item) is list:
                stack.append((item, (*here, key)))


def _declared(root: dict[str, Any], where: JsonPath, engine: Engine) -> set[str]:
    """The types the schemas at ``where`` name, through anyOf branches."""
    found: set[str] = set()
    for fragment in engine._unfold(root, engine._fragments_at(root, where)):
        declared = fragment.get("type")
        if declared is None and not any(k in fragment for k in ("anyOf", "allOf", "$ref")):
            if not any(k in fragment for k in ("enum", "const")):
                found.add("number")  # {}: anything goes
        elif declared is not None:
            found.update(declared if isinstance(declared, list) else [declared])
    return found


def _within(value: Any, limit: int) -> tuple[Any, int]:
    """``value`` with the containers deeper than ``limit`` emptied, and the depth from which
    the engine's errors are dropped (it recurses, and a 100,000-deep document must not take
    the process down; Keras configs nest a few dozen levels)."""
    # Level by level: the containers at each depth, none deeper than ``limit`` when clean.
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        if depth >= limit:
            return _cut(value, limit), limit
        below: list[Any] = []
        for node in level:
            items = node.values() if type(node) is dict else node
            below.extend([v for v in items if type(v) is dict or type(v) is list])
        level = below
        depth += 1
    return value, limit + 1


def _no_surrogates(value: Any) -> Any:
    def text(item: Any) -> Any:
        if type(item) is str:
            return item.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return item

    if type(value) is dict:
        return {text(k): text(v) for k, v in value.items()}
    if type(value) is list:
        return [text(v) for v in value]
    return text(value)


def _cut(value: Any, limit: int, leaf: Any = None) -> Any:
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(value, root, 0, 0)]
    while stack:
        node, parent, slot, depth = stack.pop()
        if type(node) is dict:
            copy: Any = {} if depth >= limit else dict(node)
        elif type(node) is list:
            copy = [] if depth >= limit else list(node)
        else:
            copy = node if leaf is None else leaf(node)
        if leaf is not None and type(copy) in (dict, list):
            copy = leaf(copy)
        parent[slot] = copy
        if depth < limit and type(copy) in (dict, list):
            items = copy.items() if type(copy) is dict else enumerate(copy)
            for k, v in list(items):
                if type(v) in (dict, list):
                    stack.append((v, copy, k, depth + 1))
    return root[0]


def _in_document_order(found: list[Finding], value: Any, base: int) -> list[Finding]:
    """Findings by where they are in ``value``: keys in the document's order, a node before
    what is inside it, and a missing key after the object's keys."""
    if len(found) < 2:
        return found
    orders: dict[int, dict[str | int, int]] = {}  # id(object) -> key -> its position

    def order(finding: Finding) -> tuple[float, ...]:
        node = value
        key: list[float] = []
        for step in finding.path[base:]:
            if type(node) is dict:
                index = orders.get(id(node))
                if index is None:
                    index = orders[id(node)] = {k: i for i, k in enumerate(node)}
                key.append(index.get(step, len(index)))
                node = node.get(step)
            elif type(node) is list and type(step) is int and 0 <= step < len(node):
                key.append(step)
                node = node[step]
            else:
                key.append(0)
                node = None
        if finding.part == "open":
            key.append(float("inf"))
        return tuple(key)

    return sorted(found, key=order)


def class_config_schema(catalog: Catalog, entry: Entry) -> dict[str, Any]:
    """The config schema of a class, as checked: a model's ``layers`` are layer envelopes even
    where the schema does not say so."""
    schema = catalog.schema_for(entry)
    properties = schema.get("properties", {})
    layers = properties.get("layers")
    if entry["family"] == "model" and isinstance(layers, dict) and "items" not in layers:
        schema = {
            **schema,
            "properties": {
                **properties,
                "layers": {**layers, "items": {"$ref": PREFIX + "envelope.layer"}},
            },
        }
    if "title" not in schema:
        schema = {**schema, "title": entry["class_name"]}
    return schema
