"""The catalog and the emitted JSON Schema, checked against configs Keras itself writes."""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import jsonschema
import pytest

keras = pytest.importorskip("keras")


def _entries(catalog, family=None):
    return [e for e in catalog["classes"] if family is None or e["family"] == family]


def _entry(catalog, class_name):
    return next(e for e in catalog["classes"] if class_name in (e["class_name"], *e["aliases"]))


def _errors(validator, document):
    return [(list(e.absolute_path), e.message) for e in validator.iter_errors(document)]


def _roundtrip(obj):
    return json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))


# -- what the catalog holds -------------------------------------------------------------------


def test_every_public_layer_name_is_in_the_catalog(catalog):
    public = {
        name
        for name in dir(keras.layers)
        if isinstance(getattr(keras.layers, name), type)
        and issubclass(getattr(keras.layers, name), keras.layers.Layer)
    }
    known = {n for e in _entries(catalog, "layer") for n in (e["class_name"], *e["aliases"])}
    assert public <= known
    assert len(public) >= 160


def test_families_and_names(catalog):
    families = {e["family"] for e in catalog["classes"]}
    assert {
        "layer",
        "model",
        "initializer",
        "regularizer",
        "constraint",
        "dtype_policy",
    } <= families
    for name in (
        "Sequential",
        "Functional",
        "InputLayer",
        "GlorotUniform",
        "L2",
        "MaxNorm",
        "DTypePolicy",
    ):
        _entry(catalog, name)
    assert _entry(catalog, "Functional")["aliases"] == ["Model"]
    names = catalog["names"]
    assert names["initializer"]["glorot_uniform"] == "GlorotUniform"
    assert "relu" in names["activation"] and "float32" in names["dtype"]
    assert catalog["keras_version"] == keras.__version__


def test_signature_defaults_docs_and_source(catalog):
    dense = _entry(catalog, "Dense")
    units = dense["params"]["units"]
    assert units["required"] and units["minimum"] == 1
    assert "dimensionality" in units["description"]
    assert dense["params"]["use_bias"]["default"] is True
    assert dense["params"]["kernel_initializer"]["config_default"]["class_name"] == "GlorotUniform"
    assert dense["summary"].startswith("Just your regular densely-connected")
    assert dense["signature"].startswith("Dense(units, activation=None")
    source = Path(dense["source"]["file"])
    line = source.read_text(encoding="utf-8").splitlines()[dense["source"]["line"] - 1]
    assert line.startswith("class Dense(")


def test_docstring_coverage_of_constructor_arguments(catalog):
    total = described = 0
    for entry in catalog["classes"]:
        if entry["custom"]:
            continue
        for param in entry["params"].values():
            if param["in_signature"]:
                total += 1
                described += bool(param["description"])
    assert total > 800
    assert described / total >= 0.90, f"{described}/{total} constructor arguments described"


def test_probed_allowed_values_and_bounds(catalog):
    conv = _entry(catalog, "Conv2D")["params"]
    assert set(conv["padding"]["allowed"]) == {"valid", "same"}
    pool = _entry(catalog, "MaxPooling2D")["params"]
    assert set(pool["padding"]["allowed"]) == {"valid", "same"}  # not validated by Keras: docs
    assert "bilinear" in _entry(catalog, "Resizing")["params"]["interpolation"]["allowed"]
    rate = _entry(catalog, "Dropout")["params"]["rate"]
    assert (rate["minimum"], rate["maximum"]) == (0, 1)
    assert conv["filters"]["minimum"] == 1 and conv["strides"]["minimum"] == 1


def test_strides_accept_an_int_or_a_tuple_of_the_right_length(catalog, schema_validator):
    base = {
        "module": "keras.layers",
        "class_name": "Conv2D",
        "config": {"filters": 8, "kernel_size": 3},
    }
    for strides, ok in ((2, True), ([2, 2], True), ([2, 2, 2], False), (0, False), ([1, 0], False)):
        doc = copy.deepcopy(base)
        doc["config"]["strides"] = strides
        assert (not _errors(schema_validator, doc)) is ok, strides


def test_skipped_classes_are_reported_with_a_reason(catalog):
    skipped = {s["what"]: s["reason"] for s in catalog["skipped"]}
    assert any("TFSMLayer" in what for what in skipped)
    assert all(reason for reason in skipped.values())


# -- the schema accepts what Keras writes ---------------------------------------------------------


def test_schema_is_a_valid_2020_12_schema(catalog):
    jsonschema.Draft202012Validator.check_schema(catalog["schema"])


def test_every_instantiable_layer_config_validates(catalog, schema_validator):
    checked = 0
    for entry in _entries(catalog, "layer"):
        if not entry["instantiated"] or entry["custom"]:
            continue
        document = {
            "module": entry["module"],
            "class_name": entry["class_name"],
            "config": entry["sample_config"],
            "registered_name": entry["registered_name"],
        }
        assert _errors(schema_validator, document) == [], entry["class_name"]
        checked += 1
    assert checked >= 130


def test_configs_keras_writes_for_fresh_instances_validate(catalog, schema_validator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        objects = [
            keras.layers.Dense(3, activation="relu", kernel_regularizer="l2"),
            keras.layers.Conv2D(4, (3, 5), strides=2, padding="same", dilation_rate=1),
            keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True)),
            keras.layers.TimeDistributed(keras.layers.Dense(2)),
            keras.layers.Dense(2, activation=keras.layers.LeakyReLU()),
            keras.layers.Dense(
                2,
                kernel_initializer=keras.initializers.HeNormal(seed=1),
                kernel_constraint=keras.constraints.MaxNorm(3),
                dtype="mixed_float16",
            ),
            keras.Sequential(
                [
                    keras.Input((4,)),
                    keras.layers.Dense(2),
                    keras.Sequential([keras.layers.Dense(1)]),
                ]
            ),
        ]
    for obj in objects:
        assert _errors(schema_validator, _roundtrip(obj)) == [], obj.name


