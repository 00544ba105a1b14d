"""Robustness of the document model and every pure service: any text, any position and any
edit sequence answer without an exception and with ranges inside the document; incremental
and fresh parses agree; extreme documents parse and check in a sane time."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from layercfg.server import engine
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.positions import utf16_length
from layercfg.server.services import code_actions, formatting, navigation
from layercfg.server.services.code_actions import ActionSupport, Fixer
from layercfg.server.services.completion import ClientSupport, Completer
from layercfg.server.services.hover import Hoverer
from layercfg.server.services.schema_match import Matcher
from layercfg.server.services.validation import validate
from layercfg.server.settings import Settings

URI = "file:///fuzz.layercfg.json"
EXAMPLES = Path(__file__).parent.parent / "examples"
SETTINGS = Settings()
SUPPORTS = (ClientSupport(snippets=True), ClientSupport(snippets=False, markdown=False))
ACTIONS = ActionSupport(document_changes=True, snippet_edits=True)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


class Services:
    def __init__(self, catalog: dict) -> None:
        self.catalog = Catalog.from_json(catalog)
        self.walker = Matcher(self.catalog)
        self.completer = Completer(self.catalog, self.walker)
        self.hoverer = Hoverer(self.catalog, self.walker)
        self.fixer = Fixer(self.catalog, self.walker)


@pytest.fixture(scope="module")
def services(catalog: dict) -> Services:
    return Services(catalog)


# -- generators ---------------------------------------------------------------------------------

# Every character, lone surrogates included (hypothesis leaves them out by default).
ANY_CHAR = st.characters(blacklist_categories=())
NASTY = st.sampled_from(
    [
        "\r\n",
        "\r",
        "\n",
        "\ufeff",
        "\x00",
        "\ud800",
        "\udfff",
        "\U0001f600",
        "é",
        "名",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        '"',
        "\\",
        "\\u",
        "\\ud800",
        "//",
        "/*",
        "*/",
        "1e400",
        "-0",
        "null",
        "true",
        "NaN",
        " ",
        "\t",
    ]
)
NAMES = st.text(
    alphabet=st.sampled_from('aé名_\U0001f600\ud800x\x00\r\n"\\'), min_size=0, max_size=8
)


def _dense(name: str, units: Any, activation: str) -> dict:
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"name": name, "units": units, "activation": activation},
        "registered_name": None,
    }


@st.composite
def keras_config(draw: st.DrawFn) -> str:
    """A near-valid Keras config: a single layer or a Sequential model of a few layers."""
    names = draw(st.lists(NAMES, min_size=1, max_size=4))
    layers = [
        _dense(
            n,
            draw(st.sampled_from([1, 4, -1, "8", 1e400, -0.0, None])),
            draw(st.sampled_from(["relu", "rleu", "", "é"])),
        )
        for n in names
    ]
    if draw(st.booleans()) and len(layers) == 1:
        value: Any = layers[0]
    else:
        value = {
            "module": "keras",
            "class_name": "Sequential",
            "config": {"name": draw(NAMES), "layers": layers},
            "registered_name": None,
        }
    text = json.dumps(value, indent=draw(st.sampled_from([None, 2])), ensure_ascii=False)
    return text.replace("Infinity", "1e400")


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    text = draw(base)
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        piece = draw(st.one_of(NASTY, st.text(ANY_CHAR, max_size=4)))
        text = text[:i] + piece + text[j:]
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text


EXAMPLE_TEXTS = [p.read_text() for p in sorted(EXAMPLES.glob("*.layercfg.json"))]
TEXTS = st.one_of(
    st.text(ANY_CHAR, max_size=60),
    st.lists(NASTY, max_size=30).map("".join),
    mutated(keras_config()),
    mutated(st.sampled_from(EXAMPLE_TEXTS)),
)


# -- checks -------------------------------------------------------------------------------------


def _assert_position_inside(document: Document, position: types.Position) -> None:
    lines = document.lines
    assert 0 <= position.line < lines.line_count, position
    start, end = lines.line_start(position.line), lines.line_end(position.line)
    assert 0 <= position.character <= utf16_length(document.text[start:end]), position


def _assert_inside(document: Document, rng: types.Range) -> None:
    _assert_position_inside(document, rng.start)
    _assert_position_inside(document, rng.end)
    assert (rng.start.line, rng.start.character) <= (rng.end.line, rng.end.character), rng


def _symbols_inside(document: Document, symbols: list[types.DocumentSymbol]) -> None:
    for symbol in symbols:
        _assert_inside(document, symbol.range)
        _assert_inside(document, symbol.selection_range)
        _symbols_inside(document, symbol.children or [])


def _edits_inside(document: Document, edit: types.WorkspaceEdit | None) -> None:
    if edit is None:
        return
    for edits in (edit.changes or {}).values():
        for text_edit in edits:
            _assert_inside(document, text_edit.range)
    for change in edit.document_changes or []:
        for text_edit in change.edits:
            _assert_inside(document, text_edit.range)


def _exercise(s: Services, document: Document, offset: int) -> None:
    """Every service at one offset; each answer's ranges lie inside the document."""
    text = document.text
    for support in SUPPORTS:
        completion = s.completer.complete(document, offset, support)
        for item in completion.items:
            if isinstance(item.text_edit, types.TextEdit):
                _assert_inside(document, item.text_edit.range)
            elif isinstance(item.text_edit, types.InsertReplaceEdit):
                _assert_inside(document, item.text_edit.insert)
                _assert_inside(document, item.text_edit.replace)
            for extra in item.additional_text_edits or []:
                _assert_inside(document, extra.range)
        hover = s.hoverer.hover(document, offset, support)
        if hover is not None and hover.range is not None:
            _assert_inside(document, hover.range)
    for location in navigation.definition(document, offset, s.catalog, s.walker, "utf-16"):
        if location.uri == document.uri:
            _assert_inside(document, location.range)
    for include in (True, False):
        for location in navigation.references(document, offset, "utf-16", include):
            _assert_inside(document, location.range)
    _symbols_inside(document, navigation.document_symbols(document, "utf-16")[0])
    for fold in navigation.folding_ranges(document)[0]:
        assert 0 <= fold.start_line <= fold.end_line < document.lines.line_count, fold
    checked = engine.check(document, s.catalog, SETTINGS)
    for item in checked:
        assert 0 <= item.problem.start <= item.problem.end <= len(text), item
    diagnostics = [engine.to_diagnostic(document, c) for c in checked]
    for diagnostic in diagnostics:
        _assert_inside(document, diagnostic.range)
    position = document.lines.position_at(offset)
    request = types.Range(start=position, end=position)
    everything = types.Range(start=types.Position(0, 0), end=types.Position(10**6, 0))
    for asked, rng in (([], request), ([], everything), (diagnostics[:20], everything)):
        actions = code_actions.quick_fixes(
            document, s.fixer, asked, diagnostics, rng, ACTIONS, "utf-16"
        )
        for action in actions:
            _edits_inside(document, action.edit)
    try:
        edits = formatting.format_edits(document)
    except formatting.FormattingRefused:
        pass
    else:
        for edit in formatting.to_text_edits(document, edits, "utf-16"):
            _assert_inside(document, edit.range)
        for edit in edits:
            assert 0 <= edit.start <= edit.end <= len(text), edit


