"""Strict JSON, as Keras's loader (json.loads) reads it, and the search for duplicated keys,
with the offsets of each occurrence."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tree_sitter import Node

from .doc_base import (
    DUPLICATE_KEY,
    MAX_SEARCHED,
    WARNING,
    Problem,
    Span,
    _decode_string,
)
from .doc_view import (
    _Context,
)

# --------------------------------------------------------------------------------------
# Strict decoding and duplicated keys.


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
