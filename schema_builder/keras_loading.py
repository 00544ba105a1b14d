"""What Keras's loader is given and may reach when it loads a config: under tf_keras, which
modules it may import and what of them it sees (``ImportGuard``), KerasLayer handles resolved
to what is already on disk, and the configured modules' classes as ``custom_objects``.
"""

from __future__ import annotations

import inspect
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .keras_api import KerasAPI

# Namespaces whose functions a config may name (activations, losses, ...): any other function
# of Keras (``utils.get_file``, ``backend.set_floatx``) has effects beyond modeling.
_MODELING_NAMESPACES = frozenset(
    (
        "activations",
        "constraints",
        "initializers",
        "losses",
        "metrics",
        "optimizers",
        "regularizers",
        "schedules",
        "ops",
        "random",
    )
)
_GUARDED_ROOTS = ("tf_keras", "tensorflow_hub")


class RefusedModule(TypeError):
    """A module a config named that layercfg never imports (a TypeError, as Keras's own
    refusals are, so the deep check reports it at the envelope)."""


def in_modules(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == m or name.startswith(f"{m}.") for m in modules)


class ImportGuard:
    """What tf_keras's loader sees as ``importlib`` inside ``KerasAPI.import_guard``."""

    def __init__(self, api: KerasAPI, real: ModuleType):
        self._api = api
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def import_module(self, name: str, package: str | None = None) -> ModuleType:
        if not isinstance(name, str) or package is not None:
            raise RefusedModule(f"module {name!r} is not imported by layercfg")
        if in_modules(name, self._api.modules):
            return self._real.import_module(name)  # trusted by the user who configured it
        if in_modules(name, _GUARDED_ROOTS):
            return _modeling_view(self._real.import_module(name), self._api.buildable_bases())
        if in_modules(name, ("tensorflow",)) and name in sys.modules:
            # Type specs (``__typespec__``) of an already loaded TensorFlow module: no code
            # runs to get them.
            from tensorflow import TypeSpec

            return _modeling_view(sys.modules[name], (TypeSpec,))
        raise RefusedModule(
            f"module {name!r} is not imported: a tf_keras config may name classes of "
            "tf_keras, tensorflow_hub and the configured modules only (setting `modules`)"
        )


def _modeling_view(module: ModuleType, bases: tuple[type, ...]) -> ModuleType:
    """A copy of ``module`` with only what a config may describe: classes of ``bases`` and,
    in the modeling namespaces, functions."""
    view = ModuleType(module.__name__)
    functions = bool(_MODELING_NAMESPACES & set(module.__name__.split(".")))
    for key, value in vars(module).items():
        if inspect.isclass(value):
            if issubclass(value, bases):
                setattr(view, key, value)
        elif functions and inspect.isfunction(value):
            setattr(view, key, value)
    return view


def resolve_hub_handles(config: Any, base: str | None) -> Any:
    """A copy of ``config`` in which each KerasLayer handle that is here (a local folder,
    relative to ``base``, or a complete cached copy of a URL) names that folder: what
    tensorflow_hub loads without a download. Other handles are left as written."""
    from . import handles

    def visit(node: Any) -> Any:
        if isinstance(node, list):
            return [visit(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: visit(value) for key, value in node.items()}
        inner = out.get("config")
        if out.get("class_name") == "KerasLayer" and isinstance(inner, dict):
            handle = inner.get("handle")
            if isinstance(handle, str):
                check = handles.check_handle(handle, base=base, hub=True)
                if check.ok and check.local:
                    out["config"] = {**inner, "handle": check.local}
        return out

    if base is None and not mentions_keras_layer(config):
        return config
    return visit(config)


def mentions_keras_layer(config: Any) -> bool:
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("class_name") == "KerasLayer":
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def classes_of(modules: tuple[str, ...]) -> dict[str, type]:
    """The classes the configured modules define, by name: how Keras is told the
    unregistered ones (``custom_objects``), as a user loading the config would. Nothing
    outside those modules is offered. The modules must be imported already."""
    found: dict[str, type] = {}
    for name in modules:
        module = sys.modules.get(name)
        if module is None:
            continue
        for attribute, value in vars(module).items():
            if inspect.isclass(value) and in_modules(value.__module__, (module.__name__,)):
                found.setdefault(attribute, value)
    return found
