"""The Keras implementation the builder and the deep check work on, behind one small adapter.

Keras 3 (``keras``) and ``tf_keras`` (Keras 2, what ``tensorflow_hub.KerasLayer`` subclasses);
nothing outside this module reaches for ``keras.src`` or ``tf_keras.src`` internals directly.
What the loader may reach from a config (tf_keras's import guard, KerasLayer handles) is
``keras_loading``.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import inspect
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .keras_loading import ImportGuard, mentions_keras_layer, resolve_hub_handles

IMPLEMENTATIONS = ("keras", "tf_keras")

# Where Keras resolves the nested families from, and the abstract bases that are not configs.
_FAMILY_MODULES = {
    "initializer": "initializers",
    "regularizer": "regularizers",
    "constraint": "constraints",
}
_ABSTRACT = {"Initializer", "Regularizer", "Constraint", "Layer", "Wrapper"}

# Candidate dtype strings; the ones ``dtype_policies.get`` accepts are kept.
_EXTRA_DTYPE_NAMES = ("mixed_float16", "mixed_bfloat16", "float", "int", "double", "half")
# tf_keras takes any TensorFlow dtype name (``"string"`` for text models) and the mixed policies.
_TF_DTYPE_NAMES = (
    "bfloat16",
    "bool",
    "complex64",
    "complex128",
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "string",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "half",
    "float",
    "double",
)
# Functions of ``tf_keras.activations`` that are not activations.
_NOT_ACTIVATIONS = {"get", "serialize", "deserialize"}


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


class _Given:
    """An initializer that stands for a value a constructor already has (``keras.Variable(
    array)``): in a stateless scope the variable is deferred like any other, never refused."""

    def __init__(self, value: Any):
        self.value = value

    def __call__(self, shape: Any = None, dtype: Any = None) -> Any:
        from keras import ops

        return ops.convert_to_tensor(self.value, dtype=dtype)


@contextlib.contextmanager
def _weightless_scope() -> Any:
    """Keras 3's stateless scope (no weight is allocated), in which a variable created from a
    concrete value is deferred too: Keras refuses those ("create a variable while in a
    stateless scope"), which KerasHub's task models do when they are built, though they load.
    A ``compile_config`` is compiled as Keras does, but for the optimizer's variables (one per
    weight, which no check needs): over deferred weights the TensorFlow backend cannot key
    them, and every compiled model Keras saves would fail to load."""
    import numpy as np
    from keras.src.backend.common.stateless_scope import StatelessScope
    from keras.src.backend.common.variables import Variable
    from keras.src.saving import serialization_lib
    from keras.src.trainers.trainer import Trainer

    original, compile_from_config = Variable.__init__, Trainer.compile_from_config

    def init(
        self: Any, initializer: Any, shape: Any = None, dtype: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        if not callable(initializer) and initializer is not None:
            if shape is None:
                shape = tuple(getattr(initializer, "shape", np.shape(initializer)))
            if dtype is None:
                dtype = getattr(initializer, "dtype", None) or np.asarray(initializer).dtype
            initializer = _Given(initializer)
        original(self, initializer, shape, dtype, *args, **kwargs)

    def compile_without_optimizer_variables(self: Any, config: Any) -> None:
        if type(self).compile is not Trainer.compile:
            compile_from_config(self, config)  # Keras warns and leaves a custom compile()
            return
        self.compile(**serialization_lib.deserialize_keras_object(config))

    Variable.__init__ = init
    Trainer.compile_from_config = compile_without_optimizer_variables
    try:
        with StatelessScope(initialize_variables=False):
            yield
    finally:
        Variable.__init__ = original
        Trainer.compile_from_config = compile_from_config


@dataclass
class KerasAPI:
    """Handles on one Keras implementation, imported on construction."""

    name: str = "keras"
    keras: ModuleType = field(init=False)
    # The configured (trusted) modules: the only ones besides Keras's own that a config may
    # name (tf_keras's loader would import any other; see ``import_guard``).
    modules: tuple[str, ...] = ()
    # The document's folder: relative KerasLayer handles resolve against it (tf_keras).
    document_folder: str | None = None

    def __post_init__(self) -> None:
        if self.name not in IMPLEMENTATIONS:
            raise ValueError(
                f"unsupported Keras implementation {self.name!r}; "
                f"supported: {', '.join(IMPLEMENTATIONS)}"
            )
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.keras = _quiet_import(self.name)
        self._defaults = self._global_config()

    @property
    def legacy(self) -> bool:
        """Keras 2 (tf_keras): another set of internals, the same public API where it matters."""
        return self.name == "tf_keras"

    # -- global state ---------------------------------------------------------------------------
    def _global_config(self) -> dict[str, Any]:
        if self.legacy:
            backend = self.keras.backend
            return {
                "floatx": backend.floatx(),
                "epsilon": backend.epsilon(),
                "image_data_format": backend.image_data_format(),
                "dtype_policy": self.keras.mixed_precision.global_policy().name,
            }
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

    def reset_global_state(self, free_memory: bool = True) -> None:
        """Keras as it was when imported: a document (through a function a config names, or
        a custom class) may have changed its global settings, and must not change the verdict
        on the next one. Names, shared objects and deferred variables go with the session.
        ``free_memory`` also runs the garbage collector (a large part of a check's time)."""
        if self.legacy:
            self._reset_legacy()
            return
        from keras.src.backend.common import global_state

        self.keras.backend.clear_session(free_memory=free_memory)
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

    def reset_names(self) -> None:
        """Forget the names Keras gave so far: the next ``Dense`` is ``dense`` again (what
        ``clear_session`` does to names, without the rest of the session)."""
        if self.legacy:
            self.keras.backend.reset_uids()
            return
        from keras.src.backend.common import global_state

        global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))

    def _reset_legacy(self) -> None:
        from tf_keras.src.saving import serialization_lib

        backend = self.keras.backend
        backend.clear_session()
        serialization_lib.SAFE_MODE.safe_mode = True
        defaults = self._defaults
        if self._global_config() == defaults:
            return
        backend.set_floatx(defaults["floatx"])
        backend.set_epsilon(defaults["epsilon"])
        backend.set_image_data_format(defaults["image_data_format"])
        self.keras.mixed_precision.set_global_policy(defaults["dtype_policy"])

    def safe_mode(self) -> Any:
        """Keras's safe mode as a scope: the ``safe_mode=`` argument alone is not enough, as
        paths that ignored it have shown (CVE-2025-1550, CVE-2025-8747). tf_keras has the
        same scope, read by its Lambda layer before it would load bytecode."""
        if self.legacy:
            from tf_keras.src.saving.serialization_lib import SafeModeScope
        else:
            from keras.src.saving.serialization_lib import SafeModeScope

        return SafeModeScope(True)

    def stateless_scope(self) -> Any:
        """A scope in which layers are built without allocating their weights (Keras 3);
        tf_keras has none, so there it is a plain scope and weights are allocated."""
        if self.legacy:
            return contextlib.nullcontext()
        return _weightless_scope()

    def non_modeling_apis(self) -> frozenset[str]:
        """``module.name`` of the functions Keras's loader refuses in a config."""
        if self.legacy:
            return frozenset()  # tf_keras keeps no such list
        from keras.src.saving import serialization_lib

        return frozenset(serialization_lib.NON_MODELING_APIS)

    # -- identity -------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return str(self.keras.__version__)

    @property
    def backend(self) -> str:
        return str(self.keras.backend.backend())

    @property
    def module_prefix(self) -> str:
        """What the ``module`` of a built-in envelope starts with: tf_keras writes ``keras.``
        (``keras.layers``, ``keras.initializers``) like Keras 3 does."""
        return "keras"

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

    def hub_layer_class(self) -> type | None:
        """``tensorflow_hub.KerasLayer``, a tf_keras layer; None for Keras 3 or without the
        ``hub`` extra. Importing it loads no model."""
        if not self.legacy:
            return None
        try:
            module = _quiet_import("tensorflow_hub")
        except ImportError:
            return None
        return getattr(module, "KerasLayer", None)

    def model_classes(self) -> dict[str, type]:
        if self.legacy:
            from tf_keras.src.engine.functional import Functional
        else:
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

    def functional_module(self) -> str:
        """The ``module`` Keras writes for a Functional model."""
        return self.model_classes()["Functional"].__module__

    def family_names(self, family: str) -> dict[str, str]:
        """String identifiers Keras accepts for a family, mapped to the class they name."""
        if self.legacy:
            return self._legacy_family_names(family)
        module = importlib.import_module(f"keras.src.{_FAMILY_MODULES[family]}")
        table = getattr(module, "ALL_OBJECTS_DICT", {})
        return {
            key: value.__name__
            for key, value in table.items()
            if inspect.isclass(value) and value.__name__ not in _ABSTRACT
        }

    def _legacy_family_names(self, family: str) -> dict[str, str]:
        """tf_keras keeps no table: every lower-case public name its ``get`` turns into an
        instance of a public class of the family (``"glorot_uniform"``, ``"l2"``)."""
        module = getattr(self.keras, _FAMILY_MODULES[family])
        classes = set(self.family_classes(family).values())
        found = {}
        for name in dir(module):
            if not name[:1].islower() or name in _NOT_ACTIVATIONS:
                continue
            try:
                with self.safe_mode():
                    obj = module.get(name)
            except Exception:
                continue
            if type(obj) in classes:
                found[name] = type(obj).__name__
        return found

    def dtype_policy_classes(self) -> dict[str, type]:
        if self.legacy:
            return {"Policy": self.keras.mixed_precision.Policy}
        module = self.keras.dtype_policies
        found = {}
        for name in dir(module):
            obj = getattr(module, name)
            if inspect.isclass(obj) and name.endswith(("Policy", "PolicyMap")):
                found[name] = obj
        return found

    def activation_functions(self) -> dict[str, Any]:
        """Activation names Keras accepts as strings, mapped to their functions."""
        if self.legacy:
            module = self.keras.activations
            return {
                name: getattr(module, name)
                for name in dir(module)
                if not name.startswith("_")
                and name not in _NOT_ACTIVATIONS
                and inspect.isfunction(getattr(module, name))
            }
        module = importlib.import_module("keras.src.activations")
        return dict(module.ALL_OBJECTS_DICT)

    def dtype_names(self) -> list[str]:
        if self.legacy:
            policy = self.keras.mixed_precision.Policy
            names = []
            for name in (*_TF_DTYPE_NAMES, "mixed_float16", "mixed_bfloat16"):
                try:
                    policy(name)
                except Exception:
                    continue
                names.append(name)
            return names
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
        if self.legacy:
            return []
        from keras.src import dtype_policies

        return list(getattr(dtype_policies, "QUANTIZATION_MODES", ()))

    def base_layer_class(self) -> type:
        return self.keras.layers.Layer

    # -- serialization ------------------------------------------------------------------------
    def serialize(self, obj: Any) -> Any:
        return self.keras.saving.serialize_keras_object(obj)

    def deserialize(self, config: Any, custom_objects: dict | None = None) -> Any:
        """Keras's own safe loader. For tf_keras, a Keras 2 document without a ``module``
        goes through ``tf_keras.layers.deserialize`` (what ``model_from_json`` uses), only
        the allowed modules can be imported (``import_guard``), and KerasLayer handles are
        resolved against ``document_folder``."""
        if not self.legacy:
            with self.safe_mode():
                return self.keras.saving.deserialize_keras_object(
                    config, custom_objects=custom_objects, safe_mode=True
                )
        config = resolve_hub_handles(config, self.document_folder)
        if mentions_keras_layer(config):
            # As users load such models: tf_keras finds KerasLayer inside a model only so.
            hub_cls = self.hub_layer_class()
            if hub_cls is not None:
                custom_objects = {"KerasLayer": hub_cls, **(custom_objects or {})}
        with self.safe_mode(), self.import_guard():
            if isinstance(config, dict) and "class_name" in config and "module" not in config:
                return self.keras.layers.deserialize(config, custom_objects=custom_objects)
            return self.keras.saving.deserialize_keras_object(
                config, custom_objects=custom_objects, safe_mode=True
            )

    # -- what a config may import (tf_keras) ------------------------------------------------------
    @contextlib.contextmanager
    def import_guard(self) -> Iterator[None]:
        """tf_keras's loader imports whatever module a config names (``"module": "os"``) and
        takes any attribute of it. Within this scope it imports only tf_keras and
        tensorflow_hub modules and the configured (trusted) ``modules``, and sees of the
        first two only what a config may describe: buildable classes, and functions of the
        modeling namespaces. Keras 3 restricts this itself."""
        if not self.legacy:
            yield
            return
        from tf_keras.src.saving import serialization_lib

        real = serialization_lib.importlib
        serialization_lib.importlib = ImportGuard(self, real)  # type: ignore[assignment]
        try:
            yield
        finally:
            serialization_lib.importlib = real

    def buildable_bases(self) -> tuple[type, ...]:
        """The classes whose subclasses a config may name: what Keras builds from a config."""
        keras = self.keras
        if self.legacy:
            owners = (
                (keras.layers, "Layer"),
                (keras.initializers, "Initializer"),
                (keras.regularizers, "Regularizer"),
                (keras.constraints, "Constraint"),
                (keras.mixed_precision, "Policy"),
                (keras.optimizers.schedules, "LearningRateSchedule"),
                (keras.optimizers, "Optimizer"),
                (keras.losses, "Loss"),
                (keras.metrics, "Metric"),
            )
            return tuple(
                found
                for owner, name in owners
                if inspect.isclass(found := getattr(owner, name, None))
            )
        from keras.src.saving.keras_saveable import KerasSaveable

        bases: list[type] = [KerasSaveable]
        for owner, name in (
            (keras.initializers, "Initializer"),
            (keras.regularizers, "Regularizer"),
            (keras.constraints, "Constraint"),
            (keras, "DTypePolicy"),
            (keras.optimizers.schedules, "LearningRateSchedule"),
            (keras.random, "SeedGenerator"),
        ):
            found = getattr(owner, name, None)
            if inspect.isclass(found):
                bases.append(found)
        quantizer = getattr(getattr(keras, "quantizers", None), "Quantizer", None)
        if inspect.isclass(quantizer):
            bases.append(quantizer)
        return tuple(bases)

    def exported_symbol(self, name: str) -> Any:
        """What Keras's loader finds for an exported ``keras.`` name, or None."""
        if self.legacy:
            from tensorflow.python.util import tf_export

            return tf_export.get_symbol_from_name(name)
        from keras.src import api_export

        return api_export.get_symbol_from_name(name)

    def loader_module(self, module: str) -> str:
        """The module Keras's loader imports for the ``module`` a config names: tf_keras reads
        ``keras.`` as its own ``tf_keras.``."""
        if self.legacy and (module == "keras" or module.startswith("keras.")):
            return f"tf_{module}"
        return module

    def symbolic_input(self, shape: tuple) -> Any:
        """A symbolic batch of ``shape`` (batch dimension included) to call a layer on."""
        if self.legacy:
            return self.keras.Input(batch_shape=shape)
        return self.keras.KerasTensor(shape)

    def registered_name(self, cls: type) -> str:
        return str(self.keras.saving.get_registered_name(cls))

    def custom_objects(self) -> dict[str, Any]:
        """Everything registered with ``register_keras_serializable``."""
        return dict(self.keras.saving.get_custom_objects())
