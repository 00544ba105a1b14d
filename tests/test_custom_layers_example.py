"""The walk-through of examples/custom_layers, as a user runs it: ``layercfg new`` for three
unregistered custom layers, ``check --deep`` without errors on their configs and pointing the
broken ``from_config`` at its line in text, JSON and SARIF; and a hostile tf_keras document through
the contained worker, with trusted modules configured, that runs nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("keras")

EXAMPLE = Path(__file__).parent.parent / "examples" / "custom_layers"


def _run(args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "layercfg", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture
def walk(tmp_path, subprocess_env):
    """A copy of the example folder to run the walk-through in."""
    folder = tmp_path / "custom_layers"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder, subprocess_env


def test_new_for_each_custom_layer(walk):
    folder, env = walk
    # As a user runs it: TensorFlow's own start-up logging is not turned off beforehand.
    env = {k: v for k, v in env.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    for args, expected in (
        (["SeedDense", "units=16", "activation=relu"], {"units": 16, "activation": "relu"}),
        (["MyMultiWeightLayer", "units1=3", "units2=4"], {"units1": 3, "units2": 4}),
        (["NestedDenseBlock"], {}),
    ):
        result = _run(["new", *args, "--modules", "seed_layers"], env, folder)
        assert result.returncode == 0, result.stderr
        # Only layercfg's lines, none of TensorFlow's, though the module imports Keras.
        assert all(line.startswith("layercfg: ") for line in result.stderr.splitlines()), (
            result.stderr
        )
        # None is registered: the program that loads the config needs custom_objects.
        assert f"custom_objects={{'{args[0]}': {args[0]}}}" in result.stderr
        config = json.loads(result.stdout)
        assert config["module"] == "seed_layers" and config["class_name"] == args[0]
        assert expected.items() <= config["config"].items()
        # What `new` prints is what the example ships.
        shipped = {
            "SeedDense": "seed_dense",
            "MyMultiWeightLayer": "multi_weight",
            "NestedDenseBlock": "nested_block",
        }[args[0]]
        assert config == json.loads((folder / f"{shipped}.layercfg.json").read_text())
    missing = _run(
        ["new", "MyMultiWeightLayer", "units1=3", "--modules", "seed_layers"], env, folder
    )
    assert missing.returncode == 2 and "units2" in missing.stderr
    broken = _run(["new", "NestedDenseBlock", "--modules", "broken_block"], env, folder)
    line = next(
        number
        for number, text in enumerate((folder / "broken_block.py").read_text().splitlines(), 1)
        if 'config.pop("config")' in text
    )
    # The class, Keras's error and the line of the user's code that raised it.
    assert (
        broken.returncode == 2
        and (
            f"layercfg: error: NestedDenseBlock: KeyError: 'config' (broken_block.py:{line}, "
            'in from_config: inner = config.pop("config")'
        )
        in broken.stderr
    ), broken.stderr


def test_check_deep_passes_the_configs_and_points_at_the_broken_from_config(walk):
    folder, env = walk
    clean = _run(
        ["check", "--deep", "--timeout", "300", "--modules", "seed_layers", "."], env, folder
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    # No error: the only findings are one warning per unregistered class, that Keras finds
    # it only in custom_objects (which is how the deep check and a program load them).
    assert "3 file(s) checked, 3 problem(s)" in clean.stdout
    found = [line for line in clean.stdout.splitlines() if ": LCF" in line]
    assert len(found) == 3 and all(": LCF107 warning: " in line for line in found), found
    assert all("custom_objects" in line for line in found)
    line = next(
        number
        for number, text in enumerate((folder / "broken_block.py").read_text().splitlines(), 1)
        if 'config.pop("config")' in text
    )
    args = [
        "check",
        "--deep",
        "--timeout",
        "300",
        "--modules",
        "broken_block",
        "nested_block_broken.json",
    ]
    text = _run(args, env, folder)
    assert text.returncode == 1, text.stderr
    assert "LCF401 error: NestedDenseBlock: KeyError: 'config'" in text.stdout
    assert f"  broken_block.py:{line}:1: related: in from_config:" in text.stdout
    as_json = json.loads(_run([*args, "--format", "json"], env, folder).stdout)
    # Besides the error, the warning that Keras finds the unregistered class only through
    # custom_objects (as above).
    diagnostics = as_json["files"][0]["diagnostics"]
    assert sorted((d["code"], d["severity"]) for d in diagnostics) == [
        ("LCF107", "warning"),
        ("LCF401", "error"),
    ]
    (finding,) = [d for d in diagnostics if d["severity"] == "error"]
    (related,) = finding["related"]
    assert related["path"] == "broken_block.py"
    assert related["range"]["start"] == {"line": line - 1, "character": 0}
    assert 'config.pop("config")' in related["message"]
    sarif = json.loads(_run([*args, "--format", "sarif"], env, folder).stdout)
    (result,) = [r for r in sarif["runs"][0]["results"] if r["level"] == "error"]
    (location,) = result["relatedLocations"]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "broken_block.py"
    assert location["physicalLocation"]["region"]["startLine"] == line


def test_the_bundled_examples_still_check_clean(subprocess_env):
    """The README's first command: the broken variant is not a *.layercfg.json file, and the
    custom classes are only unknown there (a warning), since it runs without --modules."""
    root = EXAMPLE.parent.parent
    result = _run(["check", "examples"], subprocess_env, root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nested_block_broken" not in result.stdout


def test_a_hostile_tf_keras_document_runs_nothing_in_the_worker(tmp_path, subprocess_env):
    pytest.importorskip("tf_keras")
    pytest.importorskip("tensorflow_hub")
    marker = tmp_path / "ran"
    (tmp_path / "lcf_trusted.py").write_text("X = 1\n")
    # Beside a trusted module, so its folder is on the worker's path; never configured.
    (tmp_path / "lcf_not_configured.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\nclass Boom:\n    pass\n"
    )

    def dense(module, name):
        return {
            "module": "keras.layers",
            "class_name": "Dense",
            "config": {
                "units": 2,
                "activation": {
                    "module": module,
                    "class_name": "function",
                    "config": name,
                    "registered_name": name,
                },
            },
            "registered_name": None,
        }

    document = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_input_shape": [None, 3], "dtype": "float32", "name": "x"},
                    "registered_name": None,
                },
                {
                    "module": "lcf_not_configured",
                    "class_name": "Boom",
                    "config": {},
                    "registered_name": None,
                },
                dense("os", "system"),
                dense("subprocess", "getoutput"),
                dense("builtins", "eval"),
            ],
        },
        "keras_version": "2.21.0",
        "backend": "tensorflow",
    }
    (tmp_path / "hostile.layercfg.json").write_text(json.dumps(document))
    env = {**subprocess_env, "TFHUB_CACHE_DIR": str(tmp_path / "cache")}
    result = _run(
        [
            "check",
            "--deep",
            "--timeout",
            "300",
            "--flavor",
            "tf_keras",
            "--modules",
            "lcf_trusted",
            "--format",
            "json",
            "hostile.layercfg.json",
        ],
        env,
        tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert not marker.exists()
    deep = [
        d
        for d in json.loads(result.stdout)["files"][0]["diagnostics"]
        if d["source"] == "keras" and d["severity"] == "error"
    ]
    assert {d["pointer"].split("/")[3] for d in deep} == {"1", "2", "3", "4"}, deep
    assert "ran" not in os.listdir(tmp_path)
