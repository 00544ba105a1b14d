"""Types a parameter's documentation gives where its own type words do not reach the schema.

Three readings, each only where nothing the builder saw (a default, what ``get_config()``
wrote) says otherwise:

- a parameter documented as a Keras object ("A `keras_hub.models.MistralTokenizer`
  instance.", "`keras.Model`.") whose named classes are all layers or models is a nested
  envelope;
- a "list of str" is an array of strings (the values it states are its items' values);
- a parameter of a package's class whose description names no type ("The size of the token
  vocabulary.") takes the type the same parameter is documented with in the package's other
  classes, when they all agree ("int. The size of the token vocabulary." in dozens of them).

The package's other classes are read from its modules already imported, never from what the
builder read before: a class reads the same whatever was read before it.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import docstrings

if TYPE_CHECKING:
    from .introspect import Param

ENVELOPE_REF = {"$ref": "#/$defs/envelope.layer"}
# A type word in the type lead, or a list or tuple anywhere: the description types the
# parameter itself.
_TYPE_WORD = re.compile(
    r"\b(bool(ean)?|int(eger)?|float|scalar|str(ing)?|tuple|list|tensor|shape|array|"
    r"dict(ionary)?|callable|function)s?\b",
    re.I,
)
_ANYWHERE = re.compile(r"\b(tuple|list)s?\b", re.I)
# Code or a dotted name in the lead ("keras.layers.Layer. The normalization layer to use.").
_NAMED = re.compile(r"`|\b[A-Za-z_]\w*\.[A-Za-z_]")
# Names the schema emitter types by themselves (an activation, an initializer...).
_BY_NAME = re.compile(
    r"(^|_)(activation|initializer|regularizer|constraint)$|^(name|dtype|layers?|cells?)$"
)
# The words a type lead starts with ("int", "int or `None`", "float or list of floats"), and
# the JSON type each names.
_JSON_TYPE = {
    **dict.fromkeys(("int", "ints", "integer", "integers"), "integer"),
    **dict.fromkeys(("float", "floats"), "number"),
    **dict.fromkeys(("str", "string", "strings"), "string"),
    **dict.fromkeys(("bool", "boolean", "booleans"), "boolean"),
    **dict.fromkeys(("list", "lists", "tuple", "tuples"), "array"),
    **dict.fromkeys(("dict", "dicts"), "object"),
}
_LEAD_FILLER = frozenset("a an or of none optional positive non negative".split())


def lead_types(description: str) -> set[str]:
    """The JSON types the words starting the type lead name (none for a lead in prose,
    ``{"integer", "array"}`` for "int or tuple of int"); None is left out."""
    types = set()
    for word in re.findall(r"[A-Za-z]+", docstrings.type_lead(description).lower()):
        if word in _JSON_TYPE:
            types.add(_JSON_TYPE[word])
        elif word not in _LEAD_FILLER:
            break
    return types


def documented_schemas(
    cls: type, params: Iterable[Param], layer_base: type, *, package: bool
) -> dict[str, dict[str, Any]]:
    """Parameter name -> schema, for the parameters of ``cls`` these readings type.
    ``package``: ``cls`` comes from a configured package (the sibling reading applies)."""
    out: dict[str, dict[str, Any]] = {}
    for param in params:
        if not param.in_signature or param.name in ("name", "dtype"):
            continue
        seen = [v for v in evidence(param) if v is not None]
        schema = None
        if not seen:
            schema = _object_schema(cls, param, layer_base)
        if schema is None and all(_strings(v) for v in seen):
            schema = _string_list_schema(param)
        if schema is None and package and not seen and not param.allowed:
            schema = _sibling_schema(cls, param)
        if schema is not None:
            out[param.name] = schema
    return out


def evidence(param: Param) -> list[Any]:
    """The values seen for a parameter: its defaults, sample, config and built values."""
    values = []
    if param.has_default:
        values.append(param.default)
    if param.has_config_default:
        values.append(param.config_default)
    if param.required:
        values.append(param.sample)
    if param.in_config:
        values.append(param.config_value)
    if param.has_built_value:
        values.append(param.built_value)
    return values


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _defaults_to_none(param: Param) -> bool:
    return param.has_default and param.default is None


def _object_schema(cls: type, param: Param, layer_base: type) -> dict[str, Any] | None:
    names, nullable = docstrings.documented_classes(param.description)
    if not names:
        return None
    for name in names:
        found = resolve_class(cls, name)
        if found is None or not issubclass(found, layer_base):
            return None
    if nullable or _defaults_to_none(param):
        return {"type": ["object", "null"], "anyOf": [dict(ENVELOPE_REF), {"type": "null"}]}
    return {"type": "object", **ENVELOPE_REF}


def _string_list_schema(param: Param) -> dict[str, Any] | None:
    if not docstrings.string_items(param.description):
        return None
    items: dict[str, Any] = {"type": "string"}
    values = docstrings.stated_values(param.description)
    if values:
        items["enum"] = values
    lead = docstrings.type_lead(param.description).lower()
    nullable = _defaults_to_none(param) or "none" in lead or "optional" in lead
    return {"type": ["array", "null"] if nullable else "array", "items": items}


def _sibling_schema(cls: type, param: Param) -> dict[str, Any] | None:
    if not param.description:
        return None  # the catalog lends it the description other classes give it
    if not (param.required or param.has_default) or _BY_NAME.search(param.name):
        return None  # a default JSON cannot write (a class); a name the emitter types
    lead = docstrings.type_lead(param.description)
    sentence = param.description.split(".")[0][:120]  # where the schema emitter reads types
    if any(_TYPE_WORD.search(text) or _NAMED.search(text) for text in (lead, sentence)):
        return None
    if _ANYWHERE.search(param.description):
        return None
    root = cls.__module__.split(".")[0]
    types = _documented_types(_modules_of(root)).get(param.name)
    if not types or len(types) != 1 or "other" in types or sum(types.values()) < 2:
        return None
    (jtype,) = types
    if jtype == "integer":
        # As the emitter reads a documented "int" it never saw a value of: an int or a list
        # of ints (``patch_size: [8, 8]``).
        schema: dict[str, Any] = {
            "anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]
        }
    else:
        schema = {"type": jtype}
    if _defaults_to_none(param):
        if "anyOf" in schema:
            schema["anyOf"].append({"type": "null"})
        else:
            schema["type"] = [jtype, "null"]
    return schema


def _modules_of(root: str) -> tuple[str, ...]:
    """The names of the package's modules imported, sorted."""
    return _modules_among(root, len(sys.modules))


