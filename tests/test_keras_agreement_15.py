"""The fast checks agree with Keras: a module that cannot hold the class, NaN and Infinity
arguments, and classes of packages the catalog does not cover."""

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
    # Without keras_hub in the catalog the class is not Keras's ReversibleEmbedding (which
    # would take no registered_name): a warning to configure modules, never an error.
    findings = validate(wrong, cat)
    assert [(f.code, f.path, f.severity) for f in findings] == [
        ("LCF101", ("class_name",), WARNING)
    ]
    assert "package keras_hub" in findings[0].message


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
        "'Fancy' is from module acme_models.layers, which the catalog does not cover: add "
        "acme_models.layers to `modules` (`--modules`, or the layercfg.modules setting; "
        "trusted workspaces only) to check it."
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


def _class_keras_finds(document: dict[str, Any]) -> Any:
    from keras.src.saving import serialization_lib

    return serialization_lib._retrieve_class_or_fn(
        document["class_name"],
        document.get("registered_name"),
        document.get("module"),
        obj_type="class",
        full_config=document,
    )


def _shared_keras_hub_layers() -> list[str]:
    """Class names of keras_hub layers that keras.layers has too."""
    import keras_hub

    return sorted(
        name
        for name in set(dir(keras_hub.layers)) & set(dir(keras.layers))
        if isinstance(getattr(keras_hub.layers, name), type)
    )


_TINY = {
    "RMSNormalization": lambda cls: cls(input_dim=4),
    "ReversibleEmbedding": lambda cls: cls(10, 4),
}


def test_every_class_name_keras_hub_shares_with_keras_layers_has_tiny_arguments() -> None:
    assert _shared_keras_hub_layers() == sorted(_TINY)


@pytest.mark.parametrize("name", sorted(_TINY))
def test_a_keras_hub_class_sharing_a_keras_name_is_not_the_keras_built_in(
    plain_catalog: dict, name: str
) -> None:
    import keras_hub

    layer = _TINY[name](getattr(keras_hub.layers, name))
    document = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    assert document["registered_name"] == f"keras_hub>{name}"
    assert document["module"].startswith("keras_hub.")
    # Keras finds the keras_hub class by its registered name, and by its module alone
    # (keras_hub is on Keras's allowlist).
    by_module = {**document, "registered_name": None}
    for variant in (document, by_module):
        assert _class_keras_finds(variant) is type(layer)
    plain = Catalog.from_json(plain_catalog)
    assert not any(e["module"].startswith("keras_hub") for e in plain.find(name))
    for variant in (document, by_module, {**document, "module": "keras_hub.layers"}):
        findings = validate(variant, plain)
        assert [f for f in findings if f.severity == ERROR] == [], (variant, findings)
        (finding,) = findings
        assert (finding.code, finding.path, finding.severity) == (
            "LCF101",
            ("class_name",),
            WARNING,
        )
        assert "package keras_hub" in finding.message
