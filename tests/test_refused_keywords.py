"""A base-class keyword (``autocast``) is left out of a class's parameters only when its
constructor refuses it in Python's own words (passed twice, or not taken); a TypeError that
merely names it, such as a check of the value the constructor was given, does not make it
refused."""

from __future__ import annotations

import keras
import pytest

from layercfg.schema_builder.introspect import Introspector
from layercfg.schema_builder.keras_api import KerasAPI


class FixedAutocast(keras.layers.Layer):
    """Passes autocast to the base itself: giving it again is 'multiple values'."""

    def __init__(self, units=2, **kwargs):
        super().__init__(autocast=False, **kwargs)
        self.units = units


class PickyAutocast(keras.layers.Layer):
    """Takes autocast, but refuses one value of it with a TypeError that names it."""

    def __init__(self, units=2, **kwargs):
        if kwargs.get("autocast") is True and kwargs.get("dtype") is None:
            raise TypeError("autocast=True needs a dtype to cast to")
        super().__init__(**kwargs)
        self.units = units


@pytest.fixture(scope="module")
def introspector() -> Introspector:
    return Introspector(KerasAPI("keras"))


def test_a_keyword_the_class_passes_itself_is_refused(introspector):
    info = introspector.inspect_class(FixedAutocast, "layer", custom=True, probe=False)
    assert "autocast" not in info.params
    assert {"name", "trainable", "dtype", "units"} <= set(info.params)


def test_a_type_error_that_only_names_the_keyword_is_no_refusal(introspector):
    info = introspector.inspect_class(PickyAutocast, "layer", custom=True, probe=False)
    assert {"autocast", "dtype", "name", "trainable", "units"} <= set(info.params)


class Tiny(keras.Model):
    """A Model subclass built from inputs and outputs, as KerasHub's tasks are."""

    def __init__(self, units=2, **kwargs):
        inputs = keras.Input((3,))
        super().__init__(inputs=inputs, outputs=keras.layers.Dense(units)(inputs), **kwargs)


def test_what_a_model_subclass_takes_does_not_depend_on_it_having_been_built():
    from layercfg.schema_builder.introspect import _init_source, _signature, accepted_keywords

    before = accepted_keywords(Tiny)
    Tiny()  # Keras now puts Functional in place of Model among Tiny's bases
    _signature.cache_clear()
    _init_source.cache_clear()
    assert "Functional" in [k.__name__ for k in Tiny.__mro__]
    assert accepted_keywords(Tiny) == before
    assert {"dtype", "name", "trainable"} <= before[1]
