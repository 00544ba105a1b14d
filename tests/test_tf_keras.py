"""tf_keras and tensorflow_hub.KerasLayer end to end, with the real packages and a tiny
SavedModel exported in this session: never anything downloaded.

"How can I generate a valid config for a KerasLayer with a string handle?"
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

tf = pytest.importorskip("tensorflow")
tf_keras = pytest.importorskip("tf_keras")
hub = pytest.importorskip("tensorflow_hub")

from layercfg import cli  # noqa: E402
from layercfg.schema_builder import handles  # noqa: E402

URL = "https://tfhub.dev/google/nnlm-en-dim50/2"


class _Embed(tf.Module):
    """A batch of strings in, [batch, 3] floats out."""

    def __init__(self):
        self.scale = tf.Variable([1.0, 2.0, 3.0])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def __call__(self, text):
        length = tf.cast(tf.strings.length(text), tf.float32)
        return length[:, None] * self.scale[None, :]


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "embed"
    module = _Embed()
    tf.saved_model.save(
        module, str(folder), signatures={"serving_default": module.__call__.get_concrete_function()}
    )
    return folder


@pytest.fixture(scope="session")
def tf1_folder(saved_model, tmp_path_factory):
    """A folder with the TF1 Hub format's marker (its graph is never loaded)."""
    folder = tmp_path_factory.mktemp("models") / "tf1"
    shutil.copytree(saved_model, folder)
    (folder / "tfhub_module.pb").write_bytes(b"")
    return folder


@pytest.fixture(scope="session")
def tf_keras_catalog(cache_dir):
    from layercfg.schema_builder.catalog import load_or_build

    return load_or_build((), "tf_keras")


@pytest.fixture
def new(tf_keras_catalog, catalog, capsys, monkeypatch, tmp_path):
    """``layercfg new ...`` in this process: (exit code, parsed stdout or None, stderr)."""
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "empty-hub-cache"))

    def run(*args):
        code = cli.main(["new", *args])
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out.strip() else None), err

    return run


def _load_tf_keras(config):
    return tf_keras.saving.deserialize_keras_object(
        config, custom_objects={"KerasLayer": hub.KerasLayer}, safe_mode=True
    )


# -- the catalog ----------------------------------------------------------------------------------


def test_the_tf_keras_catalog_has_keras_layer_built_without_a_real_model(tf_keras_catalog):
    data = tf_keras_catalog
    assert data["implementation"] == "tf_keras"
    assert data["key"]["version"] == f"{tf_keras.__version__}+hub-{hub.__version__}"
    entry = next(e for e in data["classes"] if e["class_name"] == "KerasLayer")
    assert entry["module"] == "tensorflow_hub.keras_layer" and entry["instantiated"]
    assert entry["params"]["handle"]["required"]
    assert "string to load a saved model" in entry["params"]["handle"]["description"]
    for name in (
        "trainable",
        "arguments",
        "signature",
        "signature_outputs_as_dict",
        "output_key",
        "output_shape",
    ):
        assert name in entry["params"], name
    assert "_sentinel" not in entry["params"] and "load_options" not in entry["params"]
    assert entry["minimal_config"] == {"handle": None}
    assert any("probe SavedModel" in note for note in entry["notes"])
    names = {e["class_name"] for e in data["classes"]}
    assert {"Dense", "Sequential", "Functional", "GlorotUniform", "L2", "MaxNorm"} <= names
    assert "string" in data["names"]["dtype"] and "relu" in data["names"]["activation"]


def test_the_schema_knows_what_keras_layer_refuses(tf_keras_catalog):
    import jsonschema

    validator = jsonschema.Draft202012Validator(tf_keras_catalog["schema"])

    def errors(**config):
        envelope = {
            "module": "tensorflow_hub.keras_layer",
            "class_name": "KerasLayer",
            "config": config,
            "registered_name": "KerasLayer",
        }
        return list(validator.iter_errors(envelope))

    assert not errors(handle=URL)
    assert not errors(handle=URL, signature="default", output_key="default")
    assert errors(handle=URL, signature="default")  # neither output_key nor as_dict
    assert errors(handle=URL, signature="s", output_key="a", signature_outputs_as_dict=True)
    assert errors(handle=URL, signature="s", output_key="a", trainable=True)
    assert errors(handle=3)  # a non-string handle cannot be serialized
    assert errors()


# -- layercfg new KerasLayer --------------------------------------------------------------------


