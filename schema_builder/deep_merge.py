"""A merge layer (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate) that cannot
take its inputs' shapes: the input whose shape differs from the others', traced back through
the layers that keep that dimension to the key of the layer that sets it (``units`` of a Dense,
``filters`` of a convolution, an item of an Input's ``batch_shape``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from layercfg.codes import Code, JsonPath

from .deep_common import DeepFinding

# The merge layers whose inputs must agree axis by axis: elementwise (broadcasting a 1), or
# everywhere but the concatenation axis.
ELEMENTWISE = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
# Keys that set the size of a layer's last axis, as its config names them.
_SIZE_KEYS = ("units", "filters", "output_dim")
# Layers between the input and the merge: at most this many are walked back through.
_MAX_STEPS = 10_000


@dataclass(frozen=True)
class Origin:
    """Where a tensor's dimension comes from: a model's layer, and the key in its config that
    sets the dimension (None when no one key does)."""

    index: int  # the layer's entry in the model's layers
    name: str
    key: JsonPath | None  # below the layer's ``config``

    @property
    def path(self) -> JsonPath:
        where: JsonPath = ("config", "layers", self.index)
        return (*where, "config", *self.key) if self.key else (*where, "class_name")

    @property
    def described(self) -> str:
        if not self.key:
            return f"'{self.name}'"
        key = "".join(f"[{k}]" if isinstance(k, int) else k for k in self.key)
        return f"{key!r} of '{self.name}'"


@dataclass(frozen=True)
class Mismatch:
    """The input of a merge that does not fit: its position, the axis, its dimension there and
    the one the other inputs agree on."""

    position: int
    axis: int  # negative: from the last axis
    got: int
    expected: int


def mismatch(keras: Any, layer: Any, shapes: list[tuple[Any, ...]]) -> Mismatch | None:
    """The input of ``layer`` (a Keras merge layer) whose dimension on some axis is not the one
    the most inputs have (the first input's, on a tie); None for any other layer, or inputs
    that agree."""
    kinds = tuple(getattr(keras.layers, name) for name in (*ELEMENTWISE, "Concatenate"))
    if not isinstance(layer, kinds) or len(shapes) < 2:
        return None
    concat = isinstance(layer, keras.layers.Concatenate)
    rank = max(len(s) for s in shapes)
    if concat:
        if any(len(s) != rank for s in shapes):
            return None  # Keras's message about ranks says it all
        skip = int(layer.axis) % rank
    for axis in range(-1, -rank, -1):  # the batch axis aside
        if concat and axis % rank == skip:
            continue
        dims = [
            (position, shape[axis])
            for position, shape in enumerate(shapes)
            if len(shape) >= -axis
            and isinstance(shape[axis], int)
            and (concat or shape[axis] != 1)  # elementwise merges broadcast a 1
        ]
        counts = Counter(dim for _, dim in dims)
        if len(counts) < 2:
            continue
        top = max(counts.values())
        expected = next(dim for _, dim in dims if counts[dim] == top)
        position, got = next((p, d) for p, d in dims if d != expected)
        return Mismatch(position, axis, got, expected)
    return None


def origin(keras: Any, tensor: Any, axis: int, entries: list[Any], index_of: dict[int, int]):
    """The layer of the model that sets ``tensor``'s dimension on ``axis``: walked back from
    the layer that made the tensor, through layers of one input that keep that dimension
    (Dropout, Activation, normalizations...); None when the tensor's history leaves the
    model's layers."""
    for _ in range(_MAX_STEPS):
        history = getattr(tensor, "_keras_history", None)
        operation = getattr(history, "operation", None)
        if operation is None or id(operation) not in index_of:
            return None
        index = index_of[id(operation)]
        inputs = []
        nodes = getattr(operation, "_inbound_nodes", None) or []
        if 0 <= history.node_index < len(nodes):
            inputs = list(nodes[history.node_index].input_tensors)
        shape = tuple(tensor.shape)
        if len(inputs) == 1:
            before = tuple(inputs[0].shape)
            if len(before) == len(shape) and before[axis] == shape[axis]:
                tensor = inputs[0]  # this layer keeps the dimension: look further back
                continue
        entry = entries[index] if isinstance(entries[index], dict) else {}
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        name = entry.get("name") or config.get("name") or operation.name
        return Origin(index, str(name), _key(config, shape, axis, inputs))
    return None


def _key(config: dict[str, Any], shape: tuple, axis: int, inputs: list[Any]) -> JsonPath | None:
    """The key of ``config`` that sets dimension ``axis`` of the output ``shape``."""
    dim = shape[axis]
    position = len(shape) + axis
    if not inputs:  # an Input: its batch shape holds the dimension itself
        for key in ("batch_shape", "batch_input_shape"):
            given = config.get(key)
            if isinstance(given, list) and len(given) == len(shape) and given[position] == dim:
                return (key, position)
        return None
    target = config.get("target_shape")  # Reshape: the shape without the batch axis
    if isinstance(target, list) and len(target) == len(shape) - 1:
        if target[position - 1] == dim:
            return ("target_shape", position - 1)
    if axis == -1:
        for key in _SIZE_KEYS:
            value = config.get(key)
            if type(value) is int and value == dim:
                return (key,)
    return None


def finding(
    keras: Any,
    layer: Any,
    where: JsonPath,
    tensors: list[Any],
    odd: Mismatch,
    entries: list[Any],
    index_of: dict[int, int],
    message: str,
) -> DeepFinding:
    """The deep check's finding for a merge whose input ``odd`` does not fit: at the key that
    sets that input's dimension, with the merge layer (and the key that sets the others')
    as related locations; at the merge itself when no one key sets it."""
    axis = odd.axis
    found = origin(keras, tensors[odd.position], axis, entries, index_of)
    others = [
        origin(keras, tensor, axis, entries, index_of)
        for position, tensor in enumerate(tensors)
        if position != odd.position and tuple(tensor.shape)[axis] == odd.expected
    ]
    other = next((o for o in others if o is not None and o.key), None)
    merge = f"{type(layer).__name__} '{layer.name}'"
    data = {"axis": axis, "got": odd.got, "expected": odd.expected, "input": odd.position}
    if found is None or not found.key:
        if found is not None:
            message += (
                f" (input {odd.position} has {odd.got} on axis {axis}, from {found.described})"
            )
        return DeepFinding(where, "value", Code.SHAPE, message, data=data)
    text = (
        f"{found.described} is {odd.got}, so input {odd.position} of {merge} has {odd.got} on "
        f"axis {axis}, where its other inputs have {odd.expected}"
        + (f" ({other.described})" if other is not None else "")
        + f". {message}"
    )
    related = [{"path": list(where), "message": f"{merge} takes input {odd.position} here"}]
    if other is not None:
        related.append(
            {"path": list(other.path), "message": f"{merge}'s other inputs get {odd.expected} here"}
        )
    return DeepFinding(
        found.path, "value", Code.SHAPE, text, data={**data, "layer": layer.name}, related=related
    )
