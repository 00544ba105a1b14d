"""Keras 2 -> Keras 3 upgrade: the result validates clean and Keras 3 loads it with
``keras.saving.deserialize_keras_object``; the quick fix and ``layercfg upgrade`` write it."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import keras
import pytest

from layercfg.cli import main
from layercfg.server import engine
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.services.code_actions import Fixer
from layercfg.server.services.formatting import apply_edits
from layercfg.server.services.upgrade import is_legacy, upgrade
from layercfg.server.services.validation import validate
from layercfg.server.settings import Settings

DATA = Path(__file__).parent / "data" / "validation"
URI = "file:///legacy.layercfg.json"


@pytest.fixture(scope="module")
def cat(catalog: dict) -> Catalog:
    return Catalog.from_json(catalog)


def _load(value: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras.saving.deserialize_keras_object(copy.deepcopy(value))


def _written(obj: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))


def _input(name: str, shape: list[Any]) -> dict[str, Any]:
    return {
        "class_name": "InputLayer",
        "config": {
            "batch_input_shape": shape,
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": name,
        },
        "name": name,
        "inbound_nodes": [],
    }


def _dense(name: str, units: int, nodes: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "class_name": "Dense",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "units": units,
            "activation": "linear",
            "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            **extra,
        },
        "name": name,
        "inbound_nodes": nodes,
    }


def _shared_graph() -> dict[str, Any]:
    """Two inputs through one shared Dense, concatenated: Keras 2's to_json() of it."""
    layers = [
        _input("a", [None, 4]),
        _input("b", [None, 4]),
        _dense("shared", 3, [[["a", 0, 0, {}]], [["b", 0, 0, {}]]]),
        {
            "class_name": "Concatenate",
            "config": {"name": "concatenate", "trainable": True, "dtype": "float32", "axis": -1},
            "name": "concatenate",
            "inbound_nodes": [[["shared", 0, 0, {}], ["shared", 1, 0, {}]]],
        },
        _dense("out", 2, [[["concatenate", 0, 0, {}]]]),
    ]
    return {
        "class_name": "Model",
        "config": {
            "name": "shared_model",
            "layers": layers,
            "input_layers": [["a", 0, 0], ["b", 0, 0]],
            "output_layers": [["out", 0, 0]],
        },
        "keras_version": "2.4.0",
        "backend": "tensorflow",
    }


def _recurrent_stack() -> dict[str, Any]:
    """A Keras 1/2-style Sequential: no InputLayer, Keras 2 keys Keras 3 refuses or renamed."""
    layers = [
        {
            "class_name": "Embedding",
            "config": {
                "name": "embedding",
                "batch_input_shape": [None, 10],
                "dtype": "float32",
                "input_dim": 50,
                "output_dim": 8,
                "input_length": 10,
            },
        },
        {
            "class_name": "CuDNNLSTM",
            "config": {
                "name": "lstm",
                "units": 6,
                "return_sequences": True,
                "time_major": False,
                "dtype": "float32",
            },
        },
        {
            "class_name": "Bidirectional",
            "config": {
                "name": "bi",
                "merge_mode": "concat",
                "layer": {
                    "class_name": "GRU",
                    "config": {
                        "name": "gru",
                        "units": 4,
                        "time_major": False,
                        "implementation": 2,
                        "reset_after": True,
                    },
                },
            },
        },
        {
            "class_name": "BatchNormalization",
            "config": {
                "name": "bn",
                "axis": [1],
                "dtype": {"class_name": "Policy", "config": {"name": "float32"}},
            },
        },
        {"class_name": "LeakyReLU", "config": {"name": "leaky", "alpha": 0.1}},
        {
            "class_name": "Dense",
            "config": {
                "name": "out",
                "output_dim": 1,
                "init": "zeros",
                "W_regularizer": {"class_name": "L2", "config": {"l2": 0.01}},
            },
        },
    ]
    return {
        "class_name": "Sequential",
        "config": {"name": "recurrent", "layers": layers},
        "keras_version": "2.2.4",
        "backend": "tensorflow",
    }


