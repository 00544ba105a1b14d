"""Rename of layer names in models: ``prepareRename``, ``rename``, and the rename of one
duplicate (LCF201's quick fix). The places are the layer graph's (``layer_graph``): the
entry's ``name``, its ``config.name``, and every reference that names the layer
(``keras_history``, Keras 2 ``inbound_nodes`` lists, ``input_layers`` / ``output_layers``),
which are exactly the places LCF202 checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from layercfg.codes import JsonPath

from .. import layer_graph
from .formatting import Edit, dumps
from .navigation import layer_name_at
from .schema_match import value_at

if TYPE_CHECKING:
    from ..document import Document


class RenameRefused(Exception):
    """A rename that cannot be done; the message is for the user."""


@dataclass(frozen=True)
class Target:
    model: layer_graph.Model
    name: str
    path: JsonPath  # of the string under the cursor
    span: tuple[int, int]  # of that string token, quotes included


def target_at(document: Document, offset: int) -> Target | None:
    found = layer_name_at(document, offset)
    if found is None:
        return None
    model, name, path = found
    span = document.locate(path, "value")
    if span is None:
        return None
    return Target(model, name, path, span)


def prepare(
    document: Document, offset: int, encoding: str
) -> types.PrepareRenamePlaceholder | None:
    target = target_at(document, offset)
    if target is None:
        return None
    start, end = target.span
    return types.PrepareRenamePlaceholder(
        range=document.lines.range_of(start + 1, max(start + 1, end - 1), encoding),
        placeholder=target.name,
    )


def taken_names(document: Document, model: layer_graph.Model) -> set[str]:
    """Every entry name and config name of the model's layers."""
    del document  # the model holds its part of the document's value
    return model.taken_names()


def check_name(new_name: str, old_name: str, taken: set[str]) -> None:
    if not new_name:
        raise RenameRefused("A layer name cannot be empty.")
    if "/" in new_name:
        raise RenameRefused(f"Keras does not allow '/' in a layer name ({new_name!r}).")
    if new_name != old_name and new_name in taken:
        raise RenameRefused(
            f"A layer named {new_name!r} already exists in this model: layer names are unique."
        )


def rename_edits(document: Document, offset: int, new_name: str) -> list[Edit]:
    """Edits renaming the layer named under ``offset``; RenameRefused for a taken name."""
    target = target_at(document, offset)
    if target is None:
        raise RenameRefused("Only the name of a layer in a model can be renamed here.")
    check_name(new_name, target.name, taken_names(document, target.model))
    if new_name == target.name:
        return []
    return _edits(document, target.model.places(target.name), new_name)


def _edits(document: Document, paths: list[JsonPath], new_name: str) -> list[Edit]:
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


def rename_duplicate(document: Document, path: JsonPath) -> tuple[str, list[Edit]] | None:
    """Rename the layer whose (entry or config) name at ``path`` repeats an earlier one.

    The layer keeps the references that meant it: in a model written in order (as Keras
    writes), a ``keras_history`` names the nearest earlier layer of that name, and
    ``input_layers`` / ``output_layers`` the last one.
    """
    value = document.value
    name = value_at(value, path)
    model = layer_graph.enclosing_model(value, path)
    if not isinstance(name, str) or model is None:
        return None
    layers_path = (*model.config_path, "layers")
    rest = path[len(layers_path) :]
    if path[: len(layers_path)] != layers_path or not rest or not isinstance(rest[0], int):
        return None
    index = rest[0]
    layers = list(model.layers())
    layer = next((item for item in layers if item.index == index), None)
    if layer is None:
        return None
    new_name = free_name(name, model.taken_names())
    paths: list[JsonPath] = []
    entry_named = layer.name == name
    if layer.config_name == name:
        paths.append((*layer.path, "config", "name"))
    if rest == (index, "config", "name") and not entry_named:
        # Links use entry names: a duplicate config name under its own entry name has none.
        return new_name, _edits(document, paths, new_name)
    if entry_named:
        paths.append((*layer.path, "name"))
    last = True
    for other in layers:
        if other.index <= index:
            continue
        paths += [r.path for r in model.inbound_references(other) if r.name == name]
        if other.name == name:
            last = False
            break
    if last:
        paths += [r.path for r in model.io_references() if r.name == name]
    return new_name, _edits(document, paths, new_name)
