"""Go to definition, references, document symbols (the layer outline) and folding ranges."""

from __future__ import annotations

import re
from pathlib import Path as FsPath
from typing import Any

from lsprotocol import types

from ..catalog import Catalog
from . import models
from .schema_path import SchemaWalker, value_at

Path = tuple[str | int, ...]

MAX_SYMBOLS = 5000
MAX_FOLDING_RANGES = 5000
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"?|[{}\[\]]')


def definition(
    document: Any, offset: int, catalog: Catalog, walker: SchemaWalker, encoding: str
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
        source = (entry or {}).get("source") or {}
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


def layer_name_at(document: Any, offset: int) -> tuple[models.ModelLayers, str, Path] | None:
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
    document: Any, offset: int, encoding: str, include_declaration: bool = True
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


def document_symbols(document: Any, encoding: str) -> list[types.DocumentSymbol]:
    """The layer outline: the document's object, its layers, wrapped layers and sub-models."""
    value = document.value
    if not isinstance(value, dict):
        return []
    budget = [MAX_SYMBOLS]
    symbol = _symbol(document, value, (), encoding, budget)
    if symbol is None:
        return []
    if budget[0] <= 0:
        symbol.detail = f"{symbol.detail or ''} (outline limited to {MAX_SYMBOLS} entries)".strip()
    return [symbol]


def _symbol(
    document, envelope, path: Path, encoding, budget, span: tuple[int, int] | None = None
) -> types.DocumentSymbol | None:
    if budget[0] <= 0 or not isinstance(envelope, dict):
        return None
    span = span or document.locate(path, "value")
    if span is None:
        return None
    budget[0] -= 1
    config = envelope.get("config") if isinstance(envelope.get("config"), dict) else {}
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
            child = _symbol(document, layer, (*path, "config", "layers", index), encoding,
                            budget, item_span)
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


def folding_ranges(document: Any) -> list[types.FoldingRange]:
    """Objects and arrays that span lines, found by one scan of the text (no tree walk)."""
    text = document.text
    lines = document.lines
    stack: list[int] = []
    ranges: list[types.FoldingRange] = []
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "{[":
            stack.append(match.start())
        elif token in "}]" and stack:
            start = stack.pop()
            first, last = lines.line_at(start), lines.line_at(match.start())
            if last > first:
                ranges.append(types.FoldingRange(start_line=first, end_line=last - 1))
                if len(ranges) >= MAX_FOLDING_RANGES:
                    break
    ranges.sort(key=lambda r: r.start_line)
    return ranges
