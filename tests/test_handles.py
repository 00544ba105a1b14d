"""Handles of external models checked offline (schema_builder/handles.py): URL shapes, the
tensorflow_hub cache and its complete entries, local folders, and KerasLayer's argument rules.
Nothing here imports TensorFlow."""

from __future__ import annotations

import hashlib
import os

import pytest

from layercfg.schema_builder import handles
from layercfg.schema_builder.external import hub_rules

TFHUB = "https://tfhub.dev/google/nnlm-en-dim50/2"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub-cache"
    cache.mkdir()
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    return cache


def saved_model(folder, marker="saved_model.pb"):
    folder.mkdir(parents=True)
    (folder / marker).write_bytes(b"")
    return folder


@pytest.mark.parametrize(
    "handle, ok, words",
    [
        (TFHUB, True, "served from Kaggle"),
        ("https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5", True, ""),
        ("https://tfhub.dev/google/nnlm-en-dim50", False, "has no version"),
        (
            "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector",
            False,
            "has no version",
        ),
        ("https://www.kaggle.com/models/google/nnlm/TensorFlow2/en-dim50/1", True, ""),
        (
            "https://www.kaggle.com/models/google/nnlm/frameworks/TensorFlow2/variations/en-dim50/"
            "versions/1",
            True,
            "",
        ),
        ("https://www.kaggle.com/models/google/nnlm/TensorFlow2/en-dim50", False, "has no version"),
        ("https://www.kaggle.com/datasets/someone/something", False, "not a Kaggle model handle"),
        ("gs://bucket/models/encoder.tar.gz", True, ""),
        ("gs://bucket/models/encoder", True, "read from Cloud Storage"),
        ("https://", False, "malformed URL"),
        ("s3://bucket/model", False, "unsupported scheme"),
        (42, False, "must be a string"),
    ],
)
def test_url_shapes(handle, ok, words, hub_cache):
    check = handles.check_handle(handle)
    assert check.ok is ok, check
    assert words in check.message + " ".join(check.notes)
    assert check.local is None


def test_a_url_not_in_the_cache_is_only_checked_statically(hub_cache):
    check = handles.check_handle(TFHUB)
    assert check.kind == "url" and check.ok and check.local is None
    assert check.cache == str(hub_cache / hashlib.sha1(TFHUB.encode()).hexdigest())
    assert check.how_checked == "checked statically: the URL is not cached, never downloaded"


def test_a_complete_cached_copy_named_by_the_sha1_of_the_handle_is_used(hub_cache):
    entry = saved_model(hub_cache / handles.module_dir_name(TFHUB))
    check = handles.check_handle(TFHUB)
    assert check.local == str(entry) and check.format == "saved_model"
    assert "cached copy" in check.how_checked
    # The exact handle: another spelling is another cache entry.
    assert handles.check_handle(TFHUB + "/").local is None


@pytest.mark.parametrize("mark", [".lock", ".4f1d2a.tmp"])
def test_an_incomplete_cached_copy_is_not_used(hub_cache, mark):
    entry = saved_model(hub_cache / handles.module_dir_name(TFHUB))
    (hub_cache / (entry.name + mark)).write_text("in progress")
    check = handles.check_handle(TFHUB)
    assert check.ok and check.local is None
    assert any("incomplete" in note for note in check.notes)


def test_a_cache_entry_without_a_saved_model_is_not_used(hub_cache):
    (hub_cache / handles.module_dir_name(TFHUB)).mkdir()
    check = handles.check_handle(TFHUB)
    assert check.local is None and any("no saved_model.pb" in n for n in check.notes)


def test_the_shared_default_cache_counts_only_when_private(tmp_path, monkeypatch):
    monkeypatch.delenv("TFHUB_CACHE_DIR", raising=False)
    monkeypatch.setenv("LAYERCFG_SYSTEM_TMPDIR", str(tmp_path))
    cache = tmp_path / "tfhub_modules"
    saved_model(cache / handles.module_dir_name(TFHUB))
    cache.chmod(0o777)
    check = handles.check_handle(TFHUB)
    assert check.local is None and any("not private" in n for n in check.notes)
    cache.chmod(0o700)
    assert handles.check_handle(TFHUB).local is not None


def test_local_folders_resolve_against_the_base(tmp_path):
    saved_model(tmp_path / "docs" / "hub_module")
    check = handles.check_handle("hub_module", base=str(tmp_path / "docs"))
    assert check.ok and check.local == str(tmp_path / "docs" / "hub_module")
    assert check.how_checked.startswith("loaded from the SavedModel at")
    missing = handles.check_handle("hub_module", base=str(tmp_path))
    assert not missing.ok and "no SavedModel at" in missing.message
    assert handles.check_handle(f"file://{tmp_path}/docs/hub_module").ok