def test_new_keras_layer_from_a_local_saved_model(new, saved_model):
    code, config, err = new("KerasLayer", f"handle={saved_model}")
    assert code == 0, err
    assert f"loaded from the SavedModel at {saved_model}" in err
    assert config["module"] == "tensorflow_hub.keras_layer"
    assert config["class_name"] == config["registered_name"] == "KerasLayer"
    assert config["config"]["handle"] == str(saved_model)
    layer = _load_tf_keras(config)
    assert layer(tf.constant(["ab"])).numpy().tolist() == [[2.0, 4.0, 6.0]]


def test_new_keras_layer_with_a_relative_handle_keeps_it(new, saved_model, monkeypatch):
    monkeypatch.chdir(saved_model.parent)
    code, config, err = new("KerasLayer", "handle=embed", "trainable=true")
    assert code == 0, err
    assert config["config"]["handle"] == "embed" and config["config"]["trainable"] is True
    # The deep check resolves it against the document's folder: where to save the config.
    assert (
        "handle 'embed' is written as given, a relative path: `layercfg check --deep` "
        f"resolves it against the document's folder, so save the config in {saved_model.parent}"
    ) in err
    code, config, err = new("KerasLayer", f"handle={saved_model}")
    assert code == 0 and "relative path" not in err


def test_new_keras_layer_wrapped_in_a_sequential_model(new, saved_model):
    code, config, err = new("KerasLayer", "--wrap", "Sequential", f"handle={saved_model}")
    assert code == 0, err
    assert config["class_name"] == "Sequential"
    first, second = config["config"]["layers"]
    assert first["class_name"] == "InputLayer" and first["config"]["dtype"] == "string"
    assert first["config"]["batch_input_shape"] == [None]  # read from the signature
    assert second["class_name"] == "KerasLayer"
    model = _load_tf_keras(config)
    assert model(tf.constant(["abc"])).shape == (1, 3)


def test_new_keras_layer_for_a_url_is_checked_statically(new):
    code, config, err = new("KerasLayer", f"handle={URL}")
    assert code == 0, err
    assert "checked statically: the URL is not cached, never downloaded" in err
    assert config == {
        "module": "tensorflow_hub.keras_layer",
        "class_name": "KerasLayer",
        "config": {"name": "keras_layer", "trainable": False, "dtype": "float32", "handle": URL},
        "registered_name": "KerasLayer",
    }


def test_the_static_config_is_what_tf_keras_writes(new, saved_model):
    """The same arguments, once with the model at hand and once without: one config."""
    args = [
        "--wrap",
        "Sequential",
        "--input-shape",
        "[]",
        "--input-dtype",
        "string",
        "signature=serving_default",
        "output_key=output_0",
        "name=embed",
    ]
    _, static, _ = new("KerasLayer", f"handle={URL}", *args)
    _, loaded, _ = new("KerasLayer", f"handle={saved_model}", *args)
    loaded["config"]["layers"][1]["config"]["handle"] = URL
    assert static == loaded


def test_a_complete_cached_copy_is_loaded_and_an_incomplete_one_is_not(
    new, saved_model, tmp_path, monkeypatch
):
    cache = tmp_path / "hub-cache"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    entry = cache / hashlib.sha1(URL.encode()).hexdigest()
    shutil.copytree(saved_model, entry)
    code, config, err = new("KerasLayer", f"handle={URL}")
    assert code == 0, err
    assert f"loaded from the complete cached copy at {entry}" in err
    assert config["config"]["handle"] == URL
    (cache / f"{entry.name}.lock").write_text("downloading")
    code, config, err = new("KerasLayer", f"handle={URL}")
    assert code == 0 and "checked statically" in err and "incomplete" in err


@pytest.mark.parametrize(
    "args, words",
    [
        ([], "KerasLayer needs a value for: handle"),
        (["handle=https://tfhub.dev/google/nnlm-en-dim50"], "has no version"),
        (["handle={model}", "signature=serving_default"], "exactly one of"),
        (
            ["handle={model}", "signature=nope", "output_key=output_0"],
            "not a signature of the SavedModel; it has: serving_default",
        ),
        (["handle={tf1}", "trainable=true"], "TF1 Hub format"),
        (["handle={model}", "handel=x"], "did you mean handle"),
        (["handle={model}", "--flavor", "keras"], "tf_keras (Keras 2) layer"),
    ],
)
def test_new_keras_layer_refusals_are_one_line_and_exit_2(
    new, saved_model, tf1_folder, args, words
):
    args = [a.format(model=saved_model, tf1=tf1_folder) for a in args]
    code, config, err = new("KerasLayer", *args)
    errors = [line for line in err.splitlines() if line.startswith("layercfg: error:")]
    assert code == 2 and config is None
    assert len(errors) == 1 and words in errors[0], err


