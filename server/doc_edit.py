"""Edits of a document: the value of the next version spliced into the last decoded one, and
tree-sitter's points and changed spans."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import compress
from operator import is_not
from typing import Any

from tree_sitter import Node, Point

from layercfg.server.positions import LineIndex, Utf8Offsets, utf8_length

from .doc_base import (
    JsonPath,
    Span,
)
from .doc_strict import (
    _Pairs,
    _Rejected,
    _strict_loads,
)

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


def _enclosing(
    root: Node, start_byte: int, end_byte: int, text: str, offsets: Utf8Offsets
) -> list[tuple[JsonPath, Span]] | None:
    """The objects and arrays whose brackets enclose the bytes [start_byte, end_byte) without
    touching them, innermost first, each with its path and str span; None when the text's
    tree has errors or the edit touches the outermost brackets."""
    if root.has_error:
        return None
    comments = "/" in text  # no comment without one: items are then every named child
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
            steps.append(_item_index(parent, node, comments))
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


def _item_index(array: Node, item: Node, comments: bool) -> int:
    """The index of `item` among the items of `array` (comments are no items)."""
    if comments:
        index = 0
        for child in array.named_children:
            if child == item:
                break
            if not child.is_extra:
                index += 1
        return index
    # Without comments the named children are the items: found by their start, in
    # log(n) steps rather than one Node object per item before it.
    lo, hi = 0, array.named_child_count - 1
    target = item.start_byte
    while lo < hi:
        mid = (lo + hi) // 2
        child = array.named_child(mid)
        if child is None or child.start_byte >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


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


def changed_layers(old: Any, new: Any) -> list[int] | None:
    """The indices of the top-level model's ``config.layers`` items that are other objects in
    ``new`` than in ``old``, when everything else is the same objects (as in a value spliced
    from ``old`` around an edit inside its layers); None otherwise: the caller checks afresh."""
    global _last_compared
    last = _last_compared
    # The checks of one version ask in turn about the same two values.
    if last is not None and last[0] is old and last[1] is new:
        return None if last[2] is None else list(last[2])
    found = _changed_layers(old, new)
    _last_compared = (old, new, found)
    return None if found is None else list(found)


_last_compared: tuple[Any, Any, list[int] | None] | None = None


def _changed_layers(old: Any, new: Any) -> list[int] | None:
    if type(old) is not dict or type(new) is not dict or old.keys() != new.keys():
        return None
    config, old_config = new.get("config"), old.get("config")
    if type(config) is not dict or type(old_config) is not dict:
        return None
    layers, old_layers = config.get("layers"), old_config.get("layers")
    if type(layers) is not list or type(old_layers) is not list:
        return None
    if len(layers) != len(old_layers) or config.keys() != old_config.keys():
        return None
    if any(new[key] is not old[key] for key in new if key != "config"):
        return None
    if any(config[key] is not old_config[key] for key in config if key != "layers"):
        return None
    return list(compress(range(len(layers)), map(is_not, layers, old_layers)))


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values, types included (``1``, ``1.0`` and ``true`` differ; NaN is
    never equal, which only means "look again")."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        # in order: the checks walk objects in key order, and so are their findings
        return list(a) == list(b) and all(same_json(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(map(same_json, a, b))
    return a == b