@FUZZ
@given(text=TEXTS, data=st.data())
def test_any_text_and_position_answer_inside_the_document(services, text, data):
    document = Document.parse(URI, text, 1)
    assert isinstance(document.problems, list)
    document.value  # noqa: B018 - computing it must not raise
    offsets = data.draw(st.lists(st.integers(-3, len(text) + 3), min_size=1, max_size=3))
    for offset in offsets + [0, len(text)]:
        location = document.node_at(offset)
        assert location is not None
        _exercise(services, document, offset)


def test_missing_keys_of_an_empty_functional_layer_have_fixes(services):
    text = (
        '{"module": "keras", "class_name": "Functional", "config": {"name": "m", '
        '"layers": [{}], "input_layers": [], "output_layers": []}}'
    )
    document = Document.parse(URI, text, 1)
    missing = [
        c for c in engine.check(document, services.catalog, SETTINGS) if c.problem.code == "LCF103"
    ]
    assert missing
    for checked in missing:
        services.fixer.fixes(document, checked.problem, checked.path, False)


@st.composite
def edit_sequence(draw: st.DrawFn) -> tuple[str, list[list[tuple[int, int, int, int, str]]]]:
    """A start text and batches of edits as (line, character, line, character, text);
    positions may lie past the end of a line or of the document."""
    text = draw(st.one_of(st.sampled_from(EXAMPLE_TEXTS), mutated(keras_config())))
    batches = []
    for _ in range(draw(st.integers(1, 6))):
        batch = []
        for _ in range(draw(st.integers(1, 3))):
            lines = max(text.count("\n"), 1)
            line = draw(st.integers(0, lines + 1))
            character = draw(st.integers(0, 90))
            end_line = draw(st.integers(line, min(line + 2, lines + 1)))
            end_character = draw(st.integers(0, 90))
            insert = draw(
                st.one_of(
                    NASTY,
                    st.text(ANY_CHAR, max_size=6),
                    NAMES,
                    st.sampled_from(['"units": 3,', '{"class_name": "Dense"}', ", ", ""]),
                )
            )
            batch.append((line, character, end_line, end_character, insert))
        batches.append(batch)
    return text, batches