# -- layercfg new TFSMLayer ---------------------------------------------------------------------


def test_new_tfsm_layer_checks_the_endpoint_offline(new, saved_model):
    import keras

    code, config, err = new("TFSMLayer", f"filepath={saved_model}", "call_endpoint=serving_default")
    assert code == 0, err
    assert "safe_mode=False" in err and "loaded from the SavedModel" in err
    assert config["class_name"] == "TFSMLayer" and config["module"] == "keras.layers"
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.deserialize_keras_object(config)
    from keras.src.saving.serialization_lib import SafeModeScope

    with SafeModeScope(False):  # as a program that trusts the folder would load it
        layer = keras.saving.deserialize_keras_object(config, safe_mode=False)
    outputs = layer(tf.constant(["a"]))  # a signature answers with a dict of its outputs
    assert tuple(outputs["output_0"].shape) == (1, 3)


@pytest.mark.parametrize(
    "args, words",
    [
        (["call_endpoint=serving"], "call_endpoint 'serving' is not an endpoint"),
        ([], "'serve' (the default) is not an endpoint"),
    ],
)
def test_new_tfsm_layer_with_a_wrong_endpoint_names_the_ones_there(new, saved_model, args, words):
    code, _, err = new("TFSMLayer", f"filepath={saved_model}", *args)
    assert code == 2 and words in err and "serving_default" in err.splitlines()[-1]


def test_new_tfsm_layer_needs_a_saved_model(new, tmp_path):
    code, _, err = new("TFSMLayer", f"filepath={tmp_path}")
    assert code == 2 and "no SavedModel at" in err
    code, _, err = new("TFSMLayer")
    assert code == 2 and "TFSMLayer needs a value for: filepath" in err


# -- options anywhere, custom classes -----------------------------------------------------------


def test_options_anywhere_and_unregistered_custom_classes(new):
    code, config, err = new("Gated", "--modules", "custom.registered_layers", "units=3")
    assert code == 0, err
    assert config["registered_name"] == "acme>Gated" and config["config"]["units"] == 3
    code, config, err = new("Scale", "factor=2", "--modules", "custom.good_layers")
    assert code == 0, err
    assert config["class_name"] == "Scale" and config["config"]["factor"] == 2
    code, config, err = new("Dense", "units=3", "--flavor", "tf_keras")
    assert code == 0, err
    assert tf_keras.saving.deserialize_keras_object(config).units == 3


def test_endpoints_are_read_from_the_protobuf(saved_model, tmp_path):
    found = handles.endpoints(str(saved_model))
    assert found["serving_default"].inputs == {"text": ("string", [])}
    assert found["serving_default"].signature and not found["__call__"].signature
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "saved_model.pb")
    assert handles.endpoints(str(fifo)) is None  # neither blocks nor reads


# -- end to end, as a user runs it ----------------------------------------------------------------


