"""Hover: a class's summary, signature, source and docs; a key's description, type and default;
what a value means."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ...codes import JsonPath
from ..catalog import Catalog, Entry
from . import models
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
            text = _plain(text)
        kind = types.MarkupKind.Markdown if support.markdown else types.MarkupKind.PlainText
        return types.Hover(
            contents=types.MarkupContent(kind=kind, value=text),
            range=document.lines.range_of(start, end, support.encoding),
        )

    def class_markdown(self, entry: Entry) -> str:
        parts = [f"**{entry['class_name']}** — {entry.get('summary') or 'no summary'}"]
        if entry.get("signature"):
            parts.append(f"```python\n{entry['signature']}\n```")
        links = []
        source: Mapping[str, Any] = entry.get("source") or {}
        if source.get("file"):
            uri = FsPath(source["file"]).as_uri()
            line = source.get("line") or 1
            links.append(f"[{FsPath(source['file']).name}:{line}]({uri}#L{line})")
        if entry.get("doc_url"):
            links.append(f"[Keras documentation]({entry['doc_url']})")
        if entry.get("registered_name"):
            links.append(f"registered as `{entry['registered_name']}`")
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
        head = f"**{path[-1]}**"
        if label:
            head += f": `{label}`"
        if param.get("required"):
            head += " (required)"
        parts = [head]
        if description:
            parts.append(description)
            if param.get("description_from"):
                parts.append(f"_(as documented for `{param['description_from']}`)_")
        default = _default(param, schemas)
        if default is not _NONE:
            line = f"Default: `{_dumps(default)}`"
            if match.has_value:
                same = match.value == default or (
                    "default" in param and match.value == param["default"]
                )
                line += " — the current value is the default" if same else ""
            parts.append(line)
        allowed = param.get("allowed")
        if allowed:
            parts.append("Allowed: " + ", ".join(f"`{_dumps(v)}`" for v in allowed))
        bounds = []
        if "minimum" in param:
            bounds.append(f"≥ {param['minimum']}")
        if "maximum" in param:
            bounds.append(f"≤ {param['maximum']}")
        if bounds:
            parts.append("Range: " + ", ".join(bounds))
        if match.entry is not None and match.param is not None:
            parts.append(f"_{match.entry['class_name']}_")
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
            return f"Layer `{value}` of this model"
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
            return f"**{name}** (activation) — {activation[name] or 'no summary'}"
        for family in ("initializer", "regularizer", "constraint"):
            class_name = self.catalog.names.get(family, {}).get(name)
            if class_name:
                found = self.catalog.find(class_name, [family])
                summary = found[0].get("summary", "") if found else ""
                return f"**{name}** ({family}: `{class_name}`) — {summary}"
        if name in self.catalog.names.get("dtype", []):
            return f"**{name}** (dtype)"
        return ""


_NONE = object()


def _plain(markdown: str) -> str:
    """What a client that asked for plain text should see of the markdown."""
    text = re.sub(r"```\w*\n?", "", markdown)
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 <\2>", text)
    text = re.sub(r"(?<!\w)_([^_\n]+)_(?!\w)", r"\1", text)
    return text.replace("**", "").replace("`", "")


def _default(param: dict[str, Any], schemas: list[dict[str, Any]]) -> Any:
    if "config_default" in param:
        return param["config_default"]
    if "default" in param:
        return param["default"]
    for schema in schemas:
        if "default" in schema:
            return schema["default"]
    return _NONE
