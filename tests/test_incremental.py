"""Edits reuse the previous version's work: the value is spliced (only the container around the
edit is decoded again), the line table is shifted, and the layer cache knows unchanged layers by
object. Each must give exactly what a fresh parse and a full validation give."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from layercfg.server import engine
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.positions import LineIndex
from layercfg.server.services.validation import validate

URI = "file:///edit.layercfg.json"
CHECKS = settings(
    max_examples=int(__import__("os").environ.get("INCREMENTAL_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def model_text(layers: int = 6, indent: int | None = 2) -> str:
    """A Functional model: an InputLayer and a chain of Dense layers."""
    items: list[dict[str, Any]] = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "name": "input",
            "config": {"batch_shape": [None, 8], "dtype": "float32", "name": "input"},
            "inbound_nodes": [],
        }
    ]
    for index in range(1, layers):
        previous = items[-1]["name"]
        items.append(
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "name": f"dense_{index}",
                "config": {"name": f"dense_{index}", "units": 4 * index, "activation": "relu"},
                "inbound_nodes": [
                    {
                        "args": [
                            {
                                "class_name": "__keras_tensor__",
                                "config": {
                                    "shape": [None, 8],
                                    "dtype": "float32",
                                    "keras_history": [previous, 0, 0],
                                },
                            }
                        ],
                        "kwargs": {},
                    }
                ],
            }
        )
    config = {
        "module": "keras",
        "class_name": "Functional",
        "config": {
            "name": "model",
            "layers": items,
            "input_layers": [["input", 0, 0]],
            "output_layers": [[items[-1]["name"], 0, 0]],
        },
    }
    return json.dumps(config, indent=indent)


def change(document: Document, start: int, end: int, text: str):
    lines = document.lines
    return types.TextDocumentContentChangePartial(
        range=types.Range(start=lines.position_at(start), end=lines.position_at(end)), text=text
    )


def edit(document: Document, start: int, end: int, text: str) -> Document:
    version = (document.version or 0) + 1
    return document.apply_changes([change(document, start, end, text)], version)


def same_as_fresh(document: Document) -> None:
    fresh = Document.parse(URI, document.text, document.version)
    assert repr(document.value) == repr(fresh.value)
    assert document.problems == fresh.problems
    assert document.lines._starts == LineIndex(document.text)._starts


def test_a_value_edit_decodes_only_its_container():
    text = model_text()
    document = Document.parse(URI, text, 1)
    before = document.value
    at = text.index('"units": 8') + len('"units": ')
    document = edit(document, at, at + 1, "64")
    splice = document._splice
    assert splice is not None
    assert splice.path == ("config", "layers", 2, "config")
    assert document.text[splice.span[0]] == "{" and document.text[splice.span[1] - 1] == "}"
    same_as_fresh(document)
    layers, old_layers = document.value["config"]["layers"], before["config"]["layers"]
    assert layers[2]["config"]["units"] == 64
    # Everything outside the edit is shared with the previous version.
    assert layers[1] is old_layers[1] and layers[3] is old_layers[3]
    assert layers[2]["inbound_nodes"] is old_layers[2]["inbound_nodes"]
    assert before["config"]["layers"][2]["config"]["units"] == 8  # the old value is untouched


def test_versions_not_decoded_in_between_chain_to_the_last_decoded_one():
    text = model_text()
    document = Document.parse(URI, text, 1)
    document.value  # noqa: B018 - version 1 is decoded
    for units, new in (("12", "120"), ("16", "7"), ("20", "")):
        at = document.text.index(f'"units": {units}') + len('"units": ')
        document = edit(document, at, at + len(units), new or "0")
    # Versions 2 and 3 were never decoded: version 4 splices from version 1, around all three
    # edits, which lie in different layers: the common container is the layers array.
    assert document._splice is not None
    assert document._splice.path == ("config", "layers")
    same_as_fresh(document)


def test_a_broken_version_in_between_means_a_full_decode():
    text = model_text()
    document = Document.parse(URI, text, 1)
    document.value  # noqa: B018
    at = text.index('"units": 8') + len('"units": ')
    broken = edit(document, at, at + 1, '"')
    broken.problems  # noqa: B018 - decoded broken: no base for the next version
    repaired = edit(broken, at, at + 1, "9")
    assert repaired._splice is None
    same_as_fresh(repaired)
    assert repaired.value["config"]["layers"][2]["config"]["units"] == 9


def test_a_broken_version_never_decoded_is_spliced_over():
    """Both edits lie in the container the last decoded version's value is spliced at."""
    text = model_text()
    document = Document.parse(URI, text, 1)
    document.value  # noqa: B018
    at = text.index('"units": 8') + len('"units": ')
    broken = edit(document, at, at + 1, '"')
    repaired = edit(broken, at, at + 1, "9")
    assert repaired._splice is not None and repaired._splice.base is document.value
    same_as_fresh(repaired)
    assert repaired.value["config"]["layers"][2]["config"]["units"] == 9


