"""Parameter counts for LCF508, from the numbers in a layer's config: what one layer would
allocate when Keras builds it, and the channel sizes that flow between layers."""

from __future__ import annotations

from typing import Any

# One layer with more parameters than this needs several GB (8 GB as float32) to build.
MAX_PARAMETERS = 2**31

RNN_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
CONV_RANK = {
    "Conv1D": 1, "Conv2D": 2, "Conv3D": 3, "Convolution1D": 1, "Convolution2D": 2,
    "Convolution3D": 3, "Conv1DTranspose": 1, "Conv2DTranspose": 2, "Conv3DTranspose": 3,
}  # fmt: skip
# Layers whose output keeps the last (channel) axis of their input, channels last.
KEEPS_LAST_AXIS = frozenset(
    {
        "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
        "GaussianDropout", "AlphaDropout", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU",
        "Softmax", "BatchNormalization", "LayerNormalization", "GroupNormalization",
        "UnitNormalization", "ActivityRegularization", "Masking", "Identity", "Rescaling",
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
        "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
        "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
        "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
    }
)  # fmt: skip
WRAPPERS = frozenset({"TimeDistributed", "Bidirectional"})


def positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def last_axis(shape: Any, channels_first: bool = False) -> int | None:
    """The channel size of a flat shape list ([null, 28, 28, 3]); None when not given."""
    if not isinstance(shape, list) or len(shape) < 2:
        return None
    if not all(item is None or positive_int(item) is not None for item in shape):
        return None  # several inputs, or not a shape
    return positive_int(shape[1] if channels_first else shape[-1])


def kernel_size(size: Any, rank: int) -> int | None:
    if positive_int(size) is not None:
        return size**rank
    if isinstance(size, list) and size and all(positive_int(s) is not None for s in size):
        total = 1
        for s in size:
            total *= s
        return total
    return None


def output_size(layer: dict[str, Any], size: int | None) -> int | None:
    """The channel size after ``layer`` in a Sequential model; None when not known."""
    class_name = layer.get("class_name")
    config = layer.get("config")
    if not isinstance(config, dict):
        return None
    if config.get("data_format") == "channels_first":
        return None
    if class_name == "InputLayer":
        return last_axis(config.get("batch_shape", config.get("batch_input_shape")))
    if class_name in ("Dense", "LSTM", "GRU", "SimpleRNN"):
        return positive_int(config.get("units"))
    if class_name == "Embedding":
        return positive_int(config.get("output_dim"))
    if class_name in CONV_RANK:
        return positive_int(config.get("filters"))
    if class_name in KEEPS_LAST_AXIS:
        return size
    return None


def parameter_count(
    class_name: str, config: dict[str, Any], size: int | None
) -> tuple[int, str, str] | None:
    """The weights a layer allocates when it is more than MAX_PARAMETERS, from the numbers in
    its config and its input's channel size: (count, the key to blame, how it is counted)."""
    count: int | None = None
    key = ""
    formula = ""
    if class_name == "Dense":
        units = positive_int(config.get("units"))
        if units is not None:
            count = units * (size or 1) + (units if config.get("use_bias", True) else 0)
            key = "units"
            formula = f"units {units:,} x input {size:,}" if size else f"units {units:,}"
    elif class_name == "Embedding":
        rows, columns = (
            positive_int(config.get("input_dim")),
            positive_int(config.get("output_dim")),
        )
        if rows is not None and columns is not None:
            count = rows * columns
            key = "input_dim" if rows >= columns else "output_dim"
            formula = f"input_dim {rows:,} x output_dim {columns:,}"
    elif class_name in CONV_RANK:
        filters = positive_int(config.get("filters"))
        kernel = kernel_size(config.get("kernel_size"), CONV_RANK[class_name])
        if filters is not None and kernel is not None:
            groups = positive_int(config.get("groups")) or 1
            per_filter = kernel * max((size or 1) // groups, 1)
            count = per_filter * filters + (filters if config.get("use_bias", True) else 0)
            key = "filters"
            formula = (
                f"kernel {kernel:,} x channels {size:,} x filters {filters:,}"
                if size
                else f"kernel {kernel:,} x filters {filters:,}"
            )
    elif class_name in RNN_GATES:
        units = positive_int(config.get("units"))
        if units is not None:
            gates = RNN_GATES[class_name]
            count = gates * units * (units + (size or 1) + 1)
            key = "units"
            shown = f"input {size:,}" if size else "input"
            formula = f"{gates} gates x units {units:,} x (units + {shown} + 1)"
    if count is None or count <= MAX_PARAMETERS:
        return None
    return count, key, formula


def input_size(node: dict[str, Any], channels_first: bool, passed: dict[int, int]) -> int | None:
    """The channel size of a layer's input when the config gives it: its build_config, the
    size ``passed`` to it by id (from the layer before it in a Sequential model, or from its
    wrapper), or the tensor a Functional node passes."""
    build = node.get("build_config")
    if isinstance(build, dict):
        size = last_axis(build.get("input_shape"), channels_first)
        if size is not None:
            return size
    size = passed.get(id(node))
    if size is not None and not channels_first:
        return size
    nodes = node.get("inbound_nodes")
    if isinstance(nodes, list) and nodes and isinstance(nodes[0], dict):
        args = nodes[0].get("args")
        tensor = args[0] if isinstance(args, list) and args else None
        if isinstance(tensor, dict) and tensor.get("class_name") == "__keras_tensor__":
            inner = tensor.get("config")
            if isinstance(inner, dict):
                return last_axis(inner.get("shape"), channels_first)
    return None


def pass_along_sequential(config: dict[str, Any], build: Any, passed: dict[int, int]) -> None:
    """The channel sizes along a Sequential model's layers (its ``config`` and
    ``build_config``), into ``passed`` by the id of each layer: one pass."""
    layers = config.get("layers")
    if not isinstance(layers, list):
        return
    size = last_axis(build.get("input_shape")) if isinstance(build, dict) else None
    for layer in layers:
        if not isinstance(layer, dict):
            size = None
            continue
        if size is not None:
            passed[id(layer)] = size
        size = output_size(layer, size)


def pass_into_wrapped(node: dict[str, Any], config: dict[str, Any], passed: dict[int, int]) -> None:
    """A wrapped layer sees the wrapper's channel size (TimeDistributed adds an axis in
    front, Bidirectional runs the same layer twice), into ``passed`` by the layer's id."""
    size = input_size(node, False, passed)
    for key in ("layer", "backward_layer"):
        inner = config.get(key)
        if size is not None and isinstance(inner, dict):
            passed[id(inner)] = size
