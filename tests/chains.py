"""A synthetic Functional model for tests: an InputLayer and a chain of Dense layers."""

from __future__ import annotations


def chain(count: int) -> dict:
    """A Functional model: an InputLayer, then ``count`` Dense layers, each fed by the last."""
    layers = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "input"},
            "registered_name": None,
            "name": "input",
            "inbound_nodes": [],
        }
    ]
    previous = "input"
    for index in range(count):
        name = f"dense_{index}"
        tensor = {
            "class_name": "__keras_tensor__",
            "config": {"shape": [None, 4], "dtype": "float32", "keras_history": [previous, 0, 0]},
        }
        layers.append(
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "config": {"name": name, "units": 4},
                "registered_name": None,
                "name": name,
                "inbound_nodes": [{"args": [tensor], "kwargs": {}}],
            }
        )
        previous = name
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": "chain",
            "trainable": True,
            "layers": layers,
            "input_layers": ["input", 0, 0],
            "output_layers": [previous, 0, 0],
        },
        "registered_name": "Functional",
    }
