"""The deep check in the worker's own code: Keras's loading, located; shapes; custom classes;
things it must refuse without running them."""

from __future__ import annotations

import io
import json
import os
import resource
import sys
from pathlib import Path

import pytest

keras = pytest.importorskip("keras")

from chains import chain  # noqa: E402

from layercfg.schema_builder.deep import DeepChecker  # noqa: E402
from layercfg.schema_builder.keras_api import KerasAPI  # noqa: E402
from layercfg.schema_builder.worker import Worker  # noqa: E402

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def checker(fixtures_on_path):
    import custom.defective_layers  # noqa: F401  (registers the classes)
    import custom.registered_layers  # noqa: F401

    # Custom classes are looked at only in the configured modules.
    return DeepChecker(KerasAPI(), modules=("custom.defective_layers", "custom.registered_layers"))


def dense(**config):
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"units": 3, **config},
        "registered_name": None,
    }


def only(result, code=None):
    findings = [f for f in result["findings"] if code is None or f["code"] == code]
    assert len(findings) == 1, result["findings"]
    return findings[0]


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.layercfg.json")))
def test_examples_load_cleanly(checker, name):
    result = checker.check(json.loads((EXAMPLES / name).read_text()))
    assert result["findings"] == []


def test_shapes_and_parameter_counts_come_back(checker):
    result = checker.check(json.loads((EXAMPLES / "mnist_cnn.layercfg.json").read_text()))
    by_name = {layer["name"]: layer for layer in result["layers"]}
    assert by_name["conv2d"]["output_shape"] == "(None, 26, 26, 32)"
    assert by_name["conv2d"]["params"] == 320
    assert result["total_params"] == 54410
    assert by_name["conv2d"]["path"] == ("config", "layers", 1)


@pytest.mark.parametrize(
    "document, path, part, words",
    [
        (dense(unitz=4), ("config", "unitz"), "key", "unitz"),
        (
            dense(kernel_initializer="glorot_unifrom"),
            ("config", "kernel_initializer"),
            "value",
            "glorot_unifrom",
        ),
        (
            dense(
                kernel_initializer={
                    "module": "keras.initializers",
                    "class_name": "GlorotUniform",
                    "config": {"seedd": 1},
                }
            ),
            ("config", "kernel_initializer", "config", "seedd"),
            "key",
            "seedd",
        ),
        (dense(activation="rleu"), ("config", "activation"), "value", "rleu"),
        (
            {"module": "keras.layers", "class_name": "Dropout", "config": {"rate": 1.5}},
            ("config", "rate"),
            "value",
            "rate",
        ),
    ],
)
def test_keras_refusals_land_on_the_key_or_value(checker, document, path, part, words):
    finding = only(checker.check(document))
    assert finding["code"] == "LCF301"
    assert (finding["path"], finding["part"]) == (path, part)
    assert words in finding["message"]
    assert "Full object config" not in finding["message"]


def test_a_sequential_shape_mistake_is_found_at_its_layer(checker):
    document = json.loads((EXAMPLES / "mnist_cnn.layercfg.json").read_text())
    document["config"]["layers"].insert(
        3,
        {
            "module": "keras.layers",
            "class_name": "Reshape",
            "config": {"target_shape": [7, 7]},
            "registered_name": None,
        },
    )
    finding = only(checker.check(document))
    assert finding["code"] == "LCF302"
    assert finding["path"] == ("config", "layers", 3, "class_name")
    assert "(None, 13, 13, 32)" in finding["message"] and "total size" in finding["message"]


def test_a_functional_rank_mistake_is_found_at_its_layer(checker):
    document = json.loads((EXAMPLES / "functional_classifier.layercfg.json").read_text())
    document["config"]["layers"][0]["config"]["batch_shape"] = [None]
    finding = only(checker.check(document))
    assert finding["code"] == "LCF302"
    assert finding["path"] == ("config", "layers", 1, "class_name")
    assert "min_ndim=2" in finding["message"]