def test_merging_two_objects_is_decoded_at_the_array():
    """`}, {` removed: the object around the edit did not exist as such before."""
    text = '[{"a": 1}, {"b": 2}]'
    document = Document.parse(URI, text, 1)
    document.value  # noqa: B018
    at = text.index("}, {")
    document = edit(document, at, at + 4, ", ")
    assert document.text == '[{"a": 1, "b": 2}]'
    same_as_fresh(document)
    assert document.value == [{"a": 1, "b": 2}]


def test_duplicate_keys_are_still_reported():
    text = '{"config": {"a": 1, "b": 2}}'
    document = Document.parse(URI, text, 1)
    document.value  # noqa: B018
    at = text.index('"b"')
    document = edit(document, at, at + 3, '"a"')
    same_as_fresh(document)
    assert [p.code for p in document.problems] == ["LCF003", "LCF003"]
    # A version with duplicates is no base for the next one.
    later = edit(document, 1, 1, " ")
    assert later._splice is None
    same_as_fresh(later)


@pytest.mark.parametrize("replacement", ["NaN", "Infinity", "1e400", "-0", '"\\ud800"'])
def test_values_json_treats_specially(replacement):
    text = '\ufeff{"config": {"units": 3}}'
    document = Document.parse(URI, text, 1)
    document.value  # noqa: B018
    at = text.index("3")
    same_as_fresh(edit(document, at, at + 1, replacement))


def test_crlf_text_keeps_its_line_table():
    text = model_text(3).replace("\n", "\r\n")
    document = Document.parse(URI, text, 1)
    document.value  # noqa: B018
    at = text.index('"units": 4') + len('"units": ')
    document = edit(document, at, at + 1, '5,\r\n"use_bias": false')
    same_as_fresh(document)


def test_layer_cache_revalidates_only_the_edited_layer(catalog, monkeypatch):
    catalog = Catalog.from_json(catalog)
    document = Document.parse(URI, model_text(40), 1)
    cache = engine.LayerCache()
    cache.validate(document, catalog)
    calls = []
    original = engine.validate_envelope

    def counting(value, *args, **kwargs):
        calls.append(kwargs.get("top_level"))
        return original(value, *args, **kwargs)

    monkeypatch.setattr(engine, "validate_envelope", counting)
    at = document.text.index('"activation": "relu"', len(document.text) // 2)
    document = edit(document, at + len('"activation": "'), at + len('"activation": "relu'), "relx")
    findings = cache.validate(document, catalog)
    assert calls.count(False) == 1  # one layer validated again, the 39 others known
    assert Counter(map(repr, findings)) == Counter(map(repr, validate(document.value, catalog)))
    assert [f.code for f in findings] == ["LCF105"]  # not an allowed value


def test_a_fresh_open_is_validated_without_its_tree_and_its_layers_are_known_by_text_after(
    catalog, monkeypatch
):
    """The first check of a many-layer document does not parse the syntax tree for the
    layers' texts; once the tree is there (parsed after the first diagnostics), a new text
    of the same layers (a client sending whole documents, a reload) reuses their findings."""
    catalog = Catalog.from_json(catalog)
    text = model_text(40)
    document = Document.parse(URI, text, 1)
    cache = engine.LayerCache()
    first = cache.validate(document, catalog)
    assert not document.has_tree
    document.warm()
    calls = []
    original = engine.validate_envelope

    def counting(value, *args, **kwargs):
        calls.append(kwargs.get("top_level"))
        return original(value, *args, **kwargs)

    monkeypatch.setattr(engine, "validate_envelope", counting)
    at = text.index('"activation": "relu"', len(text) // 2) + len('"activation": "')
    again = Document.parse(URI, text[:at] + "relx" + text[at + 4 :], 2)
    findings = cache.validate(again, catalog)
    assert calls.count(False) == 1  # the edited layer; the 39 others are known by their text
    assert Counter(map(repr, findings)) == Counter(map(repr, validate(again.value, catalog)))
    assert [f.code for f in findings] == ["LCF105"] and not first


# -- properties -----------------------------------------------------------------------------

SNIPPETS = [
    "1",
    "-2.5",
    '"x"',
    '"é😀"',
    "true",
    "null",
    "[]",
    "{}",
    ', "k": 2',
    ", 3",
    '"k": 1, ',
    "}, {",
    "], [",
    "",
    " ",
    "\n",
    "\r\n",
    '"',
    ",",
    "{",
    "]",
    "NaN",
    '"units": 3, "units": 4',
    '{"class_name": "Dense", "config": {}}',
]


VALUES = [
    "0",
    "7",
    "-2.5e3",
    '"relu"',
    '"é😀\\n"',
    "true",
    "null",
    "[]",
    "{}",
    "[1, [2]]",
    '{"class_name": "Zeros", "config": {}}',
    '{"a": {"a": 1}}',
]
SCALAR = re.compile(r'-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|"(?:[^"\\]|\\.)*"|true|false|null')

# An edit: (where, how far, inserted text, decode this version). "how far" None means: replace
# the scalar value nearest `where` (keys are left alone), which keeps valid JSON valid.
Step = tuple[float, int | None, str, bool]


@st.composite
def edits(draw: st.DrawFn) -> tuple[str, list[Step]]:
    """A model text and a sequence of edits, about half of them keeping it valid JSON."""
    text = model_text(draw(st.integers(1, 5)), draw(st.sampled_from([None, 0, 2])))
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        where = draw(st.floats(0, 1))
        if draw(st.booleans()):
            steps.append((where, None, draw(st.sampled_from(VALUES)), draw(st.booleans())))
            continue
        length = draw(st.sampled_from([0, 0, 1, 2, 5, 12]))
        inserted = draw(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=4)))
        steps.append((where, length, inserted, draw(st.booleans())))
    return text, steps


