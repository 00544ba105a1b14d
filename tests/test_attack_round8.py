"""Hostile input for the deep check, through Keras: tf_keras layers whose config names a file
they read while loading (a lookup layer's vocabulary), whose lines came back in the errors,
and TFOpLambda layers that call any TensorFlow symbol they name (tf.print to a file) on the
document's constants while the model is rebuilt; and a cached part of the catalog whose
classes' fields are of the wrong types (the build failed on it at every start)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from layercfg.schema_builder import catalog, catalog_cache, catalog_parts
from layercfg.schema_builder.deep import DeepChecker
from layercfg.schema_builder.keras_api import KerasAPI

SECRET = "SECRET-TOKEN-4242"


@pytest.fixture(scope="module")
def legacy() -> KerasAPI:
    return KerasAPI("tf_keras")


def _text_vectorization(vocabulary: str) -> dict[str, Any]:
    return {
        "class_name": "TextVectorization",
        "config": {
            "name": "t",
            "vocabulary": vocabulary,
            "standardize": "lower_and_strip_punctuation",
            "split": "whitespace",
            "output_mode": "int",
            "max_tokens": None,
            "ngrams": None,
            "output_sequence_length": None,
            "pad_to_max_tokens": False,
            "sparse": False,
            "ragged": False,
            "idf_weights": None,
            "encoding": "utf-8",
            "vocabulary_size": None,
        },
    }


READERS = {
    "StringLookup": lambda path: {
        "class_name": "StringLookup",
        "config": {"name": "s", "vocabulary": path},
    },
    "IntegerLookup": lambda path: {
        "class_name": "IntegerLookup",
        "config": {"name": "i", "vocabulary": path},
    },
    "TextVectorization": _text_vectorization,
    "StringLookup in a Sequential": lambda path: {
        "class_name": "Sequential",
        "config": {
            "name": "m",
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_input_shape": [None], "name": "a"}},
                {"class_name": "StringLookup", "config": {"name": "s", "vocabulary": path}},
            ],
        },
    },
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_a_tf_keras_vocabulary_file_is_never_opened(legacy, tmp_path, name):
    """The file's repeated line made tf_keras fail with it in the message ("Key SECRET has 1
    and trying to add value 2"): what a document names is read, and shown, in the editor
    or a CI log. Refused as Keras 3's safe mode refuses it."""
    secret = tmp_path / "credentials.txt"
    secret.write_text(f"{SECRET}\n{SECRET}\n", encoding="utf-8")
    found = DeepChecker(legacy).check(READERS[name](str(secret)))
    assert SECRET not in json.dumps(found)
    refused = [f for f in found["findings"] if f["code"] == "LCF303"]
    assert refused and tuple(refused[0]["path"][-2:]) == ("config", "vocabulary"), refused


def test_an_inline_tf_keras_vocabulary_is_still_loaded(legacy):
    found = DeepChecker(legacy).check(READERS["StringLookup"]([SECRET, "b"]))
    assert not [f for f in found["findings"] if f["severity"] == 1], found["findings"]


def test_a_keras3_vocabulary_file_is_refused_by_safe_mode(tmp_path):
    """What held: Keras 3 refuses a vocabulary file outside the archive on its own."""
    secret = Path(tmp_path / "credentials.txt")
    secret.write_text(f"{SECRET}\n{SECRET}\n", encoding="utf-8")
    document = {
        "module": "keras.layers",
        "class_name": "StringLookup",
        "config": {"name": "s", "vocabulary": str(secret)},
        "registered_name": None,
    }
    found = DeepChecker(KerasAPI()).check(document)
    assert SECRET not in json.dumps(found)
    assert {f["code"] for f in found["findings"]} == {"LCF303"}


# -- TFOpLambda: a TensorFlow symbol called on the document's constants ----------------------------


def _functional(op: dict[str, Any], node: list[Any]) -> dict[str, Any]:
    """A tf_keras Functional model of an input and ``op`` called as ``node`` says."""
    first = {"batch_input_shape": [None, 3], "dtype": "float32", "name": "a"}
    layers = [
        {"class_name": "InputLayer", "config": first, "name": "a", "inbound_nodes": []},
        {**op, "name": "op", "inbound_nodes": [node]},
    ]
    return {
        "class_name": "Functional",
        "config": {
            "name": "m",
            "layers": layers,
            "input_layers": [["a", 0, 0]],
            "output_layers": [["op", 0, 0]],
        },
    }


