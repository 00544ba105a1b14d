"""The fast checks agree with Keras: a module that cannot hold the class, NaN and Infinity
arguments, and classes of packages the catalog does not cover (issue 15)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import pytest

from layercfg.server.catalog import Catalog
from layercfg.server.services.validation import ERROR, WARNING, validate

DENSE: dict[str, Any] = {
    "module": "keras.layers",
    "class_name": "Dense",
    "config": {"units": 4},
    "registered_name": None,
}


@pytest.fixture(scope="module")
def cat(catalog: dict) -> Catalog:
    return Catalog.from_json(catalog)


def _keras_refuses(document: dict[str, Any]) -> bool:
    try:
        keras.saving.deserialize_keras_object(copy.deepcopy(document))
    except Exception:
        return True
    return False


@pytest.mark.parametrize("module", ["keras.layer", "keras.initializers", "keras.optimizers"])
def test_a_module_that_cannot_hold_the_class_is_an_error(cat: Catalog, module: str) -> None:
    document = {**DENSE, "module": module}
    assert _keras_refuses(document)
    (finding,) = validate(document, cat)
    assert (finding.code, finding.path, finding.severity) == ("LCF107", ("module",), ERROR)
    assert "did you mean 'keras.layers'?" in finding.message
    assert not _keras_refuses(DENSE)
    assert validate(DENSE, cat) == []


def test_a_registered_class_is_found_by_its_registered_name_whatever_the_module(
    cat: Catalog,
) -> None:
    import keras_hub

    layer = keras_hub.layers.ReversibleEmbedding(10, 4)
    document = keras.saving.serialize_keras_object(layer)
    document = json.loads(json.dumps(document))
    wrong = {**document, "module": "keras_hub.layer"}
    assert not _keras_refuses(wrong)
    findings = [f for f in validate(wrong, cat) if f.path == ("module",)]
    assert [(f.code, f.severity) for f in findings] == [("LCF107", WARNING)]


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_a_regularizer_given_nan_or_infinity_is_an_error(cat: Catalog, text: str) -> None:
    source = (
        '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 4, '
        '"kernel_regularizer": {"module": "keras.regularizers", "class_name": "L2", '
        '"config": {"l2": ' + text + '}, "registered_name": null}}, "registered_name": null}'
    )
    document = json.loads(source)
    assert _keras_refuses(document)
    (finding,) = validate(document, cat)
    assert finding.code == "LCF104" and finding.severity == ERROR
    assert finding.path == ("config", "kernel_regularizer", "config", "l2")
    assert "must be a finite number" in finding.message


def test_check_and_deep_check_exit_1_on_a_nan_keras_refuses(tmp_path: Path) -> None:
    path = tmp_path / "nan.layercfg.json"
    path.write_text(
        '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 4, '
        '"kernel_regularizer": {"module": "keras.regularizers", "class_name": "L2", '
        '"config": {"l2": NaN}, "registered_name": null}}, "registered_name": null}'
    )
    for extra in ([], ["--deep"]):
        run = subprocess.run(
            [sys.executable, "-m", "layercfg", "check", *extra, str(path)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 1, (extra, run.stdout, run.stderr)
        assert "LCF104" in run.stdout


def test_a_package_not_in_modules_says_to_add_it(cat: Catalog) -> None:
    document = {
        "module": "acme_models.layers",
        "class_name": "Fancy",
        "config": {},
        "registered_name": "acme_models>Fancy",
    }
    (finding,) = validate(document, cat)
    assert (finding.code, finding.severity) == ("LCF101", WARNING)
    assert finding.message == (
        "'Fancy' is from package acme_models, which is not in `modules`: add it to "
        "layercfg.modules (trusted workspaces only) to check it."
    )


def test_an_allowlisted_package_that_is_not_installed_says_so(cat: Catalog) -> None:
    import importlib.util

    assert importlib.util.find_spec("keras_cv") is None
    document = {
        "module": "keras_cv.layers",
        "class_name": "RandomCutout",
        "config": {"height_factor": 0.2, "width_factor": 0.2},
        "registered_name": "keras_cv>RandomCutout",
    }
    assert _keras_refuses(document)
    (finding,) = validate(document, cat)
    assert finding.code == "LCF101"
    assert "package keras_cv, which is not installed" in finding.message
