"""A custom class that is not registered with ``register_keras_serializable``, in a module Keras
does not import: Keras loads its config only when the program passes it in ``custom_objects``.
The fast checks say so as a warning (Keras loads it then), an error where Keras refuses it even
there (a null ``registered_name``), with the fix Keras itself would write; ``layercfg new``
notes it. And a tf_keras document without a top-level ``module``, which tf_keras loads."""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any

import keras
import pytest

from layercfg.schema_builder import generate
from layercfg.server import engine
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.services.code_actions import Fixer
from layercfg.server.services.formatting import apply_edits
from layercfg.server.services.validation import ERROR, WARNING, validate
from layercfg.server.settings import Settings


@pytest.fixture(scope="module")
def cat(catalog: dict) -> Catalog:
    return Catalog.from_json(catalog)


@pytest.fixture(scope="module")
def scale(fixtures_on_path) -> type:
    from custom.good_layers import Scale

    return Scale


def _written(layer: Any) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))


def _keras_error(document: Any, custom_objects: dict | None = None) -> str | None:
    try:
        keras.saving.deserialize_keras_object(
            copy.deepcopy(document), custom_objects=custom_objects, safe_mode=True
        )
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _loud(findings) -> list:
    return [f for f in findings if f.severity <= WARNING]


def test_keras_finds_an_unregistered_class_only_in_custom_objects(cat, scale) -> None:
    document = _written(scale(2.0))
    assert document["module"] == "custom.good_layers" and document["registered_name"] == "Scale"
    assert "Could not locate class 'Scale'" in (_keras_error(document) or "")
    assert _keras_error(document, {"Scale": scale}) is None
    (finding,) = _loud(validate(document, cat))
    assert (finding.code, finding.path, finding.severity) == ("LCF107", ("class_name",), WARNING)
    assert "not registered with keras.saving.register_keras_serializable" in finding.message
    assert "custom_objects={'Scale': Scale}" in finding.message


def test_the_custom_objects_key_is_the_registered_name_keras_looks_up(cat, scale) -> None:
    document = {**_written(scale(2.0)), "registered_name": "Scaler"}
    assert _keras_error(document, {"Scale": scale}) is not None
    assert _keras_error(document, {"Scaler": scale}) is None
    (finding,) = _loud(validate(document, cat))
    assert finding.severity == WARNING and "custom_objects={'Scaler': Scale}" in finding.message
    # Without registered_name Keras looks the class name up, at the top level too: no
    # "missing module" error for a class custom_objects gives.
    bare = {k: v for k, v in _written(scale(2.0)).items() if k not in ("registered_name",)}
    assert _keras_error(bare, {"Scale": scale}) is None
    moduleless = {k: v for k, v in bare.items() if k != "module"}
    assert _keras_error(moduleless, {"Scale": scale}) is None
    for variant in (bare, moduleless):
        (finding,) = _loud(validate(variant, cat))
        assert (finding.code, finding.severity) == ("LCF107", WARNING)
        assert "custom_objects={'Scale': Scale}" in finding.message


def test_a_null_registered_name_is_an_error_keras_refuses_even_with_custom_objects(
    cat, scale
) -> None:
    document = {**_written(scale(2.0)), "registered_name": None}
    assert "Could not locate class 'Scale'" in (_keras_error(document, {"Scale": scale}) or "")
    (finding,) = _loud(validate(document, cat))
    assert (finding.code, finding.path, finding.severity) == (
        "LCF107",
        ("registered_name",),
        ERROR,
    )
    assert "Set it to 'Scale'" in finding.message
    # The fix writes what Keras writes, and Keras then loads it with custom_objects.
    text = json.dumps(document, indent=2)
    parsed = Document.parse("file:///scale.layercfg.json", text, 1)
    (checked,) = [c for c in engine.check(parsed, cat, Settings()) if c.problem.code == "LCF107"]
    (fix,) = Fixer(cat).fixes(parsed, checked.problem, checked.path)
    assert fix.safe and fix.title == "Set 'registered_name' to \"Scale\""
    fixed = json.loads(apply_edits(text, fix.edits))
    assert fixed == {**document, "registered_name": "Scale"}
    assert _keras_error(fixed, {"Scale": scale}) is None


def test_registered_and_keras_imported_classes_get_no_warning(cat, fixtures_on_path) -> None:
    from custom.registered_layers import Gated

    document = _written(Gated(3))
    assert _keras_error(document) is None
    assert _loud(validate(document, cat)) == []
    # A module error is the one finding of an envelope Keras looks for in the wrong module.
    from custom.good_layers import Scale

    wrong = {**_written(Scale(2.0)), "module": "custom.registered_layers"}
    findings = _loud(validate(wrong, cat))
    assert [(f.code, f.path, f.severity) for f in findings] == [("LCF107", ("module",), ERROR)]


def test_the_warning_is_there_in_a_model(cat, scale) -> None:
    model = keras.Sequential([keras.Input((3,)), scale(2.0, name="scale")])
    document = _written(model)
    assert _keras_error(document) is not None
    assert _keras_error(document, {"Scale": scale}) is None
    (finding,) = _loud(validate(document, cat))
    assert finding.path == ("config", "layers", 1, "class_name")
    assert finding.severity == WARNING


def test_new_notes_custom_objects_for_an_unregistered_class_only(catalog) -> None:
    note = generate.custom_objects_note(catalog, "Scale")
    assert note is not None and "custom_objects={'Scale': Scale}" in note
    assert generate.custom_objects_note(catalog, "Gated") is None  # registered
    assert generate.custom_objects_note(catalog, "Dense") is None


# -- tf_keras: a document without a top-level module ---------------------------------------------


@pytest.fixture(scope="module")
def tf_keras_cat(cache_dir) -> Catalog:
    pytest.importorskip("tf_keras")
    from layercfg.schema_builder.catalog import load_or_build

    return Catalog.from_json(load_or_build((), "tf_keras"))


def test_a_tf_keras_layer_without_module_is_what_tf_keras_loads(tf_keras_cat, cat) -> None:
    import tf_keras

    document = {"class_name": "Dense", "config": {"name": "dense", "units": 3}}
    # tf_keras loads it as model_from_json and layers.deserialize do, and its to_json()
    # writes no module at the top level.
    assert type(tf_keras.models.model_from_json(json.dumps(document))).__name__ == "Dense"
    assert type(tf_keras.layers.deserialize(copy.deepcopy(document))).__name__ == "Dense"
    written = json.loads(
        tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2)]).to_json()
    )
    assert "module" not in written
    assert [f for f in validate(document, tf_keras_cat) if f.severity == ERROR] == []
    assert [f for f in validate(written, tf_keras_cat) if f.severity == ERROR] == []
    # Keras 3 cannot locate it at the top level: there it stays an error.
    assert _keras_error(document) is not None
    (finding,) = [f for f in validate(document, cat) if f.severity == ERROR]
    assert (finding.code, finding.path) == ("LCF107", ())
    assert "Missing 'module'" in finding.message
