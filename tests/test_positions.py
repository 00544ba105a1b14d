"""LineIndex and Utf8Offsets: str offsets <-> LSP positions in every position encoding,
and <-> the UTF-8 byte offsets tree-sitter reports."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from layercfg.server.positions import (
    ENCODINGS,
    UTF8,
    UTF16,
    UTF32,
    LineIndex,
    Utf8Offsets,
    normalize_encoding,
    utf8_length,
    utf16_length,
)


def pos(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


# "é" is 2 bytes in UTF-8 and 1 unit in UTF-16; "😀" is 4 bytes and 2 UTF-16 units.
MIXED = 'ab\r\n{"é": "😀x"}\rlast\nend'


def test_lines_end_at_lf_crlf_and_cr() -> None:
    index = LineIndex(MIXED)
    assert index.line_count == 4
    assert [index.line_start(i) for i in range(4)] == [0, 4, 16, 21]
    assert [index.line_end(i) for i in range(4)] == [2, 15, 20, 24]


def test_empty_text_has_one_line() -> None:
    index = LineIndex("")
    assert index.line_count == 1
    assert index.position_at(0) == pos(0, 0)
    assert index.offset_at(pos(3, 3)) == 0


def test_text_ending_with_newline_has_an_empty_last_line() -> None:
    index = LineIndex("a\n")
    assert index.line_count == 2
    assert index.position_at(2) == pos(1, 0)
    assert index.offset_at(pos(1, 0)) == 2


@pytest.mark.parametrize(
    ("offset", "utf16", "utf8", "utf32"),
    [
        (0, pos(0, 0), pos(0, 0), pos(0, 0)),
        (4, pos(1, 0), pos(1, 0), pos(1, 0)),
        (6, pos(1, 2), pos(1, 2), pos(1, 2)),  # before "é"
        (7, pos(1, 3), pos(1, 4), pos(1, 3)),  # after "é"
        (11, pos(1, 7), pos(1, 8), pos(1, 7)),  # before the emoji
        (12, pos(1, 9), pos(1, 12), pos(1, 8)),  # after the emoji
        (13, pos(1, 10), pos(1, 13), pos(1, 9)),
        (16, pos(2, 0), pos(2, 0), pos(2, 0)),  # after a lone "\r"
        (21, pos(3, 0), pos(3, 0), pos(3, 0)),
        (24, pos(3, 3), pos(3, 3), pos(3, 3)),
    ],
)
def test_position_at_in_each_encoding(
    offset: int, utf16: types.Position, utf8: types.Position, utf32: types.Position
) -> None:
    index = LineIndex(MIXED)
    assert index.position_at(offset, UTF16) == utf16
    assert index.position_at(offset, UTF8) == utf8
    assert index.position_at(offset, UTF32) == utf32
    for encoding, position in ((UTF16, utf16), (UTF8, utf8), (UTF32, utf32)):
        assert index.offset_at(position, encoding) == offset


def test_utf16_column_inside_a_surrogate_pair_rounds_down() -> None:
    index = LineIndex("a😀b")
    assert index.offset_at(pos(0, 2), UTF16) == 1  # between the two halves of the emoji
    assert index.offset_at(pos(0, 3), UTF16) == 2


def test_utf8_column_inside_a_character_rounds_down() -> None:
    index = LineIndex("aéb😀")
    assert index.offset_at(pos(0, 2), UTF8) == 1  # inside "é"
    assert index.offset_at(pos(0, 3), UTF8) == 2
    assert index.offset_at(pos(0, 6), UTF8) == 3  # inside the emoji


def test_columns_past_the_end_of_a_line_clamp_to_its_end() -> None:
    index = LineIndex("ab\r\ncd")
    for encoding in ENCODINGS:
        assert index.offset_at(pos(0, 99), encoding) == 2
    assert LineIndex("é\nx").offset_at(pos(0, 99), UTF16) == 1


def test_lines_past_the_end_clamp_to_the_end_of_the_text() -> None:
    index = LineIndex("ab\ncd")
    assert index.offset_at(pos(2, 0)) == 5
    assert index.offset_at(pos(1000, 7)) == 5


def test_offsets_out_of_range_clamp() -> None:
    index = LineIndex("ab\r\ncd")
    assert index.position_at(-5) == pos(0, 0)
    assert index.position_at(100) == pos(1, 2)
    # Between "\r" and "\n": still the end of the first line.
    assert index.position_at(3) == pos(0, 2)


def test_range_of() -> None:
    index = LineIndex(MIXED)
    assert index.range_of(4, 13) == types.Range(start=pos(1, 0), end=pos(1, 10))
    assert index.range_of(4, 13, UTF8) == types.Range(start=pos(1, 0), end=pos(1, 13))


def test_lone_surrogates_count_as_one_unit() -> None:
    index = LineIndex("a\ud800b")
    assert index.position_at(2, UTF16) == pos(0, 2)
    assert index.position_at(2, UTF8) == pos(0, 4)
    assert index.offset_at(pos(0, 2), UTF16) == 2


def test_length_helpers() -> None:
    assert utf8_length("aé😀") == 7
    assert utf16_length("aé😀") == 4


@pytest.mark.parametrize(
    ("given_encoding", "expected"),
    [(None, UTF16), ("utf-8", UTF8), (types.PositionEncodingKind.Utf32, UTF32), ("x", UTF16)],
)
def test_normalize_encoding(given_encoding: object, expected: str) -> None:
    assert normalize_encoding(given_encoding) == expected  # type: ignore[arg-type]


texts = st.lists(
    st.sampled_from(["a", " ", "é", "😀", "\n", "\r\n", "\r", "{", '"', "中", "\u2028"]),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts, st.sampled_from(ENCODINGS))
def test_positions_round_trip(text: str, encoding: str) -> None:
    index = LineIndex(text)
    for offset in range(len(text) + 1):
        if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
            continue  # inside a line break: no position of its own
        position = index.position_at(offset, encoding)
        assert index.offset_at(position, encoding) == offset


@settings(max_examples=300, deadline=None)
@given(texts, st.sampled_from(ENCODINGS), st.integers(0, 50), st.integers(0, 50))
def test_any_position_maps_into_the_text(
    text: str, encoding: str, line: int, character: int
) -> None:
    index = LineIndex(text)
    offset = index.offset_at(pos(line, character), encoding)
    assert 0 <= offset <= len(text)
    # Whatever was asked, the answer maps back to a position at or before it.
    back = index.position_at(offset, encoding)
    assert (back.line, back.character) <= (line, character) or line >= index.line_count


def test_utf8_offsets_are_the_identity_for_ascii() -> None:
    offsets = Utf8Offsets('{"a": 1}')
    assert offsets.ascii
    assert [offsets.to_byte(i) for i in range(9)] == list(range(9))
    assert offsets.to_str(100) == 8


def test_utf8_offsets_across_chunks() -> None:
    text = ("é" * 700 + "x😀") * 5
    offsets = Utf8Offsets(text)
    for offset in range(0, len(text) + 1, 37):
        byte = len(text[:offset].encode())
        assert offsets.to_byte(offset) == byte
        assert offsets.to_str(byte) == offset
    # A byte inside "é" maps to the start of that character.
    assert offsets.to_str(1) == 0
    assert offsets.to_str(len(text.encode()) + 10) == len(text)


@settings(max_examples=200, deadline=None)
@given(texts)
def test_utf8_offsets_round_trip(text: str) -> None:
    offsets = Utf8Offsets(text)
    for offset in range(len(text) + 1):
        byte = offsets.to_byte(offset)
        assert byte == len(text[:offset].encode("utf-8", "surrogatepass"))
        assert offsets.to_str(byte) == offset
