"""Rename of layer names in models: ``prepareRename``, ``rename``, and the rename of one
duplicate (LCF201's quick fix). The places are those ``references`` lists: the entry's
``name``, its ``config.name``, every ``keras_history`` and ``input_layers`` / ``output_layers``
item that names the layer (and Keras 2 ``inbound_nodes`` lists)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from . import models
from .formatting import Edit, dumps
from .navigation import layer_name_at
from .schema_path import value_at

Path = tuple[str | int, ...]


class RenameRefused(Exception):
    """A rename that cannot be done; the message is for the user."""


@dataclass(frozen=True)
class Target:
    model: models.ModelLayers
    name: str
    path: Path  # of the string under the cursor
    span: tuple[int, int]  # of that string token, quotes included


def target_at(document: Any, offset: int) -> Target | None:
    found = layer_name_at(document, offset)
    if found is None:
        return None
    model, name, path = found
    span = document.locate(path, "value")
    if span is None:
        return None
    return Target(model, name, path, span)


def prepare(document: Any, offset: int, encoding: str) -> types.PrepareRenamePlaceholder | None:
    target = target_at(document, offset)
    if target is None:
        return None
    start, end = target.span
    return types.PrepareRenamePlaceholder(
        range=document.lines.range_of(start + 1, max(start + 1, end - 1), encoding),
        placeholder=target.name,
    )


def taken_names(document: Any, model: models.ModelLayers) -> set[str]:
    """Every entry name and config name of the model's layers."""
    layers = value_at(document.value, (*model.config_path, "layers"))
    names: set[str] = set()
    for layer in layers if isinstance(layers, list) else ():
        if not isinstance(layer, dict):
            continue
        if isinstance(layer.get("name"), str):
            names.add(layer["name"])
        config = layer.get("config")
        if isinstance(config, dict) and isinstance(config.get("name"), str):
            names.add(config["name"])
    return names


def check_name(new_name: str, old_name: str, taken: set[str]) -> None:
    if not new_name:
        raise RenameRefused("A layer name cannot be empty.")
    if "/" in new_name:
        raise RenameRefused(f"Keras does not allow '/' in a layer name ({new_name!r}).")
    if new_name != old_name and new_name in taken:
        raise RenameRefused(
            f"A layer named {new_name!r} already exists in this model: layer names are unique."
        )


def rename_edits(document: Any, offset: int, new_name: str) -> list[Edit]:
    """Edits renaming the layer named under ``offset``; RenameRefused for a taken name."""
    target = target_at(document, offset)
    if target is None:
        raise RenameRefused("Only the name of a layer in a model can be renamed here.")
    check_name(new_name, target.name, taken_names(document, target.model))
    if new_name == target.name:
        return []
    paths = reference_paths(document.value, target.model, target.name)
    return _edits(document, paths, new_name)


def reference_paths(value: Any, model: models.ModelLayers, name: str) -> list[Path]:
    """What ``references`` lists, plus the names in Keras 2 ``inbound_nodes`` lists."""
    found = list(models.references(value, model, name))
    layers = value_at(value, (*model.config_path, "layers"))
    for index, layer in enumerate(layers if isinstance(layers, list) else ()):
        if isinstance(layer, dict):
            base = (*model.config_path, "layers", index, "inbound_nodes")
            for path, ref in models.legacy_refs(layer.get("inbound_nodes"), base):
                if ref == name:
                    found.append(path)
    return list(dict.fromkeys(found))


def _edits(document: Any, paths: list[Path], new_name: str) -> list[Edit]:
    edits = []
    text = dumps(new_name)
    for path in paths:
        span = document.locate(path, "value")
        if span is not None:
            edits.append(Edit(span[0], span[1], text))
    return sorted(set(edits))


# -- one duplicate -------------------------------------------------------------------------------


def free_name(name: str, taken: set[str]) -> str:
    """``dense`` -> ``dense_1`` (or the next free number), as Keras names layers."""
    base = re.sub(r"_\d+$", "", name) or name
    index = 1
    while f"{base}_{index}" in taken:
        index += 1
    return f"{base}_{index}"


def rename_duplicate(document: Any, path: Path) -> tuple[str, list[Edit]] | None:
    """Rename the layer whose (entry or config) name at ``path`` repeats an earlier one.

    The layer keeps the references that meant it: in a model written in order (as Keras
    writes), a ``keras_history`` names the nearest earlier layer of that name, and
    ``input_layers`` / ``output_layers`` the last one.
    """
    value = document.value
    name = value_at(value, path)
    model = models.enclosing_model(value, path)
    if not isinstance(name, str) or model is None:
        return None
    layers_path = (*model.config_path, "layers")
    rest = path[len(layers_path) :]
    if path[: len(layers_path)] != layers_path or not rest or not isinstance(rest[0], int):
        return None
    index = rest[0]
    layers = value_at(value, layers_path)
    layer = layers[index]
    new_name = free_name(name, taken_names(document, model))
    paths: list[Path] = []
    entry_named = layer.get("name") == name
    config = layer.get("config")
    if isinstance(config, dict) and config.get("name") == name:
        paths.append((*layers_path, index, "config", "name"))
    if rest == (index, "config", "name") and not entry_named:
        # Links use entry names: a duplicate config name under its own entry name has none.
        return new_name, _edits(document, paths, new_name)
    if entry_named:
        paths.append((*layers_path, index, "name"))
    last = True
    for later in range(index + 1, len(layers)):
        other = layers[later]
        if not isinstance(other, dict):
            continue
        base = (*layers_path, later, "inbound_nodes")
        for ref_path, ref in models.node_refs(other.get("inbound_nodes"), base):
            if ref == name:
                paths.append(ref_path)
        if other.get("name") == name:
            last = False
            break
    if last:
        config_node = value_at(value, model.config_path)
        for key in models.REFERENCE_KEYS:
            if isinstance(config_node, dict):
                for ref_path, ref in models.reference_strings(
                    config_node.get(key), (*model.config_path, key)
                ):
                    if ref == name:
                        paths.append(ref_path)
    return new_name, _edits(document, paths, new_name)
