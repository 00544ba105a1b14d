"""Depth: the cut before the schema engine (values within the limit go through as they are,
deeper ones are emptied below it, and a very deep one neither recurses nor crashes), and
serialized objects deep inside a value the class's schema says nothing of, which the fast
checks and the exported schema both check against the class they name."""

from __future__ import annotations

import pytest

from layercfg.server.services.schema_engine import _within


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_within_the_limit_is_the_value_itself() -> None:
    value = {"a": [1, {"b": "c"}], "d": None}  # containers three deep
    for limit in (3, 4, 160):
        checked, cut = _within(value, limit)
        assert checked is value
        assert cut == limit + 1


def test_deeper_than_the_limit_is_cut_below_it() -> None:
    value = {"a": [1, {"b": {"c": []}}], "d": 2}  # containers five deep
    checked, cut = _within(value, 3)
    assert cut == 3
    assert checked is not value
    assert checked == {"a": [1, {"b": {}}], "d": 2}
    assert value == {"a": [1, {"b": {"c": []}}], "d": 2}  # the document's value is kept


def test_scalars_and_a_very_deep_value() -> None:
    assert _within(3, 1) == (3, 2)
    assert _within([], 1) == ([], 2)
    checked, cut = _within(_nested(100_000), 160)
    assert cut == 160
    depth = 0
    while checked:
        checked, depth = checked[0], depth + 1
    assert depth == 160  # containers at depths 0-159 keep their items, the one at 160 is empty


# -- the exported schema where the class's schema says nothing of a value ----------------------

# Dense's quantization_config is typed {} (anything): the fast checks look into it for
# serialized objects, and the exported schema does too (its ``any_value``), at any depth.
_GLOROT = {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {}}


def _dense(value: object) -> dict:
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"units": 2, "quantization_config": value},
        "registered_name": None,
    }


def _buried(inner: object, depth: int) -> object:
    """``inner`` under ``depth`` levels of lists and plain objects."""
    value = inner
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def _cases() -> list[tuple[str, object, bool]]:
    unknown = {**_GLOROT, "class_name": "GlorotUnifrm"}
    wrong = {**_GLOROT, "config": {"seed": "one"}}
    return [
        ("a known class", _GLOROT, False),
        ("an unknown class", unknown, True),
        ("a wrong-typed argument", wrong, True),
        ("a plain object", {"class_name": "Anything"}, False),  # no config: not an envelope
        ("a value Keras writes for a tensor", {"class_name": "__tensor__", "config": {}}, False),
    ]


@pytest.mark.parametrize("depth", [0, 1, 40, 150])
@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_nested_envelopes_in_an_untyped_argument(plain_catalog, case, depth) -> None:
    import jsonschema_rs

    from layercfg.server.catalog import Catalog
    from layercfg.server.services.validation import ERROR, validate

    _, inner, wrong = case
    document = _dense(_buried(inner, depth))
    fast = [f for f in validate(document, Catalog.from_json(plain_catalog)) if f.severity == ERROR]
    exported = list(
        jsonschema_rs.Draft202012Validator(plain_catalog["schema"]).iter_errors(document)
    )
    assert bool(fast) == wrong, fast
    assert bool(exported) == wrong, [e.message for e in exported]
    if wrong:
        where = tuple(fast[0].path)
        assert len(where) > depth + 2
        assert any(where[: len(e.instance_path)] == tuple(e.instance_path) for e in exported)
