"""Offset conversions for one version of a document: str index <-> LSP position, and
str index <-> UTF-8 byte offset (what tree-sitter counts in)."""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate, count, islice, repeat
from operator import add

from lsprotocol import types

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"
ENCODINGS = (UTF8, UTF16, UTF32)

_NEWLINE = re.compile(r"\r\n|\r|\n")
# Chunk length (code points) of the byte-offset table; a conversion encodes at most one
# chunk, so this trades table size against per-call work.
_CHUNK = 1024


def utf8_length(s: str) -> int:
    """Bytes of `s` in UTF-8; a lone surrogate counts 3 bytes, as tree-sitter input gets."""
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def utf16_length(s: str) -> int:
    """UTF-16 code units of `s` (2 for a character outside the BMP)."""
    return len(s) if s.isascii() else len(s.encode("utf-16-le", "surrogatepass")) // 2


def _units(s: str, encoding: str) -> int:
    if encoding == UTF16:
        return utf16_length(s)
    if encoding == UTF8:
        return utf8_length(s)
    return len(s)


def _code_points_in(s: str, units: int, encoding: str) -> int:
    """How many code points of `s` fit in `units` units, rounding down inside a character."""
    if encoding == UTF32 or s.isascii():
        return min(units, len(s))
    if encoding == UTF16:
        data = s.encode("utf-16-le", "surrogatepass")
        n = min(units * 2, len(data))
        # A column between the two halves of a surrogate pair means the character's start.
        if n < len(data) and 0xDC <= data[n + 1] <= 0xDF and n >= 2 and 0xD8 <= data[n - 1] <= 0xDB:
            n -= 2
        return len(data[:n].decode("utf-16-le", "surrogatepass"))
    data = s.encode("utf-8", "surrogatepass")
    n = min(units, len(data))
    while n < len(data) and n > 0 and data[n] & 0xC0 == 0x80:
        n -= 1
    return len(data[:n].decode("utf-8", "surrogatepass"))


def normalize_encoding(encoding: str | None) -> str:
    """The position encoding to use for a negotiated value; LSP's default is UTF-16."""
    value = str(getattr(encoding, "value", encoding) or UTF16).lower()
    return value if value in ENCODINGS else UTF16


