"""Hostile input for the deep check, through Keras: envelopes that name code (os, builtins,
subprocess, a Keras function that is no modeling one, a lambda in every place a config can
hide one), handles at local SavedModels, a from_config recursion hundreds of levels deep;
and a FIFO named as the catalog cache's part."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import pytest

from layercfg.schema_builder import cachekey
from layercfg.schema_builder.deep import DeepChecker
from layercfg.schema_builder.keras_api import KerasAPI

TIMEOUT = 600  # for a hung process only: nothing here is timed
REFUSED = {"LCF301", "LCF303", "LCF101"}
LOADED_BY_MODULE = {"a registered_name of os"}
NEVER_IMPORTED = ("this", "antigravity", "webbrowser")
LAMBDA = {
    "class_name": "__lambda__",
    "config": {"code": "4wEAAAAAAAAA", "defaults": None, "closure": None},
}


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.fixture(scope="module")
def api() -> KerasAPI:
    return KerasAPI()


@pytest.fixture(scope="module")
def legacy() -> KerasAPI:
    return KerasAPI("tf_keras")


@pytest.fixture(scope="module")
def compiled() -> dict[str, Any]:
    a = keras.Input((4,), name="a")
    model = keras.Model(a, keras.layers.Dense(2, name="d")(a), name="m")
    model.compile(optimizer="adam", loss="mse")
    return _copy(keras.saving.serialize_keras_object(model))


def _function(module: str, name: str, registered: str | None = None) -> dict[str, Any]:
    return {
        "module": module,
        "class_name": "function",
        "config": name,
        "registered_name": registered,
    }


def _class(module: str, name: str, config: Any = None, registered: str | None = None):
    return {
        "module": module,
        "class_name": name,
        "config": config or {},
        "registered_name": registered,
    }


# Where each goes in the compiled model: (what, where) -> a function editing the document.
def _dense(document: dict[str, Any]) -> dict[str, Any]:
    return document["config"]["layers"][1]


PLACES = {
    "kernel_initializer": lambda d, v: _dense(d)["config"].__setitem__("kernel_initializer", v),
    "activation": lambda d, v: _dense(d)["config"].__setitem__("activation", v),
    "dtype": lambda d, v: _dense(d)["config"].__setitem__("dtype", v),
    "build_config": lambda d, v: _dense(d).__setitem__("build_config", {"input_shape": v}),
    "loss": lambda d, v: d["compile_config"].__setitem__("loss", v),
    "metrics": lambda d, v: d["compile_config"].__setitem__("metrics", [v]),
    "learning_rate": lambda d, v: d["compile_config"]["optimizer"]["config"].__setitem__(
        "learning_rate", v
    ),
    "the layer": lambda d, v: _dense(d).update(v),
}

HOSTILE = {
    "a lambda": ("kernel_initializer", LAMBDA),
    "a lambda as dtype": ("dtype", LAMBDA),
    "a lambda in build_config": ("build_config", LAMBDA),
    "a lambda as the loss": ("loss", LAMBDA),
    "a lambda as a learning rate": ("learning_rate", LAMBDA),
    "os.system as a class": ("kernel_initializer", _class("os", "system", {"command": "true"})),
    "subprocess.Popen": (
        "kernel_initializer",
        _class("subprocess", "Popen", {"args": ["true"]}),
    ),
    "builtins.eval as a function": ("activation", _function("builtins", "eval")),
    "os.system as a function": ("activation", _function("posix", "system", "system")),
    "keras.utils.get_file as a metric": ("metrics", _function("keras.utils", "get_file")),
    "get_file by its source module": (
        "activation",
        _function("keras.src.utils.file_utils", "get_file"),
    ),
    "a registered_name of os": (
        "kernel_initializer",
        _class("keras.initializers", "Zeros", {}, "os>system"),
    ),
    "a module that prints on import": ("kernel_initializer", _class("this", "Zen")),
    "a registered_name that opens a browser": (
        "kernel_initializer",
        _class("keras.initializers", "Zen", {}, "antigravity>Zen"),
    ),
    "load_model as the layer": (
        "the layer",
        {
            "module": "keras.src.saving.saving_api",
            "class_name": "load_model",
            "config": {"filepath": "/etc/passwd"},
        },
    ),
    "a Keras op as the layer": (
        "the layer",
        {"module": "keras.ops", "class_name": "vectorized_map"},
    ),
    "a dotted class_name": ("the layer", {"class_name": "os.system"}),
    "eval as an activation string": ("activation", "eval"),
}


def _never_imported() -> set[str]:
    """Which of NEVER_IMPORTED the process has (another test module may have imported one
    for its own reasons: a check must import none of them anew)."""
    return {name for name in NEVER_IMPORTED if name in sys.modules}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_an_envelope_naming_code_is_refused_and_nothing_is_imported(api, compiled, name):
    place, value = HOSTILE[name]
    document = _copy(compiled)
    PLACES[place](document, _copy(value))
    before = _never_imported()
    found = DeepChecker(api).check(document)
    if name in LOADED_BY_MODULE:
        # Keras finds the class by its Keras module and class_name: the registered_name
        # imports nothing (the fast checks' LCF107 reports it).
        assert found["findings"] == []
    else:
        assert {f["code"] for f in found["findings"]} & REFUSED, found["findings"]
    assert _never_imported() == before


def _legacy_sequential(layer: dict[str, Any]) -> dict[str, Any]:
    first = {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3], "name": "in"}}
    return {"class_name": "Sequential", "config": {"name": "s", "layers": [first, layer]}}


LEGACY_LAMBDA = {
    "class_name": "Lambda",
    "config": {"name": "l", "function": ["4wEAAAAAAAAA", None, None], "function_type": "lambda"},
}
LEGACY_HOSTILE = {
    "a lambda": LEGACY_LAMBDA,
    "a lambda in TimeDistributed": {
        "class_name": "TimeDistributed",
        "config": {"name": "td", "layer": LEGACY_LAMBDA},
    },
    "module os": _class("os", "system", {"command": "true"}),
    "module this": _class("this", "Zen", {}, "Zen"),
    "builtins.eval as an activation": {
        "class_name": "Dense",
        "config": {"name": "d", "units": 2, "activation": _function("builtins", "eval")},
    },
    "subprocess.Popen as an initializer": {
        "class_name": "Dense",
        "config": {"name": "d", "units": 2, "kernel_initializer": _class("subprocess", "Popen")},
    },
}


@pytest.mark.parametrize("name", sorted(LEGACY_HOSTILE))
def test_a_tf_keras_envelope_naming_code_is_refused(legacy, name):
    before = _never_imported()
    found = DeepChecker(legacy).check(_legacy_sequential(_copy(LEGACY_HOSTILE[name])))
    assert {f["code"] for f in found["findings"]} & REFUSED, found["findings"]
    assert _never_imported() == before


def _nested(wrapper: str, inner: dict[str, Any], depth: int) -> dict[str, Any]:
    text = json.dumps(inner)
    for level in range(depth):
        text = (
            f'{{"module": "keras.layers", "class_name": "{wrapper}", "registered_name": null, '
            f'"config": {{"name": "w{level}", "layer": {text}}}}}'
        )
    return json.loads(text)


def test_a_from_config_recursion_hundreds_deep_gets_a_verdict(api):
    dense = _class("keras.layers", "Dense", {"name": "d", "units": 2})
    found = DeepChecker(api).check(_nested("TimeDistributed", dense, 400))
    assert isinstance(found["findings"], list)
    # Bidirectional recreates its layer from its config: nested, Keras refuses it at once.
    lstm = _class("keras.layers", "LSTM", {"name": "l", "units": 2})
    found = DeepChecker(api).check(_nested("Bidirectional", lstm, 40))
    assert {f["code"] for f in found["findings"]} == {"LCF301"}


# -- a SavedModel the document points at ---------------------------------------------------------

# A SavedModel whose loading runs its author's graph: a resource initializer reads a file and
# fails with its contents (a read of any file the user can read, shown in the diagnostic).
_SAVED_MODEL = """
import sys
import tensorflow as tf

