"""Rename of layer names and formatting, as pure services: before text with a ``|`` cursor,
the request, the after text, and the after text checked again."""

from __future__ import annotations

import json
import warnings

import keras
import pytest

from layercfg.server import engine
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.services import formatting, navigation, rename
from layercfg.server.services.formatting import apply_edits
from layercfg.server.settings import Settings

URI = "file:///model.layercfg.json"


@pytest.fixture(scope="module")
def cat(catalog: dict) -> Catalog:
    return Catalog.from_json(catalog)


@pytest.fixture(scope="module")
def model_text() -> str:
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    out = keras.layers.Dense(1, name="head")(hidden)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = keras.saving.serialize_keras_object(keras.Model(inputs, out, name="m"))
    return json.dumps(json.loads(json.dumps(value)), indent=2) + "\n"


def at(text: str, marker: str, nth: int = 0) -> tuple[Document, int]:
    """The document and the offset just inside the ``nth`` occurrence of ``marker``."""
    offset = -1
    for _ in range(nth + 1):
        offset = text.index(marker, offset + 1)
    return Document.parse(URI, text, 1), offset + 1


def _codes(cat: Catalog, text: str) -> list[str]:
    return [c.problem.code for c in engine.check(Document.parse(URI, text, 2), cat, Settings())]


# -- rename ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "marker, nth",
    [('"hidden"', 0), ('"hidden"', 1), ('"hidden"', 2)],
    ids=["config-name", "entry-name", "keras-history"],
)
def test_rename_from_any_place_renames_every_place(cat, model_text, marker, nth):
    document, offset = at(model_text, marker, nth)
    placeholder = rename.prepare(document, offset, "utf-16")
    assert placeholder is not None and placeholder.placeholder == "hidden"
    start = document.lines.offset_at(placeholder.range.start)
    end = document.lines.offset_at(placeholder.range.end)
    assert model_text[start:end] == "hidden"
    edits = rename.rename_edits(document, offset, "encoder")
    after = apply_edits(model_text, edits)
    assert '"hidden"' not in after and after.count('"encoder"') == 3
    assert _codes(cat, after) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = keras.saving.deserialize_keras_object(json.loads(after))
    assert [layer.name for layer in model.layers] == ["x", "encoder", "head"]
    # references lists the same places
    places = {(e.start, e.end) for e in edits}
    listed = navigation.references(document, offset, "utf-16")
    assert {
        (document.lines.offset_at(loc.range.start), document.lines.offset_at(loc.range.end))
        for loc in listed
    } == places


def test_rename_of_an_output_layer_updates_output_layers(cat, model_text):
    document, offset = at(model_text, '"head"')
    after = apply_edits(model_text, rename.rename_edits(document, offset, "logits"))
    assert json.loads(after)["config"]["output_layers"] == ["logits", 0, 0]
    assert _codes(cat, after) == []


@pytest.mark.parametrize(
    "new_name, message",
    [
        ("head", "A layer named 'head' already exists in this model"),
        ("a/b", "Keras does not allow '/'"),
        ("", "cannot be empty"),
    ],
)
def test_rename_refusals(model_text, new_name, message):
    document, offset = at(model_text, '"hidden"')
    with pytest.raises(rename.RenameRefused, match=message):
        rename.rename_edits(document, offset, new_name)


def test_only_layer_names_can_be_renamed(model_text):
    document, offset = at(model_text, '"units"')
    assert rename.prepare(document, offset, "utf-16") is None
    document, offset = at(model_text, '"keras.layers"')
    assert rename.prepare(document, offset, "utf-16") is None
    with pytest.raises(rename.RenameRefused):
        rename.rename_edits(document, offset, "x")


def test_rename_in_a_sequential_model(cat):
    text = json.dumps(
        {
            "module": "keras",
            "class_name": "Sequential",
            "config": {
                "name": "s",
                "layers": [
                    {
                        "module": "keras.layers",
                        "class_name": "InputLayer",
                        "config": {"batch_shape": [None, 3], "name": "in"},
                        "registered_name": None,
                    },
                    {
                        "module": "keras.layers",
                        "class_name": "Dense",
                        "config": {"name": "d", "units": 2},
                        "registered_name": None,
                    },
                ],
            },
            "registered_name": None,
        },
        indent=2,
    )
    document, offset = at(text, '"d"')
    after = apply_edits(text, rename.rename_edits(document, offset, "dense_out"))
    assert json.loads(after)["config"]["layers"][1]["config"]["name"] == "dense_out"
    assert _codes(cat, after) == []


