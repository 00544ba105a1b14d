"""The deep check puts a mistake Keras rejects in a KerasHub model on the key a person would
change, exactly once: a value that fails deep in another layer's constructor (a task's
``num_classes`` given as a string reaches ``Dense(units=...)``), a key a ``from_config`` reads
and does not find (a misspelt ``vision_encoder``), a backbone's value that fails in a task.
Real KerasHub classes, built offline with tiny hyperparameters (tests/kerashub_wide.py).

Select with ``-m kerashub``."""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import keras
import kerashub_wide as wide
import pytest
from kerashub_corpus import keras_error as _keras_error

from layercfg.schema_builder.deep import DeepChecker
from layercfg.schema_builder.keras_api import KerasAPI

pytestmark = pytest.mark.kerashub

CLASSES = {
    "CLIPBackbone",
    "CSPNetBackbone",
    "CSPNetImageClassifier",
    "DeepLabV3ImageSegmenter",
    "Gemma3VisionEncoder",
    "Gemma4AudioConverter",
    "Gemma4AudioEncoder",
    "ResNetImageClassifier",
    "RetinaNetBackbone",
    "RetinaNetObjectDetector",
    "SwinTransformerImageClassifier",
}


@functools.cache
def _documents() -> dict[str, Any]:
    return wide.clean_documents(CLASSES)


@functools.cache
def _checker() -> DeepChecker:
    return DeepChecker(KerasAPI("keras"), modules=("keras_hub",))


def _wrong(name: str, where: tuple[str, ...], key: str, change: str) -> dict[str, Any]:
    """``name``'s document with one mistake in the config of the envelope at ``where``: the
    key's value as a string ("string"), or the key misspelt ("misspelt": ``key + "s_"``)."""
    value = copy.deepcopy(_documents()[name])
    config = value
    for step in where:
        config = config[step]
    config = config["config"]
    if change == "string":
        config[key] = str(config[key])
    else:
        config[f"{key}s_"] = config.pop(key)
    return value


def _errors(value: Any) -> list[tuple[str, str]]:
    found = _checker().check(json.loads(json.dumps(value)))["findings"]
    return [
        ("".join(f"/{p}" for p in f["path"]), f["message"]) for f in found if f["severity"] == 1
    ]


CASES = [
    # A task's num_classes reaches Dense(units=...), whose constructor refuses it.
    ("ResNetImageClassifier", (), "num_classes", "string", "/config/num_classes"),
    ("CSPNetImageClassifier", (), "num_classes", "string", "/config/num_classes"),
    # ... or a Conv2D's filters, compared with 0 ("'<=' not supported").
    ("DeepLabV3ImageSegmenter", (), "num_classes", "string", "/config/num_classes"),
    # from_config reads config["vision_encoder"] / config["image_encoder"]: a KeyError.
    ("CLIPBackbone", (), "vision_encoder", "misspelt", "/config/vision_encoders_"),
    ("RetinaNetBackbone", (), "image_encoder", "misspelt", "/config/image_encoders_"),
    # A backbone's value passed on beside data_format, failing two constructors down.
    ("CSPNetBackbone", (), "stem_filters", "string", "/config/stem_filters"),
    (
        "CSPNetImageClassifier",
        ("config", "backbone"),
        "stem_filters",
        "string",
        "/config/backbone/config/stem_filters",
    ),
    (
        "SwinTransformerImageClassifier",
        ("config", "backbone"),
        "patch_size",
        "string",
        "/config/backbone/config/patch_size",
    ),
    # Read by a method as a local of another name (n = self.num_mels; n + 2).
    ("Gemma4AudioConverter", (), "num_mels", "string", "/config/num_mels"),
    # ... and as a local of another name (f = input_feat_size; f + 2), one constructor down.
    ("Gemma4AudioEncoder", (), "input_feat_size", "string", "/config/input_feat_size"),
    # Made another value first (num_anchors * num_classes), failing in a head's build: the
    # one key whose value, made a number, lets the task load.
    ("RetinaNetObjectDetector", (), "num_classes", "string", "/config/num_classes"),
    # Model.from_config wraps the constructor's TypeError (missing argument) in its own.
    ("Gemma3VisionEncoder", (), "num_heads", "misspelt", "/config/num_headss_"),
    # projection_dim reaches Dense(units=...) too, in a backbone.
    ("CLIPBackbone", (), "projection_dim", "string", "/config/projection_dim"),
]


@pytest.mark.parametrize(
    "name, where, key, change, pointer", CASES, ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in CASES]
)
def test_a_kerashub_mistake_is_one_finding_at_the_key_to_change(
    name, where, key, change, pointer
) -> None:
    value = _wrong(name, where, key, change)
    assert _keras_error(value) is not None, "Keras must refuse the mistake"
    errors = _errors(value)
    assert [path for path, _ in errors] == [pointer], errors


