"""The link checks between a model's layers (LCF201 duplicate names, LCF202 references to no
layer, LCF103 for a Functional entry without ``name`` or ``inbound_nodes``), on the one layer
graph (``server/layer_graph.py``) that rename and references use too."""

from __future__ import annotations

from typing import Any

from ...codes import JsonPath
from ..layer_graph import models
from .findings import Finding, _or_list, _quote
from .suggest import _close_matches


def validate_model_links(value: Any, path_prefix: JsonPath = ()) -> list[Finding]:
    """LCF201 (duplicate layer names) and LCF202 (references to layers that do not exist) in
    the model at ``value`` and the models nested in its layers."""
    out: list[Finding] = []
    for model in models(value, path_prefix):
        duplicates = {d.path[: len(model.config_path) + 2]: d for d in model.duplicates()}
        for layer in model.layers():
            if model.functional:
                for key in ("name", "inbound_nodes"):
                    if key not in layer.entry:
                        message = (
                            f"Missing required key {_quote(key)} of a Functional model's layer."
                        )
                        out.append(
                            Finding(layer.path, "open", "LCF103", message, data={"key": key})
                        )
            duplicate = duplicates.get(layer.path)
            if duplicate is not None:
                name = duplicate.name
                out.append(
                    Finding(
                        duplicate.path,
                        "value",
                        "LCF201",
                        f"Duplicate layer name {_quote(name)}: layer names in a model are unique.",
                        data={"name": name},
                        related=((duplicate.first, "value", f"{_quote(name)} is first used here"),),
                    )
                )
        names: tuple[str, ...] | None = None
        for reference in model.unknown_references():
            if names is None:
                names = tuple(model.names)
            candidates = _close_matches(reference.name, names, 3)
            hint = f" Did you mean {_or_list(candidates)}?" if candidates else ""
            out.append(
                Finding(
                    reference.path,
                    "value",
                    "LCF202",
                    f"No layer named {_quote(reference.name)} in this model.{hint}",
                    data={"name": reference.name, "candidates": candidates},
                )
            )
    return out
