"""Layer names in models, for the services: where each layer is defined and every place that
names it. Used by completion (names inside ``keras_history``), definition, references and
rename. The rules (what is a model, a name, a reference) are ``layer_graph``'s, the same that
the link checks (LCF201, LCF202) use; this module only keeps the services' names for them.
"""

from __future__ import annotations

from typing import Any

from layercfg.codes import JsonPath

from .. import layer_graph
from ..layer_graph import REFERENCE_KEYS, enclosing_model, is_reference, models

ModelLayers = layer_graph.Model
"""One model: ``config_path`` (its config object) and ``names`` (layer name -> path of the
string that defines it)."""

__all__ = [
    "REFERENCE_KEYS",
    "ModelLayers",
    "enclosing_model",
    "is_reference",
    "models",
    "references",
]


def references(value: Any, model: ModelLayers, name: str) -> list[JsonPath]:
    """Paths of every string that names ``name`` inside the model (definitions included).
    ``value`` is the document's value the model was found in."""
    del value  # the model holds its part of the value
    return model.places(name)
