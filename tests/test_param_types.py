"""Types a parameter's documentation gives beyond its type words (schema_builder.param_types),
and the sample values the builder tries for a required argument (schema_builder.samples)."""

from __future__ import annotations

import sys
import types

import keras
import pytest

from layercfg.schema_builder import param_types, samples
from layercfg.schema_builder.introspect import Param

LAYER = keras.layers.Layer


def _param(name: str, description: str, **fields) -> Param:
    fields.setdefault("required", "default" not in fields)
    fields["has_default"] = "default" in fields
    return Param(name=name, in_signature=True, description=description, **fields)


@pytest.fixture
def package():
    """A package of three modules whose classes document ``vocab`` and ``scale``."""
    made = {}

    def module(name: str, **classes: str) -> None:
        mod = types.ModuleType(name)
        for class_name, doc in classes.items():
            cls = type(class_name, (), {"__doc__": doc, "__module__": name})
            setattr(mod, class_name, cls)
        made[name] = mod

    module("lcfpkg")
    module(
        "lcfpkg.a",
        First="First.\n\nArgs:\n    vocab: int. The size of the vocabulary.\n"
        "    scale: float. A factor.\n",
        Tokenizer="A tokenizer.",
    )
    module(
        "lcfpkg.b",
        Second="Second.\n\nArgs:\n    vocab: int, the size of the vocabulary.\n"
        "    scale: float or list of floats. A factor per channel.\n",
    )
    module(
        "lcfpkg.c",
        Third="Third.\n\nArgs:\n    vocab: The size of the vocabulary.\n    scale: The factor.\n",
    )
    sys.modules.update(made)
    yield made
    for name in made:
        sys.modules.pop(name, None)


def test_a_documented_keras_object_is_a_nested_envelope():
    params = [
        _param("encoder", "`keras.Model`. An instance that is used as a feature extractor."),
        _param("tokenizer", "A `keras.layers.Layer` instance."),
        _param("head", "A `keras.layers.Dense` instance or `None`.", default=None),
        _param("later", "A `keras.layers.Layer` instance.", default=None),
        # not a layer, not found, or something else besides
        _param("optimizer", "A `keras.optimizers.Adam` instance."),
        _param("missing", "A `keras.layers.NoSuchLayer` instance."),
        _param("activation_fn", "string or `keras.layers.Layer`. The activation."),
        # what the builder saw wins
        _param("seen", "A `keras.layers.Layer` instance.", default="relu"),
    ]
    found = param_types.documented_schemas(keras.layers.Dense, params, LAYER, package=False)
    envelope = {"type": "object", "$ref": "#/$defs/envelope.layer"}
    nullable = {
        "type": ["object", "null"],
        "anyOf": [{"$ref": "#/$defs/envelope.layer"}, {"type": "null"}],
    }
    assert found == {
        "encoder": envelope,
        "tokenizer": envelope,
        "head": nullable,
        "later": nullable,
    }


def test_a_bare_class_name_is_found_in_the_class_module_or_its_package(package):
    cls = package["lcfpkg.c"].Third
    assert param_types.resolve_class(cls, "Tokenizer") is package["lcfpkg.a"].Tokenizer
    assert param_types.resolve_class(cls, "Nobody") is None
    assert param_types.resolve_class(cls, "keras.layers.Dense") is keras.layers.Dense
    # nothing is imported for a name
    assert param_types.resolve_class(cls, "lcf_not_imported.Thing") is None
    assert "lcf_not_imported" not in sys.modules


def test_a_list_of_strings_is_an_array_of_strings():
    params = [
        _param("kinds", 'list of str or `None`. The kinds (e.g. `"a"`, `"b"`).', default=None),
        _param("types", 'list of str, Each element can be either `"full"` or `"sliding"`.'),
        _param("names", "A list of strings or a string filename path.", default=None),
        _param("seen", "list of str. Names.", default=[1, 2]),
        _param("written", "list of str. Names.", default=None, in_config=True, config_value=["x"]),
    ]
    found = param_types.documented_schemas(keras.layers.Dense, params, LAYER, package=False)
    assert found == {
        "kinds": {"type": ["array", "null"], "items": {"type": "string"}},
        "types": {"type": "array", "items": {"type": "string", "enum": ["full", "sliding"]}},
        "written": {"type": ["array", "null"], "items": {"type": "string"}},
    }


def test_an_untyped_key_takes_the_type_its_package_agrees_on(package):
    third = package["lcfpkg.c"].Third
    vocab = _param("vocab", "The size of the vocabulary.")
    scale = _param("scale", "The factor.")
    found = param_types.documented_schemas(third, [vocab, scale], LAYER, package=True)
    # "float" and "float or list of floats" disagree: scale stays untyped
    assert found == {
        "vocab": {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}
    }
    optional = _param("vocab", "The size of the vocabulary.", default=None)
    assert param_types.documented_schemas(third, [optional], LAYER, package=True) == {
        "vocab": {
            "anyOf": [
                {"type": "integer"},
                {"type": "array", "items": {"type": "integer"}},
                {"type": "null"},
            ]
        }
    }
    # Keras's own classes, a key typed by its own words, a default JSON cannot write, a name
    # the emitter types, an empty description (the catalog lends it one): left alone
    assert param_types.documented_schemas(third, [vocab], LAYER, package=False) == {}
    for param in (
        _param("vocab", "str. The size of the vocabulary."),
        _param("vocab", "The size of the `Embedding`."),
        _param("vocab", "The size of the vocabulary.", required=False),
        _param("vocab", ""),
    ):
        assert param_types.documented_schemas(third, [param], LAYER, package=True) == {}


def test_lead_types():
    assert param_types.lead_types("int. The size.") == {"integer"}
    assert param_types.lead_types("int or `None`. The size.") == {"integer"}
    assert param_types.lead_types("float or list of floats. A factor.") == {"number", "array"}
    assert param_types.lead_types("The dimension of the input and output tensors.") == set()


def test_samples_match_whole_type_words_and_no_placeholder_for_an_object():
    assert samples.candidates("tokenizer", "A `keras_hub.models.MistralTokenizer` instance.") == []
    assert samples.candidates("encoder", "`keras.Model`. The backbone.") == []
    assert samples.candidates("norm", "The normalization of the Mistral block.") == []
    assert samples.candidates("strides", "The strides of the pooling window.") == []
    [string] = samples.candidates("mode", "str. The mode.")
    assert string(keras) == "sample"
    [number] = samples.candidates("count", "Positive integer, the count.")
    assert number(keras) == 2
    # names first: a Keras layer argument has its own sample
    assert samples.candidates("layer", "`keras.layers.RNN` instance.")
