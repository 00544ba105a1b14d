"""The deep check's shape replay: layers called on symbolic tensors (no weights allocated)
to find the first one that cannot take its inputs, and each layer's output shape and size."""

from __future__ import annotations

import copy
import re
import warnings
from typing import Any

from layercfg.codes import Code, JsonPath, Severity

from . import deep_merge
from .deep_cancel import checkpoint
from .deep_common import CheckerBase, DeepFinding, LayerInfo, clean_message


class ShapeReplay(CheckerBase):
    # -- shapes -------------------------------------------------------------------------------
    def _propagate(self, value: dict[str, Any]) -> list[DeepFinding]:
        """Every layer loads alone, so the failure is in calling them: find the first one."""
        if self.api.legacy:
            return []  # tf_keras connects its layers while loading: that error stands
        config = value["config"]
        entries = config["layers"]
        from keras.src.models.functional import deserialize_node

        created: dict[str, Any] = {}
        index_of: dict[int, int] = {}  # the entry of each layer made
        pending: list[tuple[int, Any, Any]] = []
        try:
            with self._stateless(initialize_variables=False), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for index, entry in enumerate(entries):
                    checkpoint()
                    plain = {k: v for k, v in entry.items() if k not in ("name", "inbound_nodes")}
                    layer = self.api.deserialize(copy.deepcopy(plain), self.custom_objects)
                    name = entry.get("name") or layer.name
                    created[name] = layer
                    index_of[id(layer)] = index
                    nodes = entry.get("inbound_nodes")
                    if nodes is None:  # Sequential
                        nodes = []
                    for node in nodes:
                        pending.append((index, layer, node))
                if all("inbound_nodes" not in e for e in entries):
                    return self._propagate_sequential(value, entries, created)
                progress = True
                while pending and progress:
                    progress = False
                    waiting = []
                    for index, layer, node in pending:
                        checkpoint()
                        try:
                            args, kwargs = deserialize_node(copy.deepcopy(node), created)
                        except IndexError:
                            waiting.append((index, layer, node))
                            continue
                        try:
                            layer(*args, **kwargs)
                        except Exception as exc:
                            return [self._call_failure(entries, index, layer, args, exc, index_of)]
                        progress = True
                    pending = waiting
        except Exception as exc:
            return [DeepFinding(("class_name",), "value", Code.SHAPE, clean_message(exc))]
        finally:
            self._reset()
        return []

    def _propagate_sequential(self, value, entries, created) -> list[DeepFinding]:
        layers = list(created.values())
        shape = _input_shape(value, entries)
        if shape is None:
            return []
        tensor = self.api.symbolic_input(shape)
        start = 1 if entries and entries[0].get("class_name") == "InputLayer" else 0
        for index in range(start, len(layers)):
            checkpoint()
            try:
                tensor = layers[index](tensor)
            except Exception as exc:
                return [self._call_failure(entries, index, layers[index], [tensor], exc)]
        return []

    def _call_failure(self, entries, index, layer, args, exc, index_of=None) -> DeepFinding:
        tensors = [a for a in self.keras.tree.flatten(args) if hasattr(a, "shape")]
        shapes = [tuple(a.shape) for a in tensors]
        given = ", ".join(str(s) for s in shapes) or "its inputs"
        message = (
            f"{type(layer).__name__} '{layer.name}' cannot be called on {given}: "
            f"{clean_message(exc)}"
        )
        where: JsonPath = ("config", "layers", index, "class_name")
        odd = deep_merge.mismatch(self.keras, layer, shapes)
        if odd is None or index_of is None:
            return DeepFinding(where, "value", Code.SHAPE, message)
        return deep_merge.finding(
            self.keras, layer, where, tensors, odd, entries, index_of, message
        )

    def _build_single(self, value: dict[str, Any]) -> list[DeepFinding]:
        build = value.get("build_config")
        if not isinstance(build, dict) or build.get("input_shape") is None:
            return []
        try:
            with self._stateless(initialize_variables=False), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plain = {
                    k: v for k, v in value.items() if k not in ("build_config", "compile_config")
                }
                layer = self.api.deserialize(copy.deepcopy(plain), self.custom_objects)
                layer(self.api.symbolic_input(tuple(build["input_shape"])))
        except Exception as exc:
            return [
                DeepFinding(
                    ("build_config", "input_shape"),
                    "value",
                    Code.SHAPE,
                    f"Building with input shape {tuple(build['input_shape'])} "
                    f"fails: {clean_message(exc)}",
                )
            ]
        finally:
            self._reset()
        return []

    def _layers(self, value: dict[str, Any], model: Any) -> list[LayerInfo]:
        config = value.get("config") if isinstance(value.get("config"), dict) else {}
        entries = config.get("layers")
        out: list[LayerInfo] = []
        if isinstance(entries, list) and hasattr(model, "layers"):
            by_name = {layer.name: layer for layer in model.layers}
            if getattr(model, "_input_layers", None) is None and hasattr(model, "inputs"):
                pass
            for index, entry in enumerate(entries):
                if not isinstance(entry, dict):
                    continue
                cfg = entry.get("config") if isinstance(entry.get("config"), dict) else {}
                name = entry.get("name") or cfg.get("name")
                layer = by_name.get(name)
                if layer is None and entry.get("class_name") == "InputLayer":
                    out.append(
                        LayerInfo(
                            ("config", "layers", index),
                            str(name),
                            "InputLayer",
                            _shape_text(cfg.get("batch_shape")),
                            0,
                        )
                    )
                    continue
                if layer is None:
                    continue
                out.append(
                    LayerInfo(
                        ("config", "layers", index),
                        layer.name,
                        type(layer).__name__,
                        _output_shape(layer),
                        params_of(layer),
                    )
                )
        elif model is not None and hasattr(model, "count_params"):
            shape = _output_shape(model)
            build = value.get("build_config") if isinstance(value.get("build_config"), dict) else {}
            if shape is None and isinstance(build.get("input_shape"), list):
                try:
                    with self._stateless(initialize_variables=False):
                        spec = model.compute_output_spec(
                            self.api.symbolic_input(tuple(build["input_shape"]))
                        )
                    shape = _shape_text(tuple(spec.shape))
                except Exception:
                    shape = None
            out.append(LayerInfo((), model.name, type(model).__name__, shape, params_of(model)))
        return out

    def _too_big(self, layers: list[LayerInfo]) -> list[DeepFinding]:
        """Weights were never allocated; say so when they could not be."""
        out = []
        for info in layers:
            size = info.params * 4
            if size > self.memory_bytes:
                out.append(
                    DeepFinding(
                        (*info.path, "class_name"),
                        "value",
                        Code.SHAPE,
                        f"{info.class_name} '{info.name}' has {info.params:,} parameters "
                        f"({_bytes(size)} as float32), more than this machine's deep-check "
                        f"memory cap of {_bytes(self.memory_bytes)}: check its sizes. Its weights "
                        "were not allocated.",
                        severity=Severity.WARNING,
                        data={"params": info.params},
                    )
                )
        return out


