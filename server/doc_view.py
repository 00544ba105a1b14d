"""A uniform view of a document's JSON values for navigation: error-free regions read straight
from the tree-sitter tree, regions around syntax errors from the tolerant parser."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tree_sitter import Node

from layercfg.server.positions import Utf8Offsets

from .doc_base import (
    Span,
    _decode_string,
)

# --------------------------------------------------------------------------------------
# A uniform view of JSON values for navigation. Error-free regions are read straight from
# the tree-sitter tree (_TsValue); regions around syntax errors come from the tolerant
# parser below (_Object, _Array, _Scalar). Offsets are str offsets throughout.


# The tag of every value: it tells the value types apart, as isinstance would.
ValueKind = Literal["object", "array", "scalar"]


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
    kind: Literal["scalar"] = "scalar"


@dataclass(slots=True)
class _Object:
    start: int
    end: int = -1
    closed: bool = False
    members: list[_Member] | None = None
    kind: Literal["object"] = "object"
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
    kind: Literal["array"] = "array"
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
        self.kind: ValueKind = (
            "object" if node_type == "object" else "array" if node_type == "array" else "scalar"
        )
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


# Error-free containers, for the tolerant parser to skip whole.


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
