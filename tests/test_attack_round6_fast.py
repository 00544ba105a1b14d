"""Hostile input for what changed last: a damaged catalog in the cache, and the layer cache's
texts read after a fresh open (strict JSON that tree-sitter disagrees with). No Keras."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from lsprotocol import types

from layercfg.server import engine
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.services.validation import validate
from layercfg.server.settings import Settings

URI = "file:///w/round6.layercfg.json"
FROZEN = Path(__file__).parent / "data" / "frozen"

# -- a damaged catalog in the cache ------------------------------------------------------------

# JSON that is not a catalog: the cache is the user's own, but a file cut short, written by
# another tool or by hand must be rebuilt (the loaders rebuild on OSError and ValueError), not
# stop the catalog from ever loading (the server then shows syntax findings only, and says
# nothing) or end the command line with a traceback and exit code 1 ("problems found").
NOT_A_CATALOG = {
    "a list": "[]",
    "classes not a list": '{"classes": 5}',
    "a class without an id": '{"classes": [{}]}',
    "a class that is a number": '{"classes": [1]}',
    "names not an object": '{"classes": [], "names": [1, 2]}',
    "nested too deeply": "[" * 100_000 + "]" * 100_000,
    "aliases not a list": '{"classes": [{"id": "a", "class_name": "A", "family": "layer", '
    '"aliases": 5}]}',
    "defs not an object": '{"classes": [], "schema": {"$defs": []}}',
    "cut short": '{"classes": [{"id": "a", "class_name": "A"',
}


@pytest.mark.parametrize("name", sorted(NOT_A_CATALOG))
def test_a_cached_file_that_is_not_a_catalog_is_unreadable(tmp_path, name):
    path = tmp_path / "catalog-f0-keras-0-tensorflow-0.json"
    path.write_text(NOT_A_CATALOG[name], encoding="utf-8")
    with pytest.raises((OSError, ValueError)):
        Catalog.load(path)


# -- the layer cache after a fresh open ---------------------------------------------------------


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    plain = sorted(FROZEN.glob("catalog-*-e3b0c44298fc1c14*.json.gz"))
    assert plain, f"no frozen catalog in {FROZEN}: run tests/frozen.py"
    with gzip.open(plain[-1], "rt", encoding="utf-8") as handle:
        return Catalog.from_json(json.load(handle))


def _model(layers: int) -> str:
    """A Sequential of Dense layers whose texts tree-sitter and Python's json read apart: an
    exponent with a '+' (json.dumps writes large floats so), a lone surrogate, a huge
    integer, -0. (No duplicate key: placing it would parse the tree at once.)"""
    odd = ["1e+20", "-0", "9" * 300, '"\\ud800"', "1E+2"]
    items = []
    for index in range(layers):
        units = odd[index % len(odd)] if index % 3 else "4"
        config = f'{{"name": "d{index}", "units": {units}, "activation": "relu"}}'
        items.append(
            f'{{"module": "keras.layers", "class_name": "Dense", "name": "d{index}", '
            f'"config": {config}}}'
        )
    layers_text = ",\n".join(items)
    return f'{{"class_name": "Sequential", "config": {{"name": "s", "layers": [{layers_text}]}}}}'


def _checked(document: Document, catalog: Catalog, cache: engine.LayerCache | None) -> Counter:
    return Counter(
        repr((c.problem, c.path)) for c in engine.check_raw(document, catalog, Settings(), cache)
    )


def _ranged(document: Document, start: int, end: int, text: str):
    lines = document.lines
    return types.TextDocumentContentChangePartial(
        range=types.Range(start=lines.position_at(start), end=lines.position_at(end)), text=text
    )


@pytest.mark.parametrize("how", ["ranged", "whole", "reopened"])
def test_edits_after_a_fresh_open_of_text_the_grammar_disagrees_with(catalog, how):
    text = _model(2 * engine.LayerCache.FEW + 3)
    document = Document.parse(URI, text, 1)
    cache = engine.LayerCache()
    first = cache.validate(document, catalog)
    assert not document.has_tree  # the layers were validated without their texts
    assert Counter(map(repr, first)) == Counter(map(repr, validate(document.value, catalog)))
    document.warm()
    assert document.tree.root_node.has_error  # '1e+20': the grammar disagrees, as wanted
    edits = [('"relu"', '"relx"'), ('"units": 4', '"units": 1e+20'), ('"relx"', '"relu"')]
    for version, (old, new) in enumerate(edits, start=2):
        found = [m.start() for m in re.finditer(re.escape(old), document.text)]
        at = found[len(found) // 2]
        after = document.text[:at] + new + document.text[at + len(old) :]
        if how == "ranged":
            document = document.apply_changes([_ranged(document, at, at + len(old), new)], version)
        elif how == "whole":
            document = document.apply_changes(
                [types.TextDocumentContentChangeWholeDocument(text=after)], version
            )
        else:
            document = Document.parse(URI, after, version)
        assert document.text == after
        fresh = _checked(Document.parse(URI, after, version), catalog, None)
        assert _checked(document, catalog, cache) == fresh
