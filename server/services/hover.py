"""Hover: a class's summary, signature, source and docs; a key's description, type and default;
what a value means."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ...codes import JsonPath
from ..catalog import Catalog, Entry
from . import markdown, models
from .completion import ClientSupport, _type_label
from .schema_match import Matcher, value_at

if TYPE_CHECKING:
    from ..document import Document


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class Hoverer:
    def __init__(self, catalog: Catalog, walker: Matcher | None = None):
        self.catalog = catalog
        self.walker = walker or Matcher(catalog)

    def hover(self, document: Document, offset: int, support: ClientSupport) -> types.Hover | None:
        location = document.node_at(offset)
        if location.span is None or location.kind not in ("key", "value"):
            return None
        path = tuple(location.path)
        if location.kind == "key":
            if location.key is None:
                return None
            path = (*path, location.key)
            text = self._key(document, path)
        else:
            text = self._value(document, path)
        if not text:
            return None
        start, end = location.span
        if not support.markdown:
            text = markdown.plain(text)
        kind = types.MarkupKind.Markdown if support.markdown else types.MarkupKind.PlainText
        return types.Hover(
            contents=types.MarkupContent(kind=kind, value=text),
            range=document.lines.range_of(start, end, support.encoding),
        )

    def class_markdown(self, entry: Entry) -> str:
        summary = markdown.docstring(entry.get("summary") or "") or "no summary"
        parts = [f"**{markdown.text(entry['class_name'])}** — {summary}"]
        if entry.get("signature"):
            parts.append(markdown.block(entry["signature"], "python"))
        links = []
        source: Mapping[str, Any] = entry.get("source") or {}
        if isinstance(source.get("file"), str) and FsPath(source["file"]).is_absolute():
            uri = FsPath(source["file"]).as_uri()  # percent-encoded: nothing in it is markdown
            line = source.get("line")
            line = line if isinstance(line, int) and not isinstance(line, bool) else 1
            name = markdown.text(f"{FsPath(source['file']).name}:{line}")
            links.append(f"[{name}]({uri}#L{line})")
        doc_url = markdown.web_address(entry.get("doc_url"))
        if doc_url:
            links.append(f"[Keras documentation]({doc_url})")
        registered = entry.get("registered_name")
        if registered:
            links.append(f"registered as {markdown.code(str(registered))}")
        if links:
            parts.append(" · ".join(links))
        return "\n\n".join(parts)

    def _key(self, document: Document, path: JsonPath) -> str:
        match = self.walker.match(document.value, path)
        param = match.param or {}
        schemas = match.schemas
        description = param.get("description") or next(
            (
                s.get("markdownDescription") or s.get("description")
                for s in schemas
                if s.get("description")
            ),
            "",
        )
        if not description and not schemas and not param:
            return ""
        label = next((_type_label(s) for s in schemas if _type_label(s)), "")
        key = path[-1]
        head = f"**{markdown.text(key if isinstance(key, str) else str(key))}**"
        if label:
            head += f": {markdown.code(label)}"
        if param.get("required"):
            head += " (required)"
        parts = [head]
        if description:
            parts.append(markdown.docstring(description))
            if param.get("description_from"):
                parts.append(f"_(as documented for {markdown.code(param['description_from'])})_")
        default = _default(param, schemas)
        if default is not _NONE:
            line = f"Default: {markdown.code(_dumps(default))}"
            if match.has_value:
                same = match.value == default or (
                    "default" in param and match.value == param["default"]
                )
                line += " — the current value is the default" if same else ""
            parts.append(line)
        allowed = param.get("allowed")
        if allowed:
            parts.append("Allowed: " + ", ".join(markdown.code(_dumps(v)) for v in allowed))
        bounds = []
        if "minimum" in param:
            bounds.append(f"≥ {markdown.text(str(param['minimum']))}")
        if "maximum" in param:
            bounds.append(f"≤ {markdown.text(str(param['maximum']))}")
        if bounds:
            parts.append("Range: " + ", ".join(bounds))
        if match.entry is not None and match.param is not None:
            parts.append(f"_{markdown.text(match.entry['class_name'])}_")
        return "\n\n".join(parts)

    def _value(self, document: Document, path: JsonPath) -> str:
        value = value_at(document.value, path)
        if path and path[-1] == "class_name" and isinstance(value, str):
            entry = self.walker.class_of(document.value, path[:-1])
            if entry is None:
                found = self.catalog.find(value)
                entry = found[0] if found else None
            return self.class_markdown(entry) if entry else ""
        if isinstance(value, str) and models.is_reference(path):
            return f"Layer {markdown.code(value)} of this model"
        if isinstance(value, str):
            meaning = self._meaning(value)
            if meaning:
                return meaning
        if path and isinstance(path[-1], str):
            return self._key(document, path)
        return ""

    def _meaning(self, name: str) -> str:
        activation = self.catalog.names.get("activation", {})
        if isinstance(activation, dict) and name in activation:
            summary = markdown.docstring(activation[name] or "") or "no summary"
            return f"**{markdown.text(name)}** (activation) — {summary}"
        for family in ("initializer", "regularizer", "constraint"):
            class_name = self.catalog.names.get(family, {}).get(name)
            if class_name:
                found = self.catalog.find(class_name, [family])
                summary = markdown.docstring(found[0].get("summary", "")) if found else ""
                return (
                    f"**{markdown.text(name)}** ({family}: {markdown.code(class_name)}) — {summary}"
                )
        if name in self.catalog.names.get("dtype", []):
            return f"**{markdown.text(name)}** (dtype)"
        return ""


_NONE = object()


def _default(param: dict[str, Any], schemas: list[dict[str, Any]]) -> Any:
    if "config_default" in param:
        return param["config_default"]
    if "default" in param:
        return param["default"]
    for schema in schemas:
        if "default" in schema:
            return schema["default"]
    return _NONE
