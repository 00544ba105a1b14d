"""One parsed version of a *.layercfg.json document: text, syntax tree, JSON value, syntax
problems, and the offset <-> JSON path mapping that every service uses."""

from __future__ import annotations

import json
import re
import sys
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import tree_sitter_json
from lsprotocol import types
from tree_sitter import Language, Node, Parser, Point, Tree

from layercfg.server.positions import UTF16, LineIndex, Utf8Offsets, normalize_encoding, utf8_length

JsonPath = tuple[str | int, ...]
Span = tuple[int, int]
LocationKind = Literal["key", "value", "object", "array", "none"]

INVALID_JSON = "LCF001"
NOT_STRICT_JSON = "LCF002"
DUPLICATE_KEY = "LCF003"

ERROR, WARNING, INFORMATION, HINT = 1, 2, 3, 4

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
# A uniform view of JSON values for navigation. Error-free regions are read straight from
# the tree-sitter tree (_TsValue); regions around syntax errors come from the tolerant
# parser below (_Object, _Array, _Scalar). Offsets are str offsets throughout.


@dataclass(slots=True)
class _Member:
    key: str | None
    key_span: Span | None
    quoted: bool  # the key is a double-quoted string (not a bare word)
    key_closed: bool
    colon: int | None  # offset just after the ':'
    value: _Value | None
    # Where a member without a value stops: the ',' or '}' that ended it (None: it runs to
    # the end of its object, as while typing at the end of the text).
    stop: int | None = None

    @property
    def start(self) -> int:
        if self.key_span is not None:
            return self.key_span[0]
        if self.colon is not None:
            return self.colon - 1
        assert self.value is not None
        return self.value.start


@dataclass(slots=True)
class _Scalar:
    start: int
    end: int
    string: bool
    closed: bool = True
    kind: str = "scalar"


@dataclass(slots=True)
class _Object:
    start: int
    end: int = -1
    closed: bool = False
    members: list[_Member] | None = None
    kind: str = "object"
    string: bool = False
    # (member count, start offsets, key -> last member) of a large object, built on first use
    index: tuple[int, list[int], dict[str, _Member]] | None = field(
        default=None, repr=False, compare=False
    )

    def _index(self) -> tuple[int, list[int], dict[str, _Member]]:
        members = self.members or []
        if self.index is None or self.index[0] != len(members):
            self.index = (
                len(members),
                [member.start for member in members],
                {member.key: member for member in members if member.key is not None},
            )
        return self.index

    def member_at(self, offset: int) -> _Member | None:
        """The last member that starts at or before `offset`."""
        members = self.members or []
        if len(members) > INDEX_AT:
            position = bisect_right(self._index()[1], offset) - 1
            return members[position] if position >= 0 else None
        found = None
        for member in members:
            if member.start > offset:
                break
            found = member
        return found

    def member_named(self, key: str) -> _Member | None:
        members = self.members or []
        if len(members) > INDEX_AT:
            return self._index()[2].get(key)
        for member in reversed(members):
            if member.key == key:
                return member
        return None


@dataclass(slots=True)
class _Array:
    start: int
    end: int = -1
    closed: bool = False
    items: list[_Value] | None = None
    kind: str = "array"
    string: bool = False
    # (item count, start offsets) of a large array, built on first use
    index: tuple[int, list[int]] | None = field(default=None, repr=False, compare=False)

    def item_at(self, offset: int) -> tuple[int, _Value] | None:
        items = self.items or []
        if len(items) > INDEX_AT:
            if self.index is None or self.index[0] != len(items):
                self.index = (len(items), [item.start for item in items])
            position = _touching(items, bisect_right(self.index[1], offset) - 1, offset)
            return (position, items[position]) if position is not None else None
        for index, item in enumerate(items):
            if item.start <= offset <= item.end:
                return index, item
            if item.start > offset:
                break
        return None

    def item(self, index: int) -> _Value | None:
        items = self.items or []
        return items[index] if 0 <= index < len(items) else None


def _touching(items: Sequence[Any], last: int, offset: int) -> int | None:
    """Of the items up to ``last`` (the last one starting at or before ``offset``; the items
    are in text order and do not overlap), the first whose span holds ``offset``."""
    if last < 0:
        return None
    if last > 0 and items[last - 1].end >= offset:
        return last - 1  # two items that touch: the one that ends there, as a walk finds
    return last if offset <= items[last].end else None


# Containers with more children than this are looked into through an index built on first
# use, so that locating each of thousands of findings in one object or array is not a walk
# through all its children (that made the checks quadratic).
INDEX_AT = 32


class _Context:
    """What a tree-sitter view needs to turn byte offsets into str offsets and text, and the
    indexes of the large containers of one version's tree."""

    __slots__ = ("text", "offsets", "_children", "_starts", "_pairs")

    def __init__(self, text: str, offsets: Utf8Offsets) -> None:
        self.text = text
        self.offsets = offsets
        # by Node.id (unique within the tree, which lives as long as its Document)
        self._children: dict[int, list[Node]] = {}
        self._starts: dict[int, list[int]] = {}
        self._pairs: dict[int, dict[str, Node]] = {}

    def children(self, node: Node) -> list[Node]:
        """The items of an array node, the pairs of an object node (comments left out)."""
        if node.named_child_count <= INDEX_AT:
            return [child for child in node.named_children if not child.is_extra]
        found = self._children.get(node.id)
        if found is None:
            found = [child for child in node.named_children if not child.is_extra]
            self._children[node.id] = found
        return found

    def starts(self, node: Node) -> list[int]:
        """The start bytes of ``children(node)`` of a large node."""
        found = self._starts.get(node.id)
        if found is None:
            found = self._starts[node.id] = [child.start_byte for child in self.children(node)]
        return found

    def pair_named(self, node: Node, key: str) -> Node | None:
        """The last pair of an object node whose key is ``key``."""
        if node.named_child_count <= INDEX_AT:
            found = None
            quoted = f'"{key}"'
            for pair in self.children(node):
                raw = self._raw_key(pair)
                if raw is not None and (
                    raw == quoted or ("\\" in raw and _decode_string(raw) == key)
                ):
                    found = pair
            return found
        pairs = self._pairs.get(node.id)
        if pairs is None:
            pairs = {}
            for pair in self.children(node):
                raw = self._raw_key(pair)
                if raw is not None and raw.startswith('"'):
                    pairs[_decode_string(raw)] = pair
            self._pairs[node.id] = pairs
        return pairs.get(key)

    def _raw_key(self, pair: Node) -> str | None:
        key_node = pair.child_by_field_name("key")
        if key_node is None:
            return None
        if self.offsets.ascii:
            return self.text[key_node.start_byte : key_node.end_byte]
        to_str = self.offsets.to_str
        return self.text[to_str(key_node.start_byte) : to_str(key_node.end_byte)]


