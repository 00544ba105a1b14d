"""``config.json`` files told by content: Keras envelopes and folders whose ``metadata.json``
names a ``keras_version`` are checked; Hugging Face Transformers and timm configs are left
alone, with the reason under ``--explain``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from keras_files import built

from layercfg.server import detect

HF_BERT = {
    "architectures": ["BertForMaskedLM"],
    "model_type": "bert",
    "hidden_size": 768,
    "transformers_version": "4.40.0",
}
TIMM = {
    "architecture": "resnet50",
    "num_classes": 1000,
    "num_features": 2048,
    "pretrained_cfg": {"tag": "a1_in1k"},
}


@pytest.mark.parametrize(
    ("value", "metadata", "kind"),
    [
        ({"module": "keras", "class_name": "Sequential", "config": {}}, None, "keras"),
        ({"class_name": "Sequential", "config": {"layers": []}}, None, "keras"),  # Keras 2
        ({"anything": 1}, {"keras_version": "3.15.1"}, "keras"),
        (HF_BERT, None, "transformers"),
        ({"model_type": "llama"}, {"keras_version": "3.15.1"}, "transformers"),
        (TIMM, None, "timm"),
        ({"lr": 0.1, "epochs": 3}, None, "other"),
        ({"lr": 0.1}, {"keras_version": 3}, "other"),
        ([1, 2], None, "other"),
        ({"class_name": "X", "config": "not an object"}, None, "other"),
    ],
)
def test_classify(value, metadata, kind):
    found = detect.classify(value, metadata)
    assert found.kind == kind
    assert found.keras == (kind == "keras")
    assert found.reason


def test_sibling_metadata_is_read_only_when_small_and_regular(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "metadata.json").write_text(json.dumps({"keras_version": "3.15.1"}))
    assert detect.sibling_metadata(str(tmp_path / "config.json")) == {"keras_version": "3.15.1"}
    (tmp_path / "metadata.json").write_text(" " * (detect.METADATA_MAX_BYTES + 1) + "{}")
    assert detect.sibling_metadata(str(tmp_path / "config.json")) is None
    if hasattr(os, "mkfifo"):
        (tmp_path / "metadata.json").unlink()
        os.mkfifo(tmp_path / "metadata.json")
        assert detect.sibling_metadata(str(tmp_path / "config.json")) is None  # no hang


@pytest.fixture(autouse=True)
def _catalog_cached(plain_catalog):
    """``check`` without ``--modules`` loads this catalog from the session cache."""


def test_check_detect_explains(tmp_path, tmp_path_factory, subprocess_env):
    saved = built(tmp_path_factory)
    tree = tmp_path / "models"
    for name, value in (("hf", HF_BERT), ("timm", TIMM), ("notes", {"lr": 0.1})):
        (tree / name).mkdir(parents=True)
        (tree / name / "config.json").write_text(json.dumps(value))
    (tree / "keras_model").mkdir()
    with zipfile.ZipFile(saved / "k3_functional.keras") as archive:
        (tree / "keras_model" / "config.json").write_bytes(
            archive.read("config.json").replace(b'"units": 5', b'"units": "5"')
        )
        (tree / "keras_model" / "metadata.json").write_bytes(archive.read("metadata.json"))
    shutil.copytree(saved / "bert_preset", tree / "bert")
    shutil.copy(saved / "tf213_functional.keras", tree / "old.keras")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "layercfg",
            "check",
            "--detect",
            "--explain",
            "--format",
            "json",
            str(tree),
        ],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    checked = {os.path.relpath(f["path"], tree): f for f in json.loads(done.stdout)["files"]}
    assert set(checked) == {
        "keras_model/config.json",
        "old.keras",
        "bert/config.json",
        "bert/task.json",
        "bert/preprocessor.json",
        "bert/tokenizer.json",
        "bert/metadata.json",
    }
    assert [d["code"] for d in checked["keras_model/config.json"]["diagnostics"]] == ["LCF104"]
    assert checked["old.keras"]["member"] == "config.json"
    reasons = {
        line.split(": ")[2].split("/")[-2]: line
        for line in done.stderr.splitlines()
        if line.startswith("layercfg: note:") and "config.json" in line
    }
    assert "Hugging Face Transformers" in reasons["hf"] and "skipped" in reasons["hf"]
    assert "timm" in reasons["timm"] and "skipped" in reasons["timm"]
    assert "left alone" in reasons["notes"]
    assert "checked" in reasons["keras_model"]
    # Without --detect the folder holds no *.layercfg.json: nothing is checked.
    quiet = subprocess.run(
        [sys.executable, "-m", "layercfg", "check", str(tree)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=300,
    )
    assert quiet.returncode == 0 and "0 file(s) checked" in quiet.stdout