def _file(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


LEGACY = {
    "keras2_functional": lambda: _file("keras2_functional"),
    "keras2_sequential": lambda: _file("keras2_sequential"),
    "shared_graph": _shared_graph,
    "recurrent_stack": _recurrent_stack,
}


@pytest.mark.parametrize("name", list(LEGACY))
def test_the_upgrade_validates_clean_and_keras_3_loads_it(cat, name):
    document = LEGACY[name]()
    assert is_legacy(document)
    assert [f.code for f in validate(document, cat)][:1] == ["LCF108"]
    result = upgrade(document, cat)
    assert result.notes == []
    assert not is_legacy(result.value)
    assert [(f.code, f.path, f.message) for f in validate(result.value, cat)] == []
    model = _load(result.value)
    assert model.name == document["config"]["name"]
    # What Keras 3 writes for the loaded model has the same envelopes and links.
    written = _written(model)
    assert written["module"] == result.value["module"]
    ours = {layer["config"]["name"]: layer for layer in result.value["config"]["layers"]}
    for layer in written["config"]["layers"]:
        mine = ours[layer["config"]["name"]]
        assert (mine["module"], mine["class_name"], mine["registered_name"]) == (
            layer["module"],
            layer["class_name"],
            layer["registered_name"],
        )
        if "inbound_nodes" in layer:
            assert _histories(mine["inbound_nodes"]) == _histories(layer["inbound_nodes"])


def _histories(nodes: Any) -> list[Any]:
    found: list[Any] = []

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                found.append((item["config"]["keras_history"], item["config"]["shape"]))
                return
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(nodes)
    return found


def test_what_the_upgrade_writes(cat):
    value = upgrade(_recurrent_stack(), cat).value
    assert (value["module"], value["registered_name"]) == ("keras", None)
    assert "keras_version" not in value and "backend" not in value
    first, embedding, lstm, bi, bn, leaky, out = value["config"]["layers"]
    assert first["class_name"] == "InputLayer"
    assert first["config"]["batch_shape"] == [None, 10]
    assert "batch_input_shape" not in embedding["config"]
    assert "input_length" not in embedding["config"]  # Keras 3 warns: "Just remove it"
    assert embedding["config"]["dtype"] == {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }
    assert lstm["class_name"] == "LSTM" and "time_major" not in lstm["config"]
    assert bi["config"]["layer"]["module"] == "keras.layers"
    assert "time_major" not in bi["config"]["layer"]["config"]
    assert bn["config"]["axis"] == 1
    assert bn["config"]["dtype"]["class_name"] == "DTypePolicy"
    assert leaky["config"]["negative_slope"] == 0.1 and "alpha" not in leaky["config"]
    assert list(out["config"])[:3] == ["name", "units", "kernel_initializer"]
    assert out["config"]["kernel_regularizer"]["module"] == "keras.regularizers"
    assert list(value) == ["module", "class_name", "config", "registered_name"]


def test_functional_nodes_become_keras_tensors(cat):
    value = upgrade(_shared_graph(), cat).value
    assert (value["module"], value["class_name"], value["registered_name"]) == (
        "keras.src.models.functional",
        "Functional",
        "Functional",
    )
    layers = {layer["name"]: layer for layer in value["config"]["layers"]}
    assert layers["shared"]["inbound_nodes"][1] == {
        "args": [
            {
                "class_name": "__keras_tensor__",
                "config": {"shape": [None, 4], "dtype": "float32", "keras_history": ["b", 0, 0]},
            }
        ],
        "kwargs": {},
    }
    (node,) = layers["concatenate"]["inbound_nodes"]
    assert [t["config"]["keras_history"] for t in node["args"][0]] == [
        ["shared", 0, 0],
        ["shared", 1, 0],
    ]
    assert layers["out"]["inbound_nodes"][0]["args"][0]["config"]["shape"] == [None, 6]


def test_custom_classes_get_their_module_and_registered_name(cat, fixtures_on_path):
    import custom.registered_layers  # noqa: F401 - registers acme>Gated

    entry = {k: v for k, v in _input("x", [None, 3]).items() if k in ("class_name", "config")}
    document = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                entry,
                {"class_name": "Gated", "config": {"name": "g", "units": 2, "dtype": "float32"}},
            ],
        },
    }
    value = upgrade(document, cat).value
    gated = value["config"]["layers"][1]
    assert (gated["module"], gated["registered_name"]) == ("custom.registered_layers", "acme>Gated")
    assert validate(value, cat) == []
    assert [layer.name for layer in _load(value).layers] == ["g"]


def test_unknown_classes_are_noted_not_guessed(cat):
    document = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [{"class_name": "MyOwnLayer", "config": {"name": "mine"}}],
        },
    }
    result = upgrade(document, cat)
    assert "module" not in result.value["config"]["layers"][0]
    assert any("MyOwnLayer" in note for note in result.notes)


def test_the_quick_fix_writes_the_upgrade_in_the_file_layout(cat):
    text = json.dumps(_shared_graph(), indent=2) + "\n"
    document = Document.parse(URI, text, 1)
    (legacy,) = [c for c in engine.check(document, cat, Settings()) if c.problem.code == "LCF108"]
    (fix,) = Fixer(cat).fixes(document, legacy.problem, legacy.path)
    assert (fix.title, fix.preferred, fix.safe) == ("Upgrade to Keras 3 format", True, True)
    after = apply_edits(text, fix.edits)
    assert after == json.dumps(upgrade(_shared_graph(), cat).value, indent=2) + "\n"
    fixed = Document.parse(URI, after, 2)
    assert [c.problem.code for c in engine.check(fixed, cat, Settings())] == []
    _load(json.loads(after))
    # Lines that did not change are not in any edit.
    untouched = '      "name": "a",\n'
    assert untouched in text and untouched in after
    start = text.index(untouched)
    assert not any(e.start <= start < e.end for e in fix.edits)


def test_layercfg_upgrade_command(cat, tmp_path, capsys):
    legacy = tmp_path / "old.layercfg.json"
    text = json.dumps(_file("keras2_sequential"), indent=2).replace("\n", "\r\n") + "\r\n"
    legacy.write_bytes(text.encode())
    current = tmp_path / "new.layercfg.json"
    current.write_text(json.dumps(upgrade(_file("keras2_sequential"), cat).value))
    broken = tmp_path / "broken.layercfg.json"
    broken.write_text('{"class_name": ')

    assert main(["upgrade", "--diff", str(legacy)]) == 0
    out = capsys.readouterr().out
    assert '+  "module": "keras",' in out and legacy.read_bytes() == text.encode()

    assert main(["upgrade", str(legacy), str(current)]) == 0
    err = capsys.readouterr().err
    assert "upgraded" in err and "already in the Keras 3 format" in err
    written = legacy.read_bytes().decode()
    assert "\r\n" in written and "\n" not in written.replace("\r\n", "")
    _load(json.loads(written))
    assert main(["check", str(legacy)]) == 0

    assert main(["upgrade", str(broken)]) == 1


def test_the_upgrade_never_imports_keras():
    code = (
        "import sys, json\n"
        "from layercfg.server.services.upgrade import upgrade\n"
        f"upgrade(json.loads({json.dumps(json.dumps(_shared_graph()))}))\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
