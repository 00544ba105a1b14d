"""The part of a catalog read from the implementation itself, as JSON and back.

A build offers the classes it read from Keras, before any configured module was imported, to
the cache; a later build of any modules takes them from there instead of reading them again
(``catalog.CatalogBuilder``). A part is data: the classes it names are looked up among the
implementation's modules already imported, never imported for it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import sys
import types
import typing
from typing import TYPE_CHECKING, Any

from . import cachekey
from .introspect import ClassInfo, Param
from .keras_api import KerasAPI

if TYPE_CHECKING:
    from .catalog import Skipped


def part_key(implementation: str) -> dict[str, Any]:
    """What a part is for: its file's name and the builder's hash."""
    key = cachekey.compute((), implementation)
    return {"filename": key.part_filename, "builder": key.builder}


def part_json(
    implementation: str,
    infos: list[ClassInfo],
    skipped: list[Skipped],
    functional_id: str | None,
) -> dict[str, Any]:
    """The classes read so far (the implementation's own), as JSON: each ClassInfo as it is
    before anything of the whole catalog (borrowed descriptions) touches it."""
    found = []
    for info in infos:
        fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}
        fields["cls"] = [info.cls.__module__, info.cls.__qualname__]
        fields["params"] = {
            name: {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
            for name, p in info.params.items()
        }
        found.append(fields)
    part = {
        "key": part_key(implementation),
        "infos": found,
        "skipped": list(skipped),
        "functional_id": functional_id,
    }
    # Through JSON now, so that a build using it and the build that made it agree.
    result: dict[str, Any] = json.loads(json.dumps(part))
    return result


def classes_of_part(
    part: dict[str, Any], api: KerasAPI
) -> tuple[list[ClassInfo], list[Skipped]] | None:
    """The classes and skipped entries of a cached part; None when it is not this build's
    (another builder or Keras) or names a class that is not there."""
    if not isinstance(part, dict) or part.get("key") != part_key(api.name):
        return None
    # tensorflow_hub is imported as a build imports it, before its KerasLayer is looked up.
    api.hub_layer_class()
    packages = {api.name, "tensorflow_hub"} if api.legacy else {api.name}
    try:
        infos = []
        for fields in part["infos"]:
            fields = dict(fields)
            _check_fields(ClassInfo, fields)  # the class and params as JSON, checked below
            module, qualname = fields["cls"]
            fields["cls"] = _resolve(module, qualname, packages)
            params = fields["params"]
            for param in params.values():
                _check_fields(Param, param)
            fields["params"] = {n: Param(**p) for n, p in params.items()}
            infos.append(ClassInfo(**fields))
        skipped: list[Skipped] = [
            {"what": s["what"], "reason": s["reason"]} for s in part["skipped"]
        ]
        if not all(isinstance(v, str) for entry in skipped for v in entry.values()):
            raise TypeError("a skipped class that is not named in text")
    except (KeyError, TypeError, ValueError, AttributeError, LookupError):
        return None
    return infos, skipped


def _check_fields(kind: type, fields: dict[str, Any]) -> None:
    """TypeError unless each of ``fields`` has the type ``kind`` declares for it: a part
    written by another tool or by hand (a family that is a number, a summary that is an
    object) would fail the build at every start, not just this read."""
    hints = _hints(kind)
    for name, value in fields.items():
        if name not in hints or not _fits(value, hints[name]):
            raise TypeError(f"{kind.__name__}.{name}: {type(value).__name__} does not fit")


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _fits(value: Any, hint: Any) -> bool:
    """Whether the JSON ``value`` has the type ``hint`` (of the builder's dataclasses)."""
    if hint is Any or hint is type:
        return True  # any JSON value; the class is resolved on its own
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint in (int, float):
        return isinstance(value, (int, float) if hint is float else int) and not isinstance(
            value, bool
        )
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        return isinstance(value, list) and all(_fits(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items()
        )
    return isinstance(value, dict) if dataclasses.is_dataclass(hint) else False


def _resolve(module: str, qualname: str, packages: set[str]) -> type:
    """The class a part names by its module and qualified name, taken from a module of
    ``packages`` already imported: a cache file is data, and what it names is never
    imported (LookupError when the module is not there, TypeError when it names no class
    defined there)."""
    if not isinstance(module, str) or module.split(".")[0] not in packages:
        raise LookupError(f"{module!r} is not a module of {sorted(packages)}")
    obj: Any = sys.modules.get(module)
    if obj is None:
        raise LookupError(f"{module} is not imported")
    for name in str(qualname).split("."):
        obj = inspect.getattr_static(obj, name)
    if not inspect.isclass(obj) or (obj.__module__, obj.__qualname__) != (module, qualname):
        raise TypeError(f"{module}.{qualname} is not a class defined there")
    return obj