def _op(function: str, class_name: str = "TFOpLambda") -> dict[str, Any]:
    return {"class_name": class_name, "config": {"name": "op", "function": function}}


def _constant(value: Any, **kwargs: Any) -> list[Any]:
    return [["_CONSTANT_VALUE", -1, value, kwargs]]


CALLS = {
    "tf.print to a file": lambda marker: (
        "print",
        _constant("x", output_stream=f"file://{marker}"),
    ),
    "tf.io.write_file": lambda marker: ("io.write_file", _constant(str(marker), contents="x")),
    "tf.io.gfile.makedirs": lambda marker: ("io.gfile.makedirs", _constant(str(marker))),
    "tf.compat.v1.write_file": lambda marker: (
        "compat.v1.write_file",
        _constant(str(marker), contents="x"),
    ),
    "tf.summary.create_file_writer": lambda marker: (
        "summary.create_file_writer",
        _constant(str(marker)),
    ),
    "tf.random.set_seed": lambda marker: ("random.set_seed", _constant(1)),
    "tf.no_gradient": lambda marker: ("no_gradient", _constant("MatMul")),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_tf_op_layer_naming_no_modeling_op_is_never_called(legacy, tmp_path, name):
    """tf.print with an output_stream of a file wrote the file (a marker here) before."""
    marker = tmp_path / "marker"
    function, node = CALLS[name](marker)
    found = DeepChecker(legacy).check(_functional(_op(function), node))
    assert not marker.exists()
    refused = [f for f in found["findings"] if f["code"] == "LCF303"]
    assert refused and tuple(refused[0]["path"][-2:]) == ("config", "function"), found


@pytest.mark.parametrize("function", ["math.add", "compat.v1.math.add", "add"])
def test_a_tf_op_layer_of_a_math_op_is_still_rebuilt(legacy, function):
    found = DeepChecker(legacy).check(_functional(_op(function), [["a", 0, 0, {"y": 1.0}]]))
    assert not [f for f in found["findings"] if f["severity"] == 1], found["findings"]


# -- a cached part whose fields are of the wrong types --------------------------------------------

MISTYPED = {
    "a family that is a number": ("family", 5),
    "a class name that is a list": ("class_name", ["Dense"]),
    "a summary that is an object": ("summary", {"text": "x"}),
    "constraints that are numbers": ("constraints", [5]),
}


@pytest.fixture(scope="module")
def part_folder(tmp_path_factory) -> Path:
    """A cache folder holding the part a build of Keras's own classes wrote."""
    folder = tmp_path_factory.mktemp("cache")
    before = os.environ.get("LAYERCFG_CACHE_DIR")
    os.environ["LAYERCFG_CACHE_DIR"] = str(folder)
    try:
        catalog.load_or_build()
    finally:
        if before is None:
            del os.environ["LAYERCFG_CACHE_DIR"]
        else:
            os.environ["LAYERCFG_CACHE_DIR"] = before
    assert catalog_cache.part_path().name in os.listdir(folder)
    return folder


@pytest.mark.parametrize("name", sorted(MISTYPED))
def test_a_part_of_mistyped_fields_is_read_again_from_keras(
    part_folder, tmp_path, monkeypatch, name
):
    """Such a part is not this builder's: the classes are read from Keras again, and the
    part written then is one the next build takes."""
    monkeypatch.setenv("LAYERCFG_CACHE_DIR", str(tmp_path))
    part = json.loads((part_folder / catalog_cache.part_path().name).read_text("utf-8"))
    assert catalog_parts.classes_of_part(part, KerasAPI()) is not None  # as written, taken
    key, value = MISTYPED[name]
    part["infos"][0][key] = value
    catalog_cache.part_path().write_text(json.dumps(part), encoding="utf-8")
    # A module of its own: a build offers its part only when its modules were not imported.
    module = f"round8_module_{sorted(MISTYPED).index(name)}"
    (tmp_path / f"{module}.py").write_text("X = 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = catalog.load_or_build((module,))
    assert any(entry["class_name"] == "Dense" for entry in data["classes"])
    rewritten = json.loads(catalog_cache.part_path().read_text("utf-8"))
    assert catalog_parts.classes_of_part(rewritten, KerasAPI()) is not None