@functools.lru_cache(maxsize=8)
def _modules_among(root: str, count: int) -> tuple[str, ...]:
    # ``count``: a build only adds modules to sys.modules, so the same count is taken as the
    # same set (read again once anything more is imported).
    prefix = root + "."
    return tuple(
        sorted(
            name
            for name, module in list(sys.modules.items())
            if module is not None and (name == root or name.startswith(prefix))
        )
    )


@functools.cache
def _classes_of(modules: tuple[str, ...]) -> tuple[type, ...]:
    """The classes defined in these modules, in a stable order."""
    found: dict[str, type] = {}
    for name in modules:
        module = sys.modules.get(name)
        if module is None:
            continue
        for value in list(vars(module).values()):
            if inspect.isclass(value) and value.__module__ == name:
                found.setdefault(f"{name}.{value.__qualname__}", value)
    return tuple(found[key] for key in sorted(found))


@functools.cache
def _documented_types(modules: tuple[str, ...]) -> dict[str, Counter[str]]:
    """Parameter name -> how many of the package's classes document it with each JSON type."""
    types: dict[str, Counter[str]] = {}
    for klass in _classes_of(modules):
        documented: dict[str, str] = {}
        for source in (
            vars(klass).get("__doc__"),
            getattr(vars(klass).get("__init__"), "__doc__", None),
        ):
            if isinstance(source, str):
                for name, text in docstrings.parse(source).args.items():
                    documented.setdefault(name, text)
        for name, text in documented.items():
            named = lead_types(text)
            if named:
                # "float or list of floats" disagrees with "float"
                key = named.pop() if len(named) == 1 else "other"
                types.setdefault(name, Counter())[key] += 1
    return types


def resolve_class(cls: type, name: str) -> type | None:
    """The class a docstring names, from modules already imported (nothing is imported): a
    dotted name from its top module, a bare one from ``cls``'s module or, when one class of
    its package has that name, that one."""
    if "." in name:
        parts = name.split(".")
        value: Any = sys.modules.get(parts[0])
        for part in parts[1:]:
            value = getattr(value, part, None) if value is not None else None
        return value if inspect.isclass(value) else None
    own = sys.modules.get(cls.__module__)
    value = vars(own).get(name) if own is not None else None
    if inspect.isclass(value):
        return value
    root = cls.__module__.split(".")[0]
    named = {k for k in _classes_of(_modules_of(root)) if k.__name__ == name}
    return named.pop() if len(named) == 1 else None
