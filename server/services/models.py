"""Layer names in models: where each layer is defined and every place that names it.

Used by completion (names inside ``keras_history``), definition, references and rename. Works
on the parsed value only; ranges come from the document afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .schema_path import value_at

Path = tuple[str | int, ...]

REFERENCE_KEYS = ("input_layers", "output_layers")


@dataclass(frozen=True)
class ModelLayers:
    config_path: Path  # the model's config object
    names: dict[str, Path]  # layer name -> path of its "name" value (first definition)


def models(value: Any, path: Path = ()) -> Iterator[ModelLayers]:
    """Every model config (Functional or Sequential) in the document, outer first."""
    stack: list[tuple[Any, Path]] = [(value, path)]
    while stack:
        node, here = stack.pop()
        if isinstance(node, dict):
            layers = node.get("layers")
            if isinstance(layers, list) and here and here[-1] == "config":
                yield ModelLayers(here, _names(layers, (*here, "layers")))
            for key in reversed(list(node)):
                child = node[key]
                if isinstance(child, (dict, list)):
                    stack.append((child, (*here, key)))
        elif isinstance(node, list):
            for index in range(len(node) - 1, -1, -1):
                if isinstance(node[index], (dict, list)):
                    stack.append((node[index], (*here, index)))


def _names(layers: list[Any], path: Path) -> dict[str, Path]:
    names: dict[str, Path] = {}
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            continue
        if isinstance(layer.get("name"), str):
            names.setdefault(layer["name"], (*path, index, "name"))
        elif isinstance(layer.get("config"), dict) and isinstance(layer["config"].get("name"), str):
            names.setdefault(layer["config"]["name"], (*path, index, "config", "name"))
    return names


def enclosing_model(value: Any, path: Path) -> ModelLayers | None:
    """The innermost model whose config contains ``path`` (only the path's prefixes are read)."""
    for end in range(len(path), 0, -1):
        prefix = path[:end]
        if prefix[-1] != "config":
            continue
        node = value_at(value, prefix)
        if isinstance(node, dict) and isinstance(node.get("layers"), list):
            return ModelLayers(prefix, _names(node["layers"], (*prefix, "layers")))
    return None


def is_reference(path: Path) -> bool:
    """Whether the string at ``path`` names a layer: keras_history[0], input/output_layers."""
    if len(path) >= 2 and path[-2] == "keras_history" and path[-1] == 0:
        return True
    for i, step in enumerate(path):
        if step in REFERENCE_KEYS:
            rest = path[i + 1 :]
            return bool(rest) and rest[-1] == 0 and all(isinstance(s, int) for s in rest)
    return False


def references(value: Any, model: ModelLayers, name: str) -> list[Path]:
    """Paths of every string that names ``name`` inside the model (definitions included)."""
    found: list[Path] = []
    root = value_at(value, model.config_path)
    if not isinstance(root, dict):
        return found
    layers = root.get("layers")
    if isinstance(layers, list):
        for index, layer in enumerate(layers):
            if not isinstance(layer, dict):
                continue
            base = (*model.config_path, "layers", index)
            if layer.get("name") == name:
                found.append((*base, "name"))
            config = layer.get("config")
            if isinstance(config, dict) and config.get("name") == name:
                found.append((*base, "config", "name"))
            for ref_path, ref in node_refs(layer.get("inbound_nodes"), (*base, "inbound_nodes")):
                if ref == name:
                    found.append(ref_path)
    for key in REFERENCE_KEYS:
        for ref_path, ref in reference_strings(root.get(key), (*model.config_path, key)):
            if ref == name:
                found.append(ref_path)
    return found


def node_refs(node: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Layer names in a layer's ``inbound_nodes``: Keras 3 ``keras_history`` and Keras 2 lists."""
    yield from history_refs(node, path)
    yield from legacy_refs(node, path)


def legacy_refs(nodes: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Keras 2 nodes: ``[[name, node_index, tensor_index, kwargs], ...]``."""
    if not isinstance(nodes, list):
        return
    for node_index, node in enumerate(nodes):
        if not isinstance(node, list):
            continue
        for item_index, item in enumerate(node):
            if isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str):
                yield (*path, node_index, item_index, 0), item[0]


def history_refs(node: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """``keras_history[0]`` strings anywhere under inbound_nodes."""
    # Paths are kept as (parent, step) links and spelled out only for what is found: most
    # of what the walk visits is no reference.
    stack: list[tuple[Any, Any]] = [(node, None)]
    while stack:
        item, link = stack.pop()
        if isinstance(item, dict):
            history = item.get("keras_history")
            if isinstance(history, list) and history and isinstance(history[0], str):
                yield (*_spelled(path, link), "keras_history", 0), history[0]
                continue  # a tensor's other keys (shape, dtype) name no layer
            for key, child in item.items():
                if isinstance(child, (dict, list)) and key != "keras_history":
                    stack.append((child, (link, key)))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                if isinstance(child, (dict, list)):
                    stack.append((child, (link, index)))


def _spelled(path: Path, link: Any) -> Path:
    steps = []
    while link is not None:
        link, step = link
        steps.append(step)
    return (*path, *reversed(steps))


def reference_strings(node: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """``[name, node, tensor]`` triples, alone or nested in lists."""
    if isinstance(node, list):
        if node and isinstance(node[0], str):
            yield (*path, 0), node[0]
        else:
            for index, child in enumerate(node):
                yield from reference_strings(child, (*path, index))