def test_huge_units_is_a_clear_diagnostic_not_an_allocation(checker):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    document = dense(units=1_000_000_000_000)
    document["build_config"] = {"input_shape": [None, 1000]}
    finding = only(checker.check(document), "LCF302")
    assert "1,001,000,000,000,000 parameters" in finding["message"]
    assert finding["severity"] == 2
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200


def test_custom_class_defects_point_at_the_users_code(checker):
    forgetful = {
        "module": "custom.defective_layers",
        "class_name": "ForgetfulConfig",
        "config": {"units": 2, "alpha": 0.1},
        "registered_name": "defects>ForgetfulConfig",
    }
    finding = only(checker.check(forgetful))
    assert finding["code"] == "LCF401" and finding["path"] == ("class_name",)
    assert "'alpha'" in finding["message"]
    (related,) = finding["related"]
    assert related["file"].endswith("defective_layers.py")
    source = Path(related["file"]).read_text().splitlines()
    assert "def get_config" in source[related["line"] - 1]

    pops = {
        "module": "custom.defective_layers",
        "class_name": "PopsMissingKey",
        "config": {"width": 2},
        "registered_name": "defects>PopsMissingKey",
    }
    finding = only(checker.check(pops))
    assert finding["code"] == "LCF401" and "depth" in finding["message"]
    line = (
        Path(finding["related"][0]["file"])
        .read_text()
        .splitlines()[finding["related"][0]["line"] - 1]
    )
    assert 'config.pop("depth")' in line


def test_a_well_formed_custom_layer_is_clean(checker):
    gated = {
        "module": "custom.registered_layers",
        "class_name": "Gated",
        "config": {"units": 3},
        "registered_name": "acme>Gated",
    }
    assert checker.check(gated)["findings"] == []


def test_lambda_bytecode_is_reported_and_never_run(checker, tmp_path):
    marker = str(tmp_path / "ran.txt")
    layer = keras.layers.Lambda(lambda x: (open(marker, "w").close(), x)[1])
    document = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    assert "__lambda__" in json.dumps(document)
    finding = only(checker.check(document))
    assert finding["code"] == "LCF303" and "bytecode" in finding["message"]
    assert not os.path.exists(marker)


def test_non_modeling_apis_are_refused(checker):
    document = dense(
        activation={
            "module": "keras.utils",
            "class_name": "function",
            "config": "get_file",
            "registered_name": "function",
        }
    )
    finding = only(checker.check(document))
    assert finding["code"] == "LCF303" and "get_file" in finding["message"]


def test_tfsm_layer_and_handles(checker, tmp_path):
    tfsm = {
        "module": "keras.layers",
        "class_name": "TFSMLayer",
        "config": {"filepath": str(tmp_path / "missing")},
        "registered_name": None,
    }
    codes = {f["code"]: f for f in checker.check(tfsm)["findings"]}
    assert set(codes) == {"LCF303", "LCF306"}
    assert codes["LCF306"]["path"] == ("config", "filepath")
    saved = tmp_path / "model"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    tfsm["config"]["filepath"] = str(saved)
    # Here, but no SavedModel message: its endpoints cannot be checked, which is a warning.
    codes = {f["code"]: f for f in checker.check(tfsm)["findings"]}
    assert set(codes) == {"LCF303", "LCF306"}
    assert codes["LCF306"]["severity"] == 2 and "could not be read" in codes["LCF306"]["message"]

    hub = {
        "module": "tensorflow_hub.keras_layer",
        "class_name": "KerasLayer",
        "config": {
            "handle": "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5"
        },
        "registered_name": "tensorflow_hub>KerasLayer",
    }
    finding = only(checker.check(hub))
    assert finding["code"] == "LCF306" and "never downloads" in finding["message"]
    assert "TFSMLayer" in finding["message"]
    assert finding["data"]["replacement"]["class_name"] == "TFSMLayer"
    hub["config"]["handle"] = "https://"
    assert "Malformed URL" in only(checker.check(hub))["message"]


