"""The part of a catalog read from the implementation itself, as JSON and back.

A build offers the classes it read from Keras, before any configured module was imported, to
the cache; a later build of any modules takes them from there instead of reading them again
(``catalog.CatalogBuilder``). A part is data: the classes it names are looked up among the
implementation's modules already imported, never imported for it.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
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
            module, qualname = fields["cls"]
            fields["cls"] = _resolve(module, qualname, packages)
            fields["params"] = {n: Param(**p) for n, p in fields["params"].items()}
            infos.append(ClassInfo(**fields))
        skipped: list[Skipped] = [
            {"what": s["what"], "reason": s["reason"]} for s in part["skipped"]
        ]
    except (KeyError, TypeError, ValueError, AttributeError, LookupError):
        return None
    return infos, skipped


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