class LineIndex:
    """Line table of one text, built once; converts str offsets to LSP positions and back.

    Lines end at "\\n", "\\r\\n" or "\\r" as LSP defines them. Positions past the end of a
    line clamp to its end, positions past the last line to the end of the text.

    After an edit inside one line, the table is the previous one's list with the lines after
    the edit moved by a pending shift, which further edits on that line add to: typing costs
    no pass over the lines. An edit elsewhere writes the shift into a new list first.
    """

    __slots__ = ("text", "_table", "_ascii", "_lf_only")

    def __init__(
        self,
        text: str,
        starts: list[int] | None = None,
        *,
        ascii_hint: bool | None = None,
        lf_only_hint: bool | None = None,
        shift: tuple[int, int] = (0, 0),
    ) -> None:
        self.text = text
        # The hints come from the previous version (an edit that removed the last non-ASCII
        # character leaves ascii False, which is only slower, never wrong).
        self._ascii = text.isascii() if ascii_hint is None else ascii_hint
        self._lf_only = "\r" not in text if lf_only_hint is None else lf_only_hint
        if starts is not None:
            pass
        elif self._lf_only:
            # split() and C-level accumulation: several times faster than a regex scan.
            starts = [0]
            starts.extend(map(add, accumulate(map(len, text.split("\n"))), count(1)))
            starts.pop()
        else:
            starts = [0]
            starts.extend(m.end() for m in _NEWLINE.finditer(text))
        # (line starts, first line moved, by how much): one tuple, replaced whole, so that
        # threads reading it never see half of a change
        self._table: tuple[list[int], int, int] = (starts, *shift) if shift[1] else (starts, 0, 0)

    @property
    def _starts(self) -> list[int]:
        """Every line's start (the pending shift written into the list)."""
        starts, moved, delta = self._table
        if delta:
            starts = starts[:moved] + [value + delta for value in starts[moved:]]
            self._table = (starts, 0, 0)
        return starts

    @property
    def ascii_hint(self) -> bool:
        """False when the text may hold non-ASCII characters (True: it holds none)."""
        return self._ascii

    @property
    def breaks_at_newline_only(self) -> bool:
        """True when every line ends at "\n" (no "\r" in the text)."""
        return self._lf_only

    def edited(self, start: int, end: int, inserted: str, text: str) -> LineIndex:
        """The index of `text`, which is this text with [start, end) replaced by `inserted`:
        the lines before the edit are kept and the ones after it shifted, not searched again."""
        if not self._lf_only or "\r" in inserted:
            return LineIndex(text)
        ascii_hint = self._ascii and inserted.isascii()
        delta = len(inserted) - (end - start)
        first = self.line_at(start)
        last = self.line_at(end)
        if first == last and "\n" not in inserted:
            starts, moved, pending = self._table
            if not pending or moved == first + 1:
                # Inside one line, as typing is: the same list, the shift added up.
                return LineIndex(
                    text,
                    starts,
                    ascii_hint=ascii_hint,
                    lf_only_hint=True,
                    shift=(first + 1, pending + delta),
                )
        old = self._starts
        starts = old[: first + 1]
        at = inserted.find("\n")
        while at >= 0:
            starts.append(start + at + 1)
            at = inserted.find("\n", at + 1)
        tail = islice(old, last + 1, None)
        starts.extend(map(add, tail, repeat(delta)) if delta else tail)
        return LineIndex(text, starts, ascii_hint=ascii_hint, lf_only_hint=True)

    @property
    def line_count(self) -> int:
        return len(self._table[0])

    def line_start(self, line: int) -> int:
        starts, moved, delta = self._table
        return starts[line] + delta if line >= moved else starts[line]

    def line_end(self, line: int) -> int:
        """Offset of the end of the line's content (before its line break)."""
        if line + 1 >= len(self._table[0]):
            return len(self.text)
        end = self.line_start(line + 1)
        if self.text[end - 1] == "\n" and end >= 2 and self.text[end - 2] == "\r":
            return end - 2
        return end - 1

    def line_at(self, offset: int) -> int:
        starts, moved, delta = self._table
        if delta and moved < len(starts) and offset >= starts[moved] + delta:
            return bisect_right(starts, offset - delta, moved) - 1
        return bisect_right(starts, offset, 0, moved if delta else len(starts)) - 1

    def position_at(self, offset: int, encoding: str = UTF16) -> types.Position:
        line, character = self.point_at(offset, encoding)
        return types.Position(line=line, character=character)

    def point_at(self, offset: int, encoding: str = UTF16) -> tuple[int, int]:
        """``position_at`` as (line, character), without making an LSP object."""
        offset = min(max(offset, 0), len(self.text))
        line = self.line_at(offset)
        start = self.line_start(line)
        if not self._lf_only:  # with "\n" breaks only, no offset falls inside a line break
            offset = min(offset, self.line_end(line))
        if self._ascii or encoding == UTF32:
            return line, offset - start
        return line, _units(self.text[start:offset], encoding)

    def offset_at(self, position: types.Position, encoding: str = UTF16) -> int:
        line = position.line
        if line >= len(self._table[0]):
            return len(self.text)
        start = self.line_start(line)
        end = self.line_end(line)
        if self._ascii or encoding == UTF32:
            return start + min(position.character, end - start)
        return start + _code_points_in(self.text[start:end], position.character, encoding)

    def range_of(self, start: int, end: int, encoding: str = UTF16) -> types.Range:
        return types.Range(
            start=self.position_at(start, encoding), end=self.position_at(end, encoding)
        )


class Utf8Offsets:
    """str offset <-> UTF-8 byte offset for one text; the identity for ASCII text."""

    __slots__ = ("text", "ascii", "_table")

    def __init__(self, text: str, ascii_hint: bool | None = None) -> None:
        self.text = text
        # A hint False for an ASCII text is only slower (the table is built), never wrong.
        self.ascii = text.isascii() if ascii_hint is None else ascii_hint
        self._table: list[int] | None = None

    def _chunks(self) -> list[int]:
        if self._table is None:
            text = self.text
            self._table = list(
                accumulate(
                    (utf8_length(text[i : i + _CHUNK]) for i in range(0, len(text), _CHUNK)),
                    initial=0,
                )
            )
        return self._table

    def to_byte(self, offset: int) -> int:
        offset = min(max(offset, 0), len(self.text))
        if self.ascii:
            return offset
        chunk = offset // _CHUNK
        base = chunk * _CHUNK
        return self._chunks()[chunk] + utf8_length(self.text[base:offset])

    def to_str(self, byte: int) -> int:
        """The str offset of a byte offset; inside a character it rounds down to its start."""
        if self.ascii:
            return min(max(byte, 0), len(self.text))
        table = self._chunks()
        if byte <= 0:
            return 0
        if byte >= table[-1]:
            return len(self.text)
        chunk = bisect_right(table, byte) - 1
        base = chunk * _CHUNK
        piece = self.text[base : base + _CHUNK]
        if piece.isascii():
            return base + byte - table[chunk]
        data = piece.encode("utf-8", "surrogatepass")
        n = byte - table[chunk]
        while n > 0 and data[n] & 0xC0 == 0x80:
            n -= 1
        return base + len(data[:n].decode("utf-8", "surrogatepass"))
