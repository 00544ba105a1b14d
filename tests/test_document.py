"""The document model: values, syntax findings, node_at, locate and incremental edits."""

from __future__ import annotations

import json
import math
import random
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from layercfg.server.document import (
    DUPLICATE_KEY,
    ERROR,
    INVALID_JSON,
    NOT_STRICT_JSON,
    WARNING,
    Document,
    Location,
    Problem,
)
from layercfg.server.positions import ENCODINGS, UTF8, UTF16, LineIndex

URI = "file:///model.layercfg.json"


def parse(text: str) -> Document:
    return Document.parse(URI, text, 1)


def cursor(marked: str) -> tuple[str, int]:
    """Text and offset from a text with one `|` cursor marker."""
    assert marked.count("|") == 1, marked
    offset = marked.index("|")
    return marked[:offset] + marked[offset + 1 :], offset


def snippets(doc: Document) -> list[tuple[str, str]]:
    return [(p.code, doc.text[p.start : p.end]) for p in doc.problems]


def change(
    doc: Document, start: int, end: int, text: str, encoding: str = UTF16
) -> types.TextDocumentContentChangePartial:
    lines = LineIndex(doc.text)
    return types.TextDocumentContentChangePartial(
        range=types.Range(
            start=lines.position_at(start, encoding), end=lines.position_at(end, encoding)
        ),
        text=text,
    )


