"""Google-style docstring reading."""

from layercfg.schema_builder import docstrings

DOC = """Just your regular layer.

    More text here.

    Args:
        units: Positive integer, dimensionality
            of the output space.
        activation (str): Activation function to use.

            Still the activation.
        **kwargs: Base layer keyword arguments.

    Input shape:
        N-D tensor.
    """


def test_summary_and_args():
    doc = docstrings.parse(DOC)
    assert doc.summary == "Just your regular layer."
    assert doc.args["units"] == "Positive integer, dimensionality of the output space."
    assert doc.args["activation"].startswith("Activation function to use.")
    assert "Still the activation." in doc.args["activation"]
    assert "kwargs" in doc.args
    assert "N-D tensor." not in " ".join(doc.args.values())


def test_sections_after_args_end_it():
    doc = docstrings.parse("Sum.\n\nArgs:\n    a: first.\nReturns:\n    b: not an arg.\n")
    assert doc.args == {"a": "first."}


def test_forgiving_on_odd_input():
    assert docstrings.parse(None).args == {}
    assert docstrings.parse("").summary == ""
    odd = docstrings.parse("Args:\n\n  : nothing\n   x\nArgs:")
    assert isinstance(odd.args, dict)


# -- the values a description states ---------------------------------------------------------


def test_a_stated_set_is_an_enum():
    cases = {
        'String, one of `"valid"` or `"same"` (case-insensitive).': ["valid", "same"],
        'str. Either "channels_last" or "channels_first".': ["channels_last", "channels_first"],
        'str. Must be `"mean"`, `"cls"`, or `"max"`.': ["mean", "cls", "max"],
        '`"avg"` or `"max"`. The type of pooling.': ["avg", "max"],
        'str. Supported types: "linear", "dynamic", "yarn". Defaults to "linear".': [
            "linear",
            "dynamic",
            "yarn",
        ],
        'str. One of "absolute" and "rotary". Use "absolute" for ESM1.': ["absolute", "rotary"],
        # a remark between two values, and values in parentheses after the stating words
        'A string, one of `"channels_last"` (default) or `"channels_first"`.': [
            "channels_last",
            "channels_first",
        ],
        'string. One of the following values: (None, "NFC", "NFKC", "NFD", "NFKD").': [
            "NFC",
            "NFKC",
            "NFD",
            "NFKD",
        ],
        # bare code values only where "either ... or" introduces them
        "string. The value can be either `round_robin` or `waterfall`: - ...": [
            "round_robin",
            "waterfall",
        ],
        # a value mentioned again later is not one more
        'str. One of `"basic_block"` or `"bottleneck_block"`. Use the `"_vd"` variants.': [
            "basic_block",
            "bottleneck_block",
        ],
    }
    for text, values in cases.items():
        assert docstrings.string_enum(text) == values, text


def test_examples_are_no_enum():
    for text in (
        'str. One of the keys of `pyramid_outputs`, such as "P4", "P5" etc.',
        '`keras.Model`. It implements `pyramid_outputs` with keys "P2", "P3" etc as values.',
        'str or None. The attention type (e.g. `"full_attention"`, `"sliding_attention"`).',
        'A string. Must be a supported format (e.g., `"yxyx"`, `"xyxy"`).',
        'str. Either a known name, for example `"gelu"` or `"relu"`.',
        'str. One of the names, like "a" or "b".',
        'str. Supported: "a", "b", ...',
        # no stating wording, no "or": a mention, not a set
        'str. The method, `"default"`, `"discrete"`.',
        # one value is no set
        'str. One of `"auto"` or an integer.',
        # bare code is a value only after "either"/"one of" and joined by "or"
        "int. One of the keys from the `image_encoder` `pyramid_outputs`.",
        "str or `DTypePolicy`. Either `str` or `DTypePolicy`.",
    ):
        assert docstrings.string_enum(text) == [], text
        assert docstrings.stated_values(text) == [], text


def test_a_list_of_strings_is_no_string_enum():
    text = (
        "list of str, A list of strings specifying the type of attention layer for each"
        ' layer. Each element can be either `"sliding_attention"` or `"full_attention"`.'
        ' For example, `["full_attention", "sliding_attention", ...]`.'
    )
    assert docstrings.string_enum(text) == []
    # the values are its items'
    assert docstrings.stated_values(text) == ["sliding_attention", "full_attention"]
    assert docstrings.string_items(text)
    for text in (
        'list. List of layer types. Each element is ``"full_attention"`` or ``"linear"``.',
        'tuple of str. One of `"a"` or `"b"` each.',
        'str or list of str. One of "a" or "b".',
    ):
        assert docstrings.string_enum(text) == [], text
    assert docstrings.string_items("list of str or `None`. Explicit types.")
    assert docstrings.string_items("A list of strings specifying the types.")
    assert not docstrings.string_items("A list of strings or a string filename path.")
    assert not docstrings.string_items("list of int. Sizes.")
    # a list mentioned in prose does not make the argument one
    text = "The algorithm to truncate a list of segments. Either `round_robin` or `waterfall`."
    assert docstrings.string_enum(text) == ["round_robin", "waterfall"]


def test_type_lead():
    assert docstrings.type_lead("int. The size of the vocabulary.") == "int"
    assert docstrings.type_lead("list of str, A list of strings.") == "list of str"
    assert docstrings.type_lead("`keras.Model`. An instance.") == "`keras.Model`"
    assert docstrings.type_lead("No full stop") == "No full stop"


def test_documented_classes():
    read = docstrings.documented_classes
    assert read("A `keras_hub.models.MistralTokenizer` instance.") == (
        ["keras_hub.models.MistralTokenizer"],
        False,
    )
    assert read("`keras.Model`. An instance that is used as a feature extractor.") == (
        ["keras.Model"],
        False,
    )
    assert read("A `keras_hub.models.Backbone` instance or a `keras.Model`.") == (
        ["keras_hub.models.Backbone", "keras.Model"],
        False,
    )
    assert read("``keras.layers.Layer`` or None.  Projects features.") == (
        ["keras.layers.Layer"],
        True,
    )
    assert read("A `keras_hub.models.BertMaskedLMPreprocessor` or `None`. If `None`...") == (
        ["keras_hub.models.BertMaskedLMPreprocessor"],
        True,
    )
    assert read("Optional. A `RetinaNetLabelEncoder` instance.") == (
        ["RetinaNetLabelEncoder"],
        True,
    )
    for text in (
        "string or `keras.activations`. The activation function.",
        "A `keras_hub.samplers.Sampler` instance or string.",
        "The language model instance (e.g. `BLIP2CustomOPT`).",
        "(Optional) List of `keras.layers.Layer` defining the heads.",
        "int. The number of `Dense` units.",
        "`None`, a `keras_hub.models.Preprocessor` instance, a `keras.Layer` instance.",
        "",
    ):
        assert read(text) == ([], False), text