def apply_step(document: Document, step: Step) -> Document:
    where, length, inserted, _ = step
    text = document.text
    start = int(where * len(text))
    if length is None:
        tokens = [
            m for m in SCALAR.finditer(text) if text[m.end() : m.end() + 2].strip()[:1] != ":"
        ]
        if tokens:
            token = min(tokens, key=lambda m: abs(m.start() - start))
            return edit(document, token.start(), token.end(), inserted)
        length = 0
    return edit(document, start, min(start + length, len(text)), inserted)


@CHECKS
@given(case=edits())
def test_any_edit_sequence_gives_the_fresh_value(case):
    text, steps = case
    document = Document.parse(URI, text, 1)
    document.value  # noqa: B018
    for step in steps:
        document = apply_step(document, step)
        if step[3]:
            same_as_fresh(document)
    same_as_fresh(document)


@CHECKS
@given(case=edits())
def test_the_layer_cache_agrees_with_a_full_validation(catalog, case):
    text, steps = case
    catalog_ = Catalog.from_json(catalog)
    document = Document.parse(URI, text, 1)
    cache = engine.LayerCache()
    cache.validate(document, catalog_)
    for step in steps:
        document = apply_step(document, step)
        if step[3]:
            got = cache.validate(document, catalog_)
            want = validate(Document.parse(URI, document.text).value, catalog_)
            assert Counter(map(repr, got)) == Counter(map(repr, want))


def test_number_edits_through_a_large_model_splice_every_time():
    """Many valid edits in a row: each version is spliced, none decodes the whole text."""
    rng = random.Random(7)
    document = Document.parse(URI, model_text(300), 1)
    document.value  # noqa: B018
    spliced = 0
    for _ in range(60):
        numbers = [m for m in range(len(document.text)) if document.text.startswith('"units": ', m)]
        at = rng.choice(numbers) + len('"units": ')
        end = at
        while document.text[end].isdigit():
            end += 1
        document = edit(document, at, end, str(rng.randint(1, 999)))
        spliced += document._splice is not None
        document.value  # noqa: B018
    assert spliced == 60
    same_as_fresh(document)


@given(
    text=st.text(alphabet="ab\n", max_size=40),
    start=st.integers(0, 40),
    length=st.integers(0, 6),
    inserted=st.text(alphabet="xy\n", max_size=6),
)
@settings(max_examples=300, deadline=None, database=None)
def test_shifted_line_table_equals_a_fresh_one(text, start, length, inserted):
    start = min(start, len(text))
    end = min(start + length, len(text))
    new_text = text[:start] + inserted + text[end:]
    assert (
        LineIndex(text).edited(start, end, inserted, new_text)._starts
        == LineIndex(new_text)._starts
    )
