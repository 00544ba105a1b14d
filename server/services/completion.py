"""Completion: config keys, values, class names, whole layer envelopes and layer names."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ...codes import JsonPath
from ..catalog import Catalog
from . import markdown, models
from .schema_match import Match, Matcher, missing, value_at

if TYPE_CHECKING:
    from ..document import Document, Location


@dataclass(frozen=True)
class ClientSupport:
    """What the client can take, decided once at initialize."""

    snippets: bool = False
    markdown: bool = True
    encoding: str = "utf-16"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _snippet_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("$", "\\$").replace("}", "\\}")


def _doc(text: str, support: ClientSupport) -> types.MarkupContent | str | None:
    """Documentation from markdown made by this module (its docstrings through
    ``markdown.docstring``)."""
    if not text:
        return None
    if support.markdown:
        return types.MarkupContent(kind=types.MarkupKind.Markdown, value=text)
    return markdown.plain(text)


class Completer:
    def __init__(self, catalog: Catalog, walker: Matcher | None = None):
        self.catalog = catalog
        self.walker = walker or Matcher(catalog)

    def complete(
        self, document: Document, offset: int, support: ClientSupport
    ) -> types.CompletionList:
        offset = min(max(offset, 0), len(document.text))  # a position past the end: the end
        location = document.node_at(offset)
        items: list[types.CompletionItem] = []
        if location.kind in ("key", "object"):
            items = self._keys(document, location, offset, support)
        elif location.kind in ("value", "array"):
            items = self._values(document, location, offset, support)
        return types.CompletionList(is_incomplete=False, items=items)

    # -- replacement range -----------------------------------------------------------------------
    def _edit_range(
        self, document: Document, location: Location, offset: int, support: ClientSupport
    ) -> types.Range:
        if location.span is not None and location.span[0] <= offset <= location.span[1]:
            start, end = location.span
        else:
            start = end = offset
        return document.lines.range_of(start, end, support.encoding)

    # -- keys ------------------------------------------------------------------------------------
    def _keys(self, document: Document, location: Location, offset: int, support: ClientSupport):
        path = tuple(location.path)
        match = self.walker.match(document.value, path)
        present = match.value if isinstance(match.value, dict) else {}
        typing_key = location.key if location.kind == "key" else None
        required: set[str] = set()
        properties: dict[str, dict[str, Any]] = {}
        for schema in match.schemas:
            required.update(schema.get("required", []))
            for name, sub in schema.get("properties", {}).items():
                properties.setdefault(name, sub)
        entry = match.entry if _is_config(match, path) else None
        params: Mapping[str, Any] = entry.get("params", {}) if entry is not None else {}
        edit_range = (
            self._edit_range(document, location, offset, support)
            if location.kind == "key"
            else None
        )
        has_value, comma_before, comma_after = _surroundings(
            document.text, location, offset, edit_range is not None
        )
        items = []
        for name, sub in properties.items():
            if name in present and name != typing_key:
                continue
            param = params.get(name, {})
            resolved = self.walker.resolve(sub)
            default = _default_of(resolved, param)
            rank = "0" if name in required else ("1" if param.get("in_signature") else "2")
            if location.kind == "key" and has_value:
                text, fmt = _dumps(name), types.InsertTextFormat.PlainText
            else:
                text, fmt = self._key_with_value(name, resolved, default, name in required, support)
                # What keeps the document valid around the new member.
                text = f"{', ' if comma_before else ''}{text}{',' if comma_after else ''}"
            detail = _type_label(resolved)
            if name in required:
                detail = f"{detail} (required)".strip()
            items.append(
                types.CompletionItem(
                    label=name,
                    kind=types.CompletionItemKind.Property,
                    detail=detail or None,
                    documentation=_doc(_key_doc(resolved, param, default), support),
                    sort_text=f"{rank}_{name}",
                    filter_text=_dumps(name) if location.kind == "key" else name,
                    insert_text_format=fmt,
                    text_edit=types.TextEdit(range=edit_range, new_text=text)
                    if edit_range
                    else None,
                    insert_text=None if edit_range else text,
                )
            )
        return items

    def _key_with_value(
        self,
        name: str,
        schema: dict[str, Any],
        default: Any,
        required: bool,
        support: ClientSupport,
    ) -> tuple[str, types.InsertTextFormat]:
        value = default if default is not missing() else placeholder(schema)
        text = _dumps(value) if value is not missing() else ""
        key = _dumps(name)  # a JSON string whatever the name holds (a quote, a backslash)
        if support.snippets:
            body = _snippet_escape(text) if text else ""
            return f"{_snippet_escape(key)}: ${{1:{body}}}", types.InsertTextFormat.Snippet
        return f"{key}: {text or 'null'}", types.InsertTextFormat.PlainText

    # -- values ----------------------------------------------------------------------------------
    def _values(self, document: Document, location: Location, offset: int, support: ClientSupport):
        path = tuple(location.path)
        if location.kind == "array":
            # A new element of an array: its item schema.
            index = len(value_at(document.value, path) or [])
            path = (*path, index)
        edit_range = self._edit_range(document, location, offset, support)
        if models.is_reference(path):
            return self._layer_names(document, path, edit_range)
        if path and path[-1] == "class_name":
            return self._class_names(document, path[:-1], edit_range, support)
        schemas = self.walker.expand(_unexpanded(self.walker, document.value, path), missing())
        items: dict[str, types.CompletionItem] = {}
        for schema in schemas:
            descriptions = schema.get("enumDescriptions", [])
            for index, option in enumerate(schema.get("enum", [])):
                summary = descriptions[index] if index < len(descriptions) else ""
                if not summary and isinstance(option, str):
                    summary = self._value_summary(option)
                self._add(
                    items, option, edit_range, types.CompletionItemKind.EnumMember, summary, support
                )
            if "const" in schema:
                self._add(
                    items, schema["const"], edit_range, types.CompletionItemKind.Value, "", support
                )
            types_ = schema.get("type")
            declared = types_ if isinstance(types_, list) else [types_] if types_ else []
            if "boolean" in declared:
                for option in (True, False):
                    self._add(
                        items, option, edit_range, types.CompletionItemKind.Value, "", support
                    )
            if "null" in declared:
                self._add(items, None, edit_range, types.CompletionItemKind.Value, "", support)
            for snippet in schema.get("defaultSnippets", []):
                label = snippet.get("label", "")
                body = snippet.get("body")
                if isinstance(body, dict) and "class_name" in body and _is_layer_list(path):
                    body = {
                        **body,
                        "config": {
                            **body.get("config", {}),
                            "name": _free_name(document.value, path, label),
                        },
                    }
                text = json.dumps(body, ensure_ascii=False)
                items.setdefault(
                    f"snippet:{label}",
                    types.CompletionItem(
                        label=f"{label} envelope" if "class_name" in (body or {}) else label,
                        kind=types.CompletionItemKind.Snippet,
                        detail=snippet.get("description") or None,
                        text_edit=types.TextEdit(range=edit_range, new_text=text),
                        filter_text=label,
                        sort_text=f"3_{label}",
                    ),
                )
        return list(items.values())

    def _add(self, items, value, edit_range, kind, summary, support) -> None:
        text = _dumps(value)
        if text in items:
            return
        items[text] = types.CompletionItem(
            label=value if isinstance(value, str) else text,
            kind=kind,
            documentation=_doc(markdown.docstring(summary), support),
            filter_text=text,
            text_edit=types.TextEdit(range=edit_range, new_text=text),
            sort_text=f"1_{text}",
        )

    def _value_summary(self, name: str) -> str:
        activation = self.catalog.names.get("activation", {})
        if isinstance(activation, dict) and name in activation:
            return activation[name]
        for family in ("initializer", "regularizer", "constraint"):
            class_name = self.catalog.names.get(family, {}).get(name)
            if class_name:
                found = self.catalog.find(class_name, [family])
                if found:
                    return found[0].get("summary", "")
        return ""

    def _class_names(self, document, envelope_path: JsonPath, edit_range, support):
        match = self.walker.match(document.value, envelope_path)
        allowed: list[str] = []
        for schema in match.schemas:
            test = schema.get("properties", {}).get("class_name", {})
            # The names of the family, in the enum of the anyOf that takes any other name too
            for branch in [test, *test.get("anyOf", [])]:
                allowed += branch.get("enum", []) if isinstance(branch, dict) else []
        envelope = match.value if isinstance(match.value, dict) else {}
        items = []
        for name in dict.fromkeys(allowed):
            entries = self.catalog.find(name)
            entry: Mapping[str, Any] = entries[0] if entries else {}
            extra = self._envelope_edits(document, envelope_path, envelope, entry, support)
            items.append(
                types.CompletionItem(
                    label=name,
                    kind=types.CompletionItemKind.Class,
                    detail=entry.get("registered_name") or entry.get("module"),
                    documentation=_doc(markdown.docstring(entry.get("summary") or ""), support),
                    filter_text=_dumps(name),
                    text_edit=types.TextEdit(range=edit_range, new_text=_dumps(name)),
                    additional_text_edits=extra or None,
                    sort_text=("1_" if entry.get("custom") else "0_") + name,
                )
            )
        return items

    def _envelope_edits(
        self, document, envelope_path, envelope, entry, support
    ) -> list[types.TextEdit]:
        """Keep ``module`` and ``registered_name`` consistent with the chosen class."""
        edits = []
        for key in ("module", "registered_name"):
            if key not in envelope or key not in entry or envelope[key] == entry[key]:
                continue
            span = document.locate((*envelope_path, key), "value")
            if span is not None:
                edits.append(
                    types.TextEdit(
                        range=document.lines.range_of(span[0], span[1], support.encoding),
                        new_text=_dumps(entry[key]),
                    )
                )
        return edits

    def _layer_names(self, document, path: JsonPath, edit_range) -> list[types.CompletionItem]:
        model = models.enclosing_model(document.value, path)
        if model is None:
            return []
        return [
            types.CompletionItem(
                label=name,
                kind=types.CompletionItemKind.Reference,
                filter_text=_dumps(name),
                text_edit=types.TextEdit(range=edit_range, new_text=_dumps(name)),
                sort_text=f"{index:06d}",
            )
            for index, name in enumerate(model.names)
        ]


def _surroundings(
    text: str, location: Location, offset: int, on_key: bool
) -> tuple[bool, bool, bool]:
    """For a key completed at ``offset``: whether the key already has its ':' and value
    (then only the key is replaced), and whether a ',' is needed before or after the new
    member for the object to stay valid JSON."""
    start, end = location.span if on_key and location.span is not None else (offset, offset)
    after = _next_char(text, end)
    if on_key and after == ":":
        return True, False, False
    before = _previous_char(text, start)
    # A member ends before us without a comma: a value's last character.
    comma_before = before not in ("{", ",", "")
    # Another member follows: a key string (or anything but the object's end or a comma).
    comma_after = after not in ("}", ",", "")
    return False, comma_before, comma_after


def _next_char(text: str, index: int) -> str:
    """The first non-blank character at or after ``index`` ("" at the end)."""
    length = len(text)
    while index < length and text[index] in " \t\r\n":
        index += 1
    return text[index] if index < length else ""


def _previous_char(text: str, index: int) -> str:
    """The last non-blank character before ``index`` ("" at the start)."""
    index -= 1
    while index >= 0 and text[index] in " \t\r\n":
        index -= 1
    return text[index] if index >= 0 else ""


def _is_config(match: Match, path: JsonPath) -> bool:
    return match.envelope_path is not None and path == (*match.envelope_path, "config")


def _is_layer_list(path: JsonPath) -> bool:
    return len(path) >= 2 and path[-2] == "layers" and isinstance(path[-1], int)


def _free_name(value: Any, path: JsonPath, label: str) -> str:
    model = models.enclosing_model(value, path)
    taken = set(model.names) if model else set()
    # Keras's own naming: Conv2D -> conv2d, GlobalAveragePooling2D -> global_average_pooling2d
    base = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", label)
    base = re.sub("([a-z])([A-Z])", r"\1_\2", base).lower() or "layer"
    name, index = base, 1
    while name in taken:
        name, index = f"{base}_{index}", index + 1
    return name


def _unexpanded(walker: Matcher, root: Any, path: JsonPath) -> list[dict[str, Any]]:
    """The raw schemas at ``path``, before the value there narrows the ``anyOf`` branches."""
    if not path:
        return [walker.catalog.schema]
    parent = walker.match(root, path[:-1])
    step = path[-1]
    out = []
    for schema in parent.schemas:
        if isinstance(step, str):
            sub = schema.get("properties", {}).get(step)
            if sub is not None:
                out.append(sub)
        else:
            prefix = schema.get("prefixItems", [])
            if step < len(prefix):
                out.append(prefix[step])
            elif isinstance(schema.get("items"), dict):
                out.append(schema["items"])
    return out


def _default_of(schema: dict[str, Any], param: dict[str, Any]) -> Any:
    if "config_default" in param:
        return param["config_default"]
    if "default" in schema:
        return schema["default"]
    if "default" in param:
        return param["default"]
    return missing()


def placeholder(schema: dict[str, Any]) -> Any:
    """A value of the schema's first type for the user to replace (missing() if none)."""
    if schema.get("enum"):
        return schema["enum"][0]
    declared = schema.get("type")
    first = declared[0] if isinstance(declared, list) else declared
    if not isinstance(first, str):
        return missing()
    return {
        "integer": 1,
        "number": 0.0,
        "string": "",
        "boolean": False,
        "array": [],
        "object": {},
        "null": None,
    }.get(first, missing())


def _type_label(schema: dict[str, Any]) -> str:
    declared = schema.get("type")
    if declared:
        return " | ".join(declared) if isinstance(declared, list) else declared
    if "anyOf" in schema:
        labels = []
        for branch in schema["anyOf"]:
            ref = branch.get("$ref", "")
            if ref:
                labels.append(ref.rsplit("/", 1)[-1].replace("envelope.", ""))
            elif branch.get("type"):
                labels.append(_type_label(branch))
        return " | ".join(dict.fromkeys(labels))
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1].replace("envelope.", "")
    return ""


def _key_doc(schema: dict[str, Any], param: dict[str, Any], default: Any) -> str:
    parts = []
    text = (
        param.get("description")
        or schema.get("markdownDescription")
        or schema.get("description", "")
    )
    if text:
        parts.append(markdown.docstring(text))
    if default is not missing():
        parts.append(f"Default: {markdown.code(_dumps(default))}")
    return "\n\n".join(parts)
