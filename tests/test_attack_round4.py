"""Attacks on the deep check's locating (full tier): Keras's error messages quote the
document's values, and a value must not steer the finding to another key."""

from __future__ import annotations

import functools

import pytest

from layercfg.schema_builder.deep import DeepChecker
from layercfg.schema_builder.keras_api import KerasAPI


@functools.cache
def _checker() -> DeepChecker:
    return DeepChecker(KerasAPI("keras"))


@pytest.mark.parametrize(
    "activation",
    [
        "x unexpected keyword argument 'units'",
        "relu Unrecognized keyword arguments: {'units'",
        "missing 1 required positional argument: 'unitz'",
    ],
)
def test_a_value_quoting_an_argument_error_is_found_at_its_own_key(activation: str) -> None:
    """Keras says "Could not interpret activation identifier: <the value>"; what the value
    says about keyword arguments is the document's text, not Keras's words."""
    value = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"units": 3, "activation": activation},
    }
    errors = [f for f in _checker().check(value)["findings"] if f["severity"] == 1]
    assert [(list(f["path"]), f["part"]) for f in errors] == [(["config", "activation"], "value")]
