"""Agreement with Keras 2 (tf_keras): a model tf_keras writes and loads gets no fast error when
it is checked against the tf_keras catalog, as Keras 2 loads it."""

from __future__ import annotations

import json
import warnings

import pytest

tf_keras = pytest.importorskip("tf_keras")

from layercfg.schema_builder.catalog import load_or_build  # noqa: E402
from layercfg.server.catalog import Catalog  # noqa: E402
from layercfg.server.services.findings import INFORMATION  # noqa: E402
from layercfg.server.services.validation import ERROR, validate  # noqa: E402


@pytest.fixture(scope="module")
def legacy_catalog():
    return Catalog.from_json(load_or_build((), "tf_keras"))


@pytest.fixture(scope="module")
def mobilenet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = tf_keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35)
    document = json.loads(model.to_json())
    tf_keras.backend.clear_session()
    return document


def _batch_norms(document):
    return [
        layer["config"]
        for layer in document["config"]["layers"]
        if layer["class_name"] == "BatchNormalization"
    ]


def test_tf_keras_writes_a_built_axis_as_a_list_and_loads_it(mobilenet):
    axes = {json.dumps(config["axis"]) for config in _batch_norms(mobilenet)}
    assert axes == {"[3]"}
    assert "module" not in mobilenet
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf_keras.models.model_from_json(json.dumps(mobilenet))
    tf_keras.backend.clear_session()


def test_a_keras2_model_tf_keras_loads_has_no_fast_error(legacy_catalog, mobilenet):
    findings = validate(mobilenet, legacy_catalog)
    assert [(f.code, f.path) for f in findings if f.severity == ERROR] == []
    # Being Keras 2 is the offer of the upgrade, information: tf_keras loads it as it is.
    (legacy,) = [f for f in findings if f.code == "LCF108"]
    assert legacy.severity == INFORMATION and legacy.path == ("class_name",)


def test_an_int_axis_still_passes_and_a_string_axis_does_not(legacy_catalog):
    layer = {"module": "keras.layers", "class_name": "BatchNormalization", "config": {"axis": -1}}
    assert [f for f in validate(layer, legacy_catalog) if f.severity == ERROR] == []
    wrong = {**layer, "config": {"axis": "3"}}
    codes = [f.code for f in validate(wrong, legacy_catalog) if f.severity == ERROR]
    assert "LCF104" in codes


def test_the_same_document_against_keras3_is_still_a_keras2_document():
    keras3 = Catalog.from_json(load_or_build(()))
    document = {
        "class_name": "Sequential",
        "config": {"name": "s", "layers": [{"class_name": "Dense", "config": {"units": 2}}]},
        "keras_version": "2.15.0",
        "backend": "tensorflow",
    }
    codes = [f.code for f in validate(document, keras3)]
    assert "LCF108" in codes
