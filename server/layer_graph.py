"""The layer graph of the Keras models in a config, written once: which envelopes are models,
the name each layer is linked by, and every place that names a layer (``inbound_nodes`` in the
Keras 3 and the Keras 2 format, ``input_layers``, ``output_layers``).

Pure Python on the parsed value; paths lead into it, ranges come from the document afterwards.
Used by the link checks (LCF201, LCF202), definition, references, rename, completion and the
deep check's locating, so that all of them agree on what is a model, a name and a reference.

What counts:

- A **model** is an envelope whose ``config`` has a ``layers`` list and that is Functional
  (its config has ``input_layers`` or ``output_layers``, or a layer has ``inbound_nodes``) or
  is a ``Sequential``. Models nest: each layer of a model may be a model, and so may the
  ``layer`` / ``backward_layer`` of a wrapper (``TimeDistributed``, ``Bidirectional``).
- A layer's **linked name** is its entry's ``name`` in a Functional model (what Keras's links
  use), else its ``config.name``. The first layer with a name defines it.
- A **reference** names a layer of the model it is in:
  Keras 3 ``{"class_name": "__keras_tensor__", "config": {"keras_history": [name, node,
  tensor]}}`` anywhere in a layer's ``inbound_nodes``; Keras 2 ``[name, node, tensor, kwargs]``
  lists there (``name`` a string, ``node`` an int); and ``[name, node, tensor]`` triples, alone
  or nested in lists and objects, in ``input_layers`` / ``output_layers``. A reference inside a
  nested model names a layer of that nested model.

The link checks in these terms: for each of ``models(value)``, LCF201 is each of
``model.duplicates()`` (``first`` is the related place), LCF202 each of
``model.unknown_references()`` (did-you-mean candidates from ``model.names``), and a layer of
a ``model.functional`` without ``name`` or ``inbound_nodes`` is LCF103.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from layercfg.codes import JsonPath

REFERENCE_KEYS = ("input_layers", "output_layers")
WRAPPER_KEYS = ("layer", "backward_layer")
KERAS_TENSOR = "__keras_tensor__"
# Models nest no deeper than this, and references are searched no deeper than this inside one
# node: what Keras writes is a few levels deep, and a hostile document must stay linear.
MAX_DEPTH = 64

ReferenceKind = Literal["history", "legacy", "io"]


# The graph's records are named tuples: a 2,000-layer model makes tens of thousands of them
# per check, and a tuple costs a fraction of a frozen dataclass.


class Reference(NamedTuple):
    """One string that names a layer."""

    path: JsonPath  # of the name string
    name: str
    kind: ReferenceKind  # Keras 3 keras_history, a Keras 2 node list, input/output_layers
    node: list[Any]  # [name, node_index, tensor_index, ...]


@dataclass(frozen=True)
class Layer:
    """One entry of a model's ``layers``."""

    index: int
    path: JsonPath  # of the entry
    entry: dict[str, Any]

    @property
    def name(self) -> Any:
        """The entry's ``name`` (what links use in a Functional model), if any."""
        return self.entry.get("name")

    @property
    def config_name(self) -> Any:
        config = self.entry.get("config")
        return config.get("name") if type(config) is dict else None

    def linked_name(self, functional: bool) -> tuple[str, JsonPath] | None:
        """The name references use for this layer, with the path of its string."""
        if functional and "name" in self.entry:
            name = self.entry["name"]
            return (name, (*self.path, "name")) if type(name) is str else None
        name = self.config_name
        return (name, (*self.path, "config", "name")) if type(name) is str else None


class Duplicate(NamedTuple):
    """A layer name that an earlier layer of the model already has (LCF201)."""

    path: JsonPath  # of the repeated name string
    name: str
    first: JsonPath  # of the earlier one