def _same_findings(a: list, b: list, messages: bool = True) -> bool:
    def key(f: Any) -> str:
        return repr(f) if messages else repr((f.path, f.part, f.code, f.severity))

    return Counter(map(key, a)) == Counter(map(key, b))


@settings(FUZZ, max_examples=40)
@given(sequence=edit_sequence())
def test_incremental_edits_agree_with_a_fresh_parse(services, sequence):
    text, batches = sequence
    document = Document.parse(URI, text, 1)
    cache = engine.LayerCache()
    cache.validate(document, services.catalog)
    for version, batch in enumerate(batches, start=2):
        changes = [
            types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(a, b), end=types.Position(c, d)), text=t
            )
            for a, b, c, d, t in batch
        ]
        # The expected text, edit by edit through the line table of each intermediate text.
        expected = document.text
        for change in changes:
            lines = Document.parse(URI, expected).lines
            start = lines.offset_at(change.range.start)
            end = lines.offset_at(change.range.end)
            start, end = min(start, end), max(start, end)
            expected = expected[:start] + change.text + expected[end:]
        document = document.apply_changes(changes, version)
        assert document.text == expected
        fresh = Document.parse(URI, document.text, version)
        assert document.problems == fresh.problems
        assert repr(document.value) == repr(fresh.value)
        for offset in (0, len(expected) // 2, len(expected)):
            assert document.node_at(offset) == fresh.node_at(offset)
        assert _same_findings(
            cache.validate(document, services.catalog),
            validate(fresh.value, services.catalog),
            messages=True,
        )


def test_layer_cache_words_a_non_object_layer_as_validate_does(services):
    text = (
        '{"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": ["x"]}}'
    )
    document = Document.parse(URI, text, 1)
    assert _same_findings(
        engine.LayerCache().validate(document, services.catalog),
        validate(document.value, services.catalog),
    )


# -- extremes -----------------------------------------------------------------------------------


def _timed(label: str, s: Services, text: str) -> tuple[Document, list[engine.Checked], float]:
    """Parse and check, timed for the log (the figures are benchmarks' business, see
    benchmarks/bench_hostile.py; a hang fails by the suite's timeout)."""
    began = time.perf_counter()
    document = Document.parse(URI, text, 1)
    document.problems  # noqa: B018
    checked = engine.check(document, s.catalog, SETTINGS)
    elapsed = time.perf_counter() - began
    print(f"{label}: {len(text):,} characters parsed and checked in {elapsed:.2f} s")
    return document, checked, elapsed


def test_a_50_mb_document(services):
    layer = json.dumps(_dense("dense_%d", 16, "relu"))
    count = 50_000_000 // len(layer) + 1
    layers = ",\n".join(layer.replace("%d", str(i)) for i in range(count))
    text = (
        '{"module": "keras", "class_name": "Sequential", "config": {"name": "big", '
        '"layers": [\n' + layers + '\n]}, "registered_name": null}'
    )
    assert len(text) >= 50_000_000
    document, checked, _ = _timed("50 MB", services, text)
    assert document.syntax_ok
    assert checked == []


def test_nesting_100000_deep(services):
    text = "[" * 100_000 + "]" * 100_000
    document, checked, _ = _timed("100,000 deep array", services, text)
    navigation.folding_ranges(document)
    navigation.document_symbols(document, "utf-16")
    assert document.problems  # Python's json cannot read it: said so, not raised
    text = '{"a": ' * 100_000 + "1" + "}" * 100_000
    document, _, _ = _timed("100,000 deep object", services, text)
    assert document.problems


def test_a_1_mb_string_value(services):
    name = "é名" * 250_000 + "x" * 500_000
    text = json.dumps(_dense(name, 4, "relu"), ensure_ascii=False)
    document, _, _ = _timed("1 MB string", services, text)
    assert document.value["config"]["name"] == name
    offset = text.index(name) + 500_000
    _exercise(services, document, offset)


@pytest.mark.parametrize(
    "number",
    ["1e400", "-1e400", "-0", "-0.0", "1e-400", "0e0", "123456789012345678901234567890", "1E+2"],
)
def test_extreme_numbers(services, number):
    text = (
        '{"module": "keras.layers", "class_name": "Dense", "config": {"units": '
        + number
        + ', "dropout": ['
        + number
        + "]}}"
    )
    document, _, _ = _timed(f"number {number}", services, text)
    for offset in (text.index(number), len(text)):
        _exercise(services, document, offset)


DUPLICATES = (
    '{"module": "keras.layers", "class_name": "Dense", "config": {'
    + ", ".join(f'"units": {i}' for i in range(10_000))
    + "}}"
)


def test_10000_duplicate_keys_parse(services):
    began = time.perf_counter()
    document = Document.parse(URI, DUPLICATES, 1)
    duplicates = [p for p in document.problems if p.code == "LCF003"]
    elapsed = time.perf_counter() - began
    print(f"10,000 duplicate keys: parsed in {elapsed:.2f} s")
    assert len(duplicates) == 10_000  # every occurrence
    offset = DUPLICATES.index('"units": 5000') + 2
    assert document.node_at(offset).path[:1] == ("config",)
    services.hoverer.hover(document, offset, SUPPORTS[0])


class _TooSlow(Exception):
    pass


def _raise_too_slow(signum: int, frame: Any) -> None:
    raise _TooSlow


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_10000_duplicate_keys_check_in_10_seconds(services):
    document = Document.parse(URI, DUPLICATES, 1)
    document.problems  # noqa: B018
    previous = signal.signal(signal.SIGALRM, _raise_too_slow)
    signal.setitimer(signal.ITIMER_REAL, 10)
    try:
        began = time.perf_counter()
        checked = engine.check(document, services.catalog, SETTINGS)
        print(f"10,000 duplicate keys: checked in {time.perf_counter() - began:.2f} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # The first findings of a code are shown, and one more says how many are not.
    duplicates = [c for c in checked if c.problem.code == "LCF003"]
    assert len(duplicates) == engine.MAX_PER_CODE + 1
    assert duplicates[-1].problem.data == {"hidden": 10_000 - engine.MAX_PER_CODE}


@pytest.mark.parametrize("text", ["{", "{\n", "[{", '{"config": {'])
def test_fixes_of_an_object_left_open_stay_inside_the_document(services, text):
    """Found by the fuzz test above: the missing-key fix of a "{" at the end of the text
    had its end before its start."""
    document = Document.parse(URI, text, 1)
    for offset in range(len(text) + 1):
        _exercise(services, document, offset)


@pytest.mark.parametrize("text", ["{", '{"a": 1', "", "[{"])
def test_positions_past_the_end_answer_as_the_end(services, text):
    document = Document.parse(URI, text, 1)
    for offset in (len(text) + 1, len(text) + 3, -2):
        _exercise(services, document, offset)