class _TsValue:
    """A view over an error-free tree-sitter value node (comments may sit inside)."""

    __slots__ = ("node", "ctx", "start", "end", "kind", "string", "closed")

    def __init__(self, node: Node, ctx: _Context) -> None:
        self.node = node
        self.ctx = ctx
        self.start = ctx.offsets.to_str(node.start_byte)
        self.end = ctx.offsets.to_str(node.end_byte)
        node_type = node.type
        self.kind = node_type if node_type in ("object", "array") else "scalar"
        self.string = node_type == "string"
        self.closed = True

    def _values(self) -> list[Node]:
        return self.ctx.children(self.node)

    def _member(self, pair: Node) -> _Member:
        ctx = self.ctx
        key_node = value_node = None
        colon = None
        for child in pair.children:
            if child.is_extra:
                continue
            if key_node is None:
                key_node = child
            elif colon is None and child.type == ":":
                colon = ctx.offsets.to_str(child.end_byte)
            elif colon is not None and child.is_named:
                value_node = child
        assert key_node is not None
        key_span = (ctx.offsets.to_str(key_node.start_byte), ctx.offsets.to_str(key_node.end_byte))
        return _Member(
            key=_decode_string(ctx.text[key_span[0] : key_span[1]]),
            key_span=key_span,
            quoted=True,
            key_closed=True,
            colon=colon,
            value=_TsValue(value_node, ctx) if value_node is not None else None,
        )

    def _child_at(self, byte: int) -> tuple[int, Node] | None:
        """The child whose span holds ``byte`` (its ends included), with its index."""
        children = self._values()
        if len(children) > INDEX_AT:
            last = bisect_right(self.ctx.starts(self.node), byte) - 1
            if last > 0 and children[last - 1].end_byte >= byte:
                last -= 1
            if last >= 0 and byte <= children[last].end_byte:
                return last, children[last]
            return None
        for index, child in enumerate(children):
            if child.start_byte > byte:
                break
            if byte <= child.end_byte:
                return index, child
        return None

    def member_at(self, offset: int) -> _Member | None:
        if self.kind != "object":
            return None
        found = self._child_at(self.ctx.offsets.to_byte(offset))
        return self._member(found[1]) if found is not None else None

    def member_named(self, key: str) -> _Member | None:
        found = self.ctx.pair_named(self.node, key)
        return self._member(found) if found is not None else None

    def item_at(self, offset: int) -> tuple[int, _Value] | None:
        found = self._child_at(self.ctx.offsets.to_byte(offset))
        return (found[0], _TsValue(found[1], self.ctx)) if found is not None else None

    def item(self, index: int) -> _Value | None:
        children = self._values()
        return _TsValue(children[index], self.ctx) if 0 <= index < len(children) else None


_Value = _Scalar | _Object | _Array | _TsValue


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


class _Rejected(Exception):
    """Raised from json.loads's parse_constant: NaN and Infinity are not strict JSON."""


def _reject_constant(name: str) -> float:
    raise _Rejected(name)


class _Pairs:
    """object_pairs_hook that notes duplicate keys (json.loads keeps the last one); the
    check is one len() per object, a few percent of json.loads's time."""

    __slots__ = ("count", "names")

    def __init__(self) -> None:
        self.count = 0
        self.names: set[str] = set()

    def hook(self) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
        def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            result = dict(pairs)
            if len(result) != len(pairs):
                self.count += len(pairs) - len(result)
                seen: set[str] = set()
                for key, _ in pairs:
                    if key in seen:
                        self.names.add(key)
                    seen.add(key)
            return result

        return build


def _strict_loads(text: str, pairs: _Pairs) -> Any:
    return json.loads(text, object_pairs_hook=pairs.hook(), parse_constant=_reject_constant)