@dataclass(eq=False)
class Model:
    """One model of the document: its envelope, its layers and the names they define."""

    path: JsonPath  # of the model's envelope
    envelope: dict[str, Any] = field(repr=False)
    functional: bool
    names: dict[str, JsonPath] = field(default_factory=dict)  # linked name -> first definition
    _layers: list[Layer] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        base = (*self.path, "config", "layers")
        self._layers = [
            Layer(index, (*base, index), entry)
            for index, entry in enumerate(self.config["layers"])
            if type(entry) is dict
        ]
        if not self.names:
            for layer in self._layers:
                linked = layer.linked_name(self.functional)
                if linked is not None:
                    self.names.setdefault(*linked)

    @property
    def config_path(self) -> JsonPath:
        return (*self.path, "config")

    @property
    def config(self) -> dict[str, Any]:
        return self.envelope["config"]

    def layers(self) -> list[Layer]:
        """The entries of ``layers`` that are objects."""
        return self._layers

    def inbound_references(self, layer: Layer) -> list[Reference]:
        """The references in one layer's ``inbound_nodes`` (none in a Sequential model)."""
        out: list[Reference] = []
        self._inbound(layer, out)
        return out

    def _inbound(self, layer: Layer, out: list[Reference]) -> None:
        nodes = layer.entry.get("inbound_nodes")
        if self.functional and type(nodes) is list:
            path = (*layer.path, "inbound_nodes")
            stack = [(nodes[i], (*path, i), 0) for i in range(len(nodes) - 1, -1, -1)]
            _node_walk(stack, out)

    def io_references(self) -> list[Reference]:
        """The references in ``input_layers`` and ``output_layers``."""
        out: list[Reference] = []
        if self.functional:
            for key in REFERENCE_KEYS:
                if key in self.config:
                    _io_walk([(self.config[key], (*self.config_path, key), 0)], out)
        return out

    def references(self) -> list[Reference]:
        """Every reference of the model, in document order (layers, then inputs, outputs)."""
        out: list[Reference] = []
        for layer in self._layers:
            self._inbound(layer, out)
        out += self.io_references()
        return out

    def unknown_references(self) -> list[Reference]:
        """References to no layer of the model (LCF202)."""
        names = self.names
        return [reference for reference in self.references() if reference.name not in names]

    def places(self, name: str) -> list[JsonPath]:
        """Every string that names the layer ``name`` in this model: the entry ``name`` and
        ``config.name`` strings equal to it (every layer's), then every reference to it."""
        found: list[JsonPath] = []
        for layer in self.layers():
            if layer.name == name:
                found.append((*layer.path, "name"))
            if layer.config_name == name:
                found.append((*layer.path, "config", "name"))
        found += [r.path for r in self.references() if r.name == name]
        return list(dict.fromkeys(found))

    def taken_names(self) -> set[str]:
        """Every entry name and config name of the model's layers."""
        taken: set[str] = set()
        for layer in self.layers():
            for name in (layer.name, layer.config_name):
                if type(name) is str:
                    taken.add(name)
        return taken

    def duplicates(self) -> Iterator[Duplicate]:
        """Repeated layer names, one per layer. Links use the linked names; Keras's own
        uniqueness check is on the layers' config names: both are checked."""
        linked: dict[str, JsonPath] = {}
        config_names: dict[str, JsonPath] = {}
        for layer in self.layers():
            candidates: list[tuple[dict[str, JsonPath], Any, JsonPath]] = []
            if self.functional and "name" in layer.entry:
                candidates.append((linked, layer.name, (*layer.path, "name")))
            config = layer.entry.get("config")
            if type(config) is dict and "name" in config:
                seen = linked if not candidates else config_names
                candidates.append((seen, config["name"], (*layer.path, "config", "name")))
            reported = False
            for seen, name, name_path in candidates:
                if type(name) is not str:
                    continue
                first = seen.setdefault(name, name_path)
                if first != name_path and not reported:
                    reported = True
                    yield Duplicate(name_path, name, first)


def model_of(envelope: Any, path: JsonPath = ()) -> Model | None:
    """The model ``envelope`` (at ``path``) is, or None when it is no model."""
    if type(envelope) is not dict:
        return None
    config = envelope.get("config")
    if type(config) is not dict:
        return None
    layers = config.get("layers")
    if type(layers) is not list:
        return None
    functional = (
        "input_layers" in config
        or "output_layers" in config
        or any(type(layer) is dict and "inbound_nodes" in layer for layer in layers)
    )
    if not functional and envelope.get("class_name") != "Sequential":
        return None
    return Model(path, envelope, functional)


def models(value: Any, path: JsonPath = ()) -> Iterator[Model]:
    """Every model in the document, outer first: ``value`` itself, the layers of each model,
    and the inner layers of wrappers."""
    stack: list[tuple[Any, JsonPath, int]] = [(value, path, 0)]
    while stack:
        node, here, depth = stack.pop()
        if type(node) is not dict or depth > MAX_DEPTH:
            continue
        config = node.get("config")
        if type(config) is not dict:
            continue
        layers = config.get("layers")
        if type(layers) is not list:
            for key in reversed(WRAPPER_KEYS):
                if type(config.get(key)) is dict:
                    stack.append((config[key], (*here, "config", key), depth + 1))
            continue
        model = model_of(node, here)
        if model is None:
            continue
        yield model
        for index in range(len(layers) - 1, -1, -1):
            stack.append((layers[index], (*here, "config", "layers", index), depth + 1))


