"""Whole-document changes are diffed into one ranged edit, and edits reuse the last version's
checks (the layers not edited, the links, the security scan, the flavor): whatever the path,
the result must be what a fresh parse and a full check of the same text give."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from test_incremental import SNIPPETS, VALUES, model_text

from layercfg.server import engine, flavor
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document, common_prefix, common_suffix
from layercfg.server.positions import LineIndex
from layercfg.server.settings import Settings

URI = "file:///paths.layercfg.json"
CHECKS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def whole(text: str) -> types.TextDocumentContentChangeWholeDocument:
    return types.TextDocumentContentChangeWholeDocument(text=text)


def ranged(document: Document, start: int, end: int, text: str):
    lines = document.lines
    return types.TextDocumentContentChangePartial(
        range=types.Range(start=lines.position_at(start), end=lines.position_at(end)), text=text
    )


def same_as_fresh(document: Document) -> None:
    fresh = Document.parse(URI, document.text, document.version)
    assert repr(document.value) == repr(fresh.value)
    assert document.problems == fresh.problems
    assert document.lines._starts == LineIndex(document.text)._starts
    for offset in {0, len(document.text) // 2, len(document.text)}:
        assert document.node_at(offset) == fresh.node_at(offset)


def checked(document: Document, catalog: Catalog, cache: engine.LayerCache | None):
    return Counter(
        repr((c.problem, c.path)) for c in engine.check_raw(document, catalog, Settings(), cache)
    )


# -- the difference of two texts --------------------------------------------------------------


@given(st.text(max_size=30), st.text(max_size=30), st.text(max_size=30), st.text(max_size=30))
@settings(max_examples=300, deadline=None, database=None)
def test_common_prefix_and_suffix(head: str, a: str, b: str, tail: str) -> None:
    old, new = head + a + tail, head + b + tail
    prefix = common_prefix(old, new)
    assert old[:prefix] == new[:prefix]
    assert prefix == len(old) or prefix == len(new) or old[prefix] != new[prefix]
    limit = min(len(old), len(new)) - prefix
    suffix = common_suffix(old, new, limit)
    assert suffix <= limit
    assert old[len(old) - suffix :] == new[len(new) - suffix :]
    assert suffix == limit or old[len(old) - suffix - 1] != new[len(new) - suffix - 1]


def test_common_prefix_across_chunks() -> None:
    old = "a" * 100_000
    for at in (0, 1, 63, 64, 4095, 4096, 4097, 65_537, 99_999):
        new = old[:at] + "b" + old[at + 1 :]
        assert common_prefix(old, new) == at
        assert common_suffix(old, new, len(old) - at) == len(old) - at - 1
    assert common_prefix(old, old) == len(old)
    assert common_prefix(old, old[:5000]) == 5000


def test_a_whole_text_change_is_one_ranged_edit() -> None:
    text = model_text(6)
    document = Document.parse(URI, text, 1)
    document.value  # noqa: B018 - decoded: the next version can splice
    at = text.index('"units": 8') + len('"units": ')
    new = document.apply_changes([whole(text[:at] + "64" + text[at + 1 :])], 2)
    assert new.changed_spans() is not None  # incremental, not parsed afresh
    assert new._splice is not None and new._splice.path == ("config", "layers", 2, "config")
    same_as_fresh(new)
    assert new.value["config"]["layers"][2]["config"]["units"] == 64
    # The layers outside the edit are the previous version's objects.
    assert new.value["config"]["layers"][1] is document.value["config"]["layers"][1]


def test_a_whole_text_rewrite_parses_afresh() -> None:
    document = Document.parse(URI, model_text(6), 1)
    new = document.apply_changes([whole('{"class_name": "Dense", "config": {}}')], 2)
    assert new.changed_spans() is None
    same_as_fresh(new)


def test_an_unchanged_whole_text_is_a_new_version() -> None:
    text = model_text(3)
    document = Document.parse(URI, text, 1)
    new = document.apply_changes([whole(text)], 2)
    assert new.version == 2 and new.text == text
    same_as_fresh(new)


# -- random edits, sent ranged and whole -----------------------------------------------------

EXTRA = ["é", "😀", '"名前"', "\r\n", "\r", "𝄞x", "{", "}", "]", ', {"k": 1}']


@st.composite
def edit_sequences(draw: st.DrawFn) -> tuple[str, list[tuple[int, int, str]], bool]:
    """A model text (LF or CRLF, maybe non-ASCII), edits as (start, end, inserted) fractions
    turned into offsets as they are applied, and whether they are sent as whole texts."""
    text = model_text(draw(st.integers(1, 5)), draw(st.sampled_from([None, 2])))
    if draw(st.booleans()):
        text = text.replace('"input"', '"entrée😀"')
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.sampled_from([0.0, 1.0, draw(st.floats(0, 1))]))
        length = draw(st.sampled_from([0, 0, 1, 3, 10]))
        inserted = draw(
            st.one_of(
                st.sampled_from(SNIPPETS + VALUES + EXTRA),
                st.text(alphabet='{}[]",: \n\r1aé😀', max_size=4),
            )
        )
        steps.append((where, length, inserted))
    return text, steps, draw(st.booleans())


def _offsets(text: str, where: float, length: int) -> tuple[int, int]:
    start = int(where * len(text))
    end = min(start + length, len(text))
    # LSP has no position between "\r" and "\n": a ranged change cannot start or end there.
    if 0 < start < len(text) and text[start - 1] == "\r" and text[start] == "\n":
        start -= 1
    if 0 < end < len(text) and text[end - 1] == "\r" and text[end] == "\n":
        end += 1
    return start, max(start, end)


def apply(document: Document, step: tuple[float, int, str], as_whole: bool) -> Document:
    where, length, inserted = step
    text = document.text
    start, end = _offsets(text, where, length)
    version = (document.version or 0) + 1
    if as_whole:
        return document.apply_changes([whole(text[:start] + inserted + text[end:])], version)
    return document.apply_changes([ranged(document, start, end, inserted)], version)


@CHECKS
@given(case=edit_sequences())
def test_edits_sent_either_way_give_the_fresh_document(case: Any) -> None:
    text, steps, as_whole = case
    document = Document.parse(URI, text, 1)
    document.value  # noqa: B018
    for step in steps:
        document = apply(document, step, as_whole)
        same_as_fresh(document)


@CHECKS
@given(case=edit_sequences())
def test_checks_after_edits_equal_a_full_check(catalog: dict, case: Any) -> None:
    text, steps, as_whole = case
    catalog_ = _catalog(catalog)
    document = Document.parse(URI, text, 1)
    cache = engine.LayerCache()
    checked(document, catalog_, cache)
    for step in steps:
        document = apply(document, step, as_whole)
        fresh = Document.parse(URI, document.text, document.version)
        assert checked(document, catalog_, cache) == checked(fresh, catalog_, None)


@pytest.mark.parametrize("broken", [False, True])
def test_an_open_document_is_checked_without_a_tree_until_one_is_wanted(catalog, broken):
    catalog_ = _catalog(catalog)
    text = big_model(10)
    if broken:
        text = text.replace('"units": 8', '"units": 8,,', 1)
    lazy = Document.parse(URI, text, 1)
    result = checked(lazy, catalog_, engine.LayerCache())
    # Strict JSON needs no syntax tree for its value and checks; broken JSON does.
    assert (lazy._tree is None) is not broken
    first = Document.parse(URI, text, 1)
    first.warm()
    assert first._tree is not None
    assert checked(first, catalog_, engine.LayerCache()) == result
    lazy.warm()
    assert lazy.value == first.value and lazy.problems == first.problems


_CATALOGS: dict[int, Catalog] = {}


def _catalog(raw: dict) -> Catalog:
    if id(raw) not in _CATALOGS:
        _CATALOGS[id(raw)] = Catalog.from_json(raw)
    return _CATALOGS[id(raw)]


# -- what the reuse must not keep ------------------------------------------------------------


def big_model(layers: int = 40) -> str:
    return model_text(layers)


def edited(document: Document, old: str, new: str, after: int = 0) -> Document:
    at = document.text.index(old, after)
    return document.apply_changes(
        [ranged(document, at, at + len(old), new)], (document.version or 0) + 1
    )


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ('"name": "dense_20"', '"name": "dense_19"', "LCF201"),  # a duplicate name
        ('"keras_history": [\n', '"keras_history": [\n"nothing", 0, 0], "x": [', "LCF202"),
        ('"units": 80', '"units": 80, "name": "dense_3"', None),  # config name taken
        ('"units": 80', '"units": 4294967296', None),  # a parameter count (LCF508)
        ('"units": 80', '"units": 80, "vocabulary": "/etc/passwd"', None),
        ('"activation": "relu"', '"activation": "relx"', "LCF105"),
    ],
)
def test_edits_that_change_links_or_security_are_checked_again(catalog, old, new, code):
    catalog_ = _catalog(catalog)
    document = Document.parse(URI, big_model(), 1)
    cache = engine.LayerCache()
    assert not checked(document, catalog_, cache)
    middle = document.text.index('"dense_20"')
    document = edited(document, old, new, middle if old.startswith('"a') else 0)
    document.value  # noqa: B018
    got = checked(document, catalog_, cache)
    assert got == checked(Document.parse(URI, document.text, 2), catalog_, None)
    if code is not None:
        assert f"code='{code}'" in " ".join(got)
    # and back: the findings go away again
    back = document.apply_changes([whole(big_model())], 3)
    assert not checked(back, catalog_, cache)


def test_an_edit_inside_one_layer_validates_only_it(catalog, monkeypatch) -> None:
    catalog_ = _catalog(catalog)
    document = Document.parse(URI, big_model(), 1)
    cache = engine.LayerCache()
    checked(document, catalog_, cache)
    calls: list[Any] = []
    original_links = engine.validate_model_links
    monkeypatch.setattr(
        engine, "validate_model_links", lambda *a: calls.append("links") or original_links(*a)
    )
    original = engine.validate_envelope
    monkeypatch.setattr(
        engine,
        "validate_envelope",
        lambda value, *a, **k: calls.append(k.get("top_level")) or original(value, *a, **k),
    )
    middle = document.text.index('"dense_20"')
    document = edited(document, '"units": 80', '"units": 81', middle)
    checked(document, catalog_, cache)
    assert calls.count(False) == 1  # one layer
    assert "links" not in calls  # nothing the links read changed


def test_the_flavor_memo_follows_edits() -> None:
    layers = [
        {"class_name": "Dense", "config": {"name": f"d{i}", "units": i}, "inbound_nodes": []}
        for i in range(3000)
    ]
    value = {"module": "keras", "class_name": "Functional", "config": {"layers": layers}}
    text = json.dumps(value, indent=1)
    document = Document.parse(URI, text, 1)
    memo = flavor.DetectMemo()
    assert flavor.detect(document.value, memo) == "keras"
    # An edit past what the scan reaches keeps the verdict; one it reaches is scanned.
    late = edited(document, '"units": 2999', '"units": 7')
    assert flavor.detect(late.value, memo) == flavor.detect(late.value) == "keras"
    early = edited(late, '"inbound_nodes": []', '"inbound_nodes": [["d1", 0, 0, {}]]')
    assert flavor.detect(early.value, memo) == flavor.detect(early.value) == "tf_keras"
    far = edited(early, '"units": 7', '"units": 8')
    assert flavor.detect(far.value, memo) == flavor.detect(far.value) == "tf_keras"


# -- the line table after edits on one line and elsewhere ------------------------------------


@given(
    text=st.text(alphabet="ab\né", max_size=40),
    steps=st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 3), st.text(alphabet="xy\n😀", max_size=3)),
        max_size=8,
    ),
)
@settings(max_examples=300, deadline=None, database=None)
def test_a_shifted_line_table_answers_as_a_fresh_one(text: str, steps: list[Any]) -> None:
    lines = LineIndex(text)
    for where, length, inserted in steps:
        start = min(where, len(text))
        end = min(start + length, len(text))
        new_text = text[:start] + inserted + text[end:]
        lines, text = lines.edited(start, end, inserted, new_text), new_text
        fresh = LineIndex(text)
        assert lines.line_count == fresh.line_count
        for line in range(fresh.line_count):
            assert lines.line_start(line) == fresh.line_start(line)
            assert lines.line_end(line) == fresh.line_end(line)
        for offset in range(len(text) + 1):
            assert lines.line_at(offset) == fresh.line_at(offset)
            position = fresh.position_at(offset)
            assert lines.position_at(offset) == position
            assert lines.offset_at(position) == fresh.offset_at(position)
    assert lines._starts == LineIndex(text)._starts


def test_typing_on_one_line_shares_the_table() -> None:
    text = "a\n" * 1000
    lines = LineIndex(text)
    for _ in range(5):
        at = 500
        text = text[:at] + "x" + text[at:]
        lines = lines.edited(at, at, "x", text)
    starts, moved, delta = lines._table
    assert delta == 5 and moved == 251  # the list of the first version, a shift pending
    assert lines._starts == LineIndex(text)._starts


@pytest.mark.parametrize("inserted", ["81", "8", "80000", "80\n", "\r\n80"])
def test_findings_outside_an_edit_are_moved_not_located_again(catalog, monkeypatch, inserted):
    catalog_ = _catalog(catalog)
    text = big_model().replace('"activation": "relu"', '"activation": "relx"')
    document = Document.parse(URI, text, 1)
    cache = engine.LayerCache()
    before = checked(document, catalog_, cache)
    assert sum(before.values()) == 39  # one LCF105 in each Dense layer
    calls: list[Any] = []
    original = engine.locate_finding
    monkeypatch.setattr(
        engine, "locate_finding", lambda doc, f: calls.append(f.path) or original(doc, f)
    )
    middle = document.text.index('"dense_20"')
    current = "80"
    for version, new in enumerate([inserted, "80", "81"], start=2):
        document = edited(document, f'"units": {current}', f'"units": {new}', middle)
        middle, current = document.text.index('"dense_20"'), new
        calls.clear()
        got = checked(document, catalog_, cache)
        located = list(calls)
        assert got == checked(Document.parse(URI, document.text, version), catalog_, None)
        assert located and all(path[:3] == ("config", "layers", 20) for path in located)


class _Edge:
    def publish(self, *args: Any) -> None: ...

    def refresh_diagnostics(self) -> None: ...

    def refresh_inlay_hints(self) -> None: ...


def _publisher(catalog_: Catalog):
    from layercfg.server.publisher import Publisher
    from layercfg.server.session import Session

    session = Session()

    def check(doc: Document, cache: engine.LayerCache) -> list[engine.Checked]:
        return engine.check_raw(doc, catalog_, session.settings, cache)

    return session, Publisher(session, _Edge(), check)


@pytest.mark.parametrize("inserted", ["81", "80\n", ""])
def test_diagnostics_of_unchanged_findings_are_kept(catalog, inserted):
    catalog_ = _catalog(catalog)
    text = big_model().replace('"activation": "relu"', '"activation": "relx"')
    session, publisher = _publisher(catalog_)
    document = Document.parse(URI, text, 1)
    session.documents[URI] = document
    before = publisher.diagnostics(document)
    middle = document.text.index('"dense_20"')
    at = document.text.index('"units": 80', middle) + len('"units": ')
    document = document.apply_changes([ranged(document, at, at + 2, inserted or "8")], 2)
    session.documents[URI] = document
    after = publisher.diagnostics(document)
    fresh_session, fresh_publisher = _publisher(catalog_)
    fresh = Document.parse(URI, document.text, 2)
    fresh_session.documents[URI] = fresh
    assert after == fresh_publisher.diagnostics(fresh)
    kept = {id(d) for d in before} & {id(d) for d in after}
    # the findings before the edit keep their diagnostics; after it, when no line moved
    assert len(kept) >= (19 if "\n" in inserted else len(after) - 1), (len(kept), len(after))
