"""The catalog's document schema beyond each class's own config: an envelope per family (which
classes it names, its snippets), the parts of a Functional model, activations and dtypes, and
what ``tensorflow_hub.KerasLayer``'s signature cannot tell of its arguments.
"""

from __future__ import annotations

from typing import Any

from .introspect import ClassInfo
from .schema import ENVELOPE_KEYS

FUNCTIONAL_DOCS = {
    "name": "Name of the model.",
    "trainable": "Boolean, whether the model's variables should be trainable.",
    "layers": "The model's layers, each an envelope with its `name` and `inbound_nodes`.",
    "input_layers": "The model's inputs as `[layer_name, node_index, tensor_index]` entries.",
    "output_layers": "The model's outputs as `[layer_name, node_index, tensor_index]` entries.",
}

HUB_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    # get_config() refuses a handle that is not a string.
    "handle": {"type": "string", "pattern": "\\S"},
    "arguments": {"type": ["object", "null"]},
    "tags": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {"type": "null"},
        ]
    },
    "signature": {"type": ["string", "null"]},
    "signature_outputs_as_dict": {"type": ["boolean", "null"]},
    "output_key": {"type": ["string", "null"]},
    "output_shape": {"type": ["array", "null"]},
}

# What hub.KerasLayer.__init__ (and its call) enforce between arguments: with a signature,
# exactly one of output_key and signature_outputs_as_dict=True, and never trainable=True.
_SIGNATURE_GIVEN = {"properties": {"signature": {"type": "string"}}, "required": ["signature"]}
HUB_CONSTRAINTS: list[dict[str, Any]] = [
    {
        "if": _SIGNATURE_GIVEN,
        "then": {
            "anyOf": [
                {
                    "properties": {
                        "output_key": {"type": "string"},
                        "signature_outputs_as_dict": {"enum": [False, None]},
                    },
                    "required": ["output_key"],
                },
                {
                    "properties": {
                        "signature_outputs_as_dict": {"const": True},
                        "output_key": {"type": "null"},
                    },
                    "required": ["signature_outputs_as_dict"],
                },
            ],
            "description": "With a `signature`, set exactly one of `output_key` and "
            "`signature_outputs_as_dict: true`.",
        },
    },
    {
        "if": _SIGNATURE_GIVEN,
        "then": {
            "properties": {"trainable": {"const": False}},
            "description": "A SavedModel signature cannot be trained: `trainable` must be "
            "false with a `signature`.",
        },
    },
]


def functional_schema(defs: dict[str, Any], functional_id: str) -> None:
    """Functional's config as Keras writes it: its layers, inputs and outputs (its signature
    says nothing of them)."""
    node_ref = {"type": "array", "items": {"$ref": "#/$defs/layer_reference"}}
    schema = defs.get(functional_id) or defs.get("Functional")
    if schema is None:
        return
    props = schema["properties"]
    props["name"] = {"type": ["string", "null"], "description": FUNCTIONAL_DOCS["name"]}
    props["trainable"] = {
        "type": "boolean",
        "default": True,
        "description": FUNCTIONAL_DOCS["trainable"],
    }
    props["layers"] = {
        "type": "array",
        "items": {"$ref": "#/$defs/functional_layer"},
        "description": FUNCTIONAL_DOCS["layers"],
    }
    for key in ("input_layers", "output_layers"):
        props[key] = {
            "anyOf": [{"$ref": "#/$defs/layer_reference"}, node_ref, {"type": "object"}],
            "description": FUNCTIONAL_DOCS[key],
        }
    props["dtype"] = {"$ref": "#/$defs/dtype"}


