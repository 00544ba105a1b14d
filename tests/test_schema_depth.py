"""The depth cut before the schema engine: values within the limit go through as they are,
deeper ones are emptied below it, and a very deep one neither recurses nor crashes."""

from __future__ import annotations

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
