"""Which schema, and which class, applies at a JSON path: one matcher for completion, hover and
navigation, so "what is this object" is answered the same way everywhere.

It descends the emitted JSON Schema guided by the document's values: ``$ref`` is resolved,
``if``/``then`` dispatch on ``class_name`` is followed, and ``anyOf`` keeps the branches that
fit the value found there (all of them where there is no value yet, e.g. while typing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog
from .validation import json_type

Path = tuple[str | int, ...]
Schema = dict[str, Any]

_MISSING = object()


@dataclass
class Match:
    """What applies at a path."""

    schemas: list[Schema]  # expanded schema fragments for the value at the path
    value: Any = _MISSING  # the value found there, or _MISSING
    entry: dict[str, Any] | None = None  # class of the nearest enclosing envelope
    envelope_path: Path | None = None
    param: dict[str, Any] | None = None  # catalog parameter, when the path is a config key
    key: str | None = None
    # enclosing envelopes and their classes, outer first
    parents: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)

    @property
    def has_value(self) -> bool:
        return self.value is not _MISSING



def _type_fits(schema: Schema, value: Any) -> bool:
    declared = schema.get("type")
    if declared is None:
        if "const" in schema:
            return schema["const"] == value
        if "enum" in schema:
            return True
        return True
    types = declared if isinstance(declared, list) else [declared]
    actual = json_type(value)
    return actual in types or (actual == "integer" and "number" in types)


def _condition_holds(condition: Schema, value: Any) -> bool:
    """The ``if`` of a class dispatch: only ``properties`` with ``const``/``enum`` are used."""
    if not isinstance(value, dict):
        return False
    for key in condition.get("required", []):
        if key not in value:
            return False
    for key, test in condition.get("properties", {}).items():
        if key not in value:
            continue
        if "const" in test and value[key] != test["const"]:
            return False
        if "enum" in test and value[key] not in test["enum"]:
            return False
    return True


class SchemaWalker:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        # $defs name -> class entry, to tell which class a config schema belongs to
        self.entry_of_def = {
            entry["schema_ref"].rsplit("/", 1)[-1]: entry for entry in catalog.entries
        }

    def resolve(self, schema: Schema) -> Schema:
        seen = 0
        while "$ref" in schema and seen < 32:
            target = self.catalog.resolve(schema["$ref"])
            if target is None:
                return {}
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **extra} if extra else target
            seen += 1
        return schema

    def expand(self, schemas: list[Schema], value: Any = _MISSING) -> list[Schema]:
        """Fragments that apply to ``value``: refs resolved, allOf/if-then/anyOf unfolded."""
        out: list[Schema] = []
        seen: set[int] = set()
        stack = list(reversed(schemas))
        while stack:
            schema = self.resolve(stack.pop())
            if id(schema) in seen:
                continue
            seen.add(id(schema))
            out.append(schema)
            for sub in schema.get("allOf", []):
                stack.append(sub)
            if "if" in schema and "then" in schema and value is not _MISSING:
                if _condition_holds(schema["if"], value):
                    stack.append(schema["then"])
            for keyword in ("anyOf", "oneOf"):
                branches = schema.get(keyword, [])
                fitting = [
                    b for b in branches if value is _MISSING or _type_fits(self.resolve(b), value)
                ]
                stack.extend(reversed(fitting))
        return out

    def match(self, root: Any, path: Path) -> Match:
        schemas = [self.catalog.schema] if self.catalog.schema else []
        value: Any = root
        entry = None
        envelope_path: Path | None = None
        param = None
        key = None
        parents: list[tuple[Path, dict[str, Any]]] = []
        for depth, step in enumerate(path):
            expanded = self.expand(schemas, value)
            here = path[:depth]
            if isinstance(value, dict) and "class_name" in value and step == "config":
                found = self._entry_from(expanded)
                if found is not None:
                    entry, envelope_path = found, here
                    parents.append((here, found))
            children: list[Schema] = []
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

    def _entry_from(self, expanded: list[Schema]) -> dict[str, Any] | None:
        # Only the ``then`` of a dispatch whose condition held is in ``expanded``.
        for schema in expanded:
            ref = schema.get("properties", {}).get("config", {}).get("$ref")
            if ref and ref.rsplit("/", 1)[-1] in self.entry_of_def:
                return self.entry_of_def[ref.rsplit("/", 1)[-1]]
        return None

    def class_of(self, root: Any, envelope_path: Path) -> dict[str, Any] | None:
        """The class of the envelope at ``envelope_path``, as the matcher sees it."""
        return self.match(root, (*envelope_path, "config")).entry


def _child(value: Any, step: str | int) -> Any:
    if isinstance(step, str) and isinstance(value, dict):
        return value.get(step, _MISSING)
    if isinstance(step, int) and isinstance(value, list) and 0 <= step < len(value):
        return value[step]
    return _MISSING


def missing() -> Any:
    return _MISSING


def value_at(value: Any, path: Path) -> Any:
    """The value at ``path``, or None where the path leads nowhere."""
    for step in path:
        if isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        elif isinstance(step, int) and isinstance(value, list) and 0 <= step < len(value):
            value = value[step]
        else:
            return None
    return value
