"""Keras 2 / tf_keras documents to the Keras 3 format, in pure Python (no Keras import).

It writes what Keras 3 writes for the same model: ``module`` and ``registered_name`` on every
envelope, ``Model`` -> ``Functional``, ``batch_input_shape`` -> ``batch_shape`` (an
``InputLayer`` in front of a Sequential model that had none), legacy ``inbound_nodes`` lists ->
``{"args", "kwargs"}`` nodes of ``__keras_tensor__`` objects, string dtypes of layers ->
``DTypePolicy`` envelopes, one-item ``axis`` lists -> integers, and the Keras 1/2 key names
Keras 3 renamed or dropped. It mirrors Keras 3's own legacy loader
(``legacy/saving/saving_utils.py`` ``model_from_config`` and ``functional.deserialize_node``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from ..catalog import LAYER_FAMILIES, Catalog
from . import convert
from .validation import KEY_RENAMES, SPECIAL_CLASS_NAMES

# Keras 2 class names Keras 3 serializes under another name with the same config keys.
CLASS_RENAMES = {"Model": "Functional", "CuDNNLSTM": "LSTM", "CuDNNGRU": "GRU"}
# Where Keras 3 keeps the classes when no catalog says so.
_MODULES = {
    "Functional": ("keras.src.models.functional", "Functional"),
    "Sequential": ("keras", None),
    "DTypePolicy": ("keras", None),
}
_FAMILY_MODULES = (
    ("initializer", "keras.initializers"),
    ("regularizer", "keras.regularizers"),
    ("constraint", "keras.constraints"),
)
_RNN = {"LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"}
# Keras 2 config keys Keras 3 refuses (``Unrecognized keyword arguments``) or ignores with a
# warning (Embedding's ``input_length``: "deprecated. Just remove it"), by class.
_DROPPED: dict[str, tuple[str, ...]] = {
    **{name: ("time_major",) for name in _RNN},
    "Embedding": ("input_length",),
    "Attention": ("causal",),
    "AdditiveAttention": ("causal",),
    "MultiHeadAttention": ("query_shape", "key_shape", "value_shape"),
}
# Keras 2 config keys Keras 3 renamed, by class (Keras 3 still reads LeakyReLU's alpha but
# writes negative_slope).
_RENAMED: dict[str, dict[str, str]] = {"LeakyReLU": {"alpha": "negative_slope"}}
_LAMBDA_KEYS = ("module", "function_type", "output_shape_type", "output_shape_module")
_TOP_KEYS = ("keras_version", "backend")
_ENVELOPE_ORDER = ("module", "class_name", "config", "registered_name")
_ELEMENTWISE = {
    "Activation",
    "Dropout",
    "BatchNormalization",
    "LayerNormalization",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "PReLU",
    "Softmax",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "ActivityRegularization",
    "Masking",
    "Rescaling",
    "Normalization",
    "UnitNormalization",
    "GroupNormalization",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
}


@dataclass
class Upgraded:
    """The Keras 3 document and what could not be converted (for the user)."""

    value: Any
    notes: list[str] = field(default_factory=list)


def is_legacy(value: Any) -> bool:
    """A document Keras 3 would load through its legacy path: an envelope without ``module``."""
    return isinstance(value, dict) and "class_name" in value and "module" not in value


def upgrade(
    value: Any,
    catalog: Catalog | None = None,
    base: str | None = None,
    read_endpoints: bool = False,
) -> Upgraded:
    """The Keras 3 form of a Keras 2 document (a layer or a model). A
    ``tensorflow_hub.KerasLayer`` becomes a ``TFSMLayer`` where its handle is here (``base``
    is the document's folder, for relative handles; ``read_endpoints``: see ``convert``)."""
    upgrader = _Upgrader(catalog, base, read_endpoints)
    result = upgrader.layer(copy.deepcopy(value), top=True)
    return Upgraded(result, upgrader.notes)


class _Upgrader:
    def __init__(self, catalog: Catalog | None, base: str | None = None, read: bool = False):
        self.catalog = catalog
        self.base = base
        self.read_endpoints = read
        self.notes: list[str] = []
        # batch_input_shape of layers other than InputLayer: a Sequential model's first layer
        # becomes an InputLayer of that shape; elsewhere Keras 3 has no use for it.
        self.input_shapes: dict[int, Any] = {}

    # -- envelopes ------------------------------------------------------------------------------
    def identity(self, class_name: str, families: Any) -> tuple[Any, Any, str | None, bool]:
        """(module, registered_name, family, known) of a class."""
        entry = None
        if self.catalog is not None:
            found = self.catalog.find(class_name, families) or self.catalog.find(class_name)
            entry = found[0] if found else None
        if entry is not None:
            registered = (
                entry.get("registered_name")
                if (entry.get("custom") or entry.get("family") == "model")
                else None
            )
            return entry.get("module"), registered, entry.get("family"), True
        if class_name in _MODULES:
            module, registered = _MODULES[class_name]
            return module, registered, None, True
        return None, None, None, self.catalog is None

    def envelope(self, value: dict[str, Any], module: Any, registered: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if module is not None or "module" in value:
            out["module"] = value.get("module", module)
        out["class_name"] = value["class_name"]
        if "config" in value:
            out["config"] = value["config"]
        if module is not None or "registered_name" in value:
            out["registered_name"] = value.get("registered_name", registered)
        for key, item in value.items():
            if key not in _ENVELOPE_ORDER:
                out[key] = item
        return out

    def layer(self, value: Any, top: bool = False) -> Any:
        if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
            return value
        if top:
            for key in _TOP_KEYS:
                value.pop(key, None)
        if convert.is_hub_layer(value):
            converted = convert.convert_hub_layer(value, self.base, self.read_endpoints)
            if converted.envelope is None:
                self.notes.append(f"KerasLayer: {converted.reason}; it stays a tf_keras layer")
                return value
            self.notes += [f"KerasLayer -> TFSMLayer: {note}" for note in converted.notes]
            value = converted.envelope
        name = CLASS_RENAMES.get(value["class_name"], value["class_name"])
        value["class_name"] = name
        module, registered, family, known = self.identity(name, LAYER_FAMILIES)
        if not known:
            self.notes.append(
                f"{name}: not a class layercfg knows; 'module' left out, so Keras 3 loads it "
                "by name (add its module to the 'modules' setting)"
            )
        config = value.get("config")
        shape = None
        if isinstance(config, dict):
            if isinstance(config.get("layers"), list):
                self.model_config(name, config)
            else:
                shape = self.layer_config(name, config)
        out = self.envelope(value, *((None, None) if "module" in value else (module, registered)))
        if shape is not None:
            self.input_shapes[id(out)] = shape
        return out

    def nested(self, key: str, value: dict[str, Any]) -> dict[str, Any]:
        """An initializer, regularizer, constraint or dtype policy envelope inside a config."""
        name = value["class_name"]
        if name in SPECIAL_CLASS_NAMES or name == "function" or "module" in value:
            return value
        if name == "Policy":
            name = value["class_name"] = "DTypePolicy"
        module, registered, family, known = self.identity(name, None)
        if family in LAYER_FAMILIES:
            return self.layer(value)
        if module is None:
            module = next(
                (m for suffix, m in _FAMILY_MODULES if key.endswith(suffix)),
                "keras" if key == "dtype" else None,
            )
        if module is None:
            return value
        return self.envelope(value, module, registered)

    # -- configs --------------------------------------------------------------------------------
    def layer_config(self, class_name: str, config: dict[str, Any]) -> Any:
        """Upgrade a layer's config in place; returns the batch_input_shape it dropped."""
        shape = config.pop("batch_input_shape", None)
        if shape is not None and class_name == "InputLayer":
            if "batch_shape" not in config:
                _put_first(config, "batch_shape", shape)
            shape = None
        axis = config.get("axis")
        if isinstance(axis, list) and len(axis) == 1 and isinstance(axis[0], int):
            config["axis"] = axis[0]
        for key in _DROPPED.get(class_name, ()):
            config.pop(key, None)
        for old, new in _RENAMED.get(class_name, {}).items():
            if old in config and new not in config:
                _rename(config, old, new)
        if class_name == "Lambda":
            for key in _LAMBDA_KEYS:
                config.pop(key, None)
            if isinstance(config.get("function"), list):
                self.notes.append(
                    "Lambda: its function is Python bytecode; Keras 3 refuses it in safe mode"
                )
        self.renamed_keys(class_name, config)
        dtype = config.get("dtype")
        if class_name != "InputLayer" and isinstance(dtype, str):
            config["dtype"] = {
                "module": "keras",
                "class_name": "DTypePolicy",
                "config": {"name": dtype},
                "registered_name": None,
            }
        for key, item in list(config.items()):
            if isinstance(item, dict) and isinstance(item.get("class_name"), str):
                config[key] = self.nested(key, item)
        return shape

    def renamed_keys(self, class_name: str, config: dict[str, Any]) -> None:
        """Keras 1/2 key names (``output_dim``, ``init``...) the class has under a new name."""
        if self.catalog is None:
            return
        found = self.catalog.find(class_name, LAYER_FAMILIES)
        if not found:
            return
        valid = self.catalog.schema_for(found[0]).get("properties", {})
        for key in list(config):
            if key in valid:
                continue
            for target in KEY_RENAMES.get(key, ()):
                if target in valid and target not in config:
                    _rename(config, key, target)
                    break

    def model_config(self, class_name: str, config: dict[str, Any]) -> None:
        layers = config["layers"]
        upgraded = [self.layer(layer) for layer in layers]
        if class_name == "Sequential":
            upgraded = self.sequential_input(upgraded)
        else:
            self.functional_nodes(upgraded)
        config["layers"] = upgraded

    def sequential_input(self, layers: list[Any]) -> list[Any]:
        if not layers or not isinstance(layers[0], dict):
            return layers
        first = layers[0]
        inner = c if isinstance(c := first.get("config"), dict) else {}
        shape = self.input_shapes.get(id(first))
        if first.get("class_name") == "InputLayer" or shape is None:
            return layers
        dtype = inner.get("dtype")
        if isinstance(dtype, dict):
            dtype = (dtype.get("config") or {}).get("name")
        name = inner.get("name")
        input_layer = {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {
                "batch_shape": shape,
                "dtype": dtype if isinstance(dtype, str) else "float32",
                "sparse": False,
                "ragged": False,
                "name": f"{name}_input" if isinstance(name, str) else "input_layer",
            },
            "registered_name": None,
        }
        return [input_layer, *layers]

    # -- Functional graphs -----------------------------------------------------------------------
    def functional_nodes(self, layers: list[Any]) -> None:
        by_name = {
            name: layer
            for layer in layers
            if isinstance(layer, dict) and isinstance(name := layer.get("name"), str)
        }
        shapes = _Shapes(by_name)
        for layer in layers:
            if not isinstance(layer, dict) or not isinstance(layer.get("inbound_nodes"), list):
                continue
            layer["inbound_nodes"] = [
                self.node(node, shapes) if isinstance(node, list) else node
                for node in layer["inbound_nodes"]
            ]

    def node(self, node: list[Any], shapes: _Shapes) -> Any:
        """``[[name, node_index, tensor_index, kwargs], ...]`` -> ``{"args", "kwargs"}``, as
        Keras 3 reads it: one input is the argument, several are one list argument, and the
        kwargs are those of the last input."""
        tensors = []
        kwargs: Any = {}
        for item in node:
            if not (isinstance(item, list) and len(item) in (3, 4) and isinstance(item[0], str)):
                self.notes.append(f"inbound node {item!r} is not [name, node, tensor, kwargs]")
                return node
            name, node_index, tensor_index = item[0], item[1], item[2]
            if len(item) == 4:
                kwargs = item[3] if item[3] is not None else {}
            tensors.append(
                {
                    "class_name": "__keras_tensor__",
                    "config": {
                        "shape": shapes.output(name, tensor_index),
                        "dtype": shapes.dtype(name),
                        "keras_history": [name, node_index, tensor_index],
                    },
                }
            )
        args = [tensors[0]] if len(tensors) == 1 else [tensors]
        return {"args": args, "kwargs": kwargs}


class _Shapes:
    """Output shapes of a Functional model's layers, where they follow from the config alone.

    A ``__keras_tensor__`` argument only stands for the output of the layer its history names
    (Keras swaps in the real tensor while loading), so an unknown shape does not stop the model
    from loading; the known ones are written as Keras would.
    """

    def __init__(self, by_name: dict[str, dict[str, Any]]):
        self.by_name = by_name
        self.memo: dict[str, list[Any] | None] = {}

    def dtype(self, name: str) -> str:
        config = (self.by_name.get(name) or {}).get("config")
        dtype = config.get("dtype") if isinstance(config, dict) else None
        if isinstance(dtype, dict):
            dtype = (dtype.get("config") or {}).get("name")
        if isinstance(dtype, str) and dtype.startswith("mixed_"):
            return dtype.split("_", 1)[1]
        return dtype if isinstance(dtype, str) else "float32"

    def output(self, name: str, tensor_index: int = 0) -> list[Any]:
        shape = self.shape(name, 0)
        return shape if shape is not None and tensor_index == 0 else [None]

    def shape(self, name: str, depth: int) -> list[Any] | None:
        if name in self.memo:
            return self.memo[name]
        self.memo[name] = None  # a cycle, or too deep: unknown
        if depth > 200:
            return None
        layer = self.by_name.get(name)
        result = None
        if layer is not None:
            try:
                result = self.infer(layer, depth)
            except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError):
                result = None
        self.memo[name] = result
        return result

    def inputs(self, layer: dict[str, Any], depth: int) -> list[list[Any] | None]:
        nodes = layer.get("inbound_nodes") or []
        if not nodes:
            return []
        node = nodes[0]
        if isinstance(node, list):
            return [self.shape(item[0], depth + 1) for item in node if isinstance(item, list)]
        found: list[list[Any] | None] = []
        _collect_histories(node.get("args") if isinstance(node, dict) else None, found, self, depth)
        return found

    def infer(self, layer: dict[str, Any], depth: int) -> list[Any] | None:
        class_name = layer.get("class_name")
        config = layer.get("config") or {}
        if class_name == "InputLayer":
            shape = config.get("batch_shape")
            return list(shape) if isinstance(shape, list) else None
        found = self.inputs(layer, depth)
        inputs = [s for s in found if s is not None]
        if not inputs or len(inputs) != len(found):  # an unknown input shape: unknown too
            return None
        first = list(inputs[0])
        if class_name in _ELEMENTWISE:
            return first
        if class_name == "Dense":
            return [*first[:-1], config["units"]]
        if class_name == "Flatten":
            rest = first[1:]
            return [first[0], math.prod(rest) if all(isinstance(d, int) for d in rest) else None]
        if class_name == "Concatenate":
            axis = config.get("axis", -1)
            out = list(first)
            dims = [s[axis] for s in inputs]
            out[axis] = sum(dims) if all(isinstance(d, int) for d in dims) else None
            return out
        if class_name in (
            "GlobalAveragePooling1D",
            "GlobalAveragePooling2D",
            "GlobalMaxPooling1D",
            "GlobalMaxPooling2D",
        ):
            if config.get("keepdims") or config.get("data_format") == "channels_first":
                return None
            return [first[0], first[-1]]
        if class_name == "Reshape":
            target = list(config["target_shape"])
            return [first[0], *target] if -1 not in target else None
        if class_name in (
            "Conv1D",
            "Conv2D",
            "Conv3D",
            "MaxPooling1D",
            "MaxPooling2D",
            "MaxPooling3D",
            "AveragePooling1D",
            "AveragePooling2D",
            "AveragePooling3D",
        ):
            return _windowed(class_name, config, first)
        return None


def _rename(mapping: dict[str, Any], old: str, new: str) -> None:
    """Rename a key where it stands."""
    items = list(mapping.items())
    mapping.clear()
    for key, item in items:
        mapping[new if key == old else key] = item


def _put_first(mapping: dict[str, Any], key: str, item: Any) -> None:
    items = list(mapping.items())
    mapping.clear()
    mapping[key] = item
    mapping.update(items)


def _collect_histories(value: Any, found: list[Any], shapes: _Shapes, depth: int) -> None:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            if isinstance(history, list) and history and isinstance(history[0], str):
                found.append(shapes.shape(history[0], depth + 1))
            return
        for item in value.values():
            _collect_histories(item, found, shapes, depth)
    elif isinstance(value, list):
        for item in value:
            _collect_histories(item, found, shapes, depth)


def _windowed(class_name: str, config: dict[str, Any], shape: list[Any]) -> list[Any] | None:
    """Convolution and pooling output shapes, channels_last, as Keras computes them."""
    if config.get("data_format", "channels_last") != "channels_last":
        return None
    rank = int(class_name[-2])
    spatial = shape[1 : 1 + rank]
    if len(spatial) != rank:
        return None
    pooling = "Pooling" in class_name

    def tuple_of(key: str, default: Any) -> list[int]:
        item = config.get(key, default)
        item = default if item is None else item
        return list(item) if isinstance(item, list) else [item] * rank

    window = tuple_of("pool_size" if pooling else "kernel_size", 2 if pooling else 1)
    strides = tuple_of("strides", window if pooling else 1)
    dilation = [1] * rank if pooling else tuple_of("dilation_rate", 1)
    padding = config.get("padding", "valid")
    out: list[int | None] = []
    for size, k, s, d in zip(spatial, window, strides, dilation, strict=True):
        if size is None:
            out.append(None)
        elif padding == "same":
            out.append((size + s - 1) // s)
        elif padding == "valid":
            out.append((size - (k - 1) * d - 1) // s + 1)
        else:
            return None
    channels = shape[-1] if pooling else config["filters"]
    return [shape[0], *out, channels]
