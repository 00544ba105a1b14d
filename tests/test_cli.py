"""``layercfg schema`` and ``layercfg new`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

keras = pytest.importorskip("keras")


def run(args, env, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "layercfg", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def env(subprocess_env, catalog):
    return subprocess_env  # the catalog fixture has filled the session cache


def test_new_prints_a_config_keras_loads(env):
    result = run(["new", "Dense", "units=64", "activation=relu"], env)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["class_name"] == "Dense" and config["config"]["units"] == 64
    layer = keras.saving.deserialize_keras_object(config)
    assert layer.units == 64 and layer.activation.__name__ == "relu"


def test_new_fills_required_arguments_and_parses_json_values(env):
    result = run(["new", "Conv2D", "kernel_size=[3,3]", "padding=same"], env)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)["config"]
    assert config["kernel_size"] == [3, 3] and config["padding"] == "same"
    assert isinstance(config["filters"], int)
    # The value filled in is named, as a sample to replace, the ones given are not.
    assert (
        f"layercfg: note: filters={config['filters']} is a sample value: a required argument "
        "without a default; give filters on the command line for your model"
    ) in result.stderr
    assert "kernel_size" not in result.stderr
    given = run(["new", "Conv2D", "filters=8", "kernel_size=3"], env)
    assert given.returncode == 0 and "sample" not in given.stderr


def test_new_for_a_registered_custom_class(env):
    result = run(["new", "--modules", "custom.registered_layers", "acme>Gated", "units=3"], env)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["registered_name"] == "acme>Gated" and config["config"]["units"] == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["new", "Dense2"], "unknown class 'Dense2'; did you mean Dense?"),
        (["new", "Dense", "unitz=3"], "Dense has no argument 'unitz'; did you mean units?"),
        (["new", "Conv2D", "filters=4", "kernel_size=3", "padding=sme"], "padding"),
        (["new", "Dropout", "rate=1.5"], "rate"),
        (
            ["schema", "--modules", "no_such_module_here"],
            "no module named 'no_such_module_here': not installed, nor in the current "
            "directory or its src/",
        ),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(env, args, message):
    result = run(args, env)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("layercfg: error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert result.stdout == ""


def test_schema_writes_a_2020_12_schema(env, tmp_path):
    out = tmp_path / "layercfg.schema.json"
    result = run(["schema", "-o", str(out)], env)
    assert result.returncode == 0, result.stderr
    schema = json.loads(out.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")
    dense = schema["$defs"]["keras.layers.Dense"]
    assert dense["required"] == ["units"] and dense["additionalProperties"] is False
    assert dense["properties"]["units"]["markdownDescription"]
    snippets = schema["$defs"]["envelope.layer"]["defaultSnippets"]
    assert any(s["label"] == "Dense" and s["body"]["config"] == {"units": 4} for s in snippets)


def test_schema_with_custom_modules_includes_them(env, tmp_path):
    out = tmp_path / "schema.json"
    result = run(["schema", "--modules", "custom.good_layers", "-o", str(out)], env)
    assert result.returncode == 0, result.stderr
    assert "custom.good_layers.Scale" in json.loads(out.read_text())["$defs"]
