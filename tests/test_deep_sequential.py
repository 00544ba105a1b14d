"""A Sequential is loaded in linear time, with Keras's verdict: the linear load and Keras's
own layer-by-layer load (one rebuild per layer) agree on every finding and every layer."""

from __future__ import annotations

import functools
import json

import pytest

keras = pytest.importorskip("keras")

from layercfg.schema_builder.deep import DeepChecker  # noqa: E402
from layercfg.schema_builder.keras_api import KerasAPI  # noqa: E402


@pytest.fixture(scope="module")
def api():
    return KerasAPI()


def _checkers(api):
    linear, keras_way = DeepChecker(api), DeepChecker(api)
    keras_way.linear_sequential = False
    return linear, keras_way


def _serialized(*layers, **kwargs):
    model = keras.Sequential(list(layers), **kwargs)
    return json.loads(json.dumps(keras.saving.serialize_keras_object(model)))


def _layer(value, index):
    return value["config"]["layers"][index]


@functools.cache
def _documents():
    out = {}
    out["dense stack"] = _serialized(
        keras.Input((8,)), *[keras.layers.Dense(4, name=f"d{i}") for i in range(6)]
    )
    conv = _serialized(
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(4, 3, name="conv"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(2, activation="softmax", name="out"),
    )
    out["conv flatten dense"] = conv
    no_input = _serialized(keras.layers.Dense(3, name="a"), keras.layers.Dense(2, name="b"))
    no_input["build_config"] = {"input_shape": [None, 5]}
    out["build_config only"] = no_input
    out["unbuilt"] = _serialized(keras.layers.Dense(3, name="a"), keras.layers.Dense(2, name="b"))
    out["empty"] = _serialized()
    bad_shape = json.loads(json.dumps(conv))
    _layer(bad_shape, 1)["config"]["kernel_size"] = [20, 20]  # larger than the 12x12 input
    out["kernel larger than input"] = bad_shape
    mismatch = json.loads(json.dumps(out["dense stack"]))
    conv2d = keras.saving.serialize_keras_object(keras.layers.Conv2D(2, 3, name="c"))
    mismatch["config"]["layers"].append(json.loads(json.dumps(conv2d)))
    out["Conv2D after Dense"] = mismatch
    negative = json.loads(json.dumps(out["dense stack"]))
    _layer(negative, 3)["config"]["units"] = -2
    out["negative units"] = negative
    typo = json.loads(json.dumps(out["dense stack"]))
    _layer(typo, 2)["config"]["unitz"] = 4
    out["unknown argument"] = typo
    unknown = json.loads(json.dumps(out["dense stack"]))
    _layer(unknown, 4)["class_name"] = "Dens"
    out["unknown class"] = unknown
    twice = json.loads(json.dumps(out["dense stack"]))
    _layer(twice, 5)["config"]["name"] = "d1"
    out["duplicate name"] = twice
    inputs = json.loads(json.dumps(out["dense stack"]))
    inputs["config"]["layers"].insert(3, json.loads(json.dumps(_layer(inputs, 0))))
    out["second input layer"] = inputs
    return out


@pytest.mark.parametrize("name", sorted(_documents()))
def test_the_linear_load_agrees_with_keras_layer_by_layer_load(api, name):
    document = json.loads(json.dumps(_documents()[name]))
    linear, keras_way = _checkers(api)
    assert linear.check(document) == keras_way.check(document)


def test_the_verdicts_are_the_ones_keras_gives(api):
    documents = _documents()
    linear, _ = _checkers(api)
    for name in ("dense stack", "conv flatten dense", "build_config only", "unbuilt", "empty"):
        result = linear.check(documents[name])
        assert not [f for f in result["findings"] if f["severity"] == 1], (name, result)
    stack = linear.check(documents["dense stack"])
    assert [layer["output_shape"] for layer in stack["layers"][1:]] == ["(None, 4)"] * 6
    assert stack["total_params"] == 8 * 4 + 4 + 5 * (4 * 4 + 4)
    for name in (
        "kernel larger than input",
        "Conv2D after Dense",
        "negative units",
        "unknown argument",
        "unknown class",
        "duplicate name",
        "second input layer",
    ):
        result = linear.check(documents[name])
        assert [f for f in result["findings"] if f["severity"] == 1], (name, result)


def test_each_layer_is_called_once_not_once_per_rebuild(api, monkeypatch):
    n = 40
    document = _serialized(
        keras.Input((4,)), *[keras.layers.Dense(4, name=f"d{i}") for i in range(n)]
    )
    calls = []
    original = keras.layers.Dense.compute_output_spec

    def counted(self, *args, **kwargs):
        calls.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(keras.layers.Dense, "compute_output_spec", counted)
    linear, keras_way = _checkers(api)
    result = linear.check(document)
    assert len(result["layers"]) == n + 1
    linear_calls = len(calls)
    calls.clear()
    keras_way.check(document)
    # Keras's own load calls layer k once per later rebuild: about n²/2 calls in all.
    assert len(calls) >= n * (n - 1) / 2
    assert linear_calls <= 2 * n
