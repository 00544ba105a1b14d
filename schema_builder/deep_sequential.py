"""A Sequential model loaded in linear time.

Keras's ``Sequential.from_config`` adds its layers one by one, and every ``add`` rebuilds the
whole graph from the input: loading n layers calls layers n²/2 times (400 ``Dense`` layers
take longer than the deep check's time limit). Keras's own constructor,
``Sequential(layers=[...])``, adds them without rebuilding and builds once at the end; the
deep check loads a Sequential the same way. The verdict is Keras's: the same classes, the
same ``add`` checks (a layer instance, unique names, one input layer), and the first layer that
cannot take its input fails the one build as it failed the first rebuild that reached it.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

from .deep_cancel import checkpoint
from .deep_common import CheckerBase

# The modules Keras 3 writes for its own Sequential (``module`` of the envelope).
_SEQUENTIAL_MODULES = {"keras", "keras.models", "keras.src.models.sequential"}


def plain_sequential(envelope: Any) -> bool:
    """Keras 3's own Sequential in the current format, with a list of layer envelopes."""
    if not isinstance(envelope, dict) or envelope.get("class_name") != "Sequential":
        return False
    if envelope.get("module") not in _SEQUENTIAL_MODULES:
        return False
    if envelope.get("registered_name") not in (None, "Sequential"):
        return False
    config = envelope.get("config")
    if not isinstance(config, dict) or "name" not in config:
        return False
    layers = config.get("layers")
    return isinstance(layers, list) and all(
        isinstance(entry, dict) and "module" in entry for entry in layers
    )


class SequentialLoader(CheckerBase):
    linear_sequential = True  # False: load as Keras does, one rebuild per layer (tests)

    def _load(self, envelope: dict[str, Any]) -> tuple[Any, BaseException | None, list]:
        """The document's object, the error Keras raised instead, and the warnings."""
        if self.linear_sequential and not self.api.legacy and plain_sequential(envelope):
            return self._load_sequential(envelope)
        return self._deserialize(envelope)

    def _load_sequential(self, envelope: dict[str, Any]) -> tuple[Any, BaseException | None, list]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with self._stateless(initialize_variables=False):
                    model = self._sequential(envelope)
            except Exception as exc:  # Keras's refusal is the finding
                return None, exc, list(caught)
        if model is None:  # not Keras's own Sequential after all: load it as Keras does
            return self._deserialize(envelope)
        return model, None, list(caught)

    def _sequential(self, envelope: dict[str, Any]) -> Any:
        config = envelope["config"]
        # The envelope without its layers: the class, its name, the loader's own checks.
        shell = {k: v for k, v in envelope.items() if k not in ("build_config", "compile_config")}
        shell["config"] = {**config, "layers": [], "build_input_shape": None}
        model = self.api.deserialize(copy.deepcopy(shell), self.custom_objects)
        if type(model) is not self.keras.Sequential:
            return None  # a subclass may load its layers its own way
        for entry in config["layers"]:
            checkpoint()
            model.add(
                self.api.deserialize(copy.deepcopy(entry), self.custom_objects), rebuild=False
            )
        if model.layers or model._layers:
            model._maybe_rebuild()
        # What Sequential.from_config and deserialize_keras_object do after the layers.
        build_input_shape = config.get("build_input_shape")
        if (
            not model._functional
            and build_input_shape
            and isinstance(build_input_shape, (tuple, list))
        ):
            model.build(build_input_shape)
        build_config = envelope.get("build_config")
        if build_config and not model.built:
            model.build_from_config(build_config)
            model.built = True
        compile_config = envelope.get("compile_config")
        if compile_config:
            model.compile_from_config(compile_config)
            model.compiled = True
        return model
