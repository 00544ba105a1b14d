"""The identity of an envelope: its ``module`` and ``registered_name`` against the class the
catalog picked for it, by the rules of Keras's ``serialization_lib`` (where Keras 3 and tf_keras
look a class up, and what they refuse)."""

from __future__ import annotations

from typing import Any

from ...codes import JsonPath
from ..catalog import LAYER_FAMILIES, Catalog, Entry
from .findings import (
    _MISSING,
    ERROR,
    IMPORTED_BY_MODULE,
    WARNING,
    Finding,
    _quote,
    unregistered_class,
)


def check_identity(
    catalog: Catalog,
    value: dict[str, Any],
    entry: Entry,
    path: JsonPath,
    out: list[Finding],
    top: bool,
) -> None:
    """``module`` and ``registered_name`` against the class (serialization_lib rules)."""
    start = len(out)
    _identity(catalog, value, entry, path, out, top)
    if unregistered(catalog, value, entry) and not any(f.severity == ERROR for f in out[start:]):
        out.append(unregistered_class(value, entry, path))


def unregistered(catalog: Catalog, value: dict[str, Any], entry: Entry) -> bool:
    """A custom class that Keras 3 finds only in ``custom_objects``: not registered, and
    not named by a module Keras imports (tf_keras imports any module a config names)."""
    if catalog.keras2 or not entry.get("custom") or entry.get("registered_name"):
        return False
    module = value.get("module")
    return not (isinstance(module, str) and module.split(".")[0] in IMPORTED_BY_MODULE)


def _found_by_module(catalog: Catalog, value: dict[str, Any], entry: Entry) -> bool:
    """Keras 3 finds the class by ``module`` and ``class_name`` when its registered_name
    finds nothing: the module is the class's own, in a package Keras imports by module."""
    module = value.get("module")
    return (
        not catalog.keras2
        and isinstance(module, str)
        and module == entry.get("module")
        and module.split(".")[0] in IMPORTED_BY_MODULE
        and value.get("class_name") == entry["class_name"]
    )


def _identity(
    catalog: Catalog,
    value: dict[str, Any],
    entry: Entry,
    path: JsonPath,
    out: list[Finding],
    top: bool,
) -> None:
    name = entry["class_name"]
    expected_module = entry.get("module")
    module = value.get("module", _MISSING)
    fix = {"module": expected_module, "registered_name": entry.get("registered_name")}
    if module is _MISSING:
        # Nested envelopes without module go through Keras's by-name (legacy) loader;
        # the document itself is loaded by module, so Keras 3 cannot locate it (but in
        # custom_objects, where an unregistered class is looked up by its class_name).
        # tf_keras loads a document by name (model_from_json, layers.deserialize) and
        # writes none at the top of to_json().
        if top and not catalog.keras2 and not unregistered(catalog, value, entry):
            out.append(
                Finding(
                    path,
                    "open",
                    "LCF107",
                    f"Missing 'module': Keras 3 cannot locate {name} at the top level "
                    f"without it (expected {_quote(expected_module)}).",
                    data={"key": "module", **fix},
                )
            )
    elif module is None:
        if not entry.get("custom"):
            out.append(
                Finding(
                    path + ("module",),
                    "value",
                    "LCF107",
                    f"'module' is null: Keras then takes {name} for an unregistered "
                    f"custom class and cannot load it (expected {_quote(expected_module)}).",
                    data=fix,
                )
            )
    elif isinstance(module, str) and module != expected_module:
        # keras.src.* paths are importable and Keras finds the class there; a parent
        # package is where Keras also exports many classes (it writes "keras" for Layer).
        expected = expected_module or ""
        plausible = (
            module.startswith("keras.src.")
            or expected.startswith(module + ".")
            or (module.startswith(expected + ".") and expected.startswith("keras"))
        )
        if not (plausible and not entry.get("custom")):
            # Keras finds a registered class by its registered_name whatever the module
            # says; any other class it looks for in the module, and fails.
            # A registered_name of another package may be registered where the catalog
            # does not know: Keras could find it, so it is not an error then.
            registered_as = entry.get("registered_name")
            written = value.get("registered_name")
            found = isinstance(written, str) and (
                (bool(registered_as) and written == registered_as)
                or (">" in written and written != f"keras>{name}")
            )
            if found:
                message = f"{name} is in module {_quote(expected_module)}, "
                message += f"not {_quote(module)}."
            else:
                message = (
                    f"Keras cannot locate {name} in module {_quote(module)}: "
                    f"did you mean {_quote(expected_module)}?"
                )
            out.append(
                Finding(
                    path + ("module",),
                    "value",
                    "LCF107",
                    message,
                    severity=WARNING if found else ERROR,
                    data=fix,
                )
            )
    registered = value.get("registered_name")
    if not isinstance(registered, str) or not registered:
        if entry.get("custom") and entry.get("registered_name") and "module" in value:
            out.append(
                Finding(
                    path + ("registered_name",) if "registered_name" in value else path,
                    "value" if "registered_name" in value else "open",
                    "LCF107",
                    f"{name} is registered as {_quote(entry['registered_name'])}; "
                    "without that registered_name Keras cannot locate it.",
                    data={"key": "registered_name", **fix},
                )
            )
        return
    if entry.get("custom"):
        if entry.get("registered_name") and registered != entry["registered_name"]:
            # A registered_name nothing is registered under sends Keras 3 to the module,
            # which it imports for the Keras packages and finds the class_name in.
            by_module = _found_by_module(catalog, value, entry)
            out.append(
                Finding(
                    path + ("registered_name",),
                    "value",
                    "LCF107",
                    f"{name} is registered as {_quote(entry['registered_name'])}, "
                    f"not {_quote(registered)}"
                    + (
                        f"; Keras finds it by its module {_quote(expected_module)}."
                        if by_module
                        else "."
                    ),
                    severity=WARNING if by_module else ERROR,
                    data=fix,
                )
            )
    elif registered not in (value.get("class_name"), name) and registered != entry.get(
        "registered_name"
    ):
        # Only the loader of layers and models asserts this; initializers, regularizers,
        # constraints and dtype policies are resolved by class_name and ignore it.
        severe = entry["family"] in LAYER_FAMILIES
        out.append(
            Finding(
                path + ("registered_name",),
                "value",
                "LCF107",
                f"{name} is a Keras built-in and takes no registered_name "
                f"({_quote(registered)})"
                + (": Keras refuses to load it." if severe else "; Keras ignores it."),
                severity=ERROR if severe else WARNING,
                data=fix,
            )
        )
