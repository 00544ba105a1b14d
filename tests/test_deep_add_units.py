"""A merge layer whose inputs' shapes disagree (Add, Subtract, Multiply, Concatenate...): the
deep check puts its finding on the key that sets the shape of the input that differs (the
``units`` of a Dense branch, an Input's ``batch_shape``), traced back through the layers that
keep that dimension, with the merge layer and the other branch's key as related places. The
full check and the incremental replay agree; Keras itself refuses every model."""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any

import keras
import pytest

from layercfg.schema_builder.deep import DeepChecker
from layercfg.schema_builder.deep_replay import ReplayMemo
from layercfg.schema_builder.keras_api import KerasAPI


@pytest.fixture(scope="module")
def api() -> KerasAPI:
    return KerasAPI("keras")


def _written(model: Any) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.loads(json.dumps(keras.saving.serialize_keras_object(model)))


def _index(document: dict[str, Any], name: str) -> int:
    return [entry["name"] for entry in document["config"]["layers"]].index(name)


def _set(document: dict[str, Any], name: str, key: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    changed["config"]["layers"][_index(changed, name)]["config"][key] = value
    return changed


def _keras_refuses(document: dict[str, Any]) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            keras.saving.deserialize_keras_object(copy.deepcopy(document), safe_mode=True)
    except Exception:
        return True
    return False


def _errors(api: KerasAPI, document: dict[str, Any]) -> list[dict[str, Any]]:
    """The deep check's errors, the same without and with the replay memo (a clean model's
    layers in it first, as after an edit in the editor)."""
    full = DeepChecker(api).check(copy.deepcopy(document))
    memo = ReplayMemo()
    replayed = DeepChecker(api, memo=memo).check(copy.deepcopy(document))
    assert replayed == full
    return [f for f in json.loads(json.dumps(full["findings"])) if f["severity"] == 1]


def _branches(merge: Any, shape: tuple[int, ...] = (3,), **kwargs: Any) -> dict[str, Any]:
    """Two Dense branches of 4 units into ``merge``, the second through a Dropout."""
    x = keras.Input(shape, name="x")
    a = keras.layers.Dense(4, name="a")(x)
    b = keras.layers.Dropout(0.1, name="drop")(keras.layers.Dense(4, name="b")(x))
    out = merge(name="merge", **kwargs)([a, b])
    return _written(keras.Model(x, out))


def _pointer(path: list[Any]) -> str:
    return "".join(f"/{p}" for p in path)


@pytest.mark.parametrize(
    "merge",
    [
        keras.layers.Add,
        keras.layers.Subtract,
        keras.layers.Multiply,
        keras.layers.Average,
        keras.layers.Maximum,
        keras.layers.Minimum,
    ],
)
def test_an_elementwise_merge_of_other_units_is_found_at_those_units(api, merge) -> None:
    clean = _branches(merge)
    assert not _keras_refuses(clean)
    assert _errors(api, clean) == []
    document = _set(clean, "b", "units", 8)
    assert _keras_refuses(document)
    (error,) = _errors(api, document)
    b, a, merged = _index(document, "b"), _index(document, "a"), _index(document, "merge")
    assert (error["code"], error["path"]) == ("LCF302", ["config", "layers", b, "config", "units"])
    assert error["message"].startswith("'units' of 'b' is 8, so input 1 of ")
    assert "where its other inputs have 4 ('units' of 'a')" in error["message"]
    assert "Inputs have incompatible shapes" in error["message"]  # Keras's own words
    assert [_pointer(r["path"]) for r in error["related"]] == [
        f"/config/layers/{merged}/class_name",
        f"/config/layers/{a}/config/units",
    ]
    assert error["data"] == {"axis": -1, "got": 8, "expected": 4, "input": 1, "layer": "merge"}


def test_the_first_branch_is_blamed_when_the_others_agree(api) -> None:
    x = keras.Input((3,), name="x")
    branches = [keras.layers.Dense(4, name=name)(x) for name in ("a", "b", "c")]
    document = _written(keras.Model(x, keras.layers.Add(name="add")(branches)))
    document = _set(document, "a", "units", 6)
    assert _keras_refuses(document)
    (error,) = _errors(api, document)
    assert error["path"] == ["config", "layers", _index(document, "a"), "config", "units"]
    assert (
        "input 0 of Add 'add' has 6 on axis -1, where its other inputs have 4" in (error["message"])
    )


def test_a_concatenate_off_its_axis_is_found_at_the_units(api) -> None:
    clean = _branches(keras.layers.Concatenate, shape=(5, 3), axis=1)
    assert not _keras_refuses(clean)
    assert _errors(api, clean) == []
    document = _set(clean, "b", "units", 8)
    # Keras builds the Concatenate it loads from its build_config, the shapes it was built
    # with, and does not check them again when it connects it: it loads the model (with a
    # wrong output shape), so the deep check has no error either.
    assert not _keras_refuses(document) and _errors(api, document) == []
    merge = document["config"]["layers"][_index(document, "merge")]
    del merge["build_config"]  # as a hand-written config has it: built when connected
    assert _keras_refuses(document)
    (error,) = _errors(api, document)
    assert error["path"] == ["config", "layers", _index(document, "b"), "config", "units"]
    assert "has 8 on axis -1, where its other inputs have 4" in error["message"]
    assert "matching shapes except for the concatenation axis" in error["message"]
    # On its own axis, Concatenate takes any sizes: two sequences of other lengths are fine.
    x, y = keras.Input((5, 4), name="x"), keras.Input((7, 4), name="y")
    joined = keras.layers.Concatenate(axis=1, name="join")([x, y])
    lengths = _written(keras.Model([x, y], joined))
    assert not _keras_refuses(lengths) and _errors(api, lengths) == []


def test_an_input_of_another_shape_is_found_in_its_batch_shape(api) -> None:
    x, y = keras.Input((4,), name="x"), keras.Input((4,), name="y")
    clean = _written(keras.Model([x, y], keras.layers.Add(name="add")([x, y])))
    document = _set(clean, "y", "batch_shape", [None, 5])
    assert _keras_refuses(document)
    (error,) = _errors(api, document)
    assert error["path"] == ["config", "layers", _index(document, "y"), "config", "batch_shape", 1]
    assert error["message"].startswith("'batch_shape[1]' of 'y' is 5")


def test_a_dimension_no_one_key_sets_stays_on_the_merge(api) -> None:
    x = keras.Input((2, 3), name="x")
    flat = keras.layers.Flatten(name="flat")(x)
    flat_too = keras.layers.Flatten(name="flat_too")(x)
    d1 = keras.layers.Dense(6, name="d1")(flat_too)
    d2 = keras.layers.Dense(6, name="d2")(flat_too)
    clean = _written(keras.Model(x, keras.layers.Add(name="add")([d1, flat, d2])))
    assert not _keras_refuses(clean)
    # One Dense of other units: its units.
    document = _set(clean, "d2", "units", 7)
    assert _keras_refuses(document)
    (error,) = _errors(api, document)
    assert error["path"] == ["config", "layers", _index(document, "d2"), "config", "units"]
    # Both Dense layers at 7: the Flatten is the odd one, and no key of it sets its size,
    # so the merge keeps the finding, which names where the size comes from.
    document = _set(document, "d1", "units", 7)
    assert _keras_refuses(document)
    (error,) = _errors(api, document)
    assert error["path"] == ["config", "layers", _index(document, "add"), "class_name"]
    assert "(input 1 has 6 on axis -1, from 'flat')" in error["message"]
