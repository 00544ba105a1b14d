"""Inlay hints of a deep check: each layer's output shape and size after its class_name, and
the model's total; asked for a range, only the hints on its lines, the same ones as every
hint filtered by line."""

from __future__ import annotations

import json

import pytest
from lsprotocol import types

from layercfg.server.deepcheck import DeepResult, inlay_hints
from layercfg.server.document import Document

pytestmark = pytest.mark.fast

URI = "file:///w/m.layercfg.json"


def _model(n: int) -> tuple[Document, DeepResult]:
    def layer(i: int) -> dict:
        entry = {
            "module": "keras.layers",
            "config": {"name": f"d{i}", "units": 4},
            "name": f"d{i}",
            "inbound_nodes": [],
        }
        # The hint, after class_name, on the layer's first lines or on its last ones.
        return {"class_name": "Dense", **entry} if i % 2 else {**entry, "class_name": "Dense"}

    # Some layers on one line, others over several.
    layers = [json.dumps(layer(i), indent=None if i % 3 else 2) for i in range(n)]
    text = (
        '{"module": "keras", "class_name": "Functional",\n "config": {"layers": [\n'
        + ",\n".join(layers)
        + "\n]}}\n"
    )
    document = Document.parse(URI, text, 1)
    assert document.syntax_ok
    infos = [
        {
            "path": ["config", "layers", i],
            "name": f"d{i}",
            "class_name": "Dense",
            "output_shape": "None, 4",
            "params": 20,
        }
        for i in range(n)
    ]
    return document, DeepResult(1, [], infos, 20 * n, [], document)


def _lines(hints: list[types.InlayHint]) -> list[tuple[int, int, str]]:
    return [(h.position.line, h.position.character, str(h.label)) for h in hints]


def test_every_layer_has_its_hint_after_its_class_name_and_the_model_its_total():
    document, result = _model(5)
    hints = inlay_hints(document, result, "utf-16")
    assert len(hints) == 6
    for i, hint in enumerate(hints[:5]):
        _, end = document.locate(("config", "layers", i, "class_name"), "value")
        assert hint.position == document.lines.position_at(end, "utf-16")
        assert hint.label == " → None, 4 · 20 params"
    assert hints[-1].label == " 100 params in all"


def test_a_range_gets_the_hints_on_its_lines_alone():
    document, result = _model(12)
    every = inlay_hints(document, result, "utf-16")
    total = every[-1:]
    count = len(document.text.splitlines())
    seen = set()
    for first in range(count + 2):
        for width in (0, 1, 2, 5, 30, 10_000):
            last = first + width
            visible = types.Range(types.Position(first, 0), types.Position(last, 0))
            layers = [h for h in every[:-1] if first <= h.position.line <= last]
            shown = inlay_hints(document, result, "utf-16", visible)
            assert _lines(shown) == _lines(layers + total), (first, last)
            seen.add(len(layers))
    assert {0, 1, 12} <= seen and len(seen) > 4  # none, one, some and every layer in view