@pytest.mark.parametrize("name", ["ResNet50", "MobileNetV2", "DenseNet121", "ConvNeXtTiny"])
def test_application_models_validate(schema_validator, name):
    model = getattr(keras.applications, name)(weights=None)
    assert _errors(schema_validator, _roundtrip(model)) == []


# -- realistic mistakes are found at the right place ---------------------------------------------


def _dense(**config):
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"units": 4, **config},
        "registered_name": None,
    }


@pytest.mark.parametrize(
    "document, path, words",
    [
        (_dense(unitz=4), ["config"], "unitz"),
        (_dense(units="64"), ["config", "units"], "not of type"),
        (
            {"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3, "padding": "sme"}},
            ["config", "padding"],
            "sme",
        ),
        ({"class_name": "Dense", "config": {"activation": "relu"}}, ["config"], "'units'"),
        (
            _dense(kernel_initializer={"class_name": "GlorotUnifrom", "config": {}}),
            ["config", "kernel_initializer"],
            "",
        ),
        ({"class_name": "Dense2", "config": {}}, ["class_name"], "Dense2"),
        ({"class_name": "Dropout", "config": {"rate": 1.5}}, ["config", "rate"], "maximum"),
        (_dense(activation="rleu"), ["config", "activation"], ""),
    ],
)
def test_mistakes_are_errors_at_their_path(schema_validator, document, path, words):
    errors = _errors(schema_validator, document)
    assert any(p == path and words in m for p, m in errors), errors


def test_nested_initializer_error_names_the_class_name(schema_validator):
    document = _dense(kernel_initializer={"class_name": "GlorotUnifrom", "config": {}})
    (error,) = list(schema_validator.iter_errors(document))
    deepest = [list(e.absolute_path) for e in error.context]
    assert ["config", "kernel_initializer", "class_name"] in deepest


# -- custom modules ------------------------------------------------------------------------------


def test_custom_layer_schemas_follow_their_constructors(catalog, schema_validator):
    scale = _entry(catalog, "Scale")
    assert scale["custom"] and scale["module"] == "custom.good_layers"
    assert scale["params"]["factor"]["default"] == 1.0
    assert scale["params"]["factor"]["description"].startswith("Float")
    gated = _entry(catalog, "Gated")
    assert gated["registered_name"] == "acme>Gated" and gated["id"] == "acme>Gated"
    assert gated["params"]["units"]["required"]
    document = {
        "module": "custom.registered_layers",
        "class_name": "Gated",
        "config": {"units": 3},
        "registered_name": "acme>Gated",
    }
    assert _errors(schema_validator, document) == []
    document["config"] = {"unit": 3}
    assert _errors(schema_validator, document)


def test_defective_custom_layers_are_recorded_as_they_are(catalog):
    forgetful = _entry(catalog, "ForgetfulConfig")["params"]
    assert forgetful["alpha"]["in_signature"] and not forgetful["alpha"]["in_config"]
    pops = _entry(catalog, "PopsMissingKey")
    assert pops["params"]["width"]["default"] == 2


def test_a_broken_module_is_skipped_with_its_reason(cache_dir, fixtures_on_path):
    from layercfg.schema_builder.catalog import CatalogBuilder

    builder = CatalogBuilder(modules=("custom.broken_import",))
    builder.gather = lambda: builder._import_custom("custom.broken_import")  # skip the built-ins
    builder.gather()
    (skipped,) = builder.skipped
    assert skipped["what"] == "module custom.broken_import"
    assert "broken on purpose" in skipped["reason"]


def test_a_missing_module_is_a_clear_error(cache_dir):
    from layercfg.schema_builder.catalog import CatalogBuilder, ModuleImportError

    with pytest.raises(ModuleImportError, match="no module named 'no_such_module_here'"):
        CatalogBuilder(modules=("no_such_module_here",)).build()


# -- the cache -----------------------------------------------------------------------------------


def test_cached_catalog_is_reused_and_keyed_by_module_sources(catalog, cache_dir, tmp_path):
    from layercfg.schema_builder import cachekey, catalog_cache
    from layercfg.schema_builder import catalog as catalog_module

    path = catalog_cache.cache_path(
        ("custom.good_layers", "custom.registered_layers", "custom.defective_layers")
    )
    assert path.parent == cache_dir and path.is_file()
    before = (path.stat().st_ino, path.read_bytes())
    again = catalog_module.load_or_build(
        ("custom.good_layers", "custom.registered_layers", "custom.defective_layers")
    )
    # Loaded, not rebuilt: a rebuild writes a new file in its place (its time is set on a read).
    assert (path.stat().st_ino, path.read_bytes()) == before
    assert again["key"] == catalog["key"]

    module = tmp_path / "mine.py"
    module.write_text("X = 1\n")
    first = cachekey.compute(("mine",), search_path=[str(tmp_path)])
    module.write_text("X = 2\n")
    second = cachekey.compute(("mine",), search_path=[str(tmp_path)])
    assert first.filename != second.filename
    assert cachekey.compute(()).version == keras.__version__
    assert os.environ["LAYERCFG_CACHE_DIR"] == str(cache_dir)