def test_deferred_variables_do_not_leak_between_checks(checker):
    from keras.src.backend.common import global_state

    checker.check(json.loads((EXAMPLES / "mnist_cnn.layercfg.json").read_text()))
    assert not global_state.get_global_attribute("uninitialized_variables", [])
    assert os.environ.get("LAYERCFG_CACHE_DIR")  # the session's, untouched


def test_a_nested_layer_left_a_dict_is_a_custom_class_defect(checker):
    document = {
        "module": "custom.defective_layers",
        "class_name": "KeepsDict",
        "config": {
            "inner": {
                "module": "keras.layers",
                "class_name": "Dense",
                "config": {"units": 2},
                "registered_name": None,
            }
        },
        "registered_name": "defects>KeepsDict",
    }
    finding = only(checker.check(document))
    assert finding["code"] == "LCF401" and "still a config dict" in finding["message"]
    assert finding["related"][0]["file"].endswith("defective_layers.py")


def test_a_build_config_keras_only_warns_about_is_reported(checker):
    document = json.loads((EXAMPLES / "mnist_cnn.layercfg.json").read_text())
    document["build_config"] = {"input_shape": [None, 5]}
    document["config"]["layers"].pop(0)
    document["config"].pop("build_input_shape", None)
    for layer in document["config"]["layers"]:
        layer.pop("build_config", None)
    finding = only(checker.check(document))
    assert finding["code"] == "LCF305" and finding["severity"] == 2
    assert finding["path"] == ("build_config",)
    assert "cannot be built" in finding["message"]


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_a_model_too_deep_for_keras_to_walk_is_reported_at_once(checker, monkeypatch):
    # Keras walks a Functional graph recursively, a frame per layer of a chain: at the default
    # limit that fails at about 3,000 layers; a lowered limit makes the same failure quick.
    monkeypatch.setattr(checker, "_locate", lambda *args: pytest.fail("located layer by layer"))
    old = sys.getrecursionlimit()
    limit = _stack_depth() + 150
    sys.setrecursionlimit(limit)
    try:
        result = checker.check(chain(200))
    finally:
        sys.setrecursionlimit(old)
    finding = only(result)
    assert (finding["code"], finding["path"], finding["part"]) == (
        "LCF301",
        ("class_name",),
        "value",
    )
    message = finding["message"]
    assert message.startswith("Keras cannot load this model")
    assert f"recursion limit ({limit:,})" in message
    assert "keras.src.ops.function._build_map_helper" in message
    assert "201 layers" in message
    assert finding["data"] == {
        "recursionLimit": limit,
        "layers": 201,
        "function": "keras.src.ops.function._build_map_helper",
    }
    after = checker.check(dense())  # Keras was reset: nothing left over, names start afresh
    assert after["findings"] == [] and after["layers"][0]["name"] == "dense"


def test_a_chain_within_the_limit_loads(checker):
    result = checker.check(chain(30))
    assert result["findings"] == [] and len(result["layers"]) == 31


def _answers(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_worker_answers_a_model_too_deep_and_goes_on_with_a_clean_keras(checker):
    out = io.StringIO()
    worker = Worker(out)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + 150)
    try:
        going_on = worker.handle({"id": 1, "method": "deep_check", "params": {"value": chain(200)}})
    finally:
        sys.setrecursionlimit(old)
    assert going_on
    assert worker.handle({"id": 2, "method": "deep_check", "params": {"value": dense()}})
    first, second = _answers(out)
    (finding,) = first["result"]["findings"]
    assert finding["code"] == "LCF301" and "recursion limit" in finding["message"]
    assert second["result"]["findings"] == []
    assert second["result"]["layers"][0]["name"] == "dense"


