"""tf_keras's loader behind the import guard, and hub.KerasLayer -> keras.layers.TFSMLayer
(``layercfg convert``, ``layercfg upgrade``, the editor's refactoring), with real tf_keras,
tensorflow_hub and a tiny SavedModel exported in this session: never anything downloaded."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys

import pytest

tf = pytest.importorskip("tensorflow")
tf_keras = pytest.importorskip("tf_keras")
hub = pytest.importorskip("tensorflow_hub")

from layercfg import cli  # noqa: E402
from layercfg.schema_builder.keras_api import KerasAPI, RefusedModule  # noqa: E402
from layercfg.server.services import convert  # noqa: E402
from layercfg.server.services.upgrade import upgrade  # noqa: E402

URL = "https://tfhub.dev/google/nnlm-en-dim50/2"


class _TwoOutputs(tf.Module):
    """A batch of strings in; a signature with two outputs, and ``__call__``."""

    def __init__(self):
        self.scale = tf.Variable([1.0, 2.0, 3.0])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def __call__(self, text):
        length = tf.cast(tf.strings.length(text), tf.float32)
        return {"embedding": length[:, None] * self.scale[None, :], "length": length}


@pytest.fixture(scope="session")
def two_outputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "two_outputs"
    module = _TwoOutputs()
    tf.saved_model.save(
        module, str(folder), signatures={"serving_default": module.__call__.get_concrete_function()}
    )
    return folder


@pytest.fixture(scope="session")
def tf_keras_api():
    return KerasAPI("tf_keras")


def hub_layer(**config):
    return {
        "module": "tensorflow_hub.keras_layer",
        "class_name": "KerasLayer",
        "config": {"name": "keras_layer", "trainable": False, "dtype": "float32", **config},
        "registered_name": "KerasLayer",
    }


def hub_model(**config):
    """A tf_keras Sequential model around a KerasLayer, as tf_keras writes it."""
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_input_shape": [None], "dtype": "string", "name": "text"},
                    "registered_name": None,
                },
                hub_layer(**config),
            ],
        },
        "keras_version": tf_keras.__version__,
        "backend": "tensorflow",
    }


# -- the import guard --------------------------------------------------------------------------


def _dense(activation):
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"units": 2, "activation": activation},
        "registered_name": None,
    }


def _function(module, name):
    return {"module": module, "class_name": "function", "config": name, "registered_name": name}


def test_tf_keras_imports_nothing_a_config_names_beyond_its_own(tf_keras_api, tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "lcf_marker_module.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\nclass Boom:\n    pass\n"
    )
    sys.path.append(str(tmp_path))
    try:
        hostile = [
            {
                "module": "lcf_marker_module",
                "class_name": "Boom",
                "config": {},
                "registered_name": None,
            },
            {
                "module": "subprocess",
                "class_name": "Popen",
                "config": {"args": ["touch", str(marker)]},
                "registered_name": None,
            },
            _dense(_function("os", "system")),
            _dense(_function("builtins", "eval")),
            _dense(_function("shutil", "rmtree")),
            # Keras's own, but not a modeling function: not seen through the guard.
            _dense(_function("tf_keras.src.utils.data_utils", "get_file")),
        ]
        for document in hostile:
            with pytest.raises(TypeError):
                tf_keras_api.deserialize(document)
        assert not marker.exists()
        assert "lcf_marker_module" not in sys.modules
        with pytest.raises(RefusedModule, match="not imported"):
            tf_keras_api.deserialize(hostile[0])
        # What it keeps out: tf_keras's own loader, without the guard, runs the module.
        with pytest.raises(TypeError, match="from_config"):
            tf_keras.saving.deserialize_keras_object(hostile[0])
        assert marker.exists()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("lcf_marker_module", None)


def test_the_guard_lets_through_keras_hub_and_configured_modules(tf_keras_api, tmp_path):
    relu = tf_keras_api.deserialize(_dense(_function("keras.activations", "relu")))
    assert relu.activation.__name__ == "relu"
    assert tf_keras_api.deserialize(_dense("tanh")).units == 2
    (tmp_path / "lcf_trusted_layers.py").write_text(
        "import tf_keras\n"
        "class Twice(tf_keras.layers.Layer):\n"
        "    def call(self, x):\n        return 2 * x\n"
    )
    sys.path.append(str(tmp_path))
    document = {
        "module": "lcf_trusted_layers",
        "class_name": "Twice",
        "config": {},
        "registered_name": None,
    }
    try:
        with pytest.raises(RefusedModule):
            tf_keras_api.deserialize(document)  # not configured
        tf_keras_api.modules = ("lcf_trusted_layers",)
        assert type(tf_keras_api.deserialize(document)).__name__ == "Twice"
    finally:
        tf_keras_api.modules = ()
        sys.path.remove(str(tmp_path))
        sys.modules.pop("lcf_trusted_layers", None)


def test_a_relative_keras_layer_handle_resolves_against_the_document(
    tf_keras_api, two_outputs, tmp_path
):
    shutil.copytree(two_outputs, tmp_path / "hub_module")
    tf_keras_api.document_folder = str(tmp_path)
    try:
        model = tf_keras_api.deserialize(
            hub_model(handle="hub_module", signature="serving_default", output_key="embedding")
        )
    finally:
        tf_keras_api.document_folder = None
    assert model.output_shape == (None, 3)


# -- convert -----------------------------------------------------------------------------------


def test_a_local_keras_layer_becomes_a_tfsm_layer(two_outputs, tmp_path):
    shutil.copytree(two_outputs, tmp_path / "hub_module")
    converted = convert.convert_hub_layer(
        hub_layer(
            handle="hub_module",
            signature="serving_default",
            output_key="embedding",
            arguments={"x": 1},
            trainable=True,
        ),
        str(tmp_path),
    )
    assert converted.envelope == {
        "module": "keras.layers",
        "class_name": "TFSMLayer",
        "config": {
            "name": "keras_layer",
            "trainable": True,
            "dtype": "float32",
            "filepath": "hub_module",
            "call_endpoint": "serving_default",
        },
        "registered_name": None,
    }
    notes = " | ".join(converted.notes)
    assert "output_key 'embedding' has no TFSMLayer equivalent" in notes
    assert "embedding, length" in notes and "layer that follows" in notes
    assert "arguments" in notes and "call_training_endpoint" in notes
    plain = convert.convert_hub_layer(hub_layer(handle="hub_module"), str(tmp_path))
    assert plain.envelope["config"]["call_endpoint"] == "__call__"


def test_what_cannot_be_converted_says_why(two_outputs, tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    refused = convert.convert_hub_layer(hub_layer(handle=URL), str(tmp_path))
    assert refused.envelope is None and "no complete copy in the hub cache" in refused.reason
    missing = convert.convert_hub_layer(hub_layer(handle="nowhere"), str(tmp_path))
    assert missing.envelope is None and "nowhere" in missing.reason
    wrong = convert.convert_hub_layer(
        hub_layer(handle=str(two_outputs), signature="nope", output_key="x"), None
    )
    assert wrong.envelope is None and "serving_default" in wrong.reason
    tf1 = tmp_path / "tf1"
    shutil.copytree(two_outputs, tf1)
    (tf1 / "tfhub_module.pb").write_bytes(b"")
    assert "TF1 Hub format" in convert.convert_hub_layer(hub_layer(handle=str(tf1))).reason


def test_a_cached_url_becomes_the_cache_folder(two_outputs, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    shutil.copytree(two_outputs, cache / hashlib.sha1(URL.encode()).hexdigest())
    converted = convert.convert_hub_layer(
        hub_layer(handle=URL, signature="serving_default", signature_outputs_as_dict=True)
    )
    assert converted.envelope["config"]["filepath"] == str(
        cache / hashlib.sha1(URL.encode()).hexdigest()
    )
    assert any("copy that folder next to the document" in note for note in converted.notes)


def test_upgrade_of_a_tf_keras_model_with_a_local_hub_layer(two_outputs, tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(two_outputs, tmp_path / "hub_module")
    document = hub_model(handle="hub_module", signature="serving_default", output_key="embedding")
    result = upgrade(document, None, str(tmp_path))
    layers = result.value["config"]["layers"]
    assert "keras_version" not in result.value
    assert [layer["class_name"] for layer in layers] == ["InputLayer", "TFSMLayer"]
    assert layers[0]["config"]["batch_shape"] == [None]
    assert layers[1]["config"]["filepath"] == "hub_module"
    assert layers[1]["config"]["dtype"]["class_name"] == "DTypePolicy"
    assert any("output_key 'embedding'" in note for note in result.notes)
    kept = upgrade(hub_model(handle=URL), None, str(tmp_path))
    assert kept.value["config"]["layers"][1]["class_name"] == "KerasLayer"
    assert any("stays a tf_keras layer" in note for note in kept.notes)


def test_layercfg_convert_on_the_command_line(two_outputs, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(two_outputs, tmp_path / "hub_module")
    path = tmp_path / "hub.layercfg.json"
    path.write_text(
        json.dumps(
            hub_model(handle="hub_module", signature="serving_default", output_key="embedding"),
            indent=2,
        )
    )
    before = path.read_text()
    assert cli.main(["convert", "--diff", str(path)]) == 0
    out, err = capsys.readouterr()
    assert '+        "class_name": "TFSMLayer",' in out and path.read_text() == before
    assert "output_key 'embedding' has no TFSMLayer equivalent" in err
    assert cli.main(["convert", str(path)]) == 0
    layer = json.loads(path.read_text())["config"]["layers"][1]
    assert layer["class_name"] == "TFSMLayer" and layer["config"]["filepath"] == "hub_module"
    url = tmp_path / "url.layercfg.json"
    url.write_text(json.dumps(hub_model(handle=URL)))
    assert cli.main(["convert", str(url)]) == 1
    assert "not converted" in capsys.readouterr().err
