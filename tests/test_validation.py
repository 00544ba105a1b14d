"""Fast checks: nothing Keras writes is an error, and realistic mistakes get the right code at
the right JSON path."""

from __future__ import annotations

import copy
import importlib
import json
import os
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import pytest

from layercfg.server.catalog import Catalog
from layercfg.server.services import validation
from layercfg.server.services.validation import (
    ERROR,
    WARNING,
    Finding,
    SchemaError,
    fold_legacy,
    model_layers,
    validate,
    validate_envelope,
    validate_model_links,
)

DATA = Path(__file__).parent / "data" / "validation"
APPLICATIONS = sorted(
    name
    for name in dir(keras.applications)
    if name[:1].isupper() and callable(getattr(keras.applications, name))
)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cat(catalog: dict) -> Catalog:
    return Catalog.from_json(catalog)


def _config_cache() -> Path:
    """Generated Keras configs, kept between sessions (building NASNetLarge takes a while)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    version = f"keras-{keras.__version__}-{keras.backend.backend()}"
    return Path(base) / "layercfg-configs" / version


def _roundtrip(obj: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))


@pytest.fixture(scope="session")
def application_config() -> Callable[[str], dict[str, Any]]:
    memo: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        if name in memo:
            return memo[name]
        path = _config_cache() / f"{name}.json"
        try:
            memo[name] = json.loads(path.read_text(encoding="utf-8"))
            return memo[name]
        except (OSError, ValueError):
            pass
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = getattr(keras.applications, name)(weights=None)
        memo[name] = _roundtrip(model)
        keras.backend.clear_session()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(memo[name]), encoding="utf-8")
        partial.replace(path)
        return memo[name]

    return get


@pytest.fixture(scope="session")
def tiny() -> dict[str, Any]:
    """A small Functional model written by Keras, the base of the mistakes below."""
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(0.2, name="dropout")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(x)
    return _roundtrip(keras.Model(inputs, outputs, name="tiny"))


@pytest.fixture(scope="session")
def stack() -> dict[str, Any]:
    """A Sequential model with a wrapped recurrent layer, written by Keras."""
    model = keras.Sequential(
        [
            keras.Input((5, 3)),
            keras.layers.Bidirectional(keras.layers.LSTM(4), name="bi"),
            keras.layers.Dense(1, name="out"),
        ],
        name="stack",
    )
    return _roundtrip(model)


def _layer(document: dict[str, Any], name: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    for index, layer in enumerate(document["config"]["layers"]):
        if layer.get("name", layer["config"].get("name")) == name:
            return ("config", "layers", index), layer
    raise KeyError(name)


def _errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == ERROR]


def _loud(findings: list[Finding]) -> list[str]:
    """Errors and warnings, readable in an assertion message."""
    return [f"{f.code} {list(f.path)} {f.message}" for f in findings if f.severity <= WARNING]


def _check(cat: Catalog, envelope: dict[str, Any], family: str) -> list[Finding]:
    if family in ("layer", "model"):
        return validate(envelope, cat)
    return validate_envelope(envelope, cat, kind=f"envelope.{family}")


# -- agreement with Keras ------------------------------------------------------------------------


def test_sample_config_of_every_class_is_clean(catalog, cat):
    offenders = {}
    checked = 0
    for entry in catalog["classes"]:
        if not entry["instantiated"] or entry["custom"]:
            continue
        envelope = {
            "module": entry["module"],
            "class_name": entry["class_name"],
            "config": entry["sample_config"],
            "registered_name": entry["registered_name"],
        }
        loud = _loud(_check(cat, envelope, entry["family"]))
        if loud:
            offenders[entry["id"]] = loud
        checked += 1
    assert offenders == {}
    assert checked >= 150


def _instance(entry: dict[str, Any]) -> Any:
    module = importlib.import_module(entry["module"])
    cls = next(
        getattr(module, name)
        for name in [entry["class_name"], *entry["aliases"]]
        if hasattr(module, name)
    )
    kwargs = {
        key: keras.saving.deserialize_keras_object(value)
        if isinstance(value, dict) and "class_name" in value
        else value
        for key, value in entry["minimal_config"].items()
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(**kwargs)


def test_keras_serialization_of_a_fresh_instance_of_every_class_is_clean(catalog, cat):
    offenders = {}
    made = 0
    for entry in catalog["classes"]:
        if not entry["instantiated"] or entry["custom"]:
            continue
        try:
            instance = _instance(entry)
        except Exception:
            continue  # what the minimal config cannot build is the deep check's business
        made += 1
        loud = _loud(_check(cat, _roundtrip(instance), entry["family"]))
        if loud:
            offenders[entry["id"]] = loud
    assert offenders == {}
    assert made >= 140


def _functional_in_functional() -> Any:
    layers = keras.layers
    inputs = {"a": keras.Input((4,), name="a"), "b": keras.Input((4,), name="b")}
    shared = layers.Dense(4, name="shared")  # called twice: node_index 1 in keras_history
    merged = layers.Concatenate(name="cat")([shared(inputs["a"]), shared(inputs["b"])])
    sub_in = keras.Input((8,), name="sub_in")
    sub = keras.Model(sub_in, layers.Dense(2, name="sub_dense")(sub_in), name="sub")
    return keras.Model(inputs, {"y": sub(merged), "z": layers.Dense(1, name="z")(merged)})


def _custom_activation(x: Any) -> Any:
    return x


def _operations() -> Any:
    # keras.ops calls become keras.src.ops.numpy operations (Reshape, GetItem, Sum) in the
    # model's layers: not keras.layers classes, even where the class_name is the same.
    x = keras.Input((3,))
    y = keras.ops.sum(keras.ops.reshape(x[:, 1:3], (-1, 2)), axis=1)
    return keras.Model(x, keras.ops.add(y, 1.0) * 2)


def _compiled() -> Any:
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(2)(x))
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule), loss="mse", metrics=["mae", keras.metrics.AUC()]
    )
    return model


def _quantized() -> Any:
    layer = keras.layers.Dense(4)
    layer.build((None, 8))
    layer.quantize("int8")
    return layer


def _attention() -> Any:
    query, value = keras.Input((5, 8)), keras.Input((6, 8))
    attention = keras.layers.MultiHeadAttention(2, 4)
    return keras.Model([query, value], attention(query, value, use_causal_mask=True))


ZOO: dict[str, Callable[[], Any]] = {
    "bidirectional": lambda: keras.layers.Bidirectional(
        keras.layers.LSTM(3, return_sequences=True)
    ),
    "time_distributed": lambda: keras.layers.TimeDistributed(keras.layers.Dense(2)),
    "nested_sequential": lambda: keras.Sequential(
        [
            keras.Input((4,)),
            keras.Sequential([keras.layers.Dense(3), keras.layers.Dropout(0.2)], name="inner"),
            keras.layers.Dense(1),
        ]
    ),
    "functional_in_functional": _functional_in_functional,
    "custom_activation": lambda: keras.layers.Dense(3, activation=_custom_activation),
    "lambda": lambda: keras.layers.Lambda(lambda x: x * 2),
    "layer_activation": lambda: keras.layers.Dense(2, activation=keras.layers.LeakyReLU()),
    "nested_families": lambda: keras.layers.Dense(
        2,
        kernel_initializer=keras.initializers.HeNormal(seed=1),
        kernel_regularizer=keras.regularizers.L1L2(0.01, 0.02),
        kernel_constraint=keras.constraints.MaxNorm(3),
        dtype="mixed_float16",
    ),
    "normalization_with_stats": lambda: keras.layers.Normalization(
        mean=[1.0, 2.0], variance=[1.0, 4.0]
    ),
    "conv_tuple_args": lambda: keras.layers.Conv2D(4, (3, 5), strides=2, padding="same"),
    "string_lookup": lambda: keras.layers.StringLookup(vocabulary=["a", "b"]),
    "operations": _operations,
    "compiled": _compiled,
    "quantized": _quantized,
    "attention_with_kwargs": _attention,
}


@pytest.mark.parametrize("name", list(ZOO))
def test_keras_written_wrappers_models_and_nested_objects_are_clean(cat, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        document = _roundtrip(ZOO[name]())
    assert _loud(validate(document, cat)) == []


@pytest.mark.parametrize("name", APPLICATIONS)
def test_every_application_model_is_clean(cat, application_config, name):
    assert _loud(validate(application_config(name), cat)) == []


def test_hashing_with_a_salt_pair_is_clean(cat):
    document = _roundtrip(keras.layers.Hashing(num_bins=3, salt=[1, 2]))
    assert _loud(validate(document, cat)) == []


def test_custom_classes_keras_wrote_are_clean(cat, fixtures_on_path):
    from custom.good_layers import Scale
    from custom.registered_layers import Gated

    assert _loud(validate(_roundtrip(Gated(3)), cat)) == []
    # Scale is not registered: Keras loads what it wrote only with custom_objects, which is
    # a warning (no error: a program that passes custom_objects loads it).
    document = _roundtrip(Scale(2.0))
    keras.saving.deserialize_keras_object(document, custom_objects={"Scale": Scale})
    (finding,) = [f for f in validate(document, cat) if f.severity <= WARNING]
    assert (finding.code, finding.path, finding.severity) == ("LCF107", ("class_name",), WARNING)
    assert "custom_objects={'Scale': Scale}" in finding.message


# -- realistic mistakes --------------------------------------------------------------------------

Mistake = Callable[[dict[str, Any]], list[tuple[str, tuple[Any, ...], str]]]


def _misspelt_key(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dense")
    layer["config"]["unitz"] = layer["config"].pop("units")
    return [("LCF102", path + ("config", "unitz"), "key")]


def _units_as_string(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dense")
    layer["config"]["units"] = "64"
    return [("LCF104", path + ("config", "units"), "value")]


def _padding_typo(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "conv")
    layer["config"]["padding"] = "sme"
    return [("LCF105", path + ("config", "padding"), "value")]


def _missing_units(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "head")
    del layer["config"]["units"]
    return [("LCF103", path + ("config",), "open")]


def _initializer_class_typo(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "conv")
    layer["config"]["kernel_initializer"]["class_name"] = "GlorotUnifrom"
    return [("LCF101", path + ("config", "kernel_initializer", "class_name"), "value")]


def _initializer_name_typo(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dense")
    layer["config"]["kernel_initializer"] = "glorot_unifrom"
    return [("LCF105", path + ("config", "kernel_initializer"), "value")]


def _unknown_layer_class(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dense")
    layer["class_name"] = "Dense2"
    return [("LCF101", path + ("class_name",), "value")]


def _rate_out_of_range(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dropout")
    layer["config"]["rate"] = 1.5
    return [("LCF106", path + ("config", "rate"), "value")]


def _duplicate_layer_name(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dropout")
    layer["name"] = layer["config"]["name"] = "flatten"
    (node,) = _layer(doc, "head")[1]["inbound_nodes"]
    node["args"][0]["config"]["keras_history"][0] = "flatten"
    return [("LCF201", path + ("name",), "value")]


def _dangling_keras_history(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "head")
    layer["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "dropuot"
    history = ("inbound_nodes", 0, "args", 0, "config", "keras_history", 0)
    return [("LCF202", path + history, "value")]


def _dangling_output(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    doc["config"]["output_layers"][0] = "haed"
    return [("LCF202", ("config", "output_layers", 0), "value")]


def _activation_typo(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "head")
    layer["config"]["activation"] = "sofmax"
    return [("LCF105", path + ("config", "activation"), "value")]


def _dtype_typo(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dense")
    layer["config"]["dtype"] = "flaot32"
    return [("LCF105", path + ("config", "dtype"), "value")]


def _kernel_size_length(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "conv")
    layer["config"]["kernel_size"] = [3, 3, 3]
    return [("LCF106", path + ("config", "kernel_size"), "value")]


def _strides_as_string(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "conv")
    layer["config"]["strides"] = "2"
    return [("LCF104", path + ("config", "strides"), "value")]


def _initializer_as_number(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dense")
    layer["config"]["bias_initializer"] = 0
    return [("LCF104", path + ("config", "bias_initializer"), "value")]


def _initializer_where_regularizer(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dense")
    layer["config"]["kernel_regularizer"] = copy.deepcopy(layer["config"]["kernel_initializer"])
    return [("LCF101", path + ("config", "kernel_regularizer", "class_name"), "value")]


def _nested_initializer_unknown_key(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dense")
    layer["config"]["kernel_initializer"]["config"]["sed"] = 1
    return [("LCF102", path + ("config", "kernel_initializer", "config", "sed"), "key")]


def _config_not_object(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "flatten")
    layer["config"] = ["flatten"]
    return [("LCF107", path + ("config",), "value")]


def _builtin_with_registered_name(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dense")
    layer["registered_name"] = "acme>Dense"
    return [("LCF107", path + ("registered_name",), "value")]


def _null_module(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dense")
    layer["module"] = None
    return [("LCF107", path + ("module",), "value")]


def _keras2_key_in_keras3_layer(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dense")
    layer["config"]["batch_input_shape"] = [None, 16]
    return [("LCF102", path + ("config", "batch_input_shape"), "key")]


def _negative_units(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "dense")
    layer["config"]["units"] = 0
    return [("LCF106", path + ("config", "units"), "value")]


def _float_units(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    # Dense refuses 64.0 ("could not be deserialized properly"): JSON integer typing is right.
    path, layer = _layer(doc, "dense")
    layer["config"]["units"] = 64.0
    return [("LCF104", path + ("config", "units"), "value")]


def _missing_config(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    path, layer = _layer(doc, "flatten")
    layer["confg"] = layer.pop("config")
    return [("LCF107", path + ("confg",), "key"), ("LCF103", path, "open")]


def _unknown_class_at_top(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    doc["class_name"] = "Functionall"
    return [("LCF101", ("class_name",), "value")]


def _dangling_input(doc: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], str]]:
    doc["config"]["input_layers"][0] = "imag"
    return [("LCF202", ("config", "input_layers", 0), "value")]


MISTAKES: dict[str, Mistake] = {
    "misspelt key": _misspelt_key,
    "units as a string": _units_as_string,
    "padding typo": _padding_typo,
    "missing units": _missing_units,
    "initializer class_name typo": _initializer_class_typo,
    "initializer name typo": _initializer_name_typo,
    "unknown layer class": _unknown_layer_class,
    "rate above 1": _rate_out_of_range,
    "duplicate layer name": _duplicate_layer_name,
    "dangling keras_history": _dangling_keras_history,
    "dangling output_layers": _dangling_output,
    "dangling input_layers": _dangling_input,
    "activation typo": _activation_typo,
    "dtype typo": _dtype_typo,
    "kernel_size of 3 items": _kernel_size_length,
    "strides as a string": _strides_as_string,
    "initializer as a number": _initializer_as_number,
    "initializer where a regularizer goes": _initializer_where_regularizer,
    "unknown key of a nested initializer": _nested_initializer_unknown_key,
    "config not an object": _config_not_object,
    "built-in with a registered name": _builtin_with_registered_name,
    "null module": _null_module,
    "batch_input_shape in a Keras 3 layer": _keras2_key_in_keras3_layer,
    "units of 0": _negative_units,
    "units as a float": _float_units,
    "misspelt config key of the envelope": _missing_config,
    "unknown model class": _unknown_class_at_top,
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_gives_its_code_at_its_path(cat, tiny, mistake):
    document = copy.deepcopy(tiny)
    expected = MISTAKES[mistake](document)
    found = [(f.code, f.path, f.part) for f in validate(document, cat)]
    assert found == expected


def test_messages_and_data_help_the_fix(cat, tiny):
    (misspelt,) = validate(_apply(tiny, _misspelt_key), cat)
    assert misspelt.data == {"key": "unitz", "candidates": ["units"]}
    assert "Did you mean 'units'" in misspelt.message
    (as_string,) = validate(_apply(tiny, _units_as_string), cat)
    assert as_string.data == {"expected": ["integer"], "value": "64", "suggestion": 64}
    (sme,) = validate(_apply(tiny, _padding_typo), cat)
    assert sme.data is not None and sme.data["allowed"][0] == "same"
    assert "Did you mean 'same'" in sme.message
    (typo,) = validate(_apply(tiny, _initializer_name_typo), cat)
    assert typo.message.startswith("Unknown initializer 'glorot_unifrom'. Did you mean")
    assert typo.data is not None and typo.data["allowed"][0] == "glorot_uniform"
    (missing,) = validate(_apply(tiny, _missing_units), cat)
    assert missing.data == {"key": "units"}
    (rate,) = validate(_apply(tiny, _rate_out_of_range), cat)
    assert rate.data == {"maximum": 1, "value": 1.5}
    (dangling,) = validate(_apply(tiny, _dangling_output), cat)
    assert dangling.data == {"name": "haed", "candidates": ["head"]}


def _apply(document: dict[str, Any], mistake: Mistake) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    mistake(changed)
    return changed


def test_unknown_class_candidates_carry_what_a_fix_sets(cat, tiny):
    (finding,) = validate(_apply(tiny, _unknown_layer_class), cat)
    assert "Did you mean 'Dense'" in finding.message
    assert finding.data is not None
    assert finding.data["class_name"] == "Dense2"
    assert finding.data["candidates"][0] == {
        "class_name": "Dense",
        "module": "keras.layers",
        "registered_name": None,
    }
    (nested,) = validate(_apply(tiny, _initializer_class_typo), cat)
    assert nested.data is not None
    assert nested.data["candidates"][0]["class_name"] == "GlorotUniform"
    assert nested.data["candidates"][0]["module"] == "keras.initializers"
    (wrong_family,) = validate(_apply(tiny, _initializer_where_regularizer), cat)
    assert "'GlorotUniform' is an initializer, not a regularizer" in wrong_family.message


def test_duplicate_layer_name_points_at_the_first_one(cat, tiny):
    (finding,) = validate(_apply(tiny, _duplicate_layer_name), cat)
    first, _ = _layer(tiny, "flatten")
    assert finding.related == ((first + ("name",), "value", "'flatten' is first used here"),)


def test_severities(cat, tiny):
    def severity(document: dict[str, Any]) -> list[tuple[str, int]]:
        return [(f.code, f.severity) for f in validate(document, cat)]

    mismatch = copy.deepcopy(tiny)
    _layer(mismatch, "dense")[1]["module"] = "keras.initializers"
    assert severity(mismatch) == [("LCF107", ERROR)]  # Keras cannot locate it there
    envelope_key = copy.deepcopy(tiny)
    _layer(envelope_key, "dense")[1]["comment"] = "wider?"
    assert severity(envelope_key) == [("LCF107", WARNING)]
    # Initializers are resolved by class_name: Keras ignores their registered_name.
    nested = copy.deepcopy(tiny)
    _layer(nested, "dense")[1]["config"]["kernel_initializer"]["registered_name"] = "x>Y"
    assert severity(nested) == [("LCF107", WARNING)]
    assert severity(_apply(tiny, _builtin_with_registered_name)) == [("LCF107", ERROR)]


@pytest.mark.parametrize(
    "key, rename",
    [
        ("output_dim", "units"),
        ("init", "kernel_initializer"),
        ("W_regularizer", "kernel_regularizer"),
    ],
)
def test_keras2_key_renames_are_candidates(cat, tiny, key, rename):
    document = copy.deepcopy(tiny)
    path, layer = _layer(document, "dense")
    layer["config"][key] = layer["config"].pop(rename)
    findings = validate(document, cat)
    assert [(f.code, f.path) for f in findings] == [("LCF102", path + ("config", key))]
    assert findings[0].data is not None and findings[0].data["candidates"][0] == rename


def test_keras2_class_rename_is_the_first_candidate(cat, stack):
    document = copy.deepcopy(stack)
    _layer(document, "bi")[1]["config"]["layer"]["class_name"] = "CuDNNLSTM"
    (finding,) = validate(document, cat)
    assert finding.code == "LCF101"
    assert finding.path == ("config", "layers", 1, "config", "layer", "class_name")
    assert finding.data is not None and finding.data["candidates"][0]["class_name"] == "LSTM"


def test_wrapped_and_sequential_layers_are_checked_against_their_class(cat, stack):
    document = copy.deepcopy(stack)
    path, bi = _layer(document, "bi")
    bi["config"]["layer"]["config"]["unitz"] = bi["config"]["layer"]["config"].pop("units")
    bi["config"]["backward_layer"]["config"]["return_sequences"] = "yes"
    _layer(document, "out")[1]["config"]["activation"] = "rellu"
    found = [(f.code, f.path) for f in validate(document, cat)]
    assert found == [
        ("LCF102", path + ("config", "layer", "config", "unitz")),
        ("LCF104", path + ("config", "backward_layer", "config", "return_sequences")),
        ("LCF105", ("config", "layers", 2, "config", "activation")),
    ]


def test_duplicate_config_names_under_distinct_entry_names(cat, tiny):
    # Keras checks the layers' own names ("The name ... is used 2 times in the model").
    document = copy.deepcopy(tiny)
    path, dropout = _layer(document, "dropout")
    dropout["config"]["name"] = "dense"
    found = [(f.code, f.path) for f in validate(document, cat)]
    assert found == [("LCF201", path + ("config", "name"))]


def test_functional_entries_need_their_name_and_nodes(cat, tiny):
    document = copy.deepcopy(tiny)
    path, dense = _layer(document, "dense")
    del dense["inbound_nodes"]
    found = [(f.code, f.path, f.part, f.data) for f in validate(document, cat)]
    assert found == [("LCF103", path, "open", {"key": "inbound_nodes"})]


def test_sequential_duplicate_names(cat, stack):
    document = copy.deepcopy(stack)
    _layer(document, "out")[1]["config"]["name"] = "bi"
    (finding,) = validate(document, cat)
    assert (finding.code, finding.path) == ("LCF201", ("config", "layers", 2, "config", "name"))


def test_model_links_inside_a_nested_model(cat):
    document = _roundtrip(_functional_in_functional())
    sub_path, sub = _layer(document, "sub")
    (dense_node,) = _layer(sub, "sub_dense")[1]["inbound_nodes"]
    dense_node["args"][0]["config"]["keras_history"][0] = "nowhere"
    (finding,) = validate(document, cat)
    dense_path, _ = _layer(sub, "sub_dense")
    assert finding.code == "LCF202"
    assert finding.path[: len(sub_path) + len(dense_path)] == sub_path + dense_path


def test_special_envelopes_are_not_classes(cat, tiny):
    document = copy.deepcopy(tiny)
    _, dense = _layer(document, "dense")
    dense["config"]["activation"] = {
        "module": "builtins",
        "class_name": "function",
        "config": "my_activation",
        "registered_name": "function",
    }
    (node,) = dense["inbound_nodes"]
    node["kwargs"] = {
        "mask": {"class_name": "__numpy__", "config": {"value": [1, 0], "dtype": "bool"}},
        "training": {"class_name": "__ellipsis__", "config": {}},
        "extra": {"class_name": "__tuple__", "config": {"value": [1, 2]}},
    }
    assert validate(document, cat) == []


def test_function_envelope_needs_a_name(cat, tiny):
    document = copy.deepcopy(tiny)
    path, dense = _layer(document, "dense")
    dense["config"]["activation"] = {"module": "builtins", "class_name": "function", "config": 3}
    found = [(f.code, f.path) for f in validate(document, cat)]
    assert found == [("LCF104", path + ("config", "activation", "config"))]


def test_envelopes_where_the_schema_says_nothing_are_still_checked(cat, tiny):
    document = copy.deepcopy(tiny)
    path, _ = _layer(document, "dense")
    (node,) = _layer(document, "dense")[1]["inbound_nodes"]
    node["kwargs"]["helper"] = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"units": "3"},
    }
    found = [(f.code, f.path) for f in validate(document, cat)]
    assert found == [("LCF104", path + ("inbound_nodes", 0, "kwargs", "helper", "config", "units"))]


def test_custom_class_registered_name_rules(cat, fixtures_on_path):
    from custom.registered_layers import Gated

    written = _roundtrip(Gated(3))
    assert written["registered_name"] == "acme>Gated"
    missing = {**written, "registered_name": None}
    assert [(f.code, f.path) for f in validate(missing, cat)] == [("LCF107", ("registered_name",))]
    wrong = {**written, "registered_name": "other>Gated"}
    assert [(f.code, f.path) for f in validate(wrong, cat)] == [("LCF107", ("registered_name",))]


def test_classes_of_packages_the_catalog_does_not_know(cat, tiny):
    document = copy.deepcopy(tiny)
    path, dense = _layer(document, "dense")
    dense.update(module="acme_models.layers", class_name="Fancy", registered_name="acme>Fancy")
    (finding,) = validate(document, cat)
    assert (finding.code, finding.path, finding.severity) == (
        "LCF101",
        path + ("class_name",),
        WARNING,
    )
    assert "module acme_models.layers, which the catalog does not cover" in finding.message
    assert "add acme_models.layers to `modules`" in finding.message
    # without a module, the package of its registered_name
    dense.pop("module")
    (finding,) = validate(document, cat)
    assert "'Fancy' is from package acme, which the catalog does not cover" in finding.message
    dense["module"] = "acme_models.layers"
    # a private Keras module the catalog does not cover is imported by Keras: not a finding
    dense.update(module="keras.src.ops.numpy", class_name="Fancy", registered_name="Fancy")
    assert validate(document, cat) == []
    # a module the catalog covers must hold the class
    dense.update(module="keras.layers", class_name="Fancy", registered_name=None)
    assert [(f.code, f.severity) for f in validate(document, cat)] == [("LCF101", ERROR)]


def test_missing_module_at_the_top_level(cat, tiny):
    document = _layer(tiny, "dense")[1]
    bare = {"class_name": "Dense", "config": document["config"]}
    (finding,) = validate(bare, cat)
    assert (finding.code, finding.path, finding.part) == ("LCF107", (), "open")
    assert finding.data is not None and finding.data["module"] == "keras.layers"
    # Nested envelopes without module go through Keras's by-name loader: not a problem.
    sequential = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "s", "layers": [bare]},
    }
    assert validate(sequential, cat) == []


# -- Keras 2 documents ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["keras2_sequential", "keras2_functional"])
def test_keras2_document_gets_one_legacy_finding(cat, name):
    document = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    findings = validate(document, cat)
    assert [(f.code, f.path, f.severity) for f in findings] == [("LCF108", ("class_name",), ERROR)]
    (legacy,) = findings
    assert legacy.data is not None and legacy.data["kind"] == "keras2"
    assert legacy.data["module"] is not None
    keys = {marker["key"] for marker in legacy.data["markers"]}
    assert {"keras_version", "batch_input_shape"} <= keys
    assert any(path[-1] == "batch_input_shape" for path, _, _ in legacy.related)


def test_keras2_functional_markers(cat):
    document = json.loads((DATA / "keras2_functional.json").read_text(encoding="utf-8"))
    (legacy,) = validate(document, cat)
    assert legacy.data is not None
    keys = {marker["key"] for marker in legacy.data["markers"]}
    assert {"inbound_nodes", "axis"} <= keys


def test_keras2_document_still_reports_real_mistakes(cat):
    document = json.loads((DATA / "keras2_sequential.json").read_text(encoding="utf-8"))
    document["config"]["layers"][2]["config"]["rate"] = 3
    # a Keras 1 name of a key Dense has is part of the upgrade; one it does not have is not
    document["config"]["layers"][3]["config"]["output_dim"] = document["config"]["layers"][3][
        "config"
    ].pop("units")
    document["config"]["layers"][1]["config"]["nb_filter"] = 3
    found = [(f.code, f.path) for f in validate(document, cat)]
    assert found == [
        ("LCF108", ("class_name",)),
        ("LCF102", ("config", "layers", 1, "config", "nb_filter")),
        ("LCF106", ("config", "layers", 2, "config", "rate")),
    ]
    (legacy, *_) = validate(document, cat)
    assert legacy.data is not None
    assert "output_dim" in {marker["key"] for marker in legacy.data["markers"]}


def test_keras2_links_are_checked(cat):
    document = json.loads((DATA / "keras2_functional.json").read_text(encoding="utf-8"))
    document["config"]["layers"][1]["inbound_nodes"][0][0][0] = "input_2"
    found = [(f.code, f.path) for f in validate(document, cat)]
    assert ("LCF202", ("config", "layers", 1, "inbound_nodes", 0, 0, 0)) in found


def test_keras3_documents_are_never_legacy(cat, application_config, tiny, stack):
    for document in (application_config("ResNet50"), tiny, stack):
        assert not [f for f in validate(document, cat) if f.code == "LCF108"]


# -- splitting for the server --------------------------------------------------------------------


def test_validate_is_composed_of_the_cacheable_pieces(cat, tiny):
    document = _apply(tiny, _dangling_keras_history)
    _padding_typo(document)
    pieces = validate_envelope(document, cat, (), shallow=True)
    for path, layer, kind in model_layers(document, cat):
        assert kind == "functional_layer"
        # cached by the layer's text: computed at the root, moved to where the layer is
        alone = validate_envelope(layer, cat, (), kind=kind, top_level=False)
        pieces += [f.prefixed(path) for f in alone]
        assert [f.prefixed(path) for f in alone] == validate_envelope(layer, cat, path, kind=kind)
    pieces += validate_model_links(document, ())
    assert sorted(map(repr, fold_legacy(document, pieces))) == sorted(
        map(repr, validate(document, cat))
    )
    assert {f.code for f in pieces} == {"LCF105", "LCF202"}


def test_shallow_top_level_leaves_the_layers_out(cat, tiny):
    document = _apply(tiny, _padding_typo)
    assert validate_envelope(document, cat, shallow=True) == []
    assert [f.code for f in validate_envelope(document, cat)] == ["LCF105"]


def test_sequential_layers_are_handed_out_as_layer_envelopes(cat, stack):
    kinds = {kind for _, _, kind in model_layers(stack, cat)}
    assert kinds == {"envelope.layer"}


def test_validation_of_nasnet_whole_and_by_layer(cat, application_config):
    """Keras wrote it: no error, whole or one envelope at a time (speed: bench_validation)."""
    document = application_config("NASNetLarge")
    assert len(document["config"]["layers"]) > 1000
    assert not [f for f in validate(document, cat) if f.severity == 1]
    layers = list(model_layers(document, cat))
    path, envelope, kind = layers[500]
    assert not [f for f in validate_envelope(envelope, cat, path, kind=kind) if f.severity == 1]


def _seconds(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


# -- the schema interpreter ----------------------------------------------------------------------


def _mini_catalog(config_schema: dict[str, Any], **defs: Any) -> Catalog:
    """A one-class catalog around a hand-written config schema."""
    envelope = {
        "type": "object",
        "required": ["class_name", "config"],
        "properties": {
            "module": {"type": ["string", "null"]},
            "class_name": {"type": "string"},
            "config": {"type": "object"},
            "registered_name": {"type": ["string", "null"]},
        },
        "additionalProperties": False,
        "allOf": [{"$ref": "#/$defs/dispatch.layer"}],
    }
    return Catalog.from_json(
        {
            "classes": [
                {
                    "id": "pkg.Thing",
                    "class_name": "Thing",
                    "aliases": [],
                    "module": "pkg",
                    "registered_name": None,
                    "family": "layer",
                    "custom": False,
                    "schema_ref": "#/$defs/pkg.Thing",
                }
            ],
            "names": {},
            "schema": {
                "$ref": "#/$defs/envelope.layer",
                "$defs": {
                    "envelope.layer": envelope,
                    "dispatch.layer": {"allOf": []},
                    "pkg.Thing": {"title": "Thing", **config_schema},
                    **defs,
                },
            },
        }
    )


def _thing(config: dict[str, Any]) -> dict[str, Any]:
    return {"module": "pkg", "class_name": "Thing", "config": config}


def test_an_unknown_schema_keyword_fails_loudly():
    catalog = _mini_catalog({"type": "object", "properties": {"n": {"multipleOf": 2}}})
    with pytest.raises(SchemaError, match="multipleOf"):
        validate(_thing({"n": 3}), catalog)


def test_an_unresolvable_ref_fails_loudly():
    catalog = _mini_catalog({"type": "object", "properties": {"n": {"$ref": "#/$defs/nope"}}})
    with pytest.raises(SchemaError, match="nope"):
        validate(_thing({"n": 3}), catalog)


def test_generic_keywords():
    catalog = _mini_catalog(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "pair": {
                    "type": "array",
                    "prefixItems": [{"type": "string"}, {"type": "integer", "minimum": 0}],
                    "minItems": 2,
                    "maxItems": 2,
                },
                "code": {"type": "string", "pattern": "^[a-z0-9]+_from_[a-z]+$"},
                "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "mode": {"const": "fast"},
                "shape": {"allOf": [{"type": "array"}, {"items": {"type": "integer"}}]},
                "either": {"$ref": "#/$defs/either"},
                "switch": {
                    "type": "object",
                    "if": {"properties": {"kind": {"const": "a"}}, "required": ["kind"]},
                    "then": {"required": ["a_value"]},
                    "else": {"required": ["b_value"]},
                },
            },
        },
        either={"anyOf": [{"type": "integer", "maximum": 3}, {"type": "string", "enum": ["x"]}]},
    )
    good = {
        "pair": ["a", 0],
        "code": "int8_from_float",
        "ratio": 0.5,
        "mode": "fast",
        "shape": [1, 2],
        "either": "x",
        "switch": {"kind": "a", "a_value": 1},
    }
    assert validate(_thing(good), catalog) == []
    bad = {
        "pair": ["a", -1, 2],
        "code": "int8",
        "ratio": 1,
        "mode": "slow",
        "shape": [1, "2"],
        "either": 5,
        "switch": {"kind": "b"},
    }
    found = [(f.code, f.path) for f in validate(_thing(bad), catalog)]
    assert found == [
        ("LCF106", ("config", "pair")),
        ("LCF106", ("config", "pair", 1)),
        ("LCF105", ("config", "code")),
        ("LCF106", ("config", "ratio")),
        ("LCF105", ("config", "mode")),
        ("LCF104", ("config", "shape", 1)),
        ("LCF106", ("config", "either")),
        ("LCF103", ("config", "switch")),
    ]
    wrong_type = validate(_thing({"either": [1]}), catalog)
    assert [(f.code, f.data) for f in wrong_type] == [
        ("LCF104", {"expected": ["integer", "string"], "value": None})
    ]


def test_booleans_are_not_numbers_and_integers_are_numbers():
    catalog = _mini_catalog(
        {
            "type": "object",
            "properties": {"n": {"type": "number"}, "i": {"type": "integer"}},
        }
    )
    assert validate(_thing({"n": 1, "i": 2}), catalog) == []
    found = [(f.code, f.path) for f in validate(_thing({"n": True, "i": False}), catalog)]
    assert found == [("LCF104", ("config", "n")), ("LCF104", ("config", "i"))]


# -- robustness and isolation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [None, 3, "x", [], {}, {"class_name": 3}, {"config": {}}, {"class_name": "Dense", "config": 3}],
)
def test_odd_documents_do_not_crash(cat, document):
    findings = validate(document, cat)
    assert all(isinstance(f, Finding) for f in findings)


def test_deep_nesting_does_not_crash(cat, tiny):
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    document = copy.deepcopy(tiny)
    _layer(document, "dense")[1]["inbound_nodes"][0]["kwargs"]["deep"] = deep
    assert validate(document, cat) == []
    nested: Any = {"class_name": "Sequential", "module": "keras", "config": {"layers": []}}
    for _ in range(3_000):
        nested = {"module": "keras", "class_name": "Sequential", "config": {"layers": [nested]}}
    assert validate(nested, cat) == []


def test_threads_share_one_compiled_catalog(catalog, application_config):
    from concurrent.futures import ThreadPoolExecutor

    fresh = Catalog.from_json(catalog)  # nothing compiled yet
    document = copy.deepcopy(application_config("MobileNetV2"))
    _layer(document, "Conv1")[1]["config"]["padding"] = "sme"
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: validate(document, fresh), range(8)))
    assert all(result == results[0] for result in results)
    assert [f.code for f in results[0]] == ["LCF105"]


def test_the_server_side_never_imports_keras(catalog, tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog), encoding="utf-8")
    document = {"module": "keras.layers", "class_name": "Dense", "config": {"units": "3"}}
    code = textwrap.dedent(
        f"""
        import json, sys
        from layercfg.server.catalog import Catalog
        from layercfg.server.services.validation import validate
        catalog = Catalog.load({str(path)!r})
        findings = validate({document!r}, catalog)
        assert [f.code for f in findings] == ["LCF104"], findings
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "tensorflow"))
        assert not loaded, loaded
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_validation_module_does_not_mention_keras_imports():
    source = Path(validation.__file__).read_text(encoding="utf-8")
    assert "import keras" not in source and "import tensorflow" not in source


@pytest.mark.parametrize("class_name", [[1, [2]], {"a": 1}, 3, None])
def test_a_class_name_that_is_not_a_string_in_a_nested_object(cat, class_name):
    """An initializer is one of several object branches; a list there used to raise."""
    config = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {
            "name": "d",
            "units": 3,
            "kernel_initializer": {
                "module": "keras.initializers",
                "class_name": class_name,
                "config": {},
            },
        },
    }
    findings = validate(config, cat)
    assert findings
    assert all(
        f.path[:3] == ("config", "kernel_initializer", "class_name")
        or f.path[:2] == ("config", "kernel_initializer")
        for f in findings
    ), findings
