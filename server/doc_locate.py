"""Navigation in a document: offset -> Location (what is there, at which JSON path) and JSON
path -> span."""

from __future__ import annotations

from tree_sitter import Node

from .doc_base import (
    MAX_DEPTH,
    JsonPath,
    Location,
    Span,
)
from .doc_view import (
    _Context,
    _Member,
    _TsValue,
    _Value,
)

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
    assert member.key_span is not None  # the caller found the offset on the key
    start, end = member.key_span
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
        found = node.item_at(offset)
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
            member = node.member_named(step)
            if last and part == "key":
                return member.key_span if member is not None else None
            node = member.value if member is not None else None
        elif node.kind == "array" and isinstance(step, int) and not isinstance(step, bool):
            if last and part == "key":
                return None
            container = node
            node = node.item(step)
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
            member = node.member_named(step)
            node = member.value if member is not None else None
        elif node.kind == "array" and isinstance(step, int) and not isinstance(step, bool):
            node = node.item(step)
        else:
            return None
    if node is None or node.kind != "array":
        return None
    if isinstance(node, _TsValue):
        to_str = node.ctx.offsets.to_str
        return [(to_str(c.start_byte), to_str(c.end_byte)) for c in node._values()]
    return [(item.start, item.end) for item in node.items or ()]
