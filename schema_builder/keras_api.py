"""The Keras implementation the builder and the deep check work on, behind one small adapter.

Keras 3 (``keras``) is the one implemented; ``tf_keras`` (Keras 2) is planned, so nothing
outside this module reaches for ``keras.src`` internals directly.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import tempfile
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

IMPLEMENTATIONS = ("keras",)

# Where Keras resolves the nested families from, and the abstract bases that are not configs.
_FAMILY_MODULES = {
    "initializer": "initializers",
    "regularizer": "regularizers",
    "constraint": "constraints",
}
_ABSTRACT = {"Initializer", "Regularizer", "Constraint", "Layer", "Wrapper"}

# Candidate dtype strings; the ones ``dtype_policies.get`` accepts are kept.
_EXTRA_DTYPE_NAMES = ("mixed_float16", "mixed_bfloat16", "float", "int", "double", "half")


def _quiet_import(name: str) -> ModuleType:
    """Import without TensorFlow's start-up chatter on stderr; replay it if the import fails."""
    if name in sys.modules:
        return sys.modules[name]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            return importlib.import_module(name)
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@dataclass
class KerasAPI:
    """Handles on one Keras implementation, imported on construction."""

    name: str = "keras"
    keras: ModuleType = field(init=False)

    def __post_init__(self) -> None:
        if self.name not in IMPLEMENTATIONS:
            raise ValueError(
                f"unsupported Keras implementation {self.name!r}; "
                f"supported: {', '.join(IMPLEMENTATIONS)}"
            )
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.keras = _quiet_import(self.name)
        self._defaults = self._global_config()

    # -- global state ---------------------------------------------------------------------------
    def _global_config(self) -> dict[str, Any]:
        config = self.keras.config
        return {
            "floatx": config.floatx(),
            "epsilon": config.epsilon(),
            "image_data_format": config.image_data_format(),
            "dtype_policy": config.dtype_policy().name,
            "max_epochs": config.max_epochs(),
            "max_steps_per_epoch": config.max_steps_per_epoch(),
            "flash_attention": config.is_flash_attention_enabled(),
        }

    def reset_global_state(self) -> None:
        """Keras as it was when imported: a document (through a function a config names, or
        a custom class) may have changed its global settings, and must not change the verdict
        on the next one. Names, shared objects and deferred variables go with the session."""
        from keras.src.backend.common import global_state

        self.keras.backend.clear_session()
        global_state.set_global_attribute("uninitialized_variables", [])
        global_state.set_global_attribute("safe_mode_saving", True)
        defaults, config = self._defaults, self.keras.config
        if self._global_config() == defaults:
            return
        config.set_floatx(defaults["floatx"])
        config.set_epsilon(defaults["epsilon"])
        config.set_image_data_format(defaults["image_data_format"])
        config.set_dtype_policy(defaults["dtype_policy"])
        config.set_max_epochs(defaults["max_epochs"])
        config.set_max_steps_per_epoch(defaults["max_steps_per_epoch"])
        flash = defaults["flash_attention"]
        if flash is None:
            global_state.set_global_attribute("flash_attention", None)
        elif flash:
            config.enable_flash_attention()
        else:
            config.disable_flash_attention()

    def safe_mode(self) -> Any:
        """Keras's safe mode as a scope: the ``safe_mode=`` argument alone is not enough, as
        paths that ignored it have shown (CVE-2025-1550, CVE-2025-8747)."""
        from keras.src.saving.serialization_lib import SafeModeScope

        return SafeModeScope(True)

    # -- identity -------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return str(self.keras.__version__)

    @property
    def backend(self) -> str:
        return str(self.keras.backend.backend())

    # -- classes ----------------------------------------------------------------------------
    def layer_classes(self) -> dict[str, type]:
        """Every public ``keras.layers`` name that is a Layer class, aliases included."""
        base = self.keras.layers.Layer
        found = {}
        for name in dir(self.keras.layers):
            obj = getattr(self.keras.layers, name)
            if inspect.isclass(obj) and issubclass(obj, base):
                found[name] = obj
        return found

    def application_layer_classes(self) -> dict[str, type]:
        """Layer classes that ``keras.applications`` models define for themselves.

        Their configs name them by their private module, which Keras imports on load.
        """
        import pkgutil

        package = importlib.import_module(f"{self.name}.src.applications")
        base = self.keras.layers.Layer
        public = set(self.layer_classes().values())
        found = {}
        for module_info in pkgutil.iter_modules(package.__path__):
            if module_info.name.endswith("_test"):
                continue
            try:
                module = importlib.import_module(f"{package.__name__}.{module_info.name}")
            except Exception:
                continue
            for name, obj in vars(module).items():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, base)
                    and obj.__module__ == module.__name__
                    and obj not in public
                ):
                    found[f"{module.__name__}.{name}"] = obj
        return found

    def model_classes(self) -> dict[str, type]:
        from keras.src.models.functional import Functional

        return {
            "Sequential": self.keras.Sequential,
            "Functional": Functional,
            "Model": self.keras.Model,
        }

    def family_classes(self, family: str) -> dict[str, type]:
        """Public classes of a nested family (initializer, regularizer, constraint)."""
        module = getattr(self.keras, _FAMILY_MODULES[family])
        found = {}
        for name in dir(module):
            obj = getattr(module, name)
            if inspect.isclass(obj) and name[0].isupper() and name not in _ABSTRACT:
                found[name] = obj
        return found

    def family_names(self, family: str) -> dict[str, str]:
        """String identifiers Keras accepts for a family, mapped to the class they name."""
        module = importlib.import_module(f"keras.src.{_FAMILY_MODULES[family]}")
        table = getattr(module, "ALL_OBJECTS_DICT", {})
        return {
            key: value.__name__
            for key, value in table.items()
            if inspect.isclass(value) and value.__name__ not in _ABSTRACT
        }

    def dtype_policy_classes(self) -> dict[str, type]:
        module = self.keras.dtype_policies
        found = {}
        for name in dir(module):
            obj = getattr(module, name)
            if inspect.isclass(obj) and name.endswith(("Policy", "PolicyMap")):
                found[name] = obj
        return found

    def activation_functions(self) -> dict[str, Any]:
        """Activation names Keras accepts as strings, mapped to their functions."""
        module = importlib.import_module("keras.src.activations")
        return dict(module.ALL_OBJECTS_DICT)

    def dtype_names(self) -> list[str]:
        from keras.src.backend.common import dtypes

        names = []
        for name in sorted(dtypes.ALLOWED_DTYPES) + list(_EXTRA_DTYPE_NAMES):
            try:
                self.keras.dtype_policies.get(name)
            except Exception:
                continue
            names.append(name)
        return names

    def quantization_modes(self) -> list[str]:
        from keras.src import dtype_policies

        return list(getattr(dtype_policies, "QUANTIZATION_MODES", ()))

    def base_layer_class(self) -> type:
        return self.keras.layers.Layer

    # -- serialization ------------------------------------------------------------------------
    def serialize(self, obj: Any) -> Any:
        return self.keras.saving.serialize_keras_object(obj)

    def deserialize(self, config: Any, custom_objects: dict | None = None) -> Any:
        with self.safe_mode():
            return self.keras.saving.deserialize_keras_object(
                config, custom_objects=custom_objects, safe_mode=True
            )

    def registered_name(self, cls: type) -> str:
        return str(self.keras.saving.get_registered_name(cls))

    def custom_objects(self) -> dict[str, Any]:
        """Everything registered with ``register_keras_serializable``."""
        return dict(self.keras.saving.get_custom_objects())
