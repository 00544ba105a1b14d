"""Pure service tests: text with a ``|`` cursor -> completion, hover, navigation answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.services import navigation
from layercfg.server.services.completion import ClientSupport, Completer
from layercfg.server.services.hover import Hoverer
from layercfg.server.services.schema_match import Matcher

EXAMPLES = Path(__file__).parent.parent / "examples"
SNIPPETS = ClientSupport(snippets=True)
PLAIN = ClientSupport(snippets=False, markdown=False)


@pytest.fixture(scope="module")
def services(catalog):
    cat = Catalog.from_json(catalog)
    walker = Matcher(cat)
    return cat, walker, Completer(cat, walker), Hoverer(cat, walker)


def at(text: str) -> tuple[Document, int]:
    offset = text.index("|")
    return Document.parse("file:///t.layercfg.json", text.replace("|", "", 1), 1), offset


def labels(services, text, support=SNIPPETS):
    document, offset = at(text)
    return [item.label for item in services[2].complete(document, offset, support).items]


DENSE = '{"module": "keras.layers", "class_name": "Dense", "config": %s}'


@pytest.mark.parametrize(
    "text, present, absent",
    [
        (DENSE % '{"units": 3, |}', ["activation", "use_bias", "kernel_initializer"], ["units"]),
        (DENSE % "{|}", ["units"], []),
        (DENSE % '{"units": 3, "ac|"}', ["activation", "activity_regularizer"], ["units"]),
        (DENSE % '{"activation": "|"}', ["relu", "gelu", "linear"], []),
        (DENSE % '{"use_bias": |}', ["true", "false"], []),
        (DENSE % '{"kernel_initializer": "|"}', ["glorot_uniform", "he_normal"], []),
        (
            '{"module": "keras.layers", "class_name": "Conv2D", "config": {"padding": "|"}}',
            ["same", "valid"],
            [],
        ),
        (
            '{"module": "keras.layers", "class_name": "Conv2D", "config": {"data_format": |}}',
            ["channels_last", "channels_first", "null"],
            [],
        ),
        ('{"class_name": "De|", "config": {}}', ["Dense", "Dropout", "Sequential"], []),
        ('{"class_name": "Dense", "config": {"dtype": "|"}}', ["float32", "mixed_float16"], []),
        # broken text: completion still works while typing
        ('{"class_name": "Dense", "config": {"units": 3, |', ["activation"], ["units"]),
        ('{"class_name": "Dense", "config": {"un|', ["units"], []),
        # custom classes from the configured modules
        ('{"class_name": "|", "config": {}}', ["Gated", "Scale"], []),
        (
            '{"module": "custom.registered_layers", "class_name": "Gated", "config": {|}, '
            '"registered_name": "acme>Gated"}',
            ["units", "gate_activation"],
            [],
        ),
    ],
)
def test_completion(services, text, present, absent):
    found = labels(services, text)
    for label in present:
        assert label in found, (label, found[:20])
    for label in absent:
        assert label not in found


def test_required_keys_come_first_with_their_defaults_as_snippets(services):
    document, offset = at(DENSE % "{|}")
    items = services[2].complete(document, offset, SNIPPETS).items
    first = min(items, key=lambda item: item.sort_text)
    assert first.label == "units"
    use_bias = next(item for item in items if item.label == "use_bias")
    assert use_bias.insert_text == '"use_bias": ${1:true}'
    plain = services[2].complete(document, offset, PLAIN).items
    assert next(i for i in plain if i.label == "use_bias").insert_text == '"use_bias": true'


def test_class_name_completion_keeps_module_consistent(services):
    document, offset = at('{"module": "keras.layers", "class_name": "|", "config": {}}')
    items = services[2].complete(document, offset, SNIPPETS).items
    sequential = next(item for item in items if item.label == "Sequential")
    (edit,) = sequential.additional_text_edits
    assert edit.new_text == '"keras"'
    dense = next(item for item in items if item.label == "Dense")
    assert not dense.additional_text_edits
    assert "densely-connected" in dense.documentation.value


def test_layer_envelope_snippet_in_a_layers_array(services):
    document, offset = at(
        '{"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [|]}}'
    )
    items = services[2].complete(document, offset, SNIPPETS).items
    dense = next(item for item in items if item.label == "Dense envelope")
    body = json.loads(dense.text_edit.new_text)
    assert body["class_name"] == "Dense" and body["config"]["units"] == 4
    assert body["config"]["name"] == "dense"


def test_layer_names_in_keras_history(services):
    text = (EXAMPLES / "functional_classifier.layercfg.json").read_text()
    marker = '"keras_history": [\n                    "features"'
    cursor = text.index(marker) + len(marker) - len('features"')
    document = Document.parse("file:///f", text, 1)
    items = services[2].complete(document, cursor, SNIPPETS).items
    assert [i.label for i in items] == ["features", "hidden", "score"]


@pytest.mark.parametrize(
    "text, words",
    [
        (DENSE % '{"un|its": 3}', ["**units**", "dimensionality", "(required)", "≥ 1"]),
        (
            DENSE % '{"units": 3, "use_b|ias": true}',
            ["Default: `true`", "the current value is the default"],
        ),
        (
            '{"module": "keras.layers", "class_name": "De|nse", "config": {"units": 3}}',
            ["**Dense**", "Dense(units", "dense.py", "keras.io"],
        ),
        (DENSE % '{"units": 3, "activation": "re|lu"}', ["**relu**", "activation"]),
        (DENSE % '{"units": 3, "kernel_initializer": "he_no|rmal"}', ["HeNormal"]),
        (
            '{"module": "keras.layers", "class_name": "Conv2D", "config": {"pad|ding": "same"}}',
            ["Allowed:", '"valid"'],
        ),
    ],
)
def test_hover(services, text, words):
    document, offset = at(text)
    hover = services[3].hover(document, offset, SNIPPETS)
    assert hover is not None
    for word in words:
        assert word in hover.contents.value, (word, hover.contents.value)


def test_hover_outside_anything_is_none(services):
    document, offset = at('|  {"class_name": "Dense", "config": {}}')
    assert services[3].hover(document, offset, SNIPPETS) is None


def test_definition_references_symbols_and_folding(services):
    cat, walker = services[0], services[1]
    text = (EXAMPLES / "functional_classifier.layercfg.json").read_text()
    document = Document.parse("file:///f", text, 1)
    reference = text.index('"hidden"', text.index("keras_history", text.index('"score"')))
    (target,) = navigation.definition(document, reference + 2, cat, walker, "utf-16")
    start = document.lines.offset_at(target.range.start)
    assert text[start : start + len('"hidden"')] == '"hidden"'
    assert document.node_at(start + 1).path == ("config", "layers", 1, "name")
    found = navigation.references(document, reference + 2, "utf-16")
    assert len(found) == 3  # entry name, config name, the keras_history that names it
    assert len(navigation.references(document, reference + 2, "utf-16", False)) == 2
    (class_target,) = navigation.definition(
        document, text.index('"Dense"') + 2, cat, walker, "utf-16"
    )
    assert class_target.uri.endswith("dense.py")
    (model,), limited = navigation.document_symbols(document, "utf-16")
    assert not limited
    assert model.detail == "Functional"
    assert [c.name for c in model.children] == ["features", "hidden", "score"]
    folds, limited = navigation.folding_ranges(document)
    assert folds[0].start_line == 0 and len(folds) > 10 and not limited


def test_symbols_nest_wrapped_layers(services):
    text = (EXAMPLES / "bidirectional_lstm.layercfg.json").read_text()
    document = Document.parse("file:///b", text, 1)
    (root,), _ = navigation.document_symbols(document, "utf-16")
    assert root.detail == "Bidirectional"
    assert [c.detail for c in root.children] == ["LSTM", "LSTM"]


def test_folding_past_the_limit_keeps_the_outer_ranges(services):
    layers = [
        {
            "module": "keras.layers",
            "class_name": "Dense",
            "config": {
                "name": f"d{i}",
                "units": i + 1,
                "kernel_initializer": {"class_name": "Zeros", "config": {}},
            },
        }
        for i in range(12)
    ]
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": layers}}
    document = Document.parse("file:///m", json.dumps(config, indent=2), 1)
    everything, limited = navigation.folding_ranges(document)
    assert not limited and len(everything) > 3 + len(layers)
    # The model, its config, its layers array and each layer: the four outer levels.
    kept, limited = navigation.folding_ranges(document, limit=3 + len(layers))
    assert limited and len(kept) == 3 + len(layers)
    assert kept == sorted(kept, key=lambda fold: fold.start_line)
    layer_lines = {
        document.lines.line_at(start) for start, _ in document.item_spans(("config", "layers"))
    }
    assert {fold.start_line for fold in kept} == {0, 2, 4} | layer_lines
    exact, limited = navigation.folding_ranges(document, limit=len(everything))
    assert exact == everything and not limited


def test_outline_is_capped_with_a_note(services, monkeypatch):
    monkeypatch.setattr(navigation, "MAX_SYMBOLS", 2)
    text = (EXAMPLES / "mnist_cnn.layercfg.json").read_text()
    document = Document.parse("file:///m", text, 1)
    (root,), limited = navigation.document_symbols(document, "utf-16")
    assert "limited to 2" in root.detail and limited
    count = 1 + len(document.value["config"]["layers"])
    (root,), limited = navigation.document_symbols(document, "utf-16", limit=count)
    assert not limited and "limited" not in root.detail


def _apply(document: Document, offset: int, item) -> str:
    """The text after accepting ``item`` (a plain-text item) as an editor does."""
    text = document.text
    if item.text_edit is not None:
        lines = document.lines
        start = lines.offset_at(item.text_edit.range.start, "utf-16")
        end = lines.offset_at(item.text_edit.range.end, "utf-16")
        return text[:start] + item.text_edit.new_text + text[end:]
    return text[:offset] + item.insert_text + text[offset:]


@pytest.mark.parametrize(
    "text",
    [
        # after typing `"`, the key alone: key, colon, value
        DENSE % '{"un|"}',
        DENSE % '{"un|',
        # a key typed before another member: the comma it needs
        DENSE % '{"un|" \n "activation": "relu"}',
        # an empty line between members, after one, before one
        DENSE % '{\n  |\n  "activation": "relu"\n}',
        DENSE % '{"activation": "relu"\n  |\n}',
        DENSE % '{"activation": "relu",\n  |\n  "use_bias": true\n}',
        DENSE % "{|}",
    ],
)
def test_an_accepted_key_leaves_a_valid_document(services, text):
    document, offset = at(text)
    items = services[2].complete(document, offset, PLAIN).items
    units = next(item for item in items if item.label == "units")
    after = _apply(document, offset, units)
    if not after.rstrip().endswith("}"):
        after += "}}"  # the unclosed document is closed by the user later
    value = json.loads(after)  # no LCF001: the document is valid JSON
    assert "units" in value["config"]
    assert not Document.parse("file:///t", after, 2).problems


def test_a_key_that_has_its_value_is_only_renamed(services):
    document, offset = at(DENSE % '{"un|": 3}')
    items = services[2].complete(document, offset, PLAIN).items
    units = next(item for item in items if item.label == "units")
    assert units.text_edit.new_text == '"units"'
