"""Hostile input for what changed last: documents opened without a syntax tree. No Keras."""

from __future__ import annotations

import threading

import pytest

from layercfg.server import document as document_module
from layercfg.server.document import Document

URI = "file:///w/model.json"

# Strict JSON that tree-sitter's JSON grammar does not take: an exponent with a '+' sign, as
# Python's json.dumps writes large floats (1e+20). With a duplicate key, the strict read wants
# the tree to place it, and parses it while the value is read.
DISAGREEING = (
    '{"class_name": "Dense", "name": "d", "name": "d", '
    '"config": {"units": 8, "kernel_regularizer": null, "max": 1e+20}}'
)


def _tree_first(text: str) -> Document:
    document = Document.parse(URI, text, 1)
    document.warm()
    return document


def _same_as_tree_first(lazy: Document, text: str) -> None:
    first = _tree_first(text)
    assert first.tree.root_node.has_error  # the grammar disagrees with json, as wanted
    assert lazy.value == first.value
    assert lazy.problems == first.problems
    for key in ("units", "max", "class_name"):
        offset = text.index(key) + 1
        assert lazy.node_at(offset) == first.node_at(offset)
    for path in (("config", "units"), ("config", "max"), ("class_name",), ("name",)):
        assert lazy.locate(path) is not None
        assert lazy.locate(path) == first.locate(path)
        assert lazy.locate(path, "key") == first.locate(path, "key")


def test_a_duplicate_key_in_json_the_grammar_refuses_is_located_as_in_a_tree_first_one():
    lazy = Document.parse(URI, DISAGREEING, 1)
    lazy.problems  # noqa: B018  (diagnostics first, as after didOpen)
    _same_as_tree_first(lazy, DISAGREEING)


def test_a_tree_parsed_in_another_thread_while_the_value_is_read_is_not_ignored(monkeypatch):
    text = DISAGREEING.replace('"name": "d", "name": "d"', '"name": "d"')  # no duplicate
    lazy = Document.parse(URI, text, 1)
    strict = document_module._strict_loads

    def with_warm_meanwhile(*args, **kwargs):
        # The warm-up (to_thread after the first diagnostics) ends while json reads.
        warm = threading.Thread(target=lazy.warm)
        warm.start()
        warm.join()
        return strict(*args, **kwargs)

    monkeypatch.setattr(document_module, "_strict_loads", with_warm_meanwhile)
    lazy.problems  # noqa: B018
    monkeypatch.setattr(document_module, "_strict_loads", strict)
    _same_as_tree_first(lazy, text)


@pytest.mark.parametrize("warm_first", [False, True])
def test_an_edit_right_after_open_of_such_json_equals_a_fresh_document(warm_first):
    lazy = Document.parse(URI, DISAGREEING, 1)
    lazy.problems  # noqa: B018
    if warm_first:
        lazy.warm()
    from lsprotocol import types

    start = DISAGREEING.index('"units": 8') + len('"units": ')
    change = types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(0, start), types.Position(0, start + 1)), text="16"
    )
    edited = lazy.apply_changes([change], 2)
    text = DISAGREEING.replace('"units": 8', '"units": 16')
    assert edited.text == text
    _same_as_tree_first(edited, text)