def enclosing_model(value: Any, path: JsonPath) -> Model | None:
    """The innermost model whose ``config`` holds ``path`` (only the envelopes on the way
    down ``path`` are read)."""
    found: Model | None = None
    node, depth, index = value, 0, 0
    while type(node) is dict and depth <= MAX_DEPTH:
        here = path[:index]
        config = node.get("config")
        if type(config) is not dict or path[index : index + 1] != ("config",):
            break
        if type(config.get("layers")) is list:
            model = model_of(node, here)
            if model is None:
                break
            found = model
            step = path[index + 1 : index + 3]
            if len(step) < 2 or step[0] != "layers" or type(step[1]) is not int:
                break
            layers = config["layers"]
            node = layers[step[1]] if 0 <= step[1] < len(layers) else None
            index += 3
        else:
            key = path[index + 1] if len(path) > index + 1 else None
            if key not in WRAPPER_KEYS:
                break
            node = config.get(key)
            index += 2
        depth += 1
    return found


def node_references(node: Any, path: JsonPath, depth: int = 0) -> list[Reference]:
    """References in one node of a layer's ``inbound_nodes`` (at ``path``), in both formats."""
    out: list[Reference] = []
    _node_walk([(node, path, depth)], out)
    return out


def io_references(value: Any, path: JsonPath, depth: int = 0) -> list[Reference]:
    """``[name, node_index, tensor_index]`` triples in ``input_layers`` / ``output_layers``
    (at ``path``): alone, or nested in lists and objects."""
    out: list[Reference] = []
    _io_walk([(value, path, depth)], out)
    return out


# The walks push containers only (nothing else holds a reference), with their paths and depth.


def _node_walk(stack: list[tuple[Any, JsonPath, int]], out: list[Reference]) -> None:
    while stack:
        node, here, level = stack.pop()
        if level > MAX_DEPTH:
            continue
        if type(node) is dict:
            if node.get("class_name") == KERAS_TENSOR:
                config = node.get("config")
                history = config.get("keras_history") if type(config) is dict else None
                if type(history) is list and history and type(history[0]) is str:
                    where = (*here, "config", "keras_history", 0)
                    out.append(Reference(where, history[0], "history", history))
                continue
            for key in reversed(node):
                child = node[key]
                if child and (type(child) is dict or type(child) is list):
                    stack.append((child, (*here, key), level + 1))
        elif type(node) is list:
            # Keras 2 nodes: [[layer_name, node_index, tensor_index, kwargs], ...]
            if len(node) >= 3 and type(node[0]) is str and type(node[1]) is int:
                out.append(Reference((*here, 0), node[0], "legacy", node))
                if len(node) > 3 and (type(node[3]) is dict or type(node[3]) is list):
                    stack.append((node[3], (*here, 3), level + 1))
                continue
            for index in range(len(node) - 1, -1, -1):
                child = node[index]
                if child and (type(child) is dict or type(child) is list):
                    stack.append((child, (*here, index), level + 1))


def _io_walk(stack: list[tuple[Any, JsonPath, int]], out: list[Reference]) -> None:
    while stack:
        node, here, level = stack.pop()
        if level > MAX_DEPTH:
            continue
        if type(node) is list:
            if len(node) == 3 and type(node[0]) is str and type(node[1]) is int:
                out.append(Reference((*here, 0), node[0], "io", node))
                continue
            for index in range(len(node) - 1, -1, -1):
                child = node[index]
                if child and (type(child) is dict or type(child) is list):
                    stack.append((child, (*here, index), level + 1))
        elif type(node) is dict:
            for key in reversed(node):
                child = node[key]
                if child and (type(child) is dict or type(child) is list):
                    stack.append((child, (*here, key), level + 1))


def is_reference(path: JsonPath) -> bool:
    """Whether a string at ``path`` is where a reference's layer name goes: ``keras_history[0]``,
    the first item of a Keras 2 node list in ``inbound_nodes``, or of a triple in
    ``input_layers`` / ``output_layers``. By the path alone, so that it also holds while the
    reference is being typed."""
    if len(path) >= 2 and path[-2] == "keras_history" and path[-1] == 0:
        return True
    for i, step in enumerate(path):
        if step in REFERENCE_KEYS or step == "inbound_nodes":
            rest = path[i + 1 :]
            if step == "inbound_nodes" and len(rest) < 3:
                return False  # [[name, ...]]: a node's items, not the node list itself
            return bool(rest) and rest[-1] == 0 and all(type(s) is int for s in rest)
    return False


def layer_paths(value: Any) -> dict[str, JsonPath]:
    """The layers of the model ``value`` is, by linked name: the path of each layer's entry."""
    model = model_of(value)
    if model is None:
        return {}
    out: dict[str, JsonPath] = {}
    for layer in model.layers():
        linked = layer.linked_name(model.functional)
        if linked is not None:
            out.setdefault(linked[0], layer.path)
    return out
