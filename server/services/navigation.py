"""Go to definition, references, document symbols (the layer outline) and folding ranges."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from tree_sitter import Node

from ...codes import JsonPath
from ..catalog import Catalog
from . import models
from .schema_match import Matcher, value_at

if TYPE_CHECKING:
    from ..document import Document

MAX_SYMBOLS = 2000  # about 40 ms to build, 1 MB less to send than 5,000
MAX_FOLDING_RANGES = 5000
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"?|[{}\[\]]')


def definition(
    document: Document, offset: int, catalog: Catalog, walker: Matcher, encoding: str
) -> list[types.Location]:
    location = document.node_at(offset)
    if location.kind != "value":
        return []
    path = tuple(location.path)
    value = value_at(document.value, path)
    if path and path[-1] == "class_name" and isinstance(value, str):
        entry = walker.class_of(document.value, path[:-1])
        if entry is None:
            found = catalog.find(value)
            entry = found[0] if found else None
        source: Mapping[str, Any] = (entry.get("source") if entry else None) or {}
        if not source.get("file"):
            return []
        line = max(int(source.get("line") or 1) - 1, 0)
        position = types.Position(line=line, character=0)
        return [
            types.Location(
                uri=FsPath(source["file"]).as_uri(), range=types.Range(start=position, end=position)
            )
        ]
    if isinstance(value, str) and models.is_reference(path):
        model = models.enclosing_model(document.value, path)
        target = model.names.get(value) if model else None
        span = document.locate(target, "value") if target else None
        if span is None:
            return []
        return [
            types.Location(
                uri=document.uri, range=document.lines.range_of(span[0], span[1], encoding)
            )
        ]
    return []


def layer_name_at(
    document: Document, offset: int
) -> tuple[models.ModelLayers, str, JsonPath] | None:
    """The model and layer name under the cursor: a definition or a reference."""
    location = document.node_at(offset)
    if location.kind != "value":
        return None
    path = tuple(location.path)
    value = value_at(document.value, path)
    if not isinstance(value, str):
        return None
    model = models.enclosing_model(document.value, path)
    if model is None:
        return None
    if models.is_reference(path) or path in models.references(document.value, model, value):
        return model, value, path
    return None


def references(
    document: Document, offset: int, encoding: str, include_declaration: bool = True
) -> list[types.Location]:
    found = layer_name_at(document, offset)
    if found is None:
        return []
    model, name, _ = found
    out = []
    definition_path = model.names.get(name)
    for path in models.references(document.value, model, name):
        if not include_declaration and path == definition_path:
            continue
        span = document.locate(path, "value")
        if span is not None:
            out.append(
                types.Location(
                    uri=document.uri, range=document.lines.range_of(span[0], span[1], encoding)
                )
            )
    return out


# -- symbols ------------------------------------------------------------------------------------


def document_symbols(
    document: Document, encoding: str, limit: int | None = None
) -> tuple[list[types.DocumentSymbol], bool]:
    """The layer outline: the document's object, its layers, wrapped layers and sub-models;
    and whether it was cut at `limit` entries (the root's detail then says so too)."""
    limit = MAX_SYMBOLS if limit is None else limit
    value = document.value
    if not isinstance(value, dict):
        return [], False
    budget = [limit]
    symbol = _symbol(document, value, (), encoding, budget)
    if symbol is None:
        return [], False
    limited = budget[0] <= 0 and _more_than(value, limit)
    if limited:
        symbol.detail = f"{symbol.detail or ''} (outline limited to {limit} entries)".strip()
    return [symbol], limited


def _more_than(envelope: Any, limit: int) -> bool:
    """Whether the outline of `envelope` has more than `limit` entries."""
    pending, count = [envelope], 0
    while pending:
        item = pending.pop()
        if not isinstance(item, dict):
            continue
        count += 1
        if count > limit:
            return True
        config = item.get("config")
        if isinstance(config, dict):
            if isinstance(config.get("layers"), list):
                pending.extend(config["layers"])
            for key in ("layer", "backward_layer", "cell"):
                nested = config.get(key)
                if isinstance(nested, dict) and "class_name" in nested:
                    pending.append(nested)
    return False


def _symbol(
    document, envelope, path: JsonPath, encoding, budget, span: tuple[int, int] | None = None
) -> types.DocumentSymbol | None:
    if budget[0] <= 0 or not isinstance(envelope, dict):
        return None
    span = span or document.locate(path, "value")
    if span is None:
        return None
    budget[0] -= 1
    config = c if isinstance(c := envelope.get("config"), dict) else {}
    class_name = envelope.get("class_name")
    name = envelope.get("name") or config.get("name")
    label = str(name) if isinstance(name, str) and name else str(class_name or "object")
    selection = _class_name_span(document.text, span) if "class_name" in envelope else None
    if selection is None:
        selection_path = (*path, "class_name") if "class_name" in envelope else path
        selection = document.locate(selection_path, "value") or span
    children = []
    layers = config.get("layers")
    if isinstance(layers, list):
        # One pass over the array for every item's span: locating item i on its own walks the
        # i items before it, which is quadratic on a model of thousands of layers.
        spans = document.item_spans((*path, "config", "layers"))
        if spans is None or len(spans) != len(layers):
            spans = [None] * len(layers)
        for index, (layer, item_span) in enumerate(zip(layers, spans, strict=True)):
            child = _symbol(
                document, layer, (*path, "config", "layers", index), encoding, budget, item_span
            )
            if child is not None:
                children.append(child)
    for key in ("layer", "backward_layer", "cell"):
        nested = config.get(key)
        if isinstance(nested, dict) and "class_name" in nested:
            child = _symbol(document, nested, (*path, "config", key), encoding, budget)
            if child is not None:
                children.append(child)
    family = "model" if isinstance(layers, list) else "layer"
    return types.DocumentSymbol(
        name=label,
        detail=str(class_name) if class_name is not None else None,
        kind=types.SymbolKind.Module if family == "model" else types.SymbolKind.Class,
        range=document.lines.range_of(span[0], span[1], encoding),
        selection_range=document.lines.range_of(selection[0], selection[1], encoding),
        children=children or None,
    )


_CLASS_NAME = re.compile(r'"class_name"\s*:\s*("(?:[^"\\\n]|\\.)*")')


def _class_name_span(text: str, span: tuple[int, int]) -> tuple[int, int] | None:
    """The ``class_name`` value of the object at ``span``, found in its own text: the first
    such key directly inside that object (not in a nested one)."""
    start, end = span
    for match in _CLASS_NAME.finditer(text, start, end):
        depth = 0
        for token in _TOKENS.finditer(text, start, match.start()):
            value = token.group()
            if value in "{[":
                depth += 1
            elif value in "}]":
                depth -= 1
        if depth == 1:
            return match.start(1), match.end(1)
        return None  # the first one is nested: let the document say where the key is
    return None


# -- folding ------------------------------------------------------------------------------------


def folding_ranges(
    document: Document, limit: int = MAX_FOLDING_RANGES
) -> tuple[list[types.FoldingRange], bool]:
    """Objects and arrays that span lines, and whether some were left out. They are taken
    level by level from the syntax tree, outermost first, so past `limit` the most deeply
    nested ones are left out (as VS Code does) and a large model's layers still fold; the
    walk stops there, so its cost follows the ranges returned, not the document's size."""
    to_str = document._offsets.to_str
    line_at = document.lines.line_at
    by_rows = document._offsets.ascii and document.lines.breaks_at_newline_only
    found: list[tuple[int, int]] = []
    level = _child_containers(document.tree.root_node)
    limited = False
    while level and not limited:
        deeper: list[Node] = []
        for node in level:
            if by_rows:  # tree-sitter's rows are the lines when "\n" is the only break
                first, last = node.start_point.row, node.end_point.row
            else:
                first = line_at(to_str(node.start_byte))
                last = line_at(to_str(node.end_byte - 1))
            if last > first:
                if len(found) == limit:
                    limited = True
                    break
                found.append((first, last))
                deeper.extend(_child_containers(node))
        level = deeper
    found.sort()
    return [types.FoldingRange(start_line=first, end_line=last - 1) for first, last in found], (
        limited
    )


_CONTAINERS = ("object", "array")


def _child_containers(node: Node) -> list[Node]:
    """The objects and arrays directly inside `node`: its items, its pairs' values, and
    those inside error nodes (whose parts tree-sitter still recognises)."""
    out = []
    for child in node.named_children:
        kind = child.type
        if kind in _CONTAINERS:
            out.append(child)
        elif kind == "pair":
            value = child.child_by_field_name("value")
            if value is not None and value.type in _CONTAINERS:
                out.append(value)
            elif value is not None and value.type == "ERROR":
                out.extend(_child_containers(value))
        elif kind == "ERROR" or kind == "document":
            out.extend(_child_containers(child))
    return out
