"""A KerasHub class in a document while ``keras_hub`` is not in ``modules``: Keras's safe loader
would import ``keras_hub.*`` by module and run the class's constructor. The deep check does not
import a package the user did not configure: it says the envelope is not checked, with the
fast checks' "add it to modules" message, and the worker has not imported keras_hub."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

# Runs the worker's own deep-check handler in a fresh interpreter and reports what it found
# and which keras_hub modules it imported.
_WORKER = """
import io, json, sys
from layercfg.schema_builder.worker import Worker

document = json.loads(open(sys.argv[1]).read())
params = {"value": document, "modules": json.loads(sys.argv[2]), "trusted": True}
result = Worker(io.StringIO()).do_deep_check(1, params)
hub = sorted(m for m in sys.modules if m.split(".")[0] == "keras_hub")
print(json.dumps({"findings": result["findings"], "keras_hub": hub}))
"""


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Path:
    import keras
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=20,
        num_layers=1,
        num_heads=1,
        hidden_dim=4,
        intermediate_dim=8,
        max_sequence_length=8,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        document = keras.saving.serialize_keras_object(backbone)
    path = tmp_path_factory.mktemp("hub") / "bert.layercfg.json"
    path.write_text(json.dumps(document))
    return path


def _deep(path: Path, modules: list[str], env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", _WORKER, str(path), json.dumps(modules)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_keras_hub_is_not_imported_unless_configured(bert, subprocess_env, plain_catalog) -> None:
    from layercfg.server.catalog import Catalog
    from layercfg.server.services.validation import validate

    document = json.loads(bert.read_text())
    assert document["module"].startswith("keras_hub.")
    answer = _deep(bert, [], subprocess_env)
    assert answer["keras_hub"] == []
    (finding,) = answer["findings"]
    assert (finding["code"], finding["path"], finding["severity"]) == (
        "LCF101",
        ["class_name"],
        3,
    )
    # The fast checks' message, word for word, about the same key.
    (fast,) = validate(document, Catalog.from_json(plain_catalog))
    assert (fast.code, fast.path) == ("LCF101", ("class_name",))
    assert finding["message"] == f"Not loaded by the deep check: {fast.message}"
    assert "add it to `modules`" in fast.message
    # Configured, it is imported and loaded: no finding.
    configured = _deep(bert, ["keras_hub"], subprocess_env)
    assert configured["keras_hub"] and configured["findings"] == []


def test_a_keras_hub_layer_in_a_keras_model_is_skipped_alone(subprocess_env, tmp_path) -> None:
    import keras
    import keras_hub

    inputs = keras.Input((4, 8), name="x")
    hub_layer = keras_hub.layers.PositionEmbedding(sequence_length=4, name="position")(inputs)
    outputs = keras.layers.Dense(2, name="dense")(hub_layer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        document = keras.saving.serialize_keras_object(keras.Model(inputs, outputs))
    names = [entry["name"] for entry in document["config"]["layers"]]
    dense = names.index("dense")
    document["config"]["layers"][dense]["config"]["units"] = "two"  # a mistake Keras refuses
    path = tmp_path / "model.layercfg.json"
    path.write_text(json.dumps(document))
    answer = _deep(path, [], subprocess_env)
    assert answer["keras_hub"] == []
    by_path = {tuple(f["path"]): f for f in answer["findings"]}
    position = ("config", "layers", names.index("position"), "class_name")
    assert by_path[position]["code"] == "LCF101" and by_path[position]["severity"] == 3
    # The Keras layers are still checked, each alone.
    assert any(
        p[:3] == ("config", "layers", dense) and f["severity"] == 1 for p, f in by_path.items()
    )


def test_the_command_line_says_it_once(bert, subprocess_env) -> None:
    """``check --deep``: the fast warning, not the deep check's note restating it."""
    result = subprocess.run(
        [sys.executable, "-m", "layercfg", "check", "--deep", str(bert)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if "LCF101" in line]
    assert len(lines) == 1 and "LCF101 warning" in lines[0], result.stdout
    assert "add it to `modules`" in lines[0]
