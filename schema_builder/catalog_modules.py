"""The configured modules a catalog reads custom classes from: where a trusted workspace's are
imported from, which classes a module or a package gives, and the family of each.
"""

from __future__ import annotations

import inspect
import os
import sys
from types import ModuleType
from typing import Any

from .keras_api import KerasAPI


def family_of(api: KerasAPI, cls: type) -> str | None:
    """The family a custom class belongs to by its Keras base, None for any other class."""
    keras = api.keras
    bases = [
        (keras.Model, "model"),
        (keras.layers.Layer, "layer"),
        (keras.initializers.Initializer, "initializer"),
        (keras.regularizers.Regularizer, "regularizer"),
        (keras.constraints.Constraint, "constraint"),
    ]
    return next((fam for base, fam in bases if issubclass(cls, base)), None)


def module_classes(module: ModuleType) -> list[type]:
    """The classes a module defines (not those it imports), by name."""
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__
    ]


def package_classes(
    api: KerasAPI, package: ModuleType, before: dict[str, Any]
) -> list[tuple[type, str]]:
    """The classes of a package, each with where it was found, by qualified name: every class
    it registers with Keras (``"registered"``: new in Keras's registry since ``before``, or
    registered under the package's module path), then those its imported submodules define
    (``"defined"``)."""
    name = package.__name__
    prefix = name + "."

    def mine(module: Any) -> bool:
        return isinstance(module, str) and (module == name or module.startswith(prefix))

    found: dict[type, str] = {}
    for key, obj in api.custom_objects().items():
        if not inspect.isclass(obj) or obj in found:
            continue
        if key not in before or mine(obj.__module__):
            found[obj] = "registered"
    for module_name, module in sorted(sys.modules.items()):
        if not mine(module_name) or module is None:
            continue
        for cls in list(vars(module).values()):
            if inspect.isclass(cls) and cls.__module__ == module_name and cls not in found:
                found[cls] = "defined"
    return sorted(found.items(), key=lambda item: f"{item[0].__module__}.{item[0].__qualname__}")


def module_folders(modules: tuple[str, ...], root: str) -> list[str]:
    """The folders of ``root`` that hold the top-level packages or files of ``modules``: the
    only ones a trusted workspace adds to ``sys.path`` (``root`` itself, or its ``src``)."""
    found: list[str] = []
    for folder in (root, os.path.join(root, "src")):
        for name in modules:
            top = name.split(".")[0]
            if (
                os.path.isfile(os.path.join(folder, top, "__init__.py"))
                or os.path.isfile(os.path.join(folder, f"{top}.py"))
                or (name != top and os.path.isdir(os.path.join(folder, top)))
            ):
                if folder not in found:
                    found.append(folder)
    return found


def add_module_folders(modules: tuple[str, ...], root: str | None) -> None:
    """Let the configured modules of a (trusted) workspace be imported, and nothing else of
    it: their folders go at the end of ``sys.path``, after Python's, Keras's and
    TensorFlow's own, so that no file of the workspace stands in for one of those."""
    if not root or not modules:
        return
    for folder in module_folders(modules, root):
        if folder not in sys.path:
            sys.path.append(folder)
