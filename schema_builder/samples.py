"""Sample values for constructor arguments that have no default.

Most Keras constructors have required arguments; to read what ``get_config()`` writes the
builder needs an instance, so it tries these candidates in order, first to last.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import docstrings

Factory = Callable[[Any], Any]  # receives the keras module, returns a fresh value


def _const(value: Any) -> Factory:
    return lambda keras: value


_BY_NAME: dict[str, list[Factory]] = {
    "units": [_const(4)],
    "filters": [_const(4)],
    "kernel_size": [_const(3)],
    "pool_size": [_const(2)],
    "output_size": [_const(2)],
    "rate": [_const(0.5)],
    "stddev": [_const(0.1)],
    "factor": [_const(0.2), _const(4), _const((0.2, 0.4))],
    "height_factor": [_const(0.2)],
    "width_factor": [_const(0.2)],
    "activation": [_const("relu")],
    "axes": [_const(1)],
    "dims": [_const((2, 1))],
    "target_shape": [_const((4,))],
    "scale": [_const(1.0 / 255)],
    "equation": [_const("ab,bc->ac")],
    "output_shape": [_const(4)],
    "input_dim": [_const(10)],
    "output_dim": [_const(4)],
    "num_heads": [_const(2)],
    "key_dim": [_const(4)],
    "head_dim": [_const(4)],
    "num_query_heads": [_const(4)],
    "num_key_value_heads": [_const(2)],
    "num_bins": [_const(4)],
    "n": [_const(2)],
    "max_number": [_const(4)],
    "height": [_const(8)],
    "width": [_const(8)],
    "layer": [
        lambda keras: keras.layers.Dense(4),
        lambda keras: keras.layers.LSTM(4),
    ],
    "cell": [lambda keras: keras.layers.SimpleRNNCell(4)],
    "cells": [lambda keras: [keras.layers.SimpleRNNCell(4), keras.layers.SimpleRNNCell(4)]],
    "layers": [lambda keras: [keras.layers.Rescaling(0.5)]],
    "function": [_const(abs)],
    "value": [_const(1.0)],
    "init_values": [_const(1e-6)],
    "projection_dim": [_const(4)],
    "drop_path_rate": [_const(0.1)],
}

# Generic fallbacks by the docstring's type word, when the name is not known: whole words of
# the description's start ("str" in "MistralTokenizer" is no type word).
_BY_TYPE_WORD: list[tuple[re.Pattern[str], list[Factory]]] = [
    (re.compile(r"\bpositive integer\b"), [_const(2)]),
    (re.compile(r"\bint(eger)?s?\b"), [_const(2)]),
    (re.compile(r"\bfloats?\b"), [_const(0.5)]),
    (re.compile(r"\bbool(ean)?s?\b"), [_const(True)]),
    (re.compile(r"\bstr(ing)?s?\b"), [_const("sample")]),
    (re.compile(r"\btuples?\b"), [_const((2, 2))]),
    (re.compile(r"\blists?\b"), [_const([2])]),
]


# Arguments that have a default but without which the constructor still refuses to work.
BY_CLASS: dict[str, dict[str, Any]] = {
    "InputLayer": {"shape": (4,)},
    "CategoryEncoding": {"num_tokens": 4},
    "Discretization": {"num_bins": 4},
}


def candidates(name: str, description: str) -> list[Factory]:
    """Sample value factories for an argument, best guess first (may be empty). None for an
    argument documented as a Keras object ("A `keras_hub.models.MistralTokenizer`
    instance."): a placeholder string its constructor happens to keep is no sample of it."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    if docstrings.documented_classes(description)[0]:
        return []
    words = description.lower()[:80]
    for word, factories in _BY_TYPE_WORD:
        if word.search(words):
            return factories
    return []