def test_rename_includes_keras2_node_lists(cat):
    text = json.dumps(
        {
            "class_name": "Functional",
            "config": {
                "name": "m",
                "layers": [
                    {
                        "class_name": "InputLayer",
                        "config": {"batch_input_shape": [None, 2], "name": "i"},
                        "name": "i",
                        "inbound_nodes": [],
                    },
                    {
                        "class_name": "Dense",
                        "config": {"name": "d", "units": 1},
                        "name": "d",
                        "inbound_nodes": [[["i", 0, 0, {}]]],
                    },
                ],
                "input_layers": [["i", 0, 0]],
                "output_layers": [["d", 0, 0]],
            },
        }
    )
    document, offset = at(text, '"i"', 1)
    after = json.loads(apply_edits(text, rename.rename_edits(document, offset, "inp")))
    assert after["config"]["layers"][1]["inbound_nodes"] == [[["inp", 0, 0, {}]]]
    assert after["config"]["input_layers"] == [["inp", 0, 0]]


def test_renamed_names_are_written_as_json(model_text):
    document, offset = at(model_text, '"hidden"')
    edits = rename.rename_edits(document, offset, 'cou"che é')
    assert {e.new_text for e in edits} == {'"cou\\"che é"'}


# -- formatting ------------------------------------------------------------------------------------


def _formatted(text: str) -> str:
    return formatting.formatted_text(Document.parse(URI, text, 1))


COMPACT = (
    '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3, '
    '"kernel_size": [], "bias": {}, "rate": 1e-07, "scale": 1.50, "name": "d\\u00e9"}, '
    '"registered_name": null}'
)


def test_formatting_is_keras_layout_and_keeps_tokens():
    after = _formatted(COMPACT)
    assert after == json.dumps(json.loads(COMPACT), indent=2).replace("1.5", "1.50")
    assert '"rate": 1e-07' in after and '"scale": 1.50' in after and "\\u00e9" in after
    assert _formatted(after) == after  # idempotent


def test_keras_written_text_needs_no_edit(model_text):
    assert formatting.format_edits(Document.parse(URI, model_text, 1)) == []


def test_line_endings_and_untouched_lines_are_kept(model_text):
    crlf = model_text.replace("\n", "\r\n")
    lines = crlf.split("\r\n")
    broken_line = next(i for i, line in enumerate(lines) if '"units": 3' in line)
    lines[broken_line] = "        \t" + lines[broken_line].strip() + "   "
    before = "\r\n".join(lines)
    document = Document.parse(URI, before, 1)
    edits = formatting.format_edits(document)
    assert edits
    for edit in edits:
        assert document.lines.line_at(edit.start) in (broken_line, broken_line - 1)
        assert document.lines.line_at(edit.end) in (broken_line, broken_line + 1)
    assert apply_edits(before, edits) == crlf


def test_range_formatting_touches_only_the_range():
    text = '{\n"a": [1,2],\n    "b":   {"c":  1}}\n'
    document = Document.parse(URI, text, 1)
    first_line = formatting.range_format_edits(document, 2, 8)
    partial = apply_edits(text, first_line)
    assert partial.startswith('{\n  "a": [\n    1,\n    2\n  ],\n    "b":   {"c":  1}}')
    assert (
        formatting.formatted_text(Document.parse(URI, partial, 2))
        == json.dumps(json.loads(text), indent=2) + "\n"
    )


@pytest.mark.parametrize(
    "text, reason",
    [
        ('{"a": 1', "syntax errors"),
        ('{"a": 1 // x\n}', "comments"),
        ('{"a": [1,]}', "trailing commas"),
    ],
)
def test_formatting_is_refused_on_broken_json(text, reason):
    with pytest.raises(formatting.FormattingRefused, match=reason):
        formatting.format_edits(Document.parse(URI, text, 1))


def test_formatting_edits_in_utf16_positions():
    text = '{"name":"🙂",   "units":3}'
    document = Document.parse(URI, text, 1)
    edits = formatting.to_text_edits(document, formatting.format_edits(document), "utf-16")
    emoji_gap = next(e for e in edits if e.new_text == "\n" and e.range.start.character > 5)
    assert emoji_gap.range.start.character == len('{"name":"🙂",'.encode("utf-16-le")) // 2


def test_minimal_edits_replace_only_changed_lines():
    old = "a\r\nb\r\nc\r\nd\r\n"
    new = "a\nB\nc\nd\ne\n"
    edits = formatting.rewrite_edits(old, new)
    assert apply_edits(old, edits) == "a\r\nB\r\nc\r\nd\r\ne\r\n"
    assert [(e.start, e.end) for e in edits] == [(3, 6), (12, 12)]