def test_the_message_of_a_wrapped_constructor_error_is_the_constructor_s() -> None:
    """Model.from_config's TypeError quotes the whole config before the constructor's own
    message: the finding says what the constructor said, not the wrapper's first word."""
    ((_, message),) = _errors(_wrong("Gemma3VisionEncoder", (), "num_heads", "misspelt"))
    assert "missing 1 required positional argument: 'num_heads'" in message
    assert "Received config" not in message


def test_a_key_from_config_does_not_find_says_which_key_it_reads() -> None:
    ((path, message),) = _errors(_wrong("CLIPBackbone", (), "vision_encoder", "misspelt"))
    assert path == "/config/vision_encoders_"
    assert "CLIPBackbone.from_config reads the key 'vision_encoder'" in message


def test_a_missing_key_no_other_key_is_spelt_like_is_shown_on_the_config() -> None:
    """The encoder removed rather than misspelt: the config, where it belongs, not the class."""
    value = copy.deepcopy(_documents()["RetinaNetBackbone"])
    del value["config"]["image_encoder"]
    assert _keras_error(value) is not None
    assert [path for path, _ in _errors(value)] == ["/config"]


def test_a_key_error_of_a_constructor_is_not_taken_for_a_missing_config_key() -> None:
    """Only a KeyError raised by ``from_config`` itself is about the config's keys."""
    from layercfg.schema_builder import deep_blame

    def constructor(config: dict[str, Any]) -> None:
        return {"a": 1}["vision_encoder"]

    def from_config(config: dict[str, Any]) -> None:
        return config["vision_encoder"]

    for function, expected in ((constructor, None), (from_config, "vision_encoder")):
        try:
            function({})
        except KeyError as exc:
            assert deep_blame.missing_key(exc, {}) == expected


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_the_clean_documents_have_no_deep_error(name) -> None:
    value = _documents()[name]
    assert _keras_error(value) is None
    assert _errors(value) == []


def test_the_values_tried_again_are_numbers_written_as_strings_and_other_kinds() -> None:
    """What the retry of an otherwise unlocated failure tries: a number written as a string
    made the number; a value of another kind than the argument's default made the default
    (an int and a float are one kind: JSON writes 2.0 as 2)."""
    from layercfg.schema_builder.deep_locate import _trials

    class Head:
        def __init__(self, units=1, sizes=3, rate=0.0, flag=True, name="head", encoder=None):
            pass

    config = {
        "units": "2",
        "sizes": [1, 2],
        "rate": 0,
        "flag": 1,
        "name": "head",
        "encoder": {"class_name": "Dense", "config": {}},
        "other": "2.5",
    }
    assert _trials(config, Head) == [("units", 2), ("sizes", 3), ("flag", True), ("other", 2.5)]


def test_the_value_a_raise_of_a_message_is_about_is_the_argument_the_message_quotes() -> None:
    """``raise ValueError(error_msg)`` reads no argument: the arguments the message quotes
    are what failed; arguments that are not JSON values (tensors) are passed over."""
    from layercfg.schema_builder import deep_blame

    def standardize(value: Any, tensors: list[Any]) -> None:
        error_msg = f"The `kernel_size` argument must be a tuple. Received kernel_size={value}"
        raise ValueError(error_msg)

    class Maker:
        def __init__(self, size: Any, data_format: str) -> None:
            standardize(size, [object(), data_format])

    def from_config(config: dict[str, Any]) -> Maker:
        return Maker(**config)

    config = {"size": "4", "data_format": "channels_last"}
    try:
        from_config(config)
    except ValueError as exc:
        error = exc
    message = str(error)
    assert deep_blame.read_value(config, error, message) == "size"


def test_a_value_is_blamed_by_a_retry_only_when_the_envelope_fails_to_load_alone() -> None:
    """The retry places a failure on the one key whose value, made what the constructor
    takes, lets the envelope load; an envelope that loads as it is failed elsewhere (called
    on its input), so none of its keys is blamed."""

    def from_config(cls: type, config: dict[str, Any]) -> None:
        raise ValueError("Exception encountered when calling Dense.call()")

    try:
        from_config(keras.layers.Dense, {})
    except ValueError as exc:
        error = exc

    def dense(**config: Any) -> dict[str, Any]:
        return {"module": "keras.layers", "class_name": "Dense", "config": config}

    checker = DeepChecker(KerasAPI("keras"))
    assert checker._retried(dense(units="2", use_bias=1), error) == "units"
    assert checker._retried(dense(units=2, use_bias=1), error) is None  # loads as it is
