"""What every part of the document parser shares: problems, locations and spans, the syntax
codes and the parser's limits, the tree-sitter parser, and JSON's strings, numbers and words."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

import tree_sitter_json
from tree_sitter import Language, Parser

from layercfg.codes import Code, JsonPath, Severity

Span = tuple[int, int]
LocationKind = Literal["key", "value", "object", "array", "none"]

# The syntax codes and the severities by their older names.
INVALID_JSON = Code.INVALID_JSON
NOT_STRICT_JSON = Code.NOT_STRICT_JSON
DUPLICATE_KEY = Code.DUPLICATE_KEY
ERROR, WARNING = Severity.ERROR, Severity.WARNING
INFORMATION, HINT = Severity.INFORMATION, Severity.HINT

# Deeper containers are still parsed for their structure, but left out of the value:
# Python's json (and so Keras) gives up near the interpreter's recursion limit (1000)
# anyway. Containers are only skipped whole (json.loads) above ATOM_DEPTH, so that nothing
# json.loads accepts can reach MAX_DEPTH: the findings are then the same whether or not
# tree-sitter's error recovery let a container be skipped.
MAX_DEPTH = 1100
ATOM_DEPTH = 64
# Past this many syntax errors the text is not JSON in any useful sense (random bytes);
# stopping keeps a 50 MB binary from costing seconds per keystroke.
MAX_ERRORS = 100
MAX_NOTES = 1000
# Characters the search for duplicated keys reads (each name is searched for through the
# text); past that, the syntax tree is walked once instead.
MAX_SEARCHED = 20_000_000
# Tokens the tolerant parser reads one by one (containers tree-sitter parsed cleanly are
# skipped whole): bounds a broken multi-megabyte flat array to about a second.
MAX_TOKENS = 250_000

_LANGUAGE = Language(tree_sitter_json.language())
_parsers = threading.local()


def _parser() -> Parser:
    # A tree-sitter Parser is not thread-safe; documents are parsed from worker threads.
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = Parser(_LANGUAGE)
    return parser


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")


def _tree_sitter_bytes(text: str) -> bytes:
    if text.isascii():
        return text.encode("ascii")
    data = text.encode("utf-8", "surrogatepass")
    if _SURROGATE.search(text):
        # Lone surrogates become U+FFFD, which has the same 3-byte length, so byte offsets
        # still line up with Utf8Offsets while tree-sitter sees valid UTF-8.
        data = _SURROGATE_BYTES.sub(b"\xef\xbf\xbd", data)
    return data


@dataclass(frozen=True)
class Problem:
    """A finding, kept as str offsets until the LSP boundary."""

    start: int
    end: int
    code: str
    message: str
    severity: int = ERROR
    data: dict[str, Any] | None = None
    related: tuple[tuple[int, int, str], ...] = ()


@dataclass(frozen=True)
class Location:
    """What is at an offset.

    `path` leads from the root to the innermost value holding the offset, and `kind` says
    what the offset is on there: "key" (a property name: `path` is its object's, `key` the
    name), "value" (a scalar, or the edge of a container, or the empty place after a ':'
    where a value goes: `path` includes it, `key` is the property it belongs to),
    "object" or "array" (inside the container at `path`, between its members or items:
    where a new one can go), "none" (outside the JSON value). `span` is the key or value
    under the offset; `prefix` is what is typed before the offset inside that string
    (`in_string`) or word.
    """

    path: JsonPath
    kind: LocationKind
    span: Span | None = None
    key: str | None = None
    in_string: bool = False
    prefix: str = ""


# --------------------------------------------------------------------------------------
# Strings, numbers and words.

_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "/": "/"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.?)", re.DOTALL)
_BAD_ESCAPE = re.compile(
    r'\\(?:u[0-9a-fA-F]{4}|["\\/bfnrt])|(\\(?:u[0-9a-fA-F]{0,3}|.?))', re.DOTALL
)
_CONTROL = re.compile(r"[\x00-\x1f]")


def _loose_unescape(match: re.Match[str]) -> str:
    body = match.group(1)
    if len(body) == 5:
        return chr(int(body[1:], 16))
    return _ESCAPES.get(body, body)


def _decode_string(raw: str) -> str:
    """The value of a (possibly broken) double-quoted string token, as close as possible."""
    if "\\" not in raw and len(raw) >= 2 and raw[-1] == '"':
        return raw[1:-1]
    try:
        value = json.loads(raw, strict=False)
        if isinstance(value, str):
            return value
    except (ValueError, RecursionError):
        pass
    closed = len(raw) >= 2 and raw[-1] == '"' and not _escaped_at_end(raw)
    body = raw[1:-1] if closed else raw[1:]
    return _ESCAPE.sub(_loose_unescape, body)


_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?", re.ASCII)
_LOOSE_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*", re.ASCII)
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_LITERALS = {"true": True, "false": False, "null": None}
# Spellings that clearly mean a JSON literal (Python's, or another case).
_LITERAL_SPELLINGS = {"none": "null", **{name: name for name in _LITERALS}}


def _escaped_at_end(raw: str) -> bool:
    """True when the final quote of `raw` is escaped (an odd run of backslashes before it)."""
    count = 0
    index = len(raw) - 2
    while index >= 1 and raw[index] == "\\":
        count += 1
        index -= 1
    return count % 2 == 1
