"""Attacks on incremental editing (fast tier): random and hostile edit sequences, sent as LSP
changes with odd positions, must give what a fresh open of the same text gives, in the
document and in the fast checks; hostile shapes after edits stay linear."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest
from lsprotocol import types
from test_incremental import model_text

from layercfg.server import engine
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.positions import LineIndex
from layercfg.server.settings import Settings

URI = "file:///attack.layercfg.json"

PIECES = [
    "", "x", "\n", "\r\n", "\r", "\u00e9", "\U0001f600", "\ud83d", "\ude00", "{", "}", "[",
    "]", ",", '"', ":", " ", '"units": 3', "1e999", "NaN", "-Infinity", "//c\n", "/*", "*/",
    "\\", '"a\\ud83d"', "\t", "\u2028", "\x00", '"Dense"', '"Densee"', '"relu"', '"reluu"',
    '"units": 3, "units": 4', '{"class_name": "Lambda", "config": {"function": "x"}}',
]  # fmt: skip


def findings_model() -> str:
    """A Functional model with findings in many layers: a misspelt key, an unknown class, a
    wrong type, a duplicate name, a NaN, a broken link."""
    value = json.loads(model_text(7))
    layers = value["config"]["layers"]
    layers[1]["config"]["unitz"] = layers[1]["config"].pop("units")
    layers[2]["class_name"] = "Densse"
    layers[3]["config"]["units"] = "four"
    layers[4]["name"] = layers[4]["config"]["name"] = "dense_3"
    layers[5]["config"]["activation"] = "reluu"
    layers[6]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "nowhere"
    text = json.dumps(value, indent=2)
    return text.replace('"units": 20', '"units": NaN')


def _position(rng: random.Random, document: Document) -> types.Position:
    count = document.lines.line_count
    line = rng.choice([rng.randrange(count), rng.randrange(count), count, count + 5, 0])
    character = rng.choice([0, 1, 2, 3, rng.randrange(80), 10**6])
    return types.Position(line=line, character=character)


def _inserted(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(4)))


def _random_changes(rng: random.Random, document: Document) -> list[Any]:
    if rng.random() < 0.2:
        text = document.text
        a, b = sorted((rng.randrange(len(text) + 1), rng.randrange(len(text) + 1)))
        new = text[:a] + _inserted(rng) + text[b:]
        return [types.TextDocumentContentChangeWholeDocument(text=new)]
    return [
        types.TextDocumentContentChangePartial(
            range=types.Range(start=_position(rng, document), end=_position(rng, document)),
            text=_inserted(rng),
        )
        for _ in range(rng.choice([1, 1, 2, 3]))
    ]


def _same_document(document: Document) -> Document:
    fresh = Document.parse(URI, document.text, document.version)
    assert repr(document.value) == repr(fresh.value)
    assert document.problems == fresh.problems
    assert document.lines._starts == LineIndex(document.text)._starts
    return fresh


def _checked(document: Document, catalog: Catalog, cache: engine.LayerCache | None) -> Counter:
    return Counter(
        repr((c.problem, c.path)) for c in engine.check_raw(document, catalog, Settings(), cache)
    )


BASES = [
    lambda: model_text(3),
    lambda: model_text(3).replace("\n", "\r\n"),
    lambda: model_text(2, None),
    findings_model,
    lambda: findings_model().replace("\n", "\r\n"),
    lambda: '{"a": "\U0001f600\u00e9"}\r\n',
    lambda: "",
]


@pytest.mark.parametrize("seed", range(40))
def test_random_lsp_changes_give_a_fresh_open(catalog: dict, seed: int) -> None:
    """Ranged and whole changes, several in one event, positions past the line's end or the
    text's, inside a surrogate pair or a CRLF, versions going backwards."""
    catalog_ = Catalog.from_json(catalog)
    rng = random.Random(seed)
    document = Document.parse(URI, rng.choice(BASES)(), 1)
    cache = engine.LayerCache()
    version = 1
    for step in range(30):
        version = rng.choice([version + 1, version + 1, version - 3, 0])
        document = document.apply_changes(_random_changes(rng, document), version)
        if rng.random() < 0.4 or step == 29:
            fresh = _same_document(document)
            got = _checked(document, catalog_, cache)
            assert got == _checked(fresh, catalog_, None), (seed, step, document.text)


def test_a_deep_result_is_never_shown_for_another_text_of_its_version() -> None:
    """A version number can come back (a client that counts again from 1 after a didOpen
    without didClose, or a version going backwards): a deep result belongs to the document it
    checked, not to every document with its number."""
    from layercfg.server.deepcheck import DeepChecks, DeepResult
    from layercfg.server.publisher import Publisher

    checked = Document.parse(URI, '{"class_name": "Dense", "config": {"unitz": 1}}', 5)
    other = Document.parse(URI, '{"class_name": "Dense", "config": {"units": 1}}', 5)
    result = DeepResult(5, document=checked)
    checks = DeepChecks(lambda uri: None, None, None)  # type: ignore[arg-type]
    checks.results[URI] = result
    publisher = Publisher(None, None, None)  # type: ignore[arg-type]
    publisher._deep[URI] = result
    assert checks.result_for(checked) is result and publisher.deep_for(checked) is result
    assert checks.result_for(other) is None
    assert publisher.deep_for(other) is None


def test_an_edit_past_the_did_you_mean_budget_gives_a_fresh_open(catalog: dict) -> None:
    """In a document with more near-miss class names than the did-you-mean budget, the
    layers past it keep the plain message; a layer edited again must not get a suggestion
    that a fresh open of the same text does not give it."""
    from layercfg.server.services.suggest import MAX_SUGGESTIONS, checking

    catalog_ = Catalog.from_json(catalog)
    count = 2 * MAX_SUGGESTIONS
    layers = [
        {"module": "keras.layers", "class_name": "Dens" + chr(97 + i % 26), "config": {}}
        for i in range(count)
    ]
    for index, layer in enumerate(layers):
        layer["config"]["name"] = f"l{index}"
    text = json.dumps(
        {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": layers}}
    )

    def check(document: Document, cache: engine.LayerCache) -> Counter:
        with checking(lambda: True):
            return _checked(document, catalog_, cache)

    document = Document.parse(URI, text, 1)
    cache = engine.LayerCache()
    check(document, cache)
    at = text.index(f'"l{count - 10}"') + 2
    position = document.lines.position_at(at)
    change = types.TextDocumentContentChangePartial(
        range=types.Range(start=position, end=position), text="x"
    )
    document = document.apply_changes([change], 2)
    fresh = Document.parse(URI, document.text, 2)
    assert check(document, cache) == check(fresh, engine.LayerCache())
