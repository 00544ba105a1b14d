"""KerasHub preset folders checked as a unit: every file, and the drift between ``task.json``
(or ``preprocessor.json``) and the files whose configs it embeds, with the related location
in the other file. The preset is a tiny BERT classifier saved by KerasHub in this session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from keras_files import built

from layercfg.server import presets
from layercfg.server.document import Document

LOAD_TASK = r"""
import os, sys
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras_hub
try:
    keras_hub.models.TextClassifier.from_preset(sys.argv[1])
    print("LOADED")
except Exception as exc:
    print("FAILED", type(exc).__name__, str(exc)[:300].replace("\n", " "))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    return built(tmp_path_factory) / "bert_preset"


@pytest.fixture(autouse=True)
def _catalog_cached(plain_catalog):
    """``check`` without ``--modules`` loads this catalog from the session cache."""


@pytest.fixture
def preset(tmp_path, saved) -> Path:
    folder = tmp_path / "bert"
    shutil.copytree(saved, folder)
    return folder


def run(args, env, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "layercfg", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value, indent=4))


def parsed(folder: Path) -> dict[str, tuple[str, Document]]:
    return {
        path.name: (str(path), Document.parse(path.as_uri(), path.read_text()))
        for path in map(Path, presets.files(str(folder)))
    }


def test_what_save_to_preset_writes_is_a_preset(preset, tmp_path):
    assert presets.is_preset(str(preset))
    names = [Path(p).name for p in presets.files(str(preset))]
    assert names == [
        "config.json",
        "task.json",
        "preprocessor.json",
        "tokenizer.json",
        "metadata.json",
    ]
    for name in names[:-1]:
        value = json.loads((preset / name).read_text())
        assert {"module", "class_name", "config", "registered_name"} <= set(value)
        assert "build_config" not in value and "compile_config" not in value
    assert "class_name" not in json.loads((preset / "metadata.json").read_text())
    # An unzipped .keras archive (config.json and metadata.json alone) is no preset.
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(preset / "config.json", plain)
    (plain / "metadata.json").write_text('{"keras_version": "3.15.1"}')
    assert not presets.is_preset(str(plain))


def test_a_fresh_preset_has_no_drift_and_no_error(preset, subprocess_env):
    assert presets.drift(parsed(preset)) == {}
    done = run(["check", "--format", "json", preset], subprocess_env)
    assert done.returncode == 0, done.stdout + done.stderr
    files = json.loads(done.stdout)["files"]
    assert [Path(f["path"]).name for f in files] == [
        "config.json",
        "task.json",
        "preprocessor.json",
        "tokenizer.json",
        "metadata.json",
    ]
    assert not [d for f in files for d in f["diagnostics"] if d["severity"] == "error"]


def test_stale_task_json_is_drift_keras_hub_fails_on(preset, subprocess_env):
    # A task.json from before intermediate_dim changed: KerasHub builds its backbone from it,
    # and the weights saved for config.json's do not fit.
    edit_json(
        preset / "task.json",
        lambda v: v["config"]["backbone"]["config"].update(intermediate_dim=16),
    )
    done = run(["check", "--format", "json", preset], subprocess_env)
    files = {Path(f["path"]).name: f for f in json.loads(done.stdout)["files"]}
    (drift,) = [d for d in files["task.json"]["diagnostics"] if d["code"] == "LCF601"]
    assert drift["pointer"] == "/config/backbone/config/intermediate_dim"
    assert "16" in drift["message"] and "8" in drift["message"]
    (related,) = drift["related"]
    assert related["path"] == str(preset / "config.json")
    line = (preset / "config.json").read_text().splitlines()[related["range"]["start"]["line"]]
    assert '"intermediate_dim"' in line
    keras_hub = subprocess.run(
        [sys.executable, "-c", LOAD_TASK, str(preset)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert keras_hub.stdout.startswith("FAILED"), keras_hub.stdout + keras_hub.stderr[-2000:]


def test_missing_argument_in_task_json_points_at_the_object(preset, subprocess_env):
    edit_json(preset / "task.json", lambda v: v["config"]["backbone"]["config"].pop("num_segments"))
    done = run(["check", preset], subprocess_env)
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "LCF601" in line)
    assert lines[at].startswith(f"{preset / 'task.json'}:")
    assert "no 'num_segments'" in lines[at] and "stale task.json" in lines[at]
    assert lines[at + 1].lstrip().startswith(f"{preset / 'config.json'}:")
    found = presets.drift(parsed(preset))["task.json"]
    assert [c.path for c in found] == [("config", "backbone", "config")]


def test_preprocessor_drift_and_tokenizer_drift(preset):
    edit_json(preset / "preprocessor.json", lambda v: v["config"].update(sequence_length=16))
    edit_json(preset / "tokenizer.json", lambda v: v["config"].update(lowercase=True))
    found = presets.drift(parsed(preset))
    task = [c.path for c in found["task.json"]]
    assert ("config", "preprocessor", "config", "sequence_length") in task
    pre = [c.path for c in found["preprocessor.json"]]
    assert pre == [("config", "tokenizer", "config", "lowercase")]
    assert all(c.problem.severity == 2 for cs in found.values() for c in cs)
    (other,) = found["preprocessor.json"][0].elsewhere
    assert other.path.endswith("tokenizer.json")


def test_metadata_must_be_a_plain_object(preset, subprocess_env):
    metadata = json.loads((preset / "metadata.json").read_text())
    (preset / "metadata.json").write_text(json.dumps({**metadata, "keras_version": 3}))
    assert not presets.is_preset(str(preset))
    document = Document.parse("file:///m.json", "[1]")
    assert [c.problem.code for c in presets.check_metadata(document)] == ["LCF107"]


def test_drift_is_capped(tmp_path):
    many = {f"k{i}": i for i in range(presets.MAX_DRIFT * 3)}
    config = {"class_name": "B", "config": many}
    task = {"class_name": "T", "config": {"backbone": {"class_name": "B", "config": {}}}}
    docs = {
        name: (name, Document.parse(f"file:///{name}", json.dumps(value)))
        for name, value in (("config.json", config), ("task.json", task))
    }
    assert len(presets.drift(docs)["task.json"]) == presets.MAX_DRIFT


def test_with_the_keras_hub_catalog_every_file_validates(preset, subprocess_env):
    edit_json(preset / "task.json", lambda v: v["config"]["backbone"]["config"].pop("num_segments"))
    done = run(
        ["check", "--modules", "keras_hub", "--format", "json", preset], subprocess_env, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = [
        (Path(f["path"]).name, d["code"])
        for f in json.loads(done.stdout)["files"]
        for d in f["diagnostics"]
    ]
    assert found == [("task.json", "LCF601")]