secret = sys.argv[2]


class Reader(tf.saved_model.experimental.TrackableResource):
    def _create_resource(self):
        return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name="")

    def _initialize(self):
        tf.debugging.Assert(tf.constant(False), [tf.io.read_file(secret)])
        tf.raw_ops.AssignVariableOp(resource=self.resource_handle, value=1.0)


class Model(tf.Module):
    def __init__(self):
        super().__init__()
        self.reader = Reader()

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def __call__(self, x):
        return x * 2.0


tf.saved_model.save(Model(), sys.argv[1])
"""

_WORKER = """
import io, json, sys
from layercfg.schema_builder.worker import Worker

params = {
    "implementation": sys.argv[2], "value": json.loads(open(sys.argv[1]).read()),
    "modules": [], "trusted": False, "base": sys.argv[3],
}
print(json.dumps(Worker(io.StringIO()).do_deep_check(1, params)["findings"]))
"""

TOKEN = "round7-secret-7f3a9c"


@pytest.fixture(scope="module")
def hostile_saved_model(tmp_path_factory) -> Path:
    """A workspace: a document, the SavedModel at ``sm`` next to it, a secret outside."""
    top = tmp_path_factory.mktemp("savedmodel")
    secret = top / "secret.txt"
    secret.write_text(TOKEN, encoding="utf-8")
    workspace = top / "workspace"
    workspace.mkdir()
    subprocess.run(
        [sys.executable, "-c", _SAVED_MODEL, str(workspace / "sm"), str(secret)],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert (workspace / "sm" / "saved_model.pb").is_file()
    return workspace


def _hub_document(handle: str) -> dict[str, Any]:
    layer = {
        "class_name": "KerasLayer",
        "config": {"name": "k", "handle": handle, "dtype": "float32"},
    }
    return _legacy_sequential(layer)


@pytest.mark.parametrize("how", ["the server's request", "the command line"])
def test_a_local_savedmodel_handle_is_never_loaded(hostile_saved_model, how):
    workspace = hostile_saved_model
    document = workspace / "hub.layercfg.json"
    document.write_text(json.dumps(_hub_document("sm")), encoding="utf-8")
    if how == "the server's request":
        done = subprocess.run(
            [sys.executable, "-c", _WORKER, str(document), "tf_keras", str(workspace)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        output = done.stdout
    else:
        command = [sys.executable, "-m", "layercfg", "check", "--deep", "--flavor", "tf_keras"]
        done = subprocess.run(
            [*command, "--format", "json", document.name],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=workspace,
        )
        output = done.stdout + done.stderr
    assert TOKEN not in output
    assert "restored_function_body" not in output  # the model's graph never ran


def test_a_tfsmlayer_at_the_same_savedmodel_is_checked_offline(api, hostile_saved_model):
    layer = _class("keras.layers", "TFSMLayer", {"name": "t", "filepath": "sm"})
    found = DeepChecker(api, base=str(hostile_saved_model)).check(layer)
    assert "LCF303" in {f["code"] for f in found["findings"]}
    assert TOKEN not in json.dumps(found)


# -- a FIFO named as the cached part -----------------------------------------------------------


def test_a_fifo_named_as_the_cached_part_does_not_block_the_build(tmp_path):
    os.mkfifo(tmp_path / cachekey.compute((), "keras").part_filename)
    script = (
        "from layercfg.schema_builder import catalog_cache as c; print(repr(c.read_part('keras')))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,  # reading a missing part takes a second: a hang guard only
            env=dict(os.environ, LAYERCFG_CACHE_DIR=str(tmp_path)),
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading the cached part blocked on a FIFO")
    assert done.stdout.strip() == "None", done.stderr


# -- a SavedModel description nested past Python's recursion limit ----------------------------


def _deep_pbtxt(folder: Path, depth: int = 3000) -> None:
    """A saved_model.pbtxt whose input signature nests StructuredValue lists ``depth`` deep
    (text protobuf is parsed by recursive descent in Python)."""
    value = "none_value {}"
    for _ in range(depth):
        value = f"list_value {{ values {{ {value} }} }}"
    folder.mkdir()
    (folder / "saved_model.pbtxt").write_text(
        "saved_model_schema_version: 1\nmeta_graphs { object_graph_def { concrete_functions { "
        f'key: "f" value {{ canonicalized_input_signature {{ {value} }} }} }} }} }}\n',
        encoding="utf-8",
    )


def test_a_savedmodel_description_nested_too_deeply_is_unreadable_not_a_failed_check(api, tmp_path):
    from layercfg.schema_builder import handles

    _deep_pbtxt(tmp_path / "sm")
    assert handles.endpoints(str(tmp_path / "sm")) is None
    layer = _class("keras.layers", "TFSMLayer", {"name": "t", "filepath": "sm"})
    found = DeepChecker(api, base=str(tmp_path)).check(layer)
    assert "LCF306" in {f["code"] for f in found["findings"]}