def test_the_tf1_hub_format_is_recognised(tmp_path):
    folder = saved_model(tmp_path / "tf1", "tfhub_module.pb")
    (folder / "saved_model.pb").write_bytes(b"")
    check = handles.check_handle(str(folder))
    assert check.ok and check.format == "tf1_hub"
    assert not handles.check_handle(str(folder), hub=False).ok  # TFSMLayer needs TF2


def test_tfsm_layer_does_not_take_urls():
    check = handles.check_handle(TFHUB, hub=False)
    assert not check.ok and "not" in check.message


@pytest.mark.parametrize(
    "config, form, words",
    [
        ({"signature": "serving_default"}, "saved_model", "exactly one of"),
        (
            {"signature": "s", "output_key": "a", "signature_outputs_as_dict": True},
            None,
            "exactly one of",
        ),
        ({"signature_outputs_as_dict": True}, "saved_model", "only valid with a `signature`"),
        ({"trainable": True, "signature": "s", "output_key": "a"}, None, "unsupported"),
        ({"trainable": True}, "tf1_hub", "TF1 Hub format"),
        ({"arguments": [1]}, None, "JSON object"),
    ],
)
def test_keras_layer_argument_rules(config, form, words):
    assert words in (hub_rules(config, form) or "")


@pytest.mark.parametrize(
    "config, form",
    [
        ({}, "saved_model"),
        ({"signature": "serving_default", "output_key": "output_0"}, "saved_model"),
        ({"signature": "serving_default", "signature_outputs_as_dict": True}, None),
        ({"signature_outputs_as_dict": True}, "tf1_hub"),  # the TF1 default signature
        ({"trainable": True}, "saved_model"),
    ],
)
def test_keras_layer_arguments_it_accepts(config, form):
    assert hub_rules(config, form) is None


def test_nothing_here_imports_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys; from layercfg.schema_builder import handles; "
        "handles.check_handle('https://tfhub.dev/google/nnlm-en-dim50/2'); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TFHUB_CACHE_DIR": "/nonexistent"},
    )
    assert out.stdout.strip() == "False", out.stderr


# -- the flavor of a document (server/flavor.py), told without Keras ----------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (
            {
                "class_name": "Sequential",
                "config": {},
                "keras_version": "2.21.0",
                "backend": "tensorflow",
            },
            "tf_keras",
        ),
        ({"class_name": "Sequential", "config": {}, "keras_version": "3.15.1"}, "keras"),
        ({"class_name": "Sequential", "config": {}, "backend": "tensorflow"}, "tf_keras"),
        (
            {
                "module": "keras",
                "class_name": "Sequential",
                "config": {
                    "layers": [
                        {
                            "module": "keras.layers",
                            "class_name": "InputLayer",
                            "config": {"batch_input_shape": [None], "dtype": "string"},
                        }
                    ]
                },
            },
            "tf_keras",
        ),
        (
            {
                "module": "keras",
                "class_name": "Sequential",
                "config": {
                    "layers": [
                        {
                            "module": "keras.layers",
                            "class_name": "InputLayer",
                            "config": {"batch_shape": [None, 3]},
                        }
                    ]
                },
            },
            "keras",
        ),
        (
            {
                "module": "tensorflow_hub.keras_layer",
                "class_name": "KerasLayer",
                "config": {"handle": "x"},
                "registered_name": "KerasLayer",
            },
            "tf_keras",
        ),
        (
            {
                "class_name": "Functional",
                "config": {
                    "layers": [
                        {
                            "class_name": "Dense",
                            "name": "d",
                            "config": {},
                            "inbound_nodes": [[["input_1", 0, 0, {}]]],
                        }
                    ]
                },
            },
            "tf_keras",
        ),
        (
            {
                "module": "keras",
                "class_name": "Functional",
                "config": {
                    "layers": [
                        {
                            "module": "keras.layers",
                            "class_name": "Dense",
                            "name": "d",
                            "config": {},
                            "inbound_nodes": [{"args": [], "kwargs": {}}],
                        }
                    ]
                },
            },
            "keras",
        ),
        ([1, 2], "keras"),
    ],
)
def test_the_flavor_of_a_document(value, expected):
    from layercfg.server import flavor

    assert flavor.detect(value) == expected


def test_a_forced_flavor_wins_and_tf_keras_needs_its_catalog():
    from layercfg.server import flavor

    keras2 = {"class_name": "Sequential", "config": {}, "keras_version": "2.21.0"}
    assert flavor.choose(None, keras2, available=True) == "tf_keras"
    assert flavor.choose(None, keras2, available=False) == "keras"
    assert flavor.choose("keras", keras2, available=True) == "keras"
    assert flavor.choose("tf_keras", {"module": "keras"}, available=True) == "tf_keras"
