"""JSON Schema (draft 2020-12) emission from introspected classes.

Each parameter is given a *kind*, and each kind maps to a schema through one dispatch table
(``_KIND_SCHEMAS``); a kind without an entry is a bug and fails loudly. Envelopes choose the
config schema of their class by ``class_name`` (``if``/``then`` per class) so that errors name
the right class instead of blaming the wrong branch of a ``oneOf``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .introspect import ClassInfo, Param
from .param_types import evidence as values_seen

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
FAMILIES = ("layer", "model", "initializer", "regularizer", "constraint", "dtype_policy")
ENVELOPE_KEYS = (
    "module",
    "class_name",
    "config",
    "registered_name",
    "build_config",
    "compile_config",
    "shared_object_id",
)

_TYPE_WORDS = [
    (re.compile(r"\bbool(ean)?s?\b", re.I), "boolean"),
    (re.compile(r"\bint(eger)?s?\b", re.I), "integer"),
    # "number" is left out: Keras says "the number of filters" far more often than it means a type
    (re.compile(r"\b(float|scalar)s?\b", re.I), "number"),
    (re.compile(r"\bstr(ing)?s?\b", re.I), "string"),
    (re.compile(r"\b(tuple|list|tensor|shape|array)s?\b", re.I), "array"),
    (re.compile(r"\bdict(ionary|ionaries|s)?\b", re.I), "object"),
]
_TUPLE_LENGTH = re.compile(r"(?:tuple|list)(?:/(?:tuple|list))? of (\d+) (?:integer|int)", re.I)
_INT_OR_TUPLE = re.compile(r"\bint(eger)?\b.{0,40}\bor\b.{0,20}\b(tuple|list)", re.I)

FAMILY_OF_SUFFIX = {
    "_initializer": "initializer",
    "_regularizer": "regularizer",
    "_constraint": "constraint",
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and "class_name" in value and "config" in value


class SchemaEmitter:
    """Builds per-class config schemas and the whole document schema."""

    def __init__(self, names: dict[str, Any], families: dict[str, str]):
        # names: strings Keras accepts per family ("initializer": [...], "activation": [...])
        # families: class_name -> family, to tell what kind a nested envelope value is
        self.names = names
        self.families = families
        self.family = ""  # of the class being emitted

    # -- kinds -------------------------------------------------------------------------------
    def kind(self, param: Param) -> str:
        name = param.name
        evidence = [v for v in values_seen(param) if v is not None]
        if name == "name":
            return "dtype_name" if self.family == "dtype_policy" else "string"
        for suffix, family in FAMILY_OF_SUFFIX.items():
            if name.endswith(suffix) or name == suffix[1:]:
                return family
        if (name == "activation" or name.endswith("_activation")) and not any(
            isinstance(v, bool) for v in evidence
        ):
            return "activation"  # ``use_pre_activation: false`` is a switch, not one
        if name == "dtype":
            return "dtype"
        for value in evidence:
            if is_envelope(value):
                family = self.families.get(value["class_name"])
                if family in ("layer", "model"):
                    return "layer"
                if family in ("initializer", "regularizer", "constraint"):
                    return family
                return "any"
            if isinstance(value, list) and value and all(is_envelope(v) for v in value):
                return "layer_list"
        if name in ("layer", "backward_layer", "cell"):
            return "layer"
        if name in ("layers", "cells"):
            return "layer_list"
        if param.allowed:
            return "enum"
        if _INT_OR_TUPLE.search(param.description) and _TUPLE_LENGTH.search(param.description):
            return "int_or_tuple"
        return "scalar"

    def _nullable(self, param: Param) -> bool:
        return any(v is None for v in values_seen(param)) and not param.required

    # -- schemas per kind ------------------------------------------------------------------------
    def param_schema(self, param: Param) -> dict[str, Any]:
        kind = self.kind(param)
        try:
            build = _KIND_SCHEMAS[kind]
        except KeyError:
            raise KeyError(f"no schema rule for parameter kind {kind!r} ({param.name})") from None
        schema = build(self, param)
        if self._nullable(param) and kind not in ("scalar", "any"):
            schema = _with_null(schema)
        schema.update(self._annotations(param))
        return schema

    def _annotations(self, param: Param) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if param.description:
            out["description"] = _plain(param.description)
            out["markdownDescription"] = param.description
        if param.has_config_default:
            out["default"] = param.config_default
        elif param.has_default:
            out["default"] = param.default
        return out

    def _activation(self, param: Param) -> dict[str, Any]:
        # A constructor may take a name of its own besides Keras's (KerasHub's CLIP encoders
        # map "quick_gelu" to a function they define): what it defaults to or wrote is valid.
        known = self.names.get("activation", {})
        own = sorted({v for v in values_seen(param) if isinstance(v, str) and v not in known})
        if own:
            return {"anyOf": [{"$ref": "#/$defs/activation"}, {"type": "string", "enum": own}]}
        return {"$ref": "#/$defs/activation"}

    def _dtype(self, param: Param) -> dict[str, Any]:
        return {"$ref": "#/$defs/dtype"}

    def _layer(self, param: Param) -> dict[str, Any]:
        return {"$ref": "#/$defs/envelope.layer"}

    def _layer_list(self, param: Param) -> dict[str, Any]:
        return {"type": "array", "items": {"$ref": "#/$defs/envelope.layer"}}

    def _enum(self, param: Param) -> dict[str, Any]:
        assert param.allowed is not None
        schema: dict[str, Any] = {"type": "string", "enum": list(param.allowed)}
        if param.case_insensitive:
            # Keras lowercases it ("SAME", "CHANNELS_LAST"); JSON Schema's enum is exact, so
            # the other spellings are a pattern beside it.
            return {"anyOf": [schema, {"type": "string", "pattern": _any_case(param.allowed)}]}
        return schema

    def _int_or_tuple(self, param: Param) -> dict[str, Any]:
        # Keras's docstrings get the length wrong now and then; what get_config() wrote wins.
        written = [v for v in values_seen(param) if isinstance(v, list)]
        match = _TUPLE_LENGTH.search(param.description)
        assert match is not None
        length = len(written[0]) if written else int(match.group(1))
        item: dict[str, Any] = _bounded({"type": "integer"}, param)
        if any(isinstance(x, list) for v in written for x in v) or "tuples" in param.description:
            item = {"anyOf": [item, {"type": "array", "items": {"type": "integer"}}]}
        return {
            "anyOf": [
                _bounded({"type": "integer"}, param),
                {"type": "array", "items": item, "minItems": length, "maxItems": length},
            ]
        }

    def _scalar(self, param: Param) -> dict[str, Any]:
        observed = {json_type(v) for v in values_seen(param)}
        lead = param.description.split(".")[0][:120]
        documented = {jtype for pattern, jtype in _TYPE_WORDS if pattern.search(lead)}
        if re.search(r"\b(tuple|list)s?\b", param.description, re.I):
            documented.add("array")  # "also supports a tuple of 2 integers", late in the text
        types = (observed | documented) - {"null"}
        if not types:
            return {}
        unseen = not (param.has_default or param.has_config_default or param.in_config)
        if unseen and types == {"integer"}:
            # Only the docstring speaks (a class read without an instance): "int" there often
            # means "int or tuple of ints" (``patch_size: [8, 8]``), which JSON writes as a list.
            return {
                "anyOf": [
                    _bounded({"type": "integer"}, param),
                    {"type": "array", "items": {"type": "integer"}},
                ]
            }
        if "object" in observed and any(is_envelope(v) for v in values_seen(param)):
            return {}
        if "number" in types:
            types.discard("integer")
        if "null" in observed or "none" in lead.lower() or "optional" in lead.lower():
            types.add("null")
        schema: dict[str, Any] = {"type": sorted(types) if len(types) > 1 else types.pop()}
        if {"integer", "number"} & set(_as_list(schema["type"])):
            schema = _bounded(schema, param)
        if "array" in _as_list(schema["type"]):
            items = {json_type(x) for v in values_seen(param) if isinstance(v, list) for x in v}
            if items and items <= {"integer"}:
                schema["items"] = _bounded({"type": "integer"}, param)
        return schema

    def _any(self, param: Param) -> dict[str, Any]:
        return {}

    # -- class schemas ---------------------------------------------------------------------------
    def config_schema(self, info: ClassInfo) -> dict[str, Any]:
        self.family = info.family
        properties = {
            name: {**self.param_schema(p), **info.param_schemas.get(name, {})}
            for name, p in info.params.items()
        }
        required = [name for name, p in info.params.items() if p.required]
        schema: dict[str, Any] = {
            # Keras reads a null config as {}: it suits a class that requires nothing
            "type": "object" if required else ["object", "null"],
            "title": info.class_name,
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            schema["required"] = required
        if info.summary:
            schema["description"] = _plain(info.summary)
            schema["markdownDescription"] = info.summary
        schema["defaultSnippets"] = [{"label": info.class_name, "body": info.minimal_config}]
        if info.constraints:
            schema["allOf"] = list(info.constraints)
        return schema


def _family(family: str) -> Callable[[SchemaEmitter, Param], dict[str, Any]]:
    """A name Keras accepts for the family, or an envelope of one of its classes."""

    def build(self: SchemaEmitter, param: Param) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "string", "enum": sorted(self.names[family])},
                {"$ref": f"#/$defs/envelope.{family}"},
            ]
        }

    return build


_KIND_SCHEMAS: dict[str, Callable[[SchemaEmitter, Param], dict[str, Any]]] = {
    "initializer": _family("initializer"),
    "regularizer": _family("regularizer"),
    "constraint": _family("constraint"),
    "activation": SchemaEmitter._activation,
    "dtype": SchemaEmitter._dtype,
    "layer": SchemaEmitter._layer,
    "layer_list": SchemaEmitter._layer_list,
    "enum": SchemaEmitter._enum,
    "int_or_tuple": SchemaEmitter._int_or_tuple,
    "scalar": SchemaEmitter._scalar,
    "string": lambda self, param: {"type": ["string", "null"]},
    "dtype_name": lambda self, param: {"$ref": "#/$defs/dtype"},
    "any": SchemaEmitter._any,
}


def _any_case(values: list[str]) -> str:
    """A pattern matching each value in any letter case (ECMA-262 has no inline (?i))."""

    def letters(value: str) -> str:
        return "".join(
            f"[{c.lower()}{c.upper()}]" if c.lower() != c.upper() else escape_pattern(c)
            for c in value
        )

    return "^(?:" + "|".join(letters(v) for v in values) + ")$"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _with_null(schema: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in schema:
        return {"anyOf": [*schema["anyOf"], {"type": "null"}]}
    if "$ref" in schema or "enum" in schema:
        if "enum" in schema and "$ref" not in schema:
            return {
                **schema,
                "type": [*_as_list(schema.get("type", [])), "null"],
                "enum": [*schema["enum"], None],
            }
        return {"anyOf": [schema, {"type": "null"}]}
    types = _as_list(schema.get("type", []))
    if types and "null" not in types:
        return {**schema, "type": [*types, "null"]}
    return schema


def _bounded(schema: dict[str, Any], param: Param) -> dict[str, Any]:
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if param.maximum is not None:
        schema["maximum"] = param.maximum
    return schema


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")


_SYNTAX = frozenset("^$\\.*+?()[]{}|/")


def escape_pattern(text: str) -> str:
    """``text`` as a literal in an ECMA-262 pattern: only its syntax characters escaped, as
    a unicode-mode pattern (a JSON Schema validator's) refuses any other escape (``\\-`` of
    a package ``my-pkg``, which ``re.escape`` writes)."""
    return "".join("\\" + c if c in _SYNTAX else c for c in text)