# Keras 3 ("Computed output size would be zero or negative") and TensorFlow under tf_keras
# ("Negative dimension size caused by subtracting 12 from 8"): a window larger than its input.
_WINDOW_TOO_LARGE = re.compile(
    r"output size would be zero or negative|Negative dimension size caused by subtracting", re.I
)
_WINDOW_KEYS = ("kernel_size", "pool_size", "cropping")


def window_too_large(message: str, config: dict[str, Any]) -> str | None:
    """The key of a layer's window (``kernel_size``, ``pool_size``) when Keras's message says
    the window does not fit in its input: a shape problem of that key, whatever other
    arguments (``padding``) the message quotes."""
    if not _WINDOW_TOO_LARGE.search(message):
        return None
    return next((key for key in _WINDOW_KEYS if key in config), None)


def _bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size < 1024 or unit == "PB":
            return f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} PB"


def _input_shape(value: dict[str, Any], entries: list[Any]) -> tuple | None:
    first = entries[0] if entries and isinstance(entries[0], dict) else {}
    if first.get("class_name") == "InputLayer":
        cfg = first.get("config") or {}
        shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
        if shape:
            return tuple(shape)
    config = value.get("config") or {}
    for shape in (
        config.get("build_input_shape"),
        (value.get("build_config") or {}).get("input_shape"),
    ):
        if isinstance(shape, list) and shape and not isinstance(shape[0], list):
            return tuple(shape)
    return None


def _shape_text(shape: Any) -> str | None:
    if shape is None:
        return None
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return ", ".join(_shape_text(s) or "?" for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _output_shape(layer: Any) -> str | None:
    try:
        nodes = getattr(layer, "_inbound_nodes", None) or []
        if nodes:
            # A list in Keras 3; in tf_keras, a tensor for a layer of one output.
            outputs = nodes[0].output_tensors
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            return ", ".join(_shape_text(tuple(t.shape)) or "?" for t in outputs)
        output = getattr(layer, "output", None)
        if output is not None and hasattr(output, "shape"):
            return _shape_text(tuple(output.shape))
    except Exception:
        return None
    return None


def params_of(layer: Any) -> int:
    try:
        return int(layer.count_params()) if getattr(layer, "built", False) else 0
    except Exception:
        return 0