def same_value(a: Any, b: Any) -> bool:
    """Equality that counts NaN equal to NaN and tells 1 from 1.0 and True."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# --------------------------------------------------------------------------------------
# Values


DENSE = (
    '{"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", '
    '"units": 64, "activation": "relu", "use_bias": true, "bias_regularizer": null, '
    '"kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", '
    '"config": {"seed": null}, "registered_name": null}, "rate": 0.5, "shape": [null, 32]}, '
    '"registered_name": null, "build_config": {"input_shape": [null, 16]}}'
)


def test_valid_document_value_is_json_loads() -> None:
    doc = parse(DENSE)
    assert same_value(doc.value, json.loads(DENSE))
    assert doc.problems == []
    assert doc.syntax_ok


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, // note\n "b": [1, 2,],}', {"a": 1, "b": [1, 2]}),
        ('{"a": 1, "b": }', {"a": 1}),
        ('{"a": [1, tru, 3]}', {"a": [1, None, 3]}),
        ('{"a": {"b": 1, "c": ', {"a": {"b": 1}}),
        ('{"a": "abc', {"a": "abc"}),
        ("{'a': True, \"b\": None}", {"a": True, "b": None}),
        ('{"a": 1 "b": 2}', {"a": 1, "b": 2}),
        ('{"a": [1 2]}', {"a": [1, 2]}),
        ('{"a": [1, {"b": 2]}', {"a": [1, {"b": 2}]}),
        ('{"x": {"y": [1, 2], "z": 3}, "w": ]', {"x": {"y": [1, 2], "z": 3}}),
        ('{"a": 01, "b": 1.}', {"a": 1, "b": 1.0}),
        ('{"a": "tab\there"}', {"a": "tab\there"}),
        ('{"a": "\\x41"}', {"a": "x41"}),
        ("[1, 2] [3]", [1, 2]),
        ("", None),
    ],
)
def test_best_effort_value_of_broken_text(text: str, expected: Any) -> None:
    doc = parse(text)
    assert same_value(doc.value, expected)
    assert not doc.syntax_ok


def test_nan_and_infinity_are_read_as_python_does() -> None:
    doc = parse('{"a": NaN, "b": [Infinity, -Infinity]}')
    assert math.isnan(doc.value["a"])
    assert doc.value["b"] == [math.inf, -math.inf]


# --------------------------------------------------------------------------------------
# Syntax findings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1', [(INVALID_JSON, "")]),
        ('{"a": }', [(INVALID_JSON, "}")]),
        ('{"a" 1}', [(INVALID_JSON, "1")]),
        ('{"a": 1 "b": 2}', [(INVALID_JSON, '"b"')]),
        ('{"a": 1,, "b": 2}', [(INVALID_JSON, ",")]),
        ("[1 2]", [(INVALID_JSON, "2")]),
        ('{"a": "abc\n}', [(INVALID_JSON, '"abc')]),
        ('{"a": [1}', [(INVALID_JSON, "}")]),
        ('{"a": 1}}', [(INVALID_JSON, "}")]),
        ('{"a": tru}', [(INVALID_JSON, "tru")]),
        ('{"a": relu}', [(INVALID_JSON, "relu")]),
        ("{a: 1}", [(INVALID_JSON, "a")]),
        ("{'a': 1}", [(INVALID_JSON, "'a'")]),
        ('{"a": 0x1F}', [(INVALID_JSON, "0x1F")]),
        ('{"a": 1e}', [(INVALID_JSON, "1e")]),
        ('{"a": "\\q"}', [(INVALID_JSON, "\\q")]),
        ('{"a": "\\u12"}', [(INVALID_JSON, "\\u12")]),
        ('{"a": "x\ty"}', [(INVALID_JSON, "\t")]),
        ('{"a": 1 /* open', [(INVALID_JSON, "/* open"), (INVALID_JSON, "")]),
        ("{\x00}", [(INVALID_JSON, "\x00")]),
        ("{\u00a0}", [(INVALID_JSON, "\u00a0")]),
        ("   ", [(INVALID_JSON, "   ")]),
        ("", [(INVALID_JSON, "")]),
        ('{"a": 1} x', [(INVALID_JSON, "x")]),
        ('{"a": 1, // c\n"b": 2}', [(NOT_STRICT_JSON, "// c")]),
        ('{"a": /* c */ 1}', [(NOT_STRICT_JSON, "/* c */")]),
        ('{"a": [1, 2,]}', [(NOT_STRICT_JSON, ",")]),
        ('{"a": 1,}', [(NOT_STRICT_JSON, ",")]),
        ('{"a": NaN}', [(NOT_STRICT_JSON, "NaN")]),
        ("[-Infinity]", [(NOT_STRICT_JSON, "-Infinity")]),
        ('{"a": 1, "a": 2}', [(DUPLICATE_KEY, '"a"'), (DUPLICATE_KEY, '"a"')]),
    ],
)
def test_syntax_findings(text: str, expected: list[tuple[str, str]]) -> None:
    doc = parse(text)
    assert snippets(doc) == expected
    for problem in doc.problems:
        assert problem.message
        assert "\n" not in problem.message


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('{"a": 1} // c', "comment"),
        ('{"a": /* c */ 1}', "comment"),
        ('{"a": [1,]}', "trailing_comma"),
        ('{"a": 1,}', "trailing_comma"),
        ('{"a": Infinity}', "nan"),
        ("\ufeff{}", "bom"),
    ],
)
def test_non_strict_json_says_what_it_is(text: str, kind: str) -> None:
    doc = parse(text)
    [problem] = doc.problems
    assert problem.code == NOT_STRICT_JSON
    assert problem.data == {"kind": kind}
    assert not doc.syntax_ok


def test_nan_is_a_warning_because_keras_writes_and_reads_it() -> None:
    # json.dumps (and so keras) writes NaN and json.loads reads it: never an error.
    [problem] = parse(json.dumps({"epsilon": float("nan")})).problems
    assert problem.severity == WARNING


def test_comment_and_trailing_comma_are_errors() -> None:
    doc = parse('{"a": [1,], // c\n"b": 1}')
    assert [p.severity for p in doc.problems] == [ERROR, ERROR]


def test_bom_is_reported_and_the_rest_still_read() -> None:
    # json.loads(str) rejects "\ufeff" ("Unexpected UTF-8 BOM"), as does json.load of a
    # file opened as text: an error, with the value read as if it were not there.
    doc = parse('\ufeff{"a": 1}')
    assert [(p.code, p.start, p.end, p.severity) for p in doc.problems] == [
        (NOT_STRICT_JSON, 0, 1, ERROR)
    ]
    assert doc.value == {"a": 1}
    assert doc.locate(("a",)) == (7, 8)


def test_duplicate_key_marks_every_occurrence() -> None:
    text = '{"a": {"units": 1, "x": 2, "units": 3}}'
    doc = parse(text)
    first, again = doc.problems
    for problem in (first, again):
        assert problem.code == DUPLICATE_KEY
        assert text[problem.start : problem.end] == '"units"'
        assert problem.data == {"key": "units"}
        assert "only its last value is used" in problem.message
    assert first.start == text.index('"units"') and again.start == text.rindex('"units"')
    # Each points at the other.
    [(start, end, message)] = again.related
    assert (start, end) == (first.start, first.end) and "units" in message
    [(start, end, message)] = first.related
    assert (start, end) == (again.start, again.end) and "written again" in message
    assert doc.value == {"a": {"units": 3, "x": 2}}
    assert doc.syntax_ok  # json.loads reads it; only the duplicate is reported


def test_duplicate_keys_in_broken_text_and_in_skipped_containers() -> None:
    # The first object is parsed whole by json.loads, the second token by token.
    text = '[{"k": 1, "k": 2}, {"k": 1, "k": 2, "bad": }]'
    doc = parse(text)
    duplicates = [p for p in doc.problems if p.code == DUPLICATE_KEY]
    assert [p.start for p in duplicates] == [2, 10, 20, 28]
    assert [p.related[0][:2] for p in duplicates] == [(10, 13), (2, 5), (28, 31), (20, 23)]


def test_duplicate_keys_with_escapes() -> None:
    text = '{"a": 1, "\\u0061": 2}'
    first, again = parse(text).problems
    assert first.code == again.code == DUPLICATE_KEY
    assert text[first.start : first.end] == '"a"'
    assert text[again.start : again.end] == '"\\u0061"'


def test_three_times_the_same_key() -> None:
    problems = parse('{"a": 1, "a": 2, "a": 3}').problems
    assert [(p.start, p.related[0][:2]) for p in problems] == [
        (1, (9, 12)),
        (9, (1, 4)),
        (17, (1, 4)),
    ]


def test_unclosed_bracket_error_names_where_it_opened() -> None:
    text = '{"a": [1, 2'
    [problem] = parse(text).problems
    assert (problem.start, problem.end) == (len(text), len(text))
    assert problem.related[0][:2] == (6, 7)


def test_mismatched_bracket_message() -> None:
    [problem] = parse('{"a": [1, 2}').problems
    assert problem.message == "Expected ']' before '}'"


def test_python_literals_get_a_replacement() -> None:
    [problem] = parse('{"a": False}').problems
    assert problem.data == {"replacement": "false"}


def test_lone_surrogates_never_reach_a_message() -> None:
    doc = parse("[\ud83d]")
    [problem] = doc.problems
    problem.message.encode("utf-8")


# --------------------------------------------------------------------------------------
# node_at


NODE_AT = [
    # Completion inside broken text.
    (
        '{"class_name": "Dense", "config": {"units": |',
        Location(("config", "units"), "value", None, "units"),
    ),
    (
        '{"config": {"un|',
        Location(("config",), "key", (12, 15), "un", True, "un"),
    ),
    ('{"config": {un|', Location(("config",), "key", (12, 14), "un", False, "un")),
    ('{"a": 1, "b": |', Location(("b",), "value", None, "b")),
    ('{"a": |, "b": 2}', Location(("a",), "value", None, "a")),
    ('{"a": ,| "b": 2}', Location((), "object")),
    ('{"a": {"b": tr|}}', Location(("a", "b"), "value", (12, 14), "b", False, "tr")),
    ('[{"a": 1}, {"b": |}]', Location((1, "b"), "value", None, "b")),
    ('{"layers": [{"name": "x"}, |', Location(("layers",), "array")),
    (
        '{"layers": [{"name": "x"}, {"na|',
        Location(("layers", 1), "key", (28, 31), "na", True, "na"),
    ),
    # Valid text.
    (
        '{"config": {"units": 6|4}}',
        Location(("config", "units"), "value", (21, 23), "units", False, "6"),
    ),
    ('{"a": "re|lu"}', Location(("a",), "value", (6, 12), "a", True, "re")),
    ('{"a": "relu"|}', Location(("a",), "value", (6, 12), "a", False, "")),
    ('{"la|yers": 1}', Location((), "key", (1, 9), "layers", True, "la")),
    ('{|"a": 1}', Location((), "key", (1, 4), "a", False, "")),
    ("{|}", Location((), "object")),
    ('{"a": 1,| "b": 2}', Location((), "object")),
    ('{"a": 1, |}', Location((), "object")),
    ('{"a": [1, |]}', Location(("a",), "array")),
    ('{"a": [1, 2|]}', Location(("a", 1), "value", (10, 11), None, False, "2")),
    ('{"a": [[1], [2, |]]}', Location(("a", 1), "array")),
    ('{"a": {"b": 1}|}', Location(("a",), "value", (6, 14), "a")),
    ('{"a" |: 1}', Location((), "object")),
    ('{"a":|1}', Location(("a",), "value", (5, 6), "a", False, "")),
    ('|{"a": 1}', Location((), "value", (0, 8))),
    ('{"a": 1}|', Location((), "value", (0, 8))),
    ('{"a": 1} |', Location((), "none")),
    ("  |", Location((), "none")),
    ("|", Location((), "none")),
    ('{"a": 1 // no|te\n}', Location((), "object")),
    ('{"é": "😀|"}', Location(("é",), "value", (6, 9), "é", True, "😀")),
    ('{"a\\"b": "x|"}', Location(('a"b',), "value", (9, 12), 'a"b', True, "x")),
    ("[true, nu|ll]", Location((1,), "value", (7, 11), None, False, "nu")),
]


@pytest.mark.parametrize(("marked", "expected"), NODE_AT)
def test_node_at(marked: str, expected: Location) -> None:
    text, offset = cursor(marked)
    assert parse(text).node_at(offset) == expected


@pytest.mark.parametrize(
    "marked",
    [
        '{"config": {"units": 6|4}, "x": }',
        '{"config": {"units": 6|4}, "x": [1,,]}',
        '{"config": {"units": 6|4}} // trailing comment',
        '{"config": {"units": 6|4}, "list": [1, 2,]}',
    ],
)
def test_node_at_is_unaffected_by_errors_elsewhere(marked: str) -> None:
    text, offset = cursor(marked)
    assert parse(text).node_at(offset) == Location(
        ("config", "units"), "value", (21, 23), "units", False, "6"
    )


# --------------------------------------------------------------------------------------
# locate

LOCATE_DOC = (
    '{"class_name": "Dense", "config": {"units": 64, "activation": "relu", '
    '"list": [1, [2, 3]], "empty": {}}}'
)
LOCATE = [
    ((), "value", LOCATE_DOC),
    (("class_name",), "value", '"Dense"'),
    (("class_name",), "key", '"class_name"'),
    (("config", "units"), "value", "64"),
    (("config", "units"), "key", '"units"'),
    (("config", "list", 1, 0), "value", "2"),
    (("config", "list", 1), "value", "[2, 3]"),
    (("config", "empty"), "value", "{}"),
    (("config", "missing"), "value", None),
    (("config", "missing"), "key", None),
    (("config", "list", 5), "value", None),
    (("config", "list", -1), "value", None),
    (("config", "list", 0), "key", None),
    (("config", "units", "x"), "value", None),
    (("config", 0), "value", None),
    (("config", "list", True), "value", None),
    ((), "key", None),
]


@pytest.mark.parametrize(
    "text",
    [
        LOCATE_DOC,
        LOCATE_DOC[:-1],  # unclosed: parsed by the tolerant parser
        LOCATE_DOC.replace('"relu",', '"relu",,'),
        LOCATE_DOC.replace('"relu",', '"relu", // comment\n'),
    ],
)
@pytest.mark.parametrize(("path", "part", "expected"), LOCATE)
def test_locate(text: str, path: tuple[str | int, ...], part: str, expected: str | None) -> None:
    span = parse(text).locate(path, part)
    if expected is None:
        assert span is None
        return
    assert span is not None
    found = text[span[0] : span[1]]
    if path == () and part == "value":
        assert found.startswith('{"class_name"')
        return
    assert found == expected


LOCATE_OPEN = [
    (("config",), ("config",)),
    (("config", "units"), ("config",)),
    (("config", "missing"), ("config",)),
    (("config", "list", 1), ("config", "list", 1)),
    (("config", "list", 1, 0), ("config", "list", 1)),
    (("config", "list", 7), ("config", "list")),
    ((), ()),
    (("nope", "deeper"), None),
]


@pytest.mark.parametrize("text", [LOCATE_DOC, LOCATE_DOC[:-1]])
@pytest.mark.parametrize(("path", "container"), LOCATE_OPEN)
def test_locate_open(
    text: str, path: tuple[str | int, ...], container: tuple[str | int, ...] | None
) -> None:
    """The opening bracket of the container at `path`, or of the one holding it."""
    doc = parse(text)
    span = doc.locate(path, "open")
    if container is None:
        assert span is None
        return
    whole = doc.locate(container)
    assert whole is not None and span == (whole[0], whole[0] + 1)
    assert text[span[0]] in "{["


def test_locate_last_of_duplicate_keys() -> None:
    text = '{"a": 1, "a": 2}'
    assert parse(text).locate(("a",)) == (14, 15)


def test_locate_with_non_ascii_before() -> None:
    text = '{"名前": "😀😀", "units": 64}'
    doc = parse(text)
    assert doc.locate(("units",)) == (text.index("64"), text.index("64") + 2)
    assert doc.locate(("名前",), "key") == (1, 5)


# --------------------------------------------------------------------------------------
# Edits


def test_apply_changes_incremental() -> None:
    doc = parse(DENSE)
    start = DENSE.index("64")
    new = doc.apply_changes([change(doc, start, start + 2, "128")], 2)
    assert new.version == 2
    assert new.text == DENSE.replace("64", "128")
    assert new.value["config"]["units"] == 128
    assert doc.value["config"]["units"] == 64  # the old version is untouched
    spans = new.changed_spans()
    assert spans is not None and any(s <= start and start + 3 <= e for s, e in spans)
    assert new.locate(("config", "units")) == (start, start + 3)


def test_value_is_not_computed_by_an_edit() -> None:
    doc = parse(DENSE)
    new = doc.apply_changes([change(doc, 1, 1, " ")], 2)
    assert new._analysis is None
    assert new.node_at(10).path == ()
    assert new._analysis is None  # an error-free tree navigates without the value


def test_whole_text_change_parses_afresh() -> None:
    doc = parse(DENSE)
    new = doc.apply_changes([types.TextDocumentContentChangeWholeDocument(text="[1]")], 5)
    assert new.text == "[1]"
    assert new.value == [1]
    assert new.changed_spans() is None
    assert parse("[1]").changed_spans() is None


def test_several_changes_apply_in_order() -> None:
    doc = parse('{"a": 1, "b": 2}')
    first = change(doc, 6, 7, "10")  # {"a": 10, "b": 2}
    after = parse('{"a": 10, "b": 2}')
    second = change(after, 15, 16, "20")
    new = doc.apply_changes([first, second], 2)
    assert new.text == '{"a": 10, "b": 20}'
    assert new.value == {"a": 10, "b": 20}
    assert new.changed_spans() == [(6, 8), (15, 17)]


def test_changes_after_a_whole_text_change() -> None:
    doc = parse("[1]")
    whole = types.TextDocumentContentChangeWholeDocument(text='{"a": 1}')
    ranged = change(parse('{"a": 1}'), 6, 7, "2")
    new = doc.apply_changes([whole, ranged], 2)
    assert new.value == {"a": 2}
    assert new.changed_spans() is None


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_edit_positions_in_each_encoding(encoding: str) -> None:
    text = '{"é😀": "x", "b": 1}'
    doc = parse(text)
    start = text.index("1")
    new = doc.apply_changes([change(doc, start, start + 1, "2", encoding)], 2, encoding)
    assert new.value == {"é😀": "x", "b": 2}


def test_edit_with_crlf_and_non_ascii() -> None:
    text = '{\r\n  "名": "😀",\r\n  "b": [1, 2]\r\n}'
    doc = parse(text)
    start = text.index("2]")
    new = doc.apply_changes([change(doc, start, start + 1, "3, 4")], 2)
    assert new.value == {"名": "😀", "b": [1, 3, 4]}
    assert new.locate(("b", 2)) == (start + 3, start + 4)


# --------------------------------------------------------------------------------------
# Robustness


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        "\x00" * 1000,
        "\ud800{\udfff}",
        '{"\ud83d": "\ude00"}',
        "\ufeff",
        "\ufeff\ufeff{}",
        "}]:,",
        "/*",
        '"\\',
        "{" + '"k": 1, ' * 50_000,
    ],
)
def test_never_raises(text: str) -> None:
    doc = parse(text)
    check_consistent(doc)
    for offset in (0, len(text) // 2, len(text)):
        doc.node_at(offset)
    doc.locate((0,) * 10)
    doc.locate(("a",) * 10, "open")


def test_deep_nesting_is_reported_and_cut_from_the_value() -> None:
    # json.loads gives up at the interpreter's recursion limit, as Keras's loader does; other
    # libraries in the same test process may have raised it.
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        doc = parse("[" * 2000 + "]" * 2000)
        problems, value = doc.problems, doc.value  # both lazy: read them under that limit
    finally:
        sys.setrecursionlimit(old)
    [problem] = problems
    assert problem.code == INVALID_JSON
    assert "deep" in problem.message
    depth = 0
    while isinstance(value, list) and value:
        depth, value = depth + 1, value[0]
    assert depth < 1200


def test_random_bytes_stop_early() -> None:
    rng = random.Random(7)
    data = bytes(rng.getrandbits(8) for _ in range(200_000))
    doc = parse(data.decode("utf-8", "replace"))
    assert doc.problems
    check_consistent(doc)


def test_huge_broken_flat_array_is_bounded() -> None:
    text = "[" + "1," * 300_000
    doc = parse(text)
    assert "stopped" in doc.problems[-1].message
    assert len(doc.value) > 1000


def test_large_document_with_one_error() -> None:
    layer = json.loads(DENSE)
    model = {"class_name": "Functional", "config": {"layers": [layer] * 400}}
    text = json.dumps(model, indent=2)
    doc = parse(text)
    assert doc.problems == []
    target = doc.locate(("config", "layers", 300, "config", "units"))
    assert target is not None
    broken = doc.apply_changes([change(doc, target[0], target[1], "")], 2)
    [problem] = broken.problems
    assert problem.code == INVALID_JSON
    assert broken.value["config"]["layers"][299] == layer
    assert "units" not in broken.value["config"]["layers"][300]["config"]
    location = broken.node_at(target[0])
    assert location.path == ("config", "layers", 300, "config", "units")
    assert location.kind == "value"


# --------------------------------------------------------------------------------------
# Properties


def check_consistent(doc: Document) -> None:
    size = len(doc.text)
    for problem in doc.problems:
        assert 0 <= problem.start <= problem.end <= size, problem
        assert problem.code in (INVALID_JSON, NOT_STRICT_JSON, DUPLICATE_KEY)
        for start, end, _ in problem.related:
            assert 0 <= start <= end <= size
        problem.message.encode("utf-8")
    assert doc.syntax_ok == all(p.code == DUPLICATE_KEY for p in doc.problems)
    if doc.syntax_ok:
        assert same_value(doc.value, json.loads(doc.text))


JSONISH = st.lists(
    st.sampled_from(
        [
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            " ",
            "\n",
            "\r\n",
            '"',
            '"a"',
            '"b"',
            '"k"',
            "1",
            "-2.5e3",
            "true",
            "null",
            "tru",
            "NaN",
            "//c\n",
            "/*",
            "*/",
            "\\",
            "é",
            "😀",
            "'",
            '{"a": 1}',
            "[1, 2]",
            "\t",
            "\x00",
        ]
    ),
    max_size=30,
).map("".join)
ANY_TEXT = st.one_of(JSONISH, st.text(max_size=40))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_any_text_parses(text: str) -> None:
    doc = parse(text)
    check_consistent(doc)
    for offset in range(len(text) + 1):
        location = doc.node_at(offset)
        if location.span is not None:
            assert 0 <= location.span[0] <= location.span[1] <= len(text)
        assert location.prefix == "" or location.prefix in text


@settings(max_examples=200, deadline=None)
@given(json_values, st.sampled_from([None, 2]))
def test_valid_json_round_trips(value: Any, indent: int | None) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    doc = parse(text)
    assert same_value(doc.value, json.loads(text))
    assert all(p.code == DUPLICATE_KEY for p in doc.problems)
    assert doc.locate(()) == (0, len(text))


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_locate_finds_every_value(value: Any) -> None:
    text = json.dumps(value)
    doc = parse(text)
    paths: list[tuple[Any, tuple[str | int, ...]]] = [(json.loads(text), ())]
    while paths:
        current, path = paths.pop()
        span = doc.locate(path)
        assert span is not None
        assert same_value(json.loads(text[span[0] : span[1]]), current)
        if isinstance(current, dict):
            paths.extend((v, (*path, k)) for k, v in current.items())
        elif isinstance(current, list):
            paths.extend((v, (*path, i)) for i, v in enumerate(current))


def assert_same_document(a: Document, b: Document) -> None:
    assert a.text == b.text
    assert same_value(a.value, b.value)
    assert a.problems == b.problems
    assert a.syntax_ok == b.syntax_ok
    for offset in range(len(a.text) + 1):
        assert a.node_at(offset) == b.node_at(offset), offset
        path = a.node_at(offset).path
        for part in ("value", "key", "open"):
            assert a.locate(path, part) == b.locate(path, part)


edits = st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 6), ANY_TEXT, st.sampled_from(ENCODINGS)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSONISH, st.just(DENSE)), edits, st.booleans())
def test_incremental_edits_equal_a_fresh_parse(
    text: str, steps: list[tuple[float, int, str, str]], batch: bool
) -> None:
    doc = parse(text)
    doc.problems  # noqa: B018 - analysed versions must not leak into the next one
    pending: list[types.TextDocumentContentChangePartial] = []
    current = text
    for where, length, inserted, encoding in steps:
        start = inside_line_break(current, int(where * len(current)))
        end = inside_line_break(current, min(len(current), start + length))
        # Edits land on whole code points: split a surrogate pair and UTF-16 has no
        # position for it.
        step = change(parse(current), start, end, inserted, encoding if not batch else UTF16)
        current = current[:start] + inserted + current[end:]
        if batch:
            pending.append(step)
        else:
            doc = doc.apply_changes([step], doc.version + 1, encoding)  # type: ignore[operator]
            assert doc.text == current
            check_changed_spans(doc)
    if batch:
        doc = doc.apply_changes(pending, 2)
    assert doc.text == current
    assert_same_document(doc, parse(current))


def inside_line_break(text: str, offset: int) -> int:
    """`offset`, moved off the middle of a "\\r\\n", which no LSP position can name."""
    if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
        return offset - 1
    return offset


def check_changed_spans(doc: Document) -> None:
    spans = doc.changed_spans()
    assert spans is not None
    for start, end in spans:
        assert 0 <= start <= end <= len(doc.text)
    assert spans == sorted(spans)


def test_problem_is_a_frozen_value() -> None:
    problem = Problem(0, 1, INVALID_JSON, "x")
    with pytest.raises(AttributeError):
        problem.start = 3  # type: ignore[misc]
    assert problem.severity == ERROR and problem.related == () and problem.data is None


def test_utf8_encoding_edit_inside_multibyte_text() -> None:
    text = '{"k": "ééé"}'
    doc = parse(text)
    start = text.index("é") + 1
    new = doc.apply_changes([change(doc, start, start + 1, "x", UTF8)], 2, UTF8)
    assert new.value == {"k": "éxé"}