def test_an_answer_json_cannot_carry_comes_back_as_an_error(monkeypatch):
    out = io.StringIO()
    worker = Worker(out)
    monkeypatch.setattr(worker, "do_ping", lambda ident, params: {"pids": {1, 2}})
    assert worker.handle({"id": 7, "method": "ping"})
    assert worker.handle({"id": 8, "method": "shutdown"}) is False
    first, second = _answers(out)
    assert first["id"] == 7 and first["error"]["kind"] == "TypeError"
    assert second == {"id": 8, "nonce": None, "result": None}


@pytest.mark.parametrize("in_model", [False, True])
def test_a_kernel_larger_than_its_input_is_a_shape_error_on_kernel_size(checker, in_model):
    """Keras refuses a Conv2D whose kernel exceeds its input's spatial size while building it
    (its build_config, or its model's input); its message quotes padding too, but the key to
    change is kernel_size, and it is a shape problem (LCF302), not a refused argument."""
    if in_model:
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)])
        document = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
        prefix: tuple = ("config", "layers", 1)
    else:
        layer = keras.layers.Conv2D(4, 3)
        layer.build((None, 8, 8, 3))
        document = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
        prefix = ()
    keras.backend.clear_session()
    conv = document["config"]["layers"][1] if in_model else document
    conv["config"]["kernel_size"] = [12, 12]
    with pytest.raises(ValueError, match="zero or negative"):
        keras.saving.deserialize_keras_object(json.loads(json.dumps(document)), safe_mode=True)
    errors = [f for f in checker.check(document)["findings"] if f["severity"] == 1]
    assert [(f["code"], tuple(f["path"])) for f in errors] == [
        ("LCF302", (*prefix, "config", "kernel_size"))
    ]


def _compiled_models() -> dict[str, dict]:
    inputs = keras.Input((8,), name="x")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    functional = keras.Model(inputs, keras.layers.Dense(3, name="probs")(hidden))
    sequential = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    out = {}
    for name, model in (("functional", functional), ("sequential", sequential)):
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae", "accuracy"]
        )
        out[name] = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    return out


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_a_compiled_model_as_keras_saves_it_loads_cleanly(checker, kind):
    document = _compiled_models()[kind]
    assert document["compile_config"]["optimizer"]["class_name"] == "Adam"
    assert checker.check(document)["findings"] == []
    # the compile_config is still loaded: a misspelt optimizer argument is found, there
    document["compile_config"]["optimizer"]["config"]["learning_rat"] = 0.1
    finding = only(checker.check(document))
    assert finding["code"].startswith("LCF3") and "learning_rat" in finding["message"]
    assert finding["path"] == ("compile_config", "optimizer", "config", "learning_rat")
    # and a metric's, at that metric
    del document["compile_config"]["optimizer"]["config"]["learning_rat"]
    document["compile_config"]["metrics"] = [
        "mae",
        {
            "module": "keras.metrics",
            "class_name": "AUC",
            "config": {"num_threshold": 3},
            "registered_name": None,
        },
    ]
    finding = only(checker.check(document))
    assert finding["path"][:3] == ("compile_config", "metrics", 1), finding


def test_a_warning_naming_an_argument_is_found_at_that_key(checker):
    embedding = {
        "module": "keras.layers",
        "class_name": "Embedding",
        "config": {"name": "embedding", "input_dim": 100, "output_dim": 8, "input_length": 10},
        "registered_name": None,
    }
    finding = only(checker.check(json.loads(json.dumps(embedding))))
    assert (finding["code"], finding["path"], finding["part"]) == (
        "LCF305",
        ("config", "input_length"),
        "key",
    )
    assert "`input_length` is deprecated" in finding["message"]
    # in a model, at the layer that has it
    model = keras.saving.serialize_keras_object(
        keras.Sequential(
            [keras.Input((10,)), keras.layers.Embedding(100, 8), keras.layers.Dense(1)]
        )
    )
    model = json.loads(json.dumps(model))
    model["config"]["layers"][1]["config"]["input_length"] = 10
    finding = only(checker.check(model))
    assert finding["path"] == ("config", "layers", 1, "config", "input_length")
