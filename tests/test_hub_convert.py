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
from layercfg.schema_builder.keras_api import KerasAPI  # noqa: E402
from layercfg.schema_builder.keras_loading import RefusedModule  # noqa: E402
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
        read_endpoints=True,
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
    plain = convert.convert_hub_layer(hub_layer(handle="hub_module"), str(tmp_path), True)
    assert plain.envelope["config"]["call_endpoint"] == "__call__"


def test_what_cannot_be_converted_says_why(two_outputs, tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    refused = convert.convert_hub_layer(hub_layer(handle=URL), str(tmp_path))
    assert refused.envelope is None and "no complete copy in the hub cache" in refused.reason
    missing = convert.convert_hub_layer(hub_layer(handle="nowhere"), str(tmp_path))
    assert missing.envelope is None and "nowhere" in missing.reason
    wrong = convert.convert_hub_layer(
        hub_layer(handle=str(two_outputs), signature="nope", output_key="x"), None, True
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
    result = upgrade(document, None, str(tmp_path), read_endpoints=True)
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


# -- the deep check in the tf_keras flavor -------------------------------------------------------


@pytest.fixture
def tf_keras_checker(tf_keras_api, tmp_path, monkeypatch):
    """A tf_keras deep checker for documents in ``tmp_path`` (an empty hub cache)."""
    from layercfg.schema_builder.deep import DeepChecker

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    return DeepChecker(tf_keras_api, base=str(tmp_path))


def _by_code(result):
    out: dict[str, list] = {}
    for finding in result["findings"]:
        out.setdefault(finding["code"], []).append(finding)
    return out


def test_deep_check_checks_a_local_hub_layer_offline(tf_keras_checker, two_outputs, tmp_path):
    shutil.copytree(two_outputs, tmp_path / "hub_module")
    document = hub_model(handle="hub_module", signature="serving_default", output_key="embedding")
    result = tf_keras_checker.check(document)
    assert [f for f in result["findings"] if f["severity"] == 1] == []
    (note,) = _by_code(result)["LCF306"]
    assert note["severity"] == 3 and "checked offline" in note["message"]
    assert note["path"][-1] == "handle"
    # Never loaded: a SavedModel's graph runs when it is.
    assert not any(
        info["class_name"] == "KerasLayer" and info.get("output_shape") for info in result["layers"]
    )


def test_a_wrong_output_key_is_reported_on_that_key(tf_keras_checker, two_outputs, tmp_path):
    shutil.copytree(two_outputs, tmp_path / "hub_module")
    document = hub_model(handle="hub_module", signature="serving_default", output_key="embeding")
    (finding,) = _by_code(tf_keras_checker.check(document))["LCF301"]
    assert finding["path"] == ("config", "layers", 1, "config", "output_key")
    assert "'embeding' is not an output" in finding["message"]
    assert "embedding, length" in finding["message"]
    document = hub_model(handle="hub_module", signature="serve")
    (finding,) = _by_code(tf_keras_checker.check(document))["LCF301"]
    assert finding["path"] == ("config", "layers", 1, "config", "signature")


def test_a_url_that_is_not_cached_is_checked_without_it(tf_keras_checker):
    document = hub_model(handle=URL)
    document["config"]["layers"].append(
        {
            "module": "keras.layers",
            "class_name": "Dense",
            "config": {"units": 2, "unitz": 3},
            "registered_name": None,
        }
    )
    found = _by_code(tf_keras_checker.check(document))
    (offline,) = found["LCF306"]
    assert offline["severity"] == 2 and offline["path"][-1] == "handle"
    assert "could not be verified offline" in offline["message"]
    assert "never downloads" in offline["message"]
    (other,) = found["LCF301"]  # the rest of the model is still loaded by Keras
    assert other["path"] == ("config", "layers", 2, "config", "unitz")


def test_a_complete_cached_copy_is_checked_offline(tf_keras_checker, two_outputs, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    shutil.copytree(two_outputs, cache / hashlib.sha1(URL.encode()).hexdigest())
    document = hub_model(handle=URL, signature="serving_default", output_key="embedding")
    result = tf_keras_checker.check(document)
    (note,) = _by_code(result)["LCF306"]
    assert note["severity"] == 3 and "complete cached copy" in note["message"]
    assert "nor loaded" in note["message"]
    assert [f for f in result["findings"] if f["severity"] == 1] == []
    wrong = hub_model(handle=URL, signature="serving_default", output_key="embeding")
    (finding,) = _by_code(tf_keras_checker.check(wrong))["LCF301"]
    assert finding["path"] == ("config", "layers", 1, "config", "output_key")


def test_a_keras2_document_without_module_is_deep_checked(tf_keras_checker):
    inputs = tf_keras.Input((3,))
    legacy = json.loads(tf_keras.Model(inputs, tf_keras.layers.Dense(2)(inputs)).to_json())
    assert tf_keras_checker.check(legacy)["findings"] == []
    legacy["config"]["layers"][1]["config"]["activation"] = "relux"
    (finding,) = tf_keras_checker.check(legacy)["findings"]
    assert finding["path"][:3] == ("config", "layers", 1) and finding["severity"] == 1


def test_a_hostile_tf_keras_document_runs_nothing_in_the_deep_check(tf_keras_checker, tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "lcf_deep_marker.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
    )
    sys.path.append(str(tmp_path))
    try:
        document = hub_model(handle=URL)
        document["config"]["layers"] += [
            {
                "module": "lcf_deep_marker",
                "class_name": "Boom",
                "config": {},
                "registered_name": None,
            },
            _dense(_function("os", "system")),
            _dense(_function("subprocess", "getoutput")),
        ]
        result = tf_keras_checker.check(document)
    finally:
        sys.path.remove(str(tmp_path))
    assert not marker.exists() and "lcf_deep_marker" not in sys.modules
    errors = [f for f in result["findings"] if f["severity"] == 1]
    assert {f["path"][:3] for f in errors} >= {
        ("config", "layers", 2),
        ("config", "layers", 3),
        ("config", "layers", 4),
    }


def test_the_editor_refactoring_converts_the_layer_under_the_cursor(two_outputs, tmp_path):
    from lsprotocol import types

    from layercfg.server.document import Document
    from layercfg.server.services.fixes import rewrite_whole
    from layercfg.server.services.formatting import apply_edits

    shutil.copytree(two_outputs, tmp_path / "hub_module")
    text = json.dumps(
        hub_model(handle="hub_module", signature="serving_default", output_key="embedding"),
        indent=2,
    )
    document = Document.parse((tmp_path / "m.layercfg.json").as_uri(), text)
    line = text[: text.index('"KerasLayer"')].count("\n")
    where = types.Range(
        start=types.Position(line=line, character=4), end=types.Position(line=line, character=4)
    )
    made = []

    def edit_for(value):
        made.append(apply_edits(text, rewrite_whole(document, value)))
        return types.WorkspaceEdit()

    (action,) = convert.code_actions(document, where, "utf-16", str(tmp_path), edit_for)
    assert action.kind == "refactor.rewrite.layercfg.tfsm" and action.title == convert.TITLE
    assert "output_key 'embedding'" in action.diagnostics[0].message
    layer = json.loads(made[0])["config"]["layers"][1]
    assert layer["class_name"] == "TFSMLayer" and layer["config"]["filepath"] == "hub_module"
    first = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=0, character=1)
    )
    assert convert.code_actions(document, first, "utf-16", str(tmp_path), edit_for) == []
    url = Document.parse(
        (tmp_path / "u.layercfg.json").as_uri(), json.dumps(hub_model(handle=URL), indent=2)
    )
    everything = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=999, character=0)
    )
    (disabled,) = convert.code_actions(url, everything, "utf-16", str(tmp_path), edit_for)
    assert "no complete copy in the hub cache" in disabled.disabled.reason
    assert convert.code_actions(url, everything, "utf-16", None, edit_for, disabled=False) == []


def test_the_server_side_conversion_never_imports_tensorflow(two_outputs, tmp_path):
    import subprocess

    shutil.copytree(two_outputs, tmp_path / "hub_module")
    code = (
        "import sys, json\n"
        "from layercfg.server.services import convert, upgrade\n"
        f"doc = {json.dumps(hub_model(handle='hub_module'))!r}\n"
        f"value, notes, refused = convert.convert_document(json.loads(doc), {str(tmp_path)!r})\n"
        "assert value['config']['layers'][1]['class_name'] == 'TFSMLayer', refused\n"
        f"upgrade.upgrade(json.loads(doc), None, {str(tmp_path)!r})\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