def _short(text: str, limit: int = 30) -> str:
    """`text` for a message: cut to `limit`, with unprintable characters (and lone
    surrogates, which no UTF-8 transport can carry) escaped."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    if not text.isprintable():
        text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
    return text


def _duplicate(key: str, span: Span, first: Span) -> Problem:
    return Problem(
        span[0],
        span[1],
        DUPLICATE_KEY,
        f'Duplicate key "{_short(key)}": only its last value is used',
        WARNING,
        {"key": key},
        ((first[0], first[1], f'First "{_short(key)}" is here'),),
    )


def _with_first_occurrences(problems: list[Problem]) -> list[Problem]:
    """LCF003 on the first occurrence of each duplicated key too, pointing at its first
    repetition: every place a key is written twice is marked, as JSON editors do."""
    firsts: dict[Span, Problem] = {}
    for problem in problems:
        if problem.code != DUPLICATE_KEY or not problem.related:
            continue
        first = (problem.related[0][0], problem.related[0][1])
        if first in firsts:
            continue
        key = (problem.data or {}).get("key", "")
        firsts[first] = Problem(
            first[0],
            first[1],
            DUPLICATE_KEY,
            problem.message,
            problem.severity,
            {"key": key},
            ((problem.start, problem.end, f'"{_short(key)}" is written again here'),),
        )
    return problems + list(firsts.values()) if firsts else problems


def _object_duplicates(node: Node, ctx: _Context) -> list[Problem]:
    """LCF003 for the keys of one error-free object node."""
    text, to_str = ctx.text, ctx.offsets.to_str
    seen: dict[str, Span] = {}
    problems = []
    for pair in node.named_children:
        key_node = pair.child(0) if pair.type == "pair" else None
        if key_node is None:
            continue
        span = (to_str(key_node.start_byte), to_str(key_node.end_byte))
        key = _decode_string(text[span[0] : span[1]])
        first = seen.setdefault(key, span)
        if first != span:
            problems.append(_duplicate(key, span, first))
    return problems


def _find_duplicates(top: Node, ctx: _Context, pairs: _Pairs) -> list[Problem]:
    """LCF003 inside an error-free subtree in which json.loads found duplicates.

    Walking a 2 MB tree in Python takes half a second, so the objects are found from the
    places where the duplicated names are written; a key spelled with escapes is missed
    that way, and then (only then) the whole subtree is walked.
    """
    text, offsets = ctx.text, ctx.offsets
    start, end = offsets.to_str(top.start_byte), offsets.to_str(top.end_byte)
    problems: list[Problem] = []
    done: set[int] = set()
    # Each name costs a search through the subtree: with many names, one walk is cheaper.
    names = pairs.names if len(pairs.names) * (end - start) <= MAX_SEARCHED else ()
    for name in names:
        for needle in {json.dumps(name), json.dumps(name, ensure_ascii=False)}:
            found = text.find(needle, start, end)
            while found != -1:
                first = offsets.to_byte(found)
                node = top.descendant_for_byte_range(first, offsets.to_byte(found + len(needle)))
                parent = node.parent if node is not None else None
                if (
                    node is not None
                    and parent is not None
                    and node.type == "string"
                    and node.start_byte == first
                    and parent.type == "pair"
                    and parent.start_byte == first
                    and parent.parent is not None
                    and parent.parent.start_byte not in done
                ):
                    done.add(parent.parent.start_byte)
                    problems.extend(_object_duplicates(parent.parent, ctx))
                found = text.find(needle, found + 1, end)
    if len(problems) >= pairs.count:
        return problems
    problems = []
    cursor = top.walk()
    while True:
        node = cursor.node
        if node is not None and node.type == "object":
            problems.extend(_object_duplicates(node, ctx))
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent() or cursor.node == top:
                return problems


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


@dataclass(slots=True)
class _Frame:
    node: _Object | _Array
    value: dict[str, Any] | list[Any] | None  # None: not kept (discarded or too deep)
    state: str  # object: key, colon, value, comma; array: value, comma
    member: _Member | None = None
    comma: _Token | None = None  # a ',' after an item, for trailing-comma findings
    seen: dict[str, Span] | None = None


# json.loads(str) stops at "\ufeff" ("Unexpected UTF-8 BOM"), and so does json.load of a
# file opened in text mode; only bytes given to json.loads are let through.
_BOM_MESSAGE = "Byte order mark: json.loads and json.load of a text file reject it"
_CLOSER = {"{": "}", "[": "]"}
_OPENER = {"}": "{", "]": "["}


def _containers(top: Node, offsets: Utf8Offsets) -> Iterator[tuple[int, Node | None]]:
    """The error-free containers under `top` in text order (not the ones inside them),
    with (start, None) for every other leaf passed on the way.

    A lazy cursor walk that yields often, so that a node with millions of children costs
    only as far as the tolerant parser reads.
    """
    cursor = top.walk()
    if not cursor.goto_first_child():
        return
    depth = 1
    while True:
        node = cursor.node
        assert node is not None
        kind = node.type
        if kind in ("object", "array") and not node.has_error:
            yield offsets.to_str(node.start_byte), node
        elif kind != "string" and node.child_count and cursor.goto_first_child():
            depth += 1
            continue
        else:
            yield offsets.to_str(node.start_byte), None
        while not cursor.goto_next_sibling():
            depth -= 1
            if depth == 0 or not cursor.goto_parent():
                return


class _Candidates:
    """Containers to skip over whole, looked up by the str offset of their bracket as the
    lexer reaches them (so in increasing order)."""

    def __init__(self, offsets: Utf8Offsets) -> None:
        self.offsets = offsets
        self.sources: list[tuple[Iterator[tuple[int, Node | None]], list[Any]]] = []

    def push(self, node: Node) -> None:
        # Everything under `node` comes before whatever the sources below still hold.
        self.sources.append((_containers(node, self.offsets), [None]))

    def at(self, offset: int) -> Node | None:
        while self.sources:
            source, head = self.sources[-1]
            if head[0] is None:
                head[0] = next(source, None)
                if head[0] is None:
                    self.sources.pop()
                    continue
            start, node = head[0]
            if start > offset:
                return None
            head[0] = None
            if start == offset and node is not None:
                return node
        return None


class _Tolerant:
    """An error-tolerant JSON parser: builds the best-effort value, the navigation view and
    the syntax findings in one pass, without recursion (any depth of nesting)."""

    def __init__(self, text: str, start: int, tree: Tree, ctx: _Context) -> None:
        self.text = text
        self.pos = self.start = start
        self.ctx = ctx
        self.problems: list[Problem] = []
        self.errors = 0
        self.notes = 0
        self.tokens = 0
        self.frames: list[_Frame] = []
        self.root: _Value | None = None
        self.value: Any = None
        self.last_end = start
        self.peeked: _Token | None = None
        self.candidates = _Candidates(ctx.offsets)
        self.candidates.push(tree.root_node)

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
                Problem(self.pos, self.pos, INVALID_JSON,
                        "Too much text to check after a syntax error: stopped here")
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
                if char in "{[" and len(self.frames) < ATOM_DEPTH:
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
                start, end, "nan", f"{word} is not valid JSON (only Python's json reads it)",
                WARNING,
            )
            return _CONSTANTS[word], True
        json_word = _LITERAL_SPELLINGS.get(word.lower())
        if json_word is not None:
            self.error(
                start, end, f"Invalid value '{_short(word)}': JSON writes it {json_word}",
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
            start, end, "big_int",
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

    def key(self, token: _Token) -> _Member:
        raw = self.text[token.start : token.end]
        span = (token.start, token.end)
        if token.kind == "string":
            _, key, _ = self.scalar(token)
            closed = len(raw) >= 2 and raw[-1] == '"' and not _escaped_at_end(raw)
            return _Member(key, span, True, closed, None, None)
        if token.kind == "sq":
            self.error(token.start, token.end, "Property names must be in double quotes")
            body = raw[1:-1] if len(raw) >= 2 and raw.endswith("'") else raw[1:]
            return _Member(body, span, False, True, None, None)
        self.error(token.start, token.end, "Property names must be in double quotes")
        return _Member(raw, span, False, True, None, None)

    def add_member(self, frame: _Frame, member: _Member) -> None:
        node = frame.node
        assert isinstance(node, _Object) and node.members is not None
        node.members.append(member)
        frame.member = member
        frame.comma = None
        if member.key is not None and member.key_span is not None:
            if frame.seen is None:
                frame.seen = {}
            first = frame.seen.setdefault(member.key, member.key_span)
            if first != member.key_span:
                self.problems.append(_duplicate(member.key, member.key_span, first))

    def start_value(self, token: _Token, frame: _Frame | None, keep: bool = True) -> None:
        """Start the value `token` begins, attaching it to `frame` (None: the root)."""
        if frame is not None:
            frame.state = "comma"
            frame.comma = None
        if token.kind in ("{", "["):
            depth = len(self.frames) + 1
            node: _Value
            if token.kind == "{":
                node, child_value = _Object(token.start, members=[]), {}
            else:
                node, child_value = _Array(token.start, items=[]), []
            if depth > MAX_DEPTH and (frame is None or frame.value is not None):
                self.error(
                    token.start, token.end,
                    f"Nested more than {MAX_DEPTH} levels deep: Python's json cannot read it",
                )
            kept = keep and depth <= MAX_DEPTH and (frame is None or frame.value is not None)
            self.attach(frame, node, child_value, kept, keep)
            self.frames.append(
                _Frame(node, child_value if kept else None, "key" if token.kind == "{" else "value")
            )
            return
        node, value, ok = self.scalar(token)
        self.attach(frame, node, value, ok and keep, keep)

    def attach(
        self, frame: _Frame | None, node: _Value, value: Any, has_value: bool, keep: bool
    ) -> None:
        if frame is None:
            self.root = node
            self.value = value if has_value else None
            return
        if not keep:
            return
        if isinstance(frame.node, _Object):
            member = frame.member
            assert member is not None
            member.value = node
            if has_value and member.key is not None and isinstance(frame.value, dict):
                frame.value[member.key] = value
        else:
            assert frame.node.items is not None
            frame.node.items.append(node)
            if isinstance(frame.value, list):
                # An unusable element stays as None so that indices keep matching the text.
                frame.value.append(value if has_value else None)

    def close(self, token: _Token) -> None:
        frame = self.frames.pop()
        frame.node.end = token.end
        frame.node.closed = True
        if frame.comma is not None:
            comma = frame.comma
            self.note(comma.start, comma.end, "trailing_comma", "Trailing comma is not allowed")

    def abandon(self, end: int) -> None:
        frame = self.frames.pop()
        self.end_slot(frame, end)
        frame.node.end = end
        frame.node.closed = False

    def end_slot(self, frame: _Frame, end: int) -> None:
        """A member left without a value ends here (for node_at's value slot)."""
        if frame.state in ("colon", "value") and frame.member is not None:
            frame.member.stop = end

    def mismatch(self, token: _Token) -> None:
        opener = _OPENER[token.kind]
        wanted = "object" if opener == "{" else "array"
        for index in range(len(self.frames) - 1, -1, -1):
            if self.frames[index].node.kind == wanted:
                break
        else:
            self.error(token.start, token.end, f"Unexpected '{token.kind}'")
            return
        top = self.frames[-1].node
        top_opener = "{" if top.kind == "object" else "["
        self.error(
            token.start, token.end,
            f"Expected '{_CLOSER[top_opener]}' before '{token.kind}'",
            related=((top.start, top.start + 1, f"'{top_opener}' is opened here"),),
        )
        while len(self.frames) - 1 > index:
            self.abandon(token.start)
        self.frames[-1].comma = None
        self.close(token)

    # -- the state machine

    def run(self) -> None:
        try:
            self._run()
        except _Stop:
            while self.frames:
                self.abandon(self.last_end)

    def _run(self) -> None:
        text = self.text
        if self.pos == 1:
            self.note(
                0, 1, "bom",
                _BOM_MESSAGE,
            )
        while True:
            token = self.next()
            if token is None:
                break
            if not self.frames:
                if self.root is not None:
                    end = len(text.rstrip(" \t\r\n"))
                    self.error(
                        token.start, max(end, token.end), "Unexpected text after the JSON value"
                    )
                    break
                if token.kind in ("{", "[", "string", "word", "sq", "atom"):
                    self.start_value(token, None)
                else:
                    self.error(token.start, token.end, _unexpected(text[token.start : token.end]))
            elif self.frames[-1].node.kind == "object":
                self.object_token(self.frames[-1], token)
            else:
                self.array_token(self.frames[-1], token)
            self.last_end = token.end
        self.finish()

    def finish(self) -> None:
        end = len(self.text)
        if self.frames:
            frame = self.frames[-1]
            node = frame.node
            opener = "{" if node.kind == "object" else "["
            expected = {
                "key": "a property name or '}'",
                "colon": "':'",
                "value": "a value" if node.kind == "object" else "a value or ']'",
                "comma": f"',' or '{_CLOSER[opener]}'",
            }[frame.state]
            self.error(
                end, end, f"Unexpected end of text: expected {expected}",
                related=((node.start, node.start + 1, f"'{opener}' is not closed"),),
            )
            while self.frames:
                self.abandon(end)
        elif self.root is None and self.last_end == self.start:
            self.error(0, end, "Empty document: expected a JSON value")

    def object_token(self, frame: _Frame, token: _Token) -> None:
        kind = token.kind
        state = frame.state
        if kind == "}":
            self.end_slot(frame, token.start)
            if state == "colon":
                self.error(token.start, token.end, "Expected ':' and a value")
            elif state == "value":
                self.error(token.start, token.end, "Expected a value")
            self.close(token)
            return
        if kind == "]":
            self.mismatch(token)
            return
        if kind == ",":
            if state == "comma":
                frame.state = "key"
                frame.comma = token
            else:
                self.end_slot(frame, token.start)
                message = {"key": "Expected a property name", "colon": "Expected ':'"}.get(
                    state, "Expected a value"
                )
                self.error(token.start, token.end, message)
                frame.state = "key"
                frame.comma = None
            return
        if kind == ":":
            if state == "colon":
                assert frame.member is not None
                frame.member.colon = token.end
                frame.state = "value"
            elif state == "key":
                self.error(token.start, token.end, "Expected a property name before ':'")
                self.add_member(frame, _Member(None, None, False, True, token.end, None))
                frame.state = "value"
            else:
                self.error(token.start, token.end, "Unexpected ':'")
            return
        if kind == "other":
            self.error(token.start, token.end, _unexpected(self.text[token.start : token.end]))
            return
        keylike = kind in ("string", "word", "sq")
        if state == "key":
            if keylike:
                self.add_member(frame, self.key(token))
                frame.state = "colon"
            else:
                self.error(token.start, token.end, "Expected a property name")
                self.start_value(token, frame, keep=False)
            return
        if state == "value":
            self.start_value(token, frame)
            return
        following = self.peek() if keylike else None
        if keylike and following is not None and following.kind == ":":
            # `"a": 1 "b": 2` or `{"a" "b": 2}`: a missing ',' (or value) before a new key.
            message = "Expected ','" if state == "comma" else "Expected ':' and a value"
            self.end_slot(frame, token.start)
            self.error(token.start, token.end, message)
            self.add_member(frame, self.key(token))
            frame.state = "colon"
            return
        if state == "colon":
            self.error(token.start, token.end, "Expected ':'")
            self.start_value(token, frame)
            return
        self.error(token.start, token.end, "Expected ',' or '}'")
        self.start_value(token, frame, keep=False)

    def array_token(self, frame: _Frame, token: _Token) -> None:
        kind = token.kind
        state = frame.state
        if kind == "]":
            self.close(token)
            return
        if kind == "}":
            self.mismatch(token)
            return
        if kind == ",":
            if state == "comma":
                frame.state = "value"
                frame.comma = token
            else:
                self.error(token.start, token.end, "Expected a value")
                frame.comma = None
            return
        if kind == ":":
            self.error(token.start, token.end, "Unexpected ':'")
            return
        if kind == "other":
            self.error(token.start, token.end, _unexpected(self.text[token.start : token.end]))
            return
        if state == "comma":
            self.error(token.start, token.end, "Expected ',' or ']'")
        self.start_value(token, frame)


def _escaped_at_end(raw: str) -> bool:
    """True when the final quote of `raw` is escaped (an odd run of backslashes before it)."""
    count = 0
    index = len(raw) - 2
    while index >= 1 and raw[index] == "\\":
        count += 1
        index -= 1
    return count % 2 == 1


def _unexpected(raw: str) -> str:
    char = raw[:1]
    if char in "{}[]:,":
        return f"Unexpected '{char}'"
    if char.isprintable() and not char.isspace():
        return f"Unexpected character '{char}'"
    return f"Unexpected character U+{ord(char):04X}"


# --------------------------------------------------------------------------------------
# Navigation: offset -> Location, path -> span.


def _value_location(
    text: str, path: JsonPath, node: _Value, key: str | None, offset: int
) -> Location:
    span = (node.start, node.end)
    if node.string:
        inside = node.start < offset and (offset < node.end or not node.closed)
        prefix = text[node.start + 1 : offset] if inside else ""
        return Location(path, "value", span, key, inside, prefix)
    prefix = text[node.start : offset] if node.kind == "scalar" else ""
    return Location(path, "value", span, key, False, prefix)


def _key_location(text: str, path: JsonPath, member: _Member, offset: int) -> Location:
    start, end = member.key_span  # type: ignore[misc]
    if member.quoted:
        inside = start < offset and (offset < end or not member.key_closed)
        prefix = text[start + 1 : offset] if inside else ""
    else:
        inside, prefix = False, text[start:offset]
    return Location(path, "key", (start, end), member.key, inside, prefix)


def _node_at(text: str, root: _Value | None, offset: int) -> Location:
    if root is None or not root.start <= offset <= root.end:
        return Location((), "none")
    path: list[str | int] = []
    node: _Value = root
    key: str | None = None
    while True:
        inside = node.start < offset and (offset < node.end or not node.closed)
        if node.kind == "scalar" or not inside or len(path) >= MAX_DEPTH:
            # Past MAX_DEPTH a container is one value (it is not in the JSON value either):
            # every finding down there would otherwise cost a walk through all the levels.
            return _value_location(text, tuple(path), node, key, offset)
        if node.kind == "object":
            member = node.member_at(offset)
            if member is None:
                return Location(tuple(path), "object")
            if member.key_span is not None and member.key_span[0] <= offset <= member.key_span[1]:
                return _key_location(text, tuple(path), member, offset)
            value = member.value
            if member.key is None:
                return Location(tuple(path), "object")
            if value is not None and value.start <= offset <= value.end:
                path.append(member.key)
                node, key = value, member.key
                continue
            in_slot = (value is None or offset < value.start) and (
                member.stop is None or offset <= member.stop
            )
            if member.colon is not None and offset >= member.colon and in_slot:
                return Location((*path, member.key), "value", None, member.key)
            return Location(tuple(path), "object")
        found = node.item_at(offset)  # type: ignore[union-attr]
        if found is None:
            return Location(tuple(path), "array")
        index, node = found
        path.append(index)
        key = None


def _locate(root: _Value | None, path: JsonPath, part: str) -> Span | None:
    node = root
    container: _Value | None = None
    for position, step in enumerate(path):
        if node is None:
            # The path went through something missing before its last step.
            return None
        if isinstance(node, _TsValue):
            start = container.start if container is not None else None
            return _ts_locate(node.ctx, node.node, path[position:], part, start)
        last = position == len(path) - 1
        if node.kind == "object" and isinstance(step, str):
            container = node
            member = node.member_named(step)  # type: ignore[union-attr]
            if last and part == "key":
                return member.key_span if member is not None else None
            node = member.value if member is not None else None
        elif node.kind == "array" and isinstance(step, int) and not isinstance(step, bool):
            if last and part == "key":
                return None
            container = node
            node = node.item(step)  # type: ignore[union-attr]
        else:
            return None
    if part == "open":
        target = node if node is not None and node.kind != "scalar" else container
        return (target.start, target.start + 1) if target is not None else None
    if node is None or part != "value":
        return None
    return node.start, node.end


def _same_offset(byte: int) -> int:
    return byte  # in ASCII text, of a node's byte offsets (always inside the text)


def _ts_locate(
    ctx: _Context, node: Node, path: JsonPath, part: str, container: int | None
) -> Span | None:
    """``_locate`` inside an error-free tree-sitter value, straight through the tree's nodes
    (a view per step made locating each of many findings cost several times more)."""
    to_str = _same_offset if ctx.offsets.ascii else ctx.offsets.to_str
    current: Node | None = node
    for position, step in enumerate(path):
        if current is None:
            return None
        last = position == len(path) - 1
        kind = current.type
        if kind == "object" and isinstance(step, str):
            container = to_str(current.start_byte)
            pair = ctx.pair_named(current, step)
            if last and part == "key":
                key = pair.child_by_field_name("key") if pair is not None else None
                return (to_str(key.start_byte), to_str(key.end_byte)) if key is not None else None
            current = pair.child_by_field_name("value") if pair is not None else None
        elif kind == "array" and isinstance(step, int) and not isinstance(step, bool):
            if last and part == "key":
                return None
            container = to_str(current.start_byte)
            children = ctx.children(current)
            current = children[step] if 0 <= step < len(children) else None
        else:
            return None
    if part == "open":
        if current is not None and current.type in ("object", "array"):
            start = to_str(current.start_byte)
            return start, start + 1
        return (container, container + 1) if container is not None else None
    if current is None or part != "value":
        return None
    return to_str(current.start_byte), to_str(current.end_byte)


def _item_spans(root: _Value | None, path: JsonPath) -> list[Span] | None:
    node = root
    for step in path:
        if node is None:
            return None
        if node.kind == "object" and isinstance(step, str):
            member = node.member_named(step)  # type: ignore[union-attr]
            node = member.value if member is not None else None
        elif node.kind == "array" and isinstance(step, int) and not isinstance(step, bool):
            node = node.item(step)  # type: ignore[union-attr]
        else:
            return None
    if node is None or node.kind != "array":
        return None
    if isinstance(node, _TsValue):
        to_str = node.ctx.offsets.to_str
        return [(to_str(c.start_byte), to_str(c.end_byte)) for c in node._values()]
    return [(item.start, item.end) for item in node.items or ()]  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Splice:
    """How to get a version's value from an earlier one's without decoding the whole text:
    every edit since ``base`` lies inside the container at ``path``, which spans ``span`` of
    this version's text. Decoding that span and putting it at ``path`` gives the value."""

    base: Any
    path: JsonPath
    span: Span

    def value(self, text: str) -> Any:
        """The spliced value, or _NO_SPLICE when the span is not strict, duplicate-free JSON
        (the whole text is then decoded as usual, which words the problem)."""
        pairs = _Pairs()
        try:
            piece = _strict_loads(text[self.span[0] : self.span[1]], pairs)
            if pairs.count:
                return _NO_SPLICE
            return _replaced(self.base, self.path, piece)
        except (ValueError, _Rejected, RecursionError, KeyError, IndexError, TypeError):
            return _NO_SPLICE


_NO_SPLICE = object()


def _replaced(value: Any, path: JsonPath, piece: Any) -> Any:
    """`value` with `piece` at `path`; the containers on the way are copied, the rest shared."""
    if not path:
        return piece
    head = path[0]
    if isinstance(value, dict):
        if head not in value:
            raise KeyError(head)
    elif not (isinstance(value, list) and isinstance(head, int)):
        raise TypeError(head)
    copy = value.copy()
    copy[head] = _replaced(value[head], path[1:], piece)  # type: ignore[index]
    return copy


def _enclosing(root: Node, start_byte: int, end_byte: int, text: str,
                offsets: Utf8Offsets) -> list[tuple[JsonPath, Span]] | None:
    """The objects and arrays whose brackets enclose the bytes [start_byte, end_byte) without
    touching them, innermost first, each with its path and str span; None when the text's
    tree has errors or the edit touches the outermost brackets."""
    if root.has_error:
        return None
    node: Node | None = root.descendant_for_byte_range(start_byte, end_byte)
    while node is not None and not (
        node.type in ("object", "array")
        and node.start_byte < start_byte
        and end_byte < node.end_byte
    ):
        node = node.parent
    chain: list[Node] = []
    steps: list[str | int] = []
    while node is not None:
        chain.append(node)
        parent = node.parent
        if parent is None or parent.type == "document":
            break
        if parent.type == "pair":
            key = parent.child_by_field_name("key")
            if key is None or parent.parent is None:
                return None
            key_start, key_end = offsets.to_str(key.start_byte), offsets.to_str(key.end_byte)
            try:
                # Keys inside edits not yet decoded may be what tree-sitter accepts and
                # json does not (a raw control character, a number).
                name = json.loads(text[key_start:key_end])
            except ValueError:
                return None
            if not isinstance(name, str):
                return None
            steps.append(name)
            node = parent.parent
        elif parent.type == "array":
            index = 0
            for child in parent.named_children:
                if child == node:
                    break
                if not child.is_extra:
                    index += 1
            steps.append(index)
            node = parent
        else:
            return None
    if not chain:
        return None
    out = []
    for depth, container in enumerate(chain):
        # steps[i] leads from chain[i + 1] down to chain[i]
        path = tuple(reversed(steps[depth:]))
        span = (offsets.to_str(container.start_byte), offsets.to_str(container.end_byte))
        out.append((path, span))
    return out


@dataclass(slots=True)
class _Analysis:
    value: Any
    problems: list[Problem]
    root: _Value | None  # the tolerant parser's view; None when the tree is error-free


class Document:
    """One version of a document, parsed once. The value and the problems are computed on
    first use, so that an edit costs only an incremental tree-sitter parse."""

    __slots__ = (
        "uri", "version", "text", "tree", "_offsets", "_lines", "_changed", "_analysis", "_splice",
        "_ctx",
    )

    def __init__(
        self,
        uri: str,
        text: str,
        version: int | None,
        tree: Tree,
        changed: list[Span] | None = None,
    ) -> None:
        self.uri = uri
        self.version = version
        self.text = text
        self.tree = tree
        self._offsets = Utf8Offsets(text)
        self._lines: LineIndex | None = None
        self._changed = changed
        self._analysis: _Analysis | None = None
        self._splice: _Splice | None = None
        self._ctx: _Context | None = None

    @classmethod
    def parse(cls, uri: str, text: str, version: int | None = None) -> Document:
        return cls(uri, text, version, _parser().parse(_tree_sitter_bytes(text)))

    # -- derived data

    @property
    def lines(self) -> LineIndex:
        if self._lines is None:
            self._lines = LineIndex(self.text)
        return self._lines

    @property
    def value(self) -> Any:
        """The JSON value: exact when the text is valid JSON, else a best-effort value with
        the broken pieces left out (an unusable array element becomes None)."""
        return self._analyse().value

    @property
    def problems(self) -> list[Problem]:
        """Syntax findings (LCF001-LCF003), sorted by position."""
        return self._analyse().problems

    @property
    def syntax_ok(self) -> bool:
        """True when the text is strict JSON that Keras's loader reads as it is."""
        return not any(p.code != DUPLICATE_KEY for p in self._analyse().problems)

    def _context(self) -> _Context:
        ctx = self._ctx
        if ctx is None:
            ctx = self._ctx = _Context(self.text, self._offsets)
        return ctx

    def _analyse(self) -> _Analysis:
        analysis = self._analysis
        if analysis is None:
            analysis = self._analysis = self._compute()
        return analysis

    def _compute(self) -> _Analysis:
        text = self.text
        start = 1 if text.startswith("\ufeff") else 0
        root = self.tree.root_node
        too_deep = False
        splice, self._splice = self._splice, None  # the base value is not kept any longer
        if not root.has_error and splice is not None:
            value = splice.value(text)
            if value is not _NO_SPLICE:
                problems = [Problem(0, 1, NOT_STRICT_JSON, _BOM_MESSAGE, ERROR, {"kind": "bom"})]
                return _Analysis(value, problems if start else [], None)
        if not root.has_error:
            pairs = _Pairs()
            try:
                value = _strict_loads(text[start:] if start else text, pairs)
            except RecursionError:
                too_deep = True
            except (ValueError, _Rejected):
                pass
            else:
                problems = []
                if start:
                    problems.append(
                        Problem(
                            0, 1, NOT_STRICT_JSON,
                            _BOM_MESSAGE,
                            ERROR, {"kind": "bom"},
                        )
                    )
                if pairs.count:
                    problems.extend(_find_duplicates(root, self._context(), pairs))
                return _Analysis(value, _sorted(_with_first_occurrences(problems)), None)
        parser = _Tolerant(text, start, self.tree, self._context())
        parser.run()
        problems = parser.problems
        if too_deep and not any(p.code == INVALID_JSON for p in problems):
            problems.append(Problem(
                start, start + 1, INVALID_JSON, "Nested too deeply: Python's json cannot read it"
            ))
        return _Analysis(parser.value, _sorted(_with_first_occurrences(problems)), parser.root)

    def _root_view(self) -> _Value | None:
        root = self.tree.root_node
        if root.has_error:
            return self._analyse().root
        for child in root.named_children:
            if not child.is_extra:
                return _TsValue(child, self._context())
        return None

    # -- queries

    def node_at(self, offset: int) -> Location:
        """What is at `offset` (a str offset): see Location."""
        offset = min(max(offset, 0), len(self.text))
        return _node_at(self.text, self._root_view(), offset)

    def locate(self, path: JsonPath, part: str = "value") -> Span | None:
        """The span of the value at `path` ("value"), of its key string with quotes ("key"),
        or of the opening bracket of the container at `path`, or of the one holding it
        when `path` leads to a scalar or to nothing ("open")."""
        return _locate(self._root_view(), tuple(path), part)

    def item_spans(self, path: JsonPath) -> list[Span] | None:
        """The spans of every item of the array at `path`, in one pass (None: no array)."""
        return _item_spans(self._root_view(), tuple(path))

    def changed_spans(self) -> list[Span] | None:
        """Spans of this text that differ from the previous version (edited text and
        tree-sitter's changed ranges, merged), or None after a full parse."""
        return None if self._changed is None else list(self._changed)

    # -- edits

    def apply_changes(
        self,
        changes: Sequence[types.TextDocumentContentChangeEvent],
        version: int | None,
        encoding: str = UTF16,
    ) -> Document:
        """The next version: ranged changes re-parse incrementally, a whole-text change
        parses from scratch."""
        encoding = normalize_encoding(encoding)
        text = self.text
        lines: LineIndex | None = self._lines
        offsets: Utf8Offsets | None = self._offsets
        tree: Tree | None = self.tree.copy()
        edited: list[Span] = []
        single = None  # (start, end, start byte, end byte, inserted) of a lone ranged change
        for change in changes:
            change_range = getattr(change, "range", None)
            if change_range is None:
                text, tree, edited, lines, offsets = change.text, None, [], None, None
                continue
            if lines is None:
                lines = LineIndex(text)
            start = lines.offset_at(change_range.start, encoding)
            end = lines.offset_at(change_range.end, encoding)
            if end < start:
                start, end = end, start
            inserted = change.text
            new_text = text[:start] + inserted + text[end:]
            if tree is not None:
                if offsets is None:
                    offsets = Utf8Offsets(text)
                start_byte, old_end_byte = offsets.to_byte(start), offsets.to_byte(end)
                start_point = _point(lines, start)
                tree.edit(
                    start_byte=start_byte,
                    old_end_byte=old_end_byte,
                    new_end_byte=start_byte + utf8_length(inserted),
                    start_point=start_point,
                    old_end_point=_point(lines, end),
                    new_end_point=_point_after(start_point, inserted),
                )
                if len(changes) == 1:
                    single = (start, end, start_byte, old_end_byte, len(inserted))
            edited = _shift_spans(edited, start, end, len(inserted))
            edited.append((start, start + len(inserted)))
            lines = lines.edited(start, end, inserted, new_text)
            text, offsets = new_text, None
        if tree is None:
            return Document.parse(self.uri, text, version)
        new_tree = _parser().parse(_tree_sitter_bytes(text), tree)
        document = Document(self.uri, text, version, new_tree)
        document._lines = lines
        if single is not None:
            document._splice = self._next_splice(*single)
        to_str = document._offsets.to_str
        spans = edited + [
            (to_str(r.start_byte), to_str(r.end_byte)) for r in tree.changed_ranges(new_tree)
        ]
        document._changed = _merge(spans)
        return document


    def _next_splice(
        self, start: int, end: int, start_byte: int, end_byte: int, inserted: int
    ) -> _Splice | None:
        """How the next version, this one with [start, end) replaced, gets its value from the
        last decoded one; None when it must decode its whole text."""
        analysis, pending = self._analysis, self._splice
        if analysis is not None:
            if analysis.root is not None or any(
                p.code == DUPLICATE_KEY for p in analysis.problems
            ):
                return None
            base = analysis.value
        elif pending is not None:
            base = pending.base
        else:
            return None
        chain = _enclosing(self.tree.root_node, start_byte, end_byte, self.text, self._offsets)
        if not chain:
            return None
        for path, (container_start, container_end) in chain:
            # Edits not yet decoded lie in the container at pending.path: this one must
            # enclose it too.
            if pending is None or analysis is not None or pending.path[: len(path)] == path:
                delta = inserted - (end - start)
                return _Splice(base, path, (container_start, container_end + delta))
        return None


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.start, p.end, p.code, p.message))


def _point(lines: LineIndex, offset: int) -> Point:
    # tree-sitter counts rows at "\n" only and columns in bytes.
    text = lines.text
    if lines.breaks_at_newline_only:
        row = lines.line_at(offset)
        line_start = lines.line_start(row)
    else:
        row = text.count("\n", 0, offset)
        line_start = text.rfind("\n", 0, offset) + 1
    return Point(row, utf8_length(text[line_start:offset]))


def _point_after(start: Point, inserted: str) -> Point:
    """Where text inserted at `start` ends."""
    newlines = inserted.count("\n")
    if not newlines:
        return Point(start.row, start.column + utf8_length(inserted))
    return Point(start.row + newlines, utf8_length(inserted[inserted.rfind("\n") + 1 :]))


def _shift_spans(spans: list[Span], start: int, end: int, inserted: int) -> list[Span]:
    """Move spans of the text before an edit of [start, end) into the text after it."""
    delta = inserted - (end - start)
    shifted = []
    for s, e in spans:
        if e < start:
            shifted.append((s, e))
        elif s > end:
            shifted.append((s + delta, e + delta))
        else:
            shifted.append((min(s, start), max(e + delta, start + inserted)))
    return shifted


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged
