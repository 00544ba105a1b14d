"""Fast-check findings: the ``Finding`` type and the messages and data of each code, worded
once for every check that reports them."""

from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ...codes import JsonPath
from .security_lists import KERAS_ROOTS
from .suggest import _close_matches, _closest_values, _same_but_case

if TYPE_CHECKING:
    from ..catalog import Entry

Related = tuple[tuple[JsonPath, str, str], ...]

ERROR, WARNING, INFORMATION, HINT = 1, 2, 3, 4
# Deeper values are not checked: Keras configs nest a few dozen levels, and recursion must
# stay far from Python's limit on pathological input.
MAX_DEPTH = 160
# Strings shown in messages are cut to this many characters.
MAX_SHOWN = 80


@dataclass(frozen=True)
class Finding:
    """One problem, located by the JSON path of the offending key or value."""

    path: JsonPath  # of the key or value; of the object, for a missing key
    part: str  # "key", "value", or "open" (the object's opening brace)
    code: str
    message: str
    severity: int = ERROR
    data: dict[str, Any] | None = None
    related: Related = ()

    def __hash__(self) -> int:  # data is a dict: hash what identifies the finding
        return hash((self.path, self.part, self.code, self.message, self.severity))

    def prefixed(self, prefix: JsonPath) -> Finding:
        """The same finding for a value that sits at ``prefix`` in a larger document."""
        if not prefix:
            return self
        related = tuple((prefix + path, part, text) for path, part, text in self.related)
        return replace(self, path=prefix + self.path, related=related)


class SchemaError(Exception):
    """The catalog's schema uses something this validator does not interpret."""


# Envelopes Keras writes for values that are not classes (serialization_lib.py).
SPECIAL_CLASS_NAMES = frozenset(
    {
        "__keras_tensor__",
        "__numpy__",
        "__tuple__",
        "__bytes__",
        "__ellipsis__",
        "__slice__",
        "__typespec__",
        "__tensor__",
        "__lambda__",
    }
)


_JSON_TYPES: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
_ARTICLE = {"integer": "an integer", "array": "an array", "object": "an object"}
_MISSING = object()
_PREFIX = "#/$defs/"


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "object")


# -- findings ------------------------------------------------------------------------------------


def outside_message(name: str, module: Any, registered: Any) -> str:
    """Why a class of a package the catalog does not cover is not checked, and what to do."""
    if isinstance(module, str) and module:
        package = module.split(".")[0]
    elif isinstance(registered, str) and ">" in registered:
        package = registered.split(">")[0].split(".")[0]
    else:
        package = ""
    if package in KERAS_ROOTS:
        if importlib.util.find_spec(package) is None:
            return (
                f"{_quote(name)} is from package {package}, which is not installed: "
                f"install {package} to check it (Keras cannot load it either)."
            )
        return (
            f"{_quote(name)} is from package {package}, which the catalog does not cover: "
            f"add it to `modules` (`--modules`, or the layercfg.modules setting) to check it."
        )
    # The module that defines the class, when the envelope says it: naming its package
    # alone is not enough where the package does not import that module.
    if isinstance(module, str) and module:
        where, add = f"module {module}", module
    elif package:
        where, add = f"package {package}", package
    else:
        where, add = _quote(registered), "its module"
    return (
        f"{_quote(name)} is from {where}, which the catalog does not cover: add {add} to "
        "`modules` (`--modules`, or the layercfg.modules setting; trusted workspaces only) "
        "to check it."
    )


# The packages whose modules Keras 3 imports to find a class (serialization_lib
# ``_retrieve_class_or_fn``); a class of any other module it finds only when it is registered
# or given in ``custom_objects``.
IMPORTED_BY_MODULE = ("keras", "keras_hub", "keras_cv", "keras_nlp")


def unregistered_class(value: dict[str, Any], entry: Entry, path: JsonPath) -> Finding:
    """A custom class that is not registered with ``register_keras_serializable``, in a module
    Keras does not import: Keras finds it only among the ``custom_objects`` of the program
    that loads the config, under the envelope's ``registered_name`` (its ``class_name`` when
    there is none). A null ``registered_name`` is looked up as such, so Keras cannot find the
    class even there: an error, with the fix Keras itself would have written."""
    name = entry["class_name"]
    written = value.get("registered_name", name)
    if written is None:
        return Finding(
            path + ("registered_name",),
            "value",
            "LCF107",
            f"'registered_name' is null: Keras looks {name}, which is not registered with "
            "keras.saving.register_keras_serializable, up in custom_objects by its "
            f"registered_name, and cannot locate it even there. Set it to {_quote(name)}, "
            "as Keras writes it.",
            data={
                "key": "registered_name",
                "module": value.get("module", entry.get("module")),
                "registered_name": name,
                "class_name": name,
            },
        )
    key = written if isinstance(written, str) else name
    return Finding(
        path + ("class_name",),
        "value",
        "LCF107",
        f"{name} is not registered with keras.saving.register_keras_serializable, and its "
        f"module is not one Keras imports ({', '.join(IMPORTED_BY_MODULE)}): Keras finds it "
        "only when the program that loads this config passes it in custom_objects "
        f"(custom_objects={{{_quote(key)}: {name}}}), or once the class is registered.",
        severity=WARNING,
        data={"class_name": name, "custom_objects_key": key},
    )


