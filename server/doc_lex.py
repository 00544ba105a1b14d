"""The tolerant parser's tokens, for text that is not valid JSON: the lexer, which skips the
containers that parse, and the values and syntax findings of strings, words and numbers."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

from tree_sitter import Node, Tree

from .doc_base import (
    _BAD_ESCAPE,
    _CONSTANTS,
    _CONTROL,
    _ESCAPE,
    _IDENTIFIER,
    _LITERAL_SPELLINGS,
    _LITERALS,
    _LOOSE_NUMBER,
    _NUMBER,
    ATOM_DEPTH,
    ERROR,
    INVALID_JSON,
    MAX_ERRORS,
    MAX_NOTES,
    MAX_TOKENS,
    NOT_STRICT_JSON,
    WARNING,
    Problem,
    _decode_string,
    _escaped_at_end,
    _loose_unescape,
)
from .doc_strict import _find_duplicates, _Pairs, _Rejected, _short, _strict_loads
from .doc_view import _Candidates, _Context, _Scalar, _TsValue, _Value

# --------------------------------------------------------------------------------------
# The tolerant parser: used only when the text is not valid JSON. It lexes the text itself
# (so its findings depend on the text alone, not on how tree-sitter recovered), and skips
# over every container that tree-sitter parsed without error and json.loads accepts.

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\n\r]+)
  | (?P<punct>[{}\[\]:,])
  | (?P<string>"(?:[^"\\\n\r]|\\[^\n\r])*(?:"|\\)?)
  | (?P<lcomment>//[^\n\r]*)
  | (?P<bcomment>/\*(?:.*?\*/|.*))
  | (?P<sq>'(?:[^'\\\n\r]|\\[^\n\r])*'?)
  | (?P<word>(?:[^\s{}\[\]:,"'/\x00-\x1f\x7f\ufeff]|/(?![/*]))+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


class _Stop(Exception):
    """Too many syntax errors: the rest of the text is left unanalysed."""


@dataclass(slots=True)
class _Token:
    kind: str  # "{", "}", "[", "]", ":", ",", "string", "word", "sq", "other", "atom"
    start: int
    end: int
    value: Any = None
    node: Node | None = None


class _Lexer:
    """The tokens of the text from ``start`` on, one at a time, and their values; the syntax
    findings they make go to ``problems`` (too many raise ``_Stop``)."""

    def __init__(self, text: str, start: int, tree: Tree, ctx: _Context) -> None:
        self.text = text
        self.pos = self.start = start
        self.ctx = ctx
        self.problems: list[Problem] = []
        self.errors = 0
        self.notes = 0
        self.tokens = 0
        self.peeked: _Token | None = None
        self.candidates = _Candidates(ctx.offsets)
        self.candidates.push(tree.root_node)

    def depth(self) -> int:
        """How many containers the current token is in (a deep one is lexed, not skipped)."""
        return 0

    # -- findings

    def error(self, start: int, end: int, message: str, **extra: Any) -> None:
        self.problems.append(Problem(start, end, INVALID_JSON, message, ERROR, **extra))
        self.errors += 1
        if self.errors >= MAX_ERRORS:
            self.problems.append(
                Problem(end, end, INVALID_JSON, "Too many syntax errors: stopped checking here")
            )
            raise _Stop

    def note(self, start: int, end: int, kind: str, message: str, severity: int = ERROR) -> None:
        self.problems.append(
            Problem(start, end, NOT_STRICT_JSON, message, severity, {"kind": kind})
        )
        self.notes += 1
        if self.notes >= MAX_NOTES:
            self.error(end, end, "Too many non-standard JSON constructs")
            raise _Stop

    # -- tokens

    def _atom(self, start: int, node: Node) -> _Token | None:
        end = self.ctx.offsets.to_str(node.end_byte)
        pairs = _Pairs()
        try:
            value = _strict_loads(self.text[start:end], pairs)
        except (ValueError, RecursionError, _Rejected):
            # Comments, NaN, control characters...: lex it, but keep skipping its parts.
            self.candidates.push(node)
            return None
        if pairs.count:
            self.problems.extend(_find_duplicates(node, self.ctx, pairs))
        return _Token("atom", start, end, value, node)

    def _lex(self) -> _Token | None:
        text = self.text
        self.tokens += 1
        if self.tokens > MAX_TOKENS:
            self.problems.append(
                Problem(
                    self.pos,
                    self.pos,
                    INVALID_JSON,
                    "Too much text to check after a syntax error: stopped here",
                )
            )
            raise _Stop
        while True:
            match = _TOKEN.match(text, self.pos)
            if match is None:
                return None
            kind = match.lastgroup
            start, end = match.span()
            self.pos = end
            if kind == "ws":
                continue
            if kind == "lcomment" or kind == "bcomment":
                if kind == "bcomment" and not text.endswith("*/", start + 2, end):
                    self.error(start, end, "Unterminated comment")
                else:
                    self.note(start, end, "comment", "Comments are not allowed in JSON")
                continue
            if kind == "punct":
                char = text[start]
                if char in "{[" and self.depth() < ATOM_DEPTH:
                    node = self.candidates.at(start)
                    if node is not None:
                        atom = self._atom(start, node)
                        if atom is not None:
                            self.pos = atom.end
                            return atom
                return _Token(char, start, end)
            assert kind is not None
            return _Token(kind, start, end)

    def next(self) -> _Token | None:
        token = self.peeked
        if token is not None:
            self.peeked = None
            return token
        return self._lex()

    def peek(self) -> _Token | None:
        if self.peeked is None:
            self.peeked = self._lex()
        return self.peeked

    # -- values

    def scalar(self, token: _Token) -> tuple[_Value, Any, bool]:
        """Node, value, and whether the value is worth keeping, for a string, a single-quoted
        string, a word or a skipped container."""
        text = self.text
        start, end = token.start, token.end
        if token.kind == "atom":
            assert token.node is not None
            return _TsValue(token.node, self.ctx), token.value, True
        raw = text[start:end]
        if token.kind == "string":
            closed = len(raw) >= 2 and raw[-1] == '"' and not _escaped_at_end(raw)
            if closed:
                if "\\" not in raw and raw.isprintable():
                    return _Scalar(start, end, True), raw[1:-1], True
                try:
                    return _Scalar(start, end, True), json.loads(raw), True
                except ValueError:
                    pass
            self.string_errors(raw, start, closed)
            return _Scalar(start, end, True, closed), _decode_string(raw), True
        if token.kind == "sq":
            self.error(start, end, "Strings must be in double quotes")
            closed = len(raw) >= 2 and raw.endswith("'")
            body = raw[1:-1] if closed else raw[1:]
            return _Scalar(start, end, False), _ESCAPE.sub(_loose_unescape, body), True
        return _Scalar(start, end, False), *self.word(raw, start, end)

    def word(self, word: str, start: int, end: int) -> tuple[Any, bool]:
        if word in _LITERALS:
            return _LITERALS[word], True
        if _NUMBER.fullmatch(word):
            # What json.loads does with a number token.
            if any(c in word for c in ".eE"):
                return float(word), True
            try:
                return int(word), True
            except ValueError:
                # More digits than Python's int conversion takes (sys.set_int_max_str_digits):
                # json.loads, and so Keras's loader, refuses the whole document.
                self.big_int(word, start, end)
                return None, False
        if word in _CONSTANTS:
            # Python's json (and so Keras) reads these, and json.dumps writes them, but no
            # other JSON tool accepts them: a warning, never an error on Keras's own output.
            self.note(
                start,
                end,
                "nan",
                f"{word} is not valid JSON (only Python's json reads it)",
                WARNING,
            )
            return _CONSTANTS[word], True
        json_word = _LITERAL_SPELLINGS.get(word.lower())
        if json_word is not None:
            self.error(
                start,
                end,
                f"Invalid value '{_short(word)}': JSON writes it {json_word}",
                data={"replacement": json_word},
            )
            return _LITERALS[json_word], True
        if _LOOSE_NUMBER.fullmatch(word):
            self.error(start, end, f"Invalid number '{_short(word)}'")
            if any(c in word for c in ".eE"):
                return float(word), True
            try:
                return int(word), True
            except ValueError:  # too many digits, as above
                return None, False
        if any(literal.startswith(word) for literal in _LITERALS):
            self.error(start, end, f"Invalid value '{_short(word)}'")
        elif _IDENTIFIER.fullmatch(word):
            self.error(start, end, f"Invalid value '{_short(word)}': strings need double quotes")
        else:
            self.error(start, end, f"Invalid value '{_short(word)}'")
        return None, False

    def big_int(self, word: str, start: int, end: int) -> None:
        digits = len(word.lstrip("-"))
        self.note(
            start,
            end,
            "big_int",
            f"Integer of {digits:,} digits: Python's json, and so Keras's loader, reads "
            f"integers of at most {sys.get_int_max_str_digits():,} digits",
        )

    def string_errors(self, raw: str, start: int, closed: bool) -> None:
        found = False
        for match in _BAD_ESCAPE.finditer(raw):
            if match.group(1) is not None:
                s, escape = start + match.start(), match.group(1)
                self.error(s, s + len(escape), f"Invalid escape sequence '{_short(escape)}'")
                found = True
        for match in _CONTROL.finditer(raw):
            s = start + match.start()
            self.error(s, s + 1, f"Control character U+{ord(match.group()):04X} must be escaped")
            found = True
        if not closed:
            self.error(start, start + len(raw), "Unterminated string")
        elif not found:
            self.error(start, start + len(raw), "Invalid string")
