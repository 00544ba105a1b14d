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


# -- the exported schema's patterns, built from names a workspace module chooses ---------------


def _patterns(schema: object) -> list[str]:
    if isinstance(schema, dict):
        own = [schema["pattern"]] if isinstance(schema.get("pattern"), str) else []
        return own + [p for v in schema.values() for p in _patterns(v)]
    if isinstance(schema, list):
        return [p for v in schema for p in _patterns(v)]
    return []


# Outside a class, ECMA-262 in unicode mode (as JSON Schema validators compile patterns) takes
# an escaped character only when it is a syntax character, or a letter of a class escape.
_ECMA_ESCAPES = set("^$\\.*+?()[]{}|/") | set("dDwWsSbBnrtfv0")


def _ecma_valid(pattern: str) -> bool:
    escaped = [pattern[i + 1] for i in range(len(pattern) - 1) if pattern[i] == "\\"]
    # (a doubled backslash counts its second half once more, which is a syntax character)
    return all(c in _ECMA_ESCAPES for c in escaped)


@pytest.mark.parametrize("package", ["my-pkg", "a b", "x#y", "t~k", "a&b", "k(1)"])
def test_a_package_name_makes_patterns_a_json_schema_validator_compiles(package):
    import re
    from types import SimpleNamespace

    from layercfg.schema_builder import schema_dispatch as schema

    ours = SimpleNamespace(registered_name=f"{package}>Block", module="blocks", custom=True)
    keras_own = SimpleNamespace(registered_name=None, module="keras.src.layers", custom=False)
    built = schema._by_package([keras_own, ours], lambda i: {"title": i.module}, {"not": {}})
    built_module = schema._outside({package})
    patterns = _patterns(built) + _patterns(built_module)
    assert any(package in p.replace("\\", "") for p in patterns)
    for pattern in patterns:
        assert _ecma_valid(pattern), pattern
    named = [p for p in patterns if p.endswith("[.>]")]
    # The patterns still match the name they were made from, and not a look-alike.
    assert any(re.search(p, f"{package}>Block") for p in named)
    assert not any(re.search(p, f"{package}X>Block") for p in named)
    assert any(re.search(p, f"keras.src.{package}.core") for p in _patterns(built_module))