def shared_defs(infos: list[ClassInfo], names: dict[str, Any]) -> dict[str, Any]:
    """Envelopes per family (a class picked as the server picks it), activations, dtypes,
    Functional parts."""
    defs: dict[str, Any] = {}
    by_family: dict[str, list[ClassInfo]] = {}
    for info in infos:
        by_family.setdefault(info.family, []).append(info)
    layer_like = by_family.get("layer", []) + by_family.get("model", [])
    for family, members in (
        ("layer", layer_like),
        ("initializer", by_family.get("initializer", [])),
        ("regularizer", by_family.get("regularizer", [])),
        ("constraint", by_family.get("constraint", [])),
        ("dtype_policy", by_family.get("dtype_policy", [])),
    ):
        class_names = sorted({n for info in members for n in [info.class_name, *info.aliases]})
        defs[f"envelope.{family}"] = _envelope(family, class_names, members)
    functional = dict(defs["envelope.layer"])
    functional["properties"] = {
        **functional["properties"],
        "name": {"type": "string", "description": "The layer's name in this model."},
        "inbound_nodes": {
            "type": "array",
            "items": {"$ref": "#/$defs/node"},
            "description": "Calls of this layer: arguments and keyword arguments.",
        },
    }
    functional["allOf"] = [
        {"$ref": "#/$defs/dispatch.layer"},
        {"$ref": "#/$defs/scan.functional_layer"},
    ]
    functional.pop("defaultSnippets", None)
    functional["required"] = [*functional["required"], "name", "inbound_nodes"]
    defs["functional_layer"] = functional
    defs["layer_reference"] = {
        "type": "array",
        "prefixItems": [
            {"type": "string"},
            {"type": "integer", "minimum": 0},
            {"type": "integer", "minimum": 0},
        ],
        "minItems": 3,
        "maxItems": 3,
        "description": "[layer_name, node_index, tensor_index]",
    }
    defs["node"] = {
        "anyOf": [
            {
                "type": "object",
                "properties": {"args": {"type": "array"}, "kwargs": {"type": "object"}},
                "additionalProperties": False,
            },
            {"type": "array"},
        ]
    }
    activation_names = sorted(names["activation"])
    defs["activation"] = {
        "anyOf": [
            {
                "type": "string",
                "enum": activation_names,
                "enumDescriptions": [names["activation"][n] for n in activation_names],
            },
            {
                "type": "object",
                "required": ["class_name", "config"],
                "properties": {
                    "module": {"type": ["string", "null"]},
                    "class_name": {"const": "function"},
                    "config": {"type": "string"},
                    "registered_name": {"type": ["string", "null"]},
                },
                "additionalProperties": False,
            },
            {"$ref": "#/$defs/envelope.layer"},
            {"type": "null"},
        ]
    }
    modes = "|".join(names["quantization_modes"]) or "int8"
    defs["dtype"] = {
        "anyOf": [
            {"type": "string", "enum": names["dtype"]},
            {"type": "string", "pattern": f"^({modes})_from_[a-z0-9_]+$"},
            {"$ref": "#/$defs/envelope.dtype_policy"},
            {"type": "null"},
        ]
    }
    return defs


def _envelope(family: str, class_names: list[str], members: list[ClassInfo]) -> dict[str, Any]:
    summaries: dict[str, str] = {}
    for info in members:
        for name in [info.class_name, *info.aliases]:
            summaries.setdefault(name, info.summary)
    properties: dict[str, Any] = {
        "module": {"type": ["string", "null"], "description": "Python module of the class."},
        # Any name: the dispatch tells which ones are unknown, as the server does (a class
        # of a package the catalog was not told about may well exist); the enum is there
        # for completion.
        "class_name": {
            "type": "string",
            "anyOf": [
                {
                    "enum": class_names,
                    "enumDescriptions": [summaries.get(n, "") for n in class_names],
                },
                {"type": "string"},
            ],
            "description": f"The {family.replace('_', ' ')} class.",
        },
        "config": {
            "type": ["object", "null"],  # null is read as {}: the class's schema decides
            "description": "Constructor arguments of the class.",
        },
        "registered_name": {
            "type": ["string", "null"],
            "description": "`package>Name` for registered custom classes.",
        },
        "build_config": {"type": ["object", "null"]},
        "compile_config": {"type": ["object", "null"]},
        "shared_object_id": {"type": "integer"},
    }
    assert set(properties) == set(ENVELOPE_KEYS)
    return {
        "type": "object",
        "required": ["class_name", "config"],
        "properties": properties,
        "additionalProperties": False,
        "allOf": [{"$ref": f"#/$defs/dispatch.{family}"}, {"$ref": "#/$defs/scan.envelope"}],
        "defaultSnippets": [
            {
                "label": info.class_name,
                "description": info.summary,
                "body": {
                    "module": info.module,
                    "class_name": info.class_name,
                    "config": info.minimal_config,
                    "registered_name": info.registered_name,
                },
            }
            for info in members
        ],
    }