def _run(args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "layercfg", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_the_seed_question_on_the_command_line(subprocess_env, tf_keras_catalog, tmp_path):
    env = {**subprocess_env, "TFHUB_CACHE_DIR": str(tmp_path / "cache")}
    result = _run(["new", "KerasLayer", f"handle={URL}", "--wrap", "Sequential"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "checked statically: the URL is not cached, never downloaded" in result.stderr
    config = json.loads(result.stdout)
    assert [layer["class_name"] for layer in config["config"]["layers"]] == [
        "InputLayer",
        "KerasLayer",
    ]


def test_building_the_tf_keras_catalog_logs_nothing_of_tensorflows(subprocess_env, tmp_path):
    # tf_keras logs, through TensorFlow's and absl's Python loggers, a warning for each
    # deprecated argument the builder probes: none of it reaches the user's terminal.
    env = {**subprocess_env, "LAYERCFG_CACHE_DIR": str(tmp_path / "fresh")}
    result = _run(["new", "KerasLayer", f"handle={URL}"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "layer classes" in result.stderr  # the catalog was built
    assert all(line.startswith("layercfg: ") for line in result.stderr.splitlines()), result.stderr


def test_check_deep_resolves_a_relative_handle_against_the_document(
    subprocess_env, catalog, saved_model, tmp_path
):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copytree(saved_model, docs / "hub_module")
    tfsm = {
        "module": "keras.layers",
        "class_name": "TFSMLayer",
        "registered_name": None,
        "config": {"filepath": "hub_module", "call_endpoint": "serving_default"},
    }
    (docs / "good.layercfg.json").write_text(json.dumps(tfsm))
    tfsm = {**tfsm, "config": {"filepath": "missing", "call_endpoint": "serving_default"}}
    (docs / "missing.layercfg.json").write_text(json.dumps(tfsm))
    tfsm = {**tfsm, "config": {"filepath": "hub_module", "call_endpoint": "nope"}}
    (docs / "endpoint.layercfg.json").write_text(json.dumps(tfsm))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _run(["check", "--deep", "--format", "json", str(docs)], subprocess_env, elsewhere)
    assert result.returncode in (0, 1), result.stderr
    files = {
        os.path.basename(f["path"]): f["diagnostics"] for f in json.loads(result.stdout)["files"]
    }
    deep = {name: [d for d in diags if d["code"] == "LCF306"] for name, diags in files.items()}
    assert deep["good.layercfg.json"] == []
    assert str(docs / "missing") in deep["missing.layercfg.json"][0]["message"]
    endpoint = deep["endpoint.layercfg.json"][0]
    assert endpoint["pointer"] == "/config/call_endpoint"
    assert "serving_default" in endpoint["message"]


def test_check_takes_a_keras2_document_as_tf_keras(tf_keras_catalog, catalog, capsys, tmp_path):
    hub_model = {
        "module": "keras",
        "class_name": "Sequential",
        "registered_name": None,
        "config": {
            "name": "sequential",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "registered_name": None,
                    "config": {"batch_input_shape": [None], "dtype": "string", "name": "input_1"},
                },
                {
                    "module": "tensorflow_hub.keras_layer",
                    "class_name": "KerasLayer",
                    "registered_name": "KerasLayer",
                    "config": {
                        "name": "keras_layer",
                        "trainable": False,
                        "dtype": "float32",
                        "handle": URL,
                    },
                },
            ],
        },
    }
    path = tmp_path / "hub.layercfg.json"
    path.write_text(json.dumps(hub_model))
    assert cli.main(["check", "--format", "json", str(path)]) == 0
    codes = [d["code"] for d in json.loads(capsys.readouterr().out)["files"][0]["diagnostics"]]
    assert "LCF101" not in codes  # KerasLayer is in the tf_keras catalog
    cli.main(["check", "--flavor", "keras", "--format", "json", str(path)])
    codes = [d["code"] for d in json.loads(capsys.readouterr().out)["files"][0]["diagnostics"]]
    assert "LCF101" in codes
    legacy = tmp_path / "legacy.layercfg.json"
    i = tf_keras.Input((3,))
    legacy.write_text(tf_keras.Model(i, tf_keras.layers.Dense(2)(i)).to_json())
    assert cli.main(["check", "--format", "json", str(legacy)]) == 0  # information only
    (finding,) = json.loads(capsys.readouterr().out)["files"][0]["diagnostics"]
    assert finding["code"] == "LCF108" and finding["severity"] == "information"
    assert cli.main(["check", str(legacy), "--flavor", "keras"]) == 1  # options anywhere


def test_convert_reads_the_saved_model_without_tensorflows_start_up_logging(
    subprocess_env, tf_keras_catalog, saved_model, tmp_path
):
    # Reading saved_model.pb imports TensorFlow, whose C++ start-up lines (oneDNN, CPU
    # features) are not the user's business; as a user runs it, without TF_CPP_MIN_LOG_LEVEL.
    env = {k: v for k, v in subprocess_env.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    document = tmp_path / "hub.layercfg.json"
    document.write_text(json.dumps(_hub_config(saved_model)))
    result = _run(["convert", "--diff", str(document)], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"class_name": "TFSMLayer"' in result.stdout
    assert all(line.startswith("layercfg: ") for line in result.stderr.splitlines()), result.stderr


def _hub_config(saved_model):
    """A KerasLayer config naming ``saved_model`` by its absolute path."""
    return {
        "module": "tensorflow_hub.keras_layer",
        "class_name": "KerasLayer",
        "config": {"name": "keras_layer", "trainable": False, "handle": str(saved_model)},
        "registered_name": "KerasLayer",
    }