def _wrong_type(value: Any, path: JsonPath, expected: list[str]) -> Finding:
    jtype = json_type(value)
    data: dict[str, Any] = {"expected": expected, "value": _scalar(value)}
    suggestion = _coerce(value, expected)
    if suggestion is not _MISSING:
        data["suggestion"] = suggestion
    shown = " or ".join(_a(t) for t in expected if t != "null" or len(expected) == 1)
    if "null" in expected and len(expected) > 1:
        shown += " or null"
    if type(value) is float and not math.isfinite(value):  # NaN or Infinity: Keras refuses both
        return Finding(
            path,
            "value",
            "LCF104",
            f"{_subject(path)} must be a finite number, not {value!r}: Keras refuses it.",
            data=data,
        )
    return Finding(
        path,
        "value",
        "LCF104",
        f"{_subject(path)} must be {shown}, not {_a(jtype)}"
        + (f" ({_quote(value)})" if jtype == "string" and len(value) < 40 else "")
        + ".",
        data=data,
    )


def _not_allowed(value: Any, path: JsonPath, allowed: list[Any], label: str | None) -> Finding:
    ordered = _closest_values(value, allowed)
    close = []
    if isinstance(value, str):
        strings = tuple(a for a in allowed if isinstance(a, str))
        close = _close_matches(value, strings, 3)
        for same in _same_but_case(value, strings):
            if same not in close:
                close.insert(0, same)
    hint = f" Did you mean {_or_list(close)}?" if close else ""
    if label:
        message = f"Unknown {label} {_quote(value)}.{hint}"
    else:
        shown = ", ".join(_quote(a) for a in ordered[:8]) + (", ..." if len(ordered) > 8 else "")
        message = f"{_quote(value)} is not allowed for {_subject(path)}.{hint} Allowed: {shown}."
    return Finding(
        path,
        "value",
        "LCF105",
        message,
        data={"allowed": ordered, "value": _scalar(value)},
    )


def _out_of_range(value: float, path: JsonPath, keyword: str, bound: float, words: str) -> Finding:
    return Finding(
        path,
        "value",
        "LCF106",
        f"{_subject(path)} must be {words} {_number(bound)}, not {_number(value)}.",
        data={keyword: bound, "value": value},
    )


def _bad_length(count: int, path: JsonPath, low: int | None, high: int | None) -> Finding:
    if low is not None and low == high:
        expected = f"exactly {low} item{'s' if low != 1 else ''}"
    elif low is not None and count < low:
        expected = f"at least {low} item{'s' if low != 1 else ''}"
    else:
        expected = f"at most {high} item{'s' if high != 1 else ''}"
    data: dict[str, Any] = {"count": count}
    if low is not None:
        data["minItems"] = low
    if high is not None:
        data["maxItems"] = high
    return Finding(
        path,
        "value",
        "LCF106",
        f"{_subject(path)} must have {expected}, not {count}.",
        data=data,
    )


def _missing(path: JsonPath, key: str, what: str) -> Finding:
    return Finding(
        path,
        "open",
        "LCF103",
        f"Missing required key {_quote(key)} of the {what}.",
        data={"key": key},
    )


def _legacy_marker(
    path: JsonPath, key: str, message: str, rename: str | None = None, value: Any = _MISSING
) -> Finding:
    data: dict[str, Any] = {"kind": "keras2", "key": key}
    if rename is not None:
        data["rename"] = rename
    if value is not _MISSING:
        data["value"] = value
    return Finding(path, "key", "LCF108", message, severity=WARNING, data=data)


def _coerce(value: Any, expected: list[str]) -> Any:
    """The value a quick fix can put instead of a string that spells a number or boolean."""
    if not isinstance(value, str):
        return _MISSING
    text = value.strip()
    if "integer" in expected and re.fullmatch(r"[-+]?\d+", text):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts (sys.set_int_max_str_digits)
            return _MISSING
    if "number" in expected and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        return float(text)
    if "boolean" in expected and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if "null" in expected and text.lower() in ("null", "none"):
        return None
    return _MISSING


def _data(finding: Finding, key: str) -> Any:
    return (finding.data or {}).get(key)


def _same(a: Any, b: Any) -> bool:
    return a == b and json_type(a) == json_type(b)


def _scalar(value: Any) -> Any:
    return None if isinstance(value, (dict, list)) else value


def _subject(path: JsonPath) -> str:
    if not path:
        return "The document"
    last = path[-1]
    if isinstance(last, str):
        return _quote(last)
    parent = next((p for p in reversed(path) if isinstance(p, str)), None)
    return f"Item {last} of {_quote(parent)}" if parent else f"Item {last}"


def _of(path: JsonPath) -> str:
    return f" for {_subject(path)}" if path else ""


def _quote(value: Any) -> str:
    if isinstance(value, str):
        if len(value) > MAX_SHOWN:
            value = value[: MAX_SHOWN - 1] + "…"
        return "'" + value.replace("'", "\\'") + "'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)) and len(value) > 8:
        return f"{_a(json_type(value))} of {len(value):,} items"
    shown = repr(value)
    return shown if len(shown) <= MAX_SHOWN else shown[: MAX_SHOWN - 1] + "…"


def _number(value: float) -> str:
    return repr(value)


def _a(jtype: str) -> str:
    if jtype in _ARTICLE:
        return _ARTICLE[jtype]
    if jtype == "null":
        return "null"
    return f"{'an' if jtype[:1] in 'aeiou' else 'a'} {jtype}"


def _words(family: str) -> str:
    return family.replace("_", " ")


def _or_list(options: list[Any]) -> str:
    quoted = [_quote(o) for o in options]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]