MESSY = [
    '{"a":1,"b":[1,2,{"c":{}}],"d":[]}',
    '\ufeff{\n    "a" :\t1 ,\n"b": [ [ ], {"x": "y, {[ ]}:"} ]\n\n}\n\n',
    '{\r\n  "a": [\r\n1,\r\n      2],\r\n  "b": {"c": null}\r\n}\r\n',
    '[\n{"class_name": "Dense", "config": {"units": 3, "name": "d"}},\n'
    '  {"class_name":"ReLU","config":{}}]',
    '  {"é": "😀", "k": [1e5,-0.5,true]}  ',
]


@pytest.mark.parametrize("text", MESSY)
def test_range_formatting_walks_only_its_lines_but_agrees_with_the_whole(text):
    """Every range: the edits of the range walk equal the whole document's edits that touch
    those lines."""
    document = Document.parse("file:///r", text, 1)
    whole = formatting.format_edits(document)
    lines = document.lines
    for first in range(lines.line_count):
        for last in range(first, lines.line_count):
            start, end = lines.line_start(first), lines.line_end(last)
            low, high = lines.line_start(first), lines.line_end(last)
            expected = [e for e in whole if e.end >= low and e.start <= high]
            assert formatting.range_format_edits(document, start, end) == expected, (first, last)
    # And ranges that start or end inside a line.
    for start in range(0, len(text), 3):
        end = min(len(text), start + 7)
        low = lines.line_start(lines.line_at(start))
        high = lines.line_end(lines.line_at(end))
        expected = [e for e in whole if e.end >= low and e.start <= high]
        assert formatting.range_format_edits(document, start, end) == expected, (start, end)


def test_range_formatting_of_one_layer_does_not_walk_the_model():
    layers = [{"class_name": "Dense", "config": {"name": f"d{i}", "units": i}} for i in range(3000)]
    text = json.dumps({"class_name": "Sequential", "config": {"layers": layers}}, indent=2)
    at = text.index('"name": "d1500"')
    text = text[:at] + '"name":"d1500"' + text[at + len('"name": "d1500"') :]
    document = Document.parse("file:///r", text, 1)
    walked = []
    original = formatting._TOKEN

    class Counting:
        def finditer(self, text, *where):
            for match in original.finditer(text, *where):
                walked.append(match)
                yield match

    formatting._TOKEN = Counting()
    try:
        edits = formatting.range_format_edits(document, at, at + 5)
    finally:
        formatting._TOKEN = original
    assert [e.new_text for e in edits] == [" "]
    assert len(walked) < 20  # the layer's line and the token after it, not the model


def test_whole_document_formatting_by_layer_equals_one_walk():
    """A model with many layers is laid out layer by layer, reusing the layers laid out before:
    the edits are the same as one walk over the whole text, first time and after an edit."""
    import random

    rng = random.Random(3)
    layers = [
        {"class_name": "Dense", "config": {"name": f"d{i}", "units": i, "a": [1, {}]}}
        for i in range(formatting._FEW_LAYERS + 40)
    ]
    text = json.dumps({"class_name": "Sequential", "config": {"layers": layers}}, indent=2)
    # Disturb the layout in some places, around layers and inside them.
    pieces = text.split("\n")
    for index in rng.sample(range(1, len(pieces)), 60):
        pieces[index] = rng.choice(["", "\t", "    "]) + pieces[index].strip()
    text = rng.choice(["\n", "\r\n"]).join(pieces).replace('": ', '":', 7) + "\n"
    document = Document.parse("file:///w", text, 1)
    ending = formatting.line_ending(text)

    def one_walk(doc):
        return formatting._layout(doc.text, 0, None, 0, None, ending)

    assert formatting._model_layer_spans(document) is not None
    first = formatting.format_edits(document)
    assert first == one_walk(document) and first
    assert formatting.format_edits(document) == first  # from the kept layers
    at = text.index('"d50"')
    edited = Document.parse("file:///w", text[:at] + '"d50" ,\n"x":  2' + text[at + 5 :], 2)
    assert formatting.format_edits(edited) == one_walk(edited)
    formatted = apply_edits(edited.text, formatting.format_edits(edited))
    assert json.loads(formatted) == json.loads(edited.text)
    assert formatted == json.dumps(json.loads(edited.text), indent=2).replace("\n", ending) + ending
