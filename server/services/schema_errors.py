"""The engine's errors become findings: ``jsonschema_rs``'s errors for one value (each with
its instance and schema paths) are grouped, worded with the project's codes, messages and data,
and an ``anyOf``'s branch is picked by the value's type and class_name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...codes import JsonPath
from .findings import (
    Finding,
    SchemaError,
    _bad_length,
    _not_allowed,
    _of,
    _or_list,
    _out_of_range,
    _quote,
    _wrong_type,
    json_type,
)
from .suggest import _closest_keys, checkpoint

if TYPE_CHECKING:
    from .schema_engine import Engine

ALL_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})


class Mapper:
    """Turns the engine's errors for one value into findings."""

    def __init__(self, engine: Engine, root: dict[str, Any], value: Any, path: JsonPath):
        self.engine = engine
        self.root = root
        self.value = value
        self.path = path

    def fragment(self, schema_path: Iterable[Any]) -> Any:
        node: Any = self.root
        for step in schema_path:
            node = node[step]
        return node

    def instance(self, instance_path: Iterable[Any]) -> Any:
        node = self.value
        for step in instance_path:
            node = node[step]
        return node

    def findings(self, errors: list[Any]) -> list[Finding]:
        # Errors of one schema object at one value: a wrong type says it all, then a value
        # not allowed; the rest only when neither.
        groups: dict[tuple[tuple[Any, ...], tuple[Any, ...]], list[Any]] = {}
        for error in errors:
            where = (tuple(error.instance_path), tuple(error.schema_path[:-1]))
            groups.setdefault(where, []).append(error)
        out: list[Finding] = []
        meant: dict[tuple[Any, ...], set[str]] = {}
        required: list[tuple[Any, Any]] = []
        for (ipath, spath), group in groups.items():
            names = {type(e.kind).__name__ for e in group}
            if "Type" in names:
                group = [e for e in group if type(e.kind).__name__ == "Type"]
            elif names & {"Constant", "Enum"}:
                group = [e for e in group if type(e.kind).__name__ in ("Constant", "Enum")]
            fragment = self.fragment(spath)
            value = self.instance(ipath)
            path = self.path + ipath
            for error in group:
                kind = type(error.kind).__name__
                if kind == "Required":
                    required.append((error, fragment))
                    continue
                out.extend(self.one(kind, error, fragment, value, path, meant))
        for error, fragment in required:
            key = error.kind.property
            ipath = tuple(error.instance_path)
            if key in meant.get(ipath, ()):
                continue  # a misspelt required key is one mistake: reported on the key
            title = fragment.get("title")
            out.append(
                Finding(
                    self.path + ipath,
                    "open",
                    "LCF103",
                    f"Missing required key {_quote(key)}"
                    + (f" in the config of {title}" if title else "")
                    + ".",
                    data={"key": key},
                )
            )
        return out

    def one(
        self,
        kind: str,
        error: Any,
        fragment: dict[str, Any],
        value: Any,
        path: JsonPath,
        meant: dict[tuple[Any, ...], set[str]],
    ) -> list[Finding]:
        if kind == "Type":
            declared = fragment.get("type")
            types: list[Any] = declared if isinstance(declared, list) else [declared]
            return [_wrong_type(value, path, sorted(types))]
        if kind == "Enum":
            allowed = fragment["enum"]
            strings = frozenset(a for a in allowed if isinstance(a, str))
            label = self.engine.enum_labels.get(strings)
            return [_not_allowed(value, path, list(allowed), label)]
        if kind == "Constant":
            return [_not_allowed(value, path, [fragment["const"]], None)]
        if kind in _BOUNDS:
            keyword, words = _BOUNDS[kind]
            return [_out_of_range(value, path, keyword, fragment[keyword], words)]
        if kind in ("MinItems", "MaxItems"):
            return [
                _bad_length(len(value), path, fragment.get("minItems"), fragment.get("maxItems"))
            ]
        if kind == "Pattern":
            pattern = fragment["pattern"]
            message = f"{_quote(value)} does not match the form {pattern!r}{_of(path)}."
            return [
                Finding(path, "value", "LCF105", message, data={"pattern": pattern, "value": value})
            ]
        if kind in ("AdditionalProperties", "UnevaluatedProperties"):
            return self.unknown_keys(error, fragment, value, path, meant)
        if kind in ("AnyOf", "OneOfNotValid"):
            return self.any_of(error, fragment, value, path)
        if kind == "Not":
            return []  # a function envelope where an envelope goes: the envelope check tells
        if kind == "FalseSchema":
            return [_not_allowed(value, path, [], None)]
        raise SchemaError(f"no finding for the engine's {kind} error at {list(path)}")

    def unknown_keys(
        self,
        error: Any,
        fragment: dict[str, Any],
        value: dict[str, Any],
        path: JsonPath,
        meant: dict[tuple[Any, ...], set[str]],
    ) -> list[Finding]:
        keys = self.engine.keys_of(fragment)
        title = fragment.get("title")
        in_title = f" in the config of {title}" if title else ""
        ipath = tuple(error.instance_path)
        out = []
        for key in error.kind.unexpected:
            candidates = _closest_keys(key, keys)
            hint = f" Did you mean {_or_list(candidates)}?" if candidates else ""
            out.append(
                Finding(
                    path + (key,),
                    "key",
                    "LCF102",
                    f"Unknown key {_quote(key)}{in_title}.{hint}",
                    data={"key": key, "candidates": candidates},
                )
            )
            if len(out) % 256 == 0:
                checkpoint()  # thousands of unknown keys in one object
            if candidates and candidates[0] not in value:
                meant.setdefault(ipath, set()).add(candidates[0])
        return out

    def any_of(
        self, error: Any, fragment: dict[str, Any], value: Any, path: JsonPath
    ) -> list[Finding]:
        branches = fragment.get("anyOf") or fragment.get("oneOf") or []
        context = error.kind.context
        jtype = json_type(value)
        engine, root = self.engine, self.root
        fitting = [
            i for i, b in enumerate(branches) if _takes(engine.possible_types(b, root), jtype)
        ]
        if not fitting:
            accepted: set[str] = set()
            for branch in branches:
                accepted |= engine.possible_types(branch, root) or set(ALL_TYPES)
            return [_wrong_type(value, path, sorted(accepted))]
        if jtype == "object" and len(fitting) > 1:
            # An object naming its class_name picks the branch made for that class_name.
            name = value.get("class_name")
            if not isinstance(name, str):
                name = None
            consts = {i: _class_const(branches[i]) for i in fitting}
            exact = [i for i in fitting if (const := consts[i]) is not None and name in const]
            fitting = exact or [i for i in fitting if consts[i] is None] or fitting
        best: list[Finding] | None = None
        best_score: tuple[int, int] | None = None
        for index in fitting:
            found = self.findings(list(context[index]) if index < len(context) else [])
            if not found:
                continue
            score = (-max(len(f.path) for f in found), len(found))
            if best_score is None or score < best_score:
                best, best_score = found, score
        return best or []


_BOUNDS = {
    "Minimum": ("minimum", "at least"),
    "ExclusiveMinimum": ("exclusiveMinimum", "above"),
    "Maximum": ("maximum", "at most"),
    "ExclusiveMaximum": ("exclusiveMaximum", "below"),
}


def _class_const(schema: Any) -> frozenset[str] | None:
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    test = properties.get("class_name", {})
    if not isinstance(test, dict):
        return None
    if "const" in test:
        return frozenset([test["const"]])
    if "enum" in test:
        return frozenset(test["enum"])
    return None


def _takes(types: frozenset[str] | None, jtype: str) -> bool:
    return types is None or jtype in types or (jtype == "integer" and "number" in types)
