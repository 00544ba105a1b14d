"""``check --deep`` on ``.keras`` archives as Keras saves them: a compiled Keras 3 model loads
cleanly, and an archive tf_keras saved is checked deeply by tf_keras (the Keras its fast checks
chose), not by Keras 3, whose refusal the LCF108 error already says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import pytest
from keras_files import built


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    return built(tmp_path_factory)


@pytest.fixture(autouse=True)
def _catalog_cached(plain_catalog):
    """``check`` without ``--modules`` loads this catalog from the session cache."""


def run(args, env):
    return subprocess.run(
        [sys.executable, "-m", "layercfg", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _diagnostics(done: subprocess.CompletedProcess) -> list[dict]:
    return [d for f in json.loads(done.stdout)["files"] for d in f["diagnostics"]]


def test_a_compiled_model_saved_by_keras_passes_the_deep_check(tmp_path, subprocess_env):
    inputs = keras.Input((8,), name="x")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(hidden))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.save(tmp_path / "compiled.keras")
    done = run(["check", "--deep", "--format", "json", tmp_path / "compiled.keras"], subprocess_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _diagnostics(done) == []


def test_a_tf_keras_archive_is_checked_deeply_by_tf_keras(tmp_path, saved, subprocess_env):
    archive = tmp_path / "tfk_functional.keras"
    shutil.copy(saved / "tfk_functional.keras", archive)
    for flavor in ([], ["--flavor", "tf_keras"]):
        done = run(["check", "--deep", "--format", "json", *flavor, archive], subprocess_env)
        found = _diagnostics(done)
        # Keras 3's own refusal of tf_keras's modules is not reported again as LCF3xx.
        assert [d for d in found if d["code"].startswith("LCF3")] == [], found
    # Keras 3, asked for, still says what it makes of it.
    keras3 = ["check", "--deep", "--format", "json", "--flavor", "keras", archive]
    done = run(keras3, subprocess_env)
    assert any(d["code"] == "LCF108" and d["severity"] == "error" for d in _diagnostics(done))
