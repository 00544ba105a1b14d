"""Text edits kept as str offsets until the LSP boundary, the minimal-edit helpers every
rewriting feature uses (quick fixes, upgrade, canonical form, formatting), and the formatter:
Keras's own layout (``json.dumps(indent=2)``) with the file's tokens and line endings kept.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from layercfg.codes import Code, JsonPath

from .schema_match import value_at

if TYPE_CHECKING:
    from ..document import Document, Span

INDENT = "  "  # what json.dumps(indent=2), and so Keras, writes

_NEWLINE = re.compile(r"\r\n|\r|\n")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+', re.DOTALL)
_JSON_SPACE = " \t\r\n"


@dataclass(frozen=True, order=True)
class Edit:
    """Replace ``text[start:end]`` with ``new_text``."""

    start: int
    end: int
    new_text: str


class FormattingRefused(Exception):
    """The document cannot be formatted; the message says why, for the user."""


# -- edits ---------------------------------------------------------------------------------------


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """The text after non-overlapping edits (any order)."""
    out = []
    position = 0
    for edit in sorted(edits):
        if edit.start < position:
            raise ValueError(f"overlapping edits at offset {edit.start}")
        out.append(text[position : edit.start])
        out.append(edit.new_text)
        position = edit.end
    out.append(text[position:])
    return "".join(out)


def overlaps(a: Sequence[Edit], b: Sequence[Edit]) -> bool:
    """Whether any edit of ``a`` touches any edit of ``b`` (two inserts at one place do)."""
    for x in a:
        for y in b:
            if x.start < y.end and y.start < x.end:
                return True
            if x.start == y.start or x.end == y.end:
                return True
            if (x.start == x.end and y.start <= x.start <= y.end) or (
                y.start == y.end and x.start <= y.start <= x.end
            ):
                return True
    return False


def to_text_edits(document: Document, edits: Iterable[Edit], encoding: str) -> list[types.TextEdit]:
    lines = document.lines
    return [
        types.TextEdit(range=lines.range_of(e.start, e.end, encoding), new_text=e.new_text)
        for e in sorted(edits)
    ]


def line_ending(text: str) -> str:
    """The file's line ending: the most common one, "\\n" for a text without any."""
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    cr = text.count("\r") - crlf
    best = max((lf, "\n"), (crlf, "\r\n"), (cr, "\r"))
    return best[1] if best[0] else "\n"


def match_line_endings(new_text: str, ending: str) -> str:
    """``new_text`` written with "\\n" turned into ``ending`` (JSON strings hold no raw
    line breaks, so every "\\n" is a line break)."""
    return new_text if ending == "\n" else new_text.replace("\n", ending)


def _lines(text: str) -> list[str]:
    """Lines with their breaks, split where LSP splits them (not at U+2028 and the like)."""
    out = []
    start = 0
    for match in _NEWLINE.finditer(text):
        out.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        out.append(text[start:])
    return out


def minimal_edits(old: str, new: str) -> list[Edit]:
    """Edits that turn ``old`` into ``new`` replacing whole lines, and only the lines that
    differ (ruff-lsp's ``_fixed_source_to_edits``). ``new`` must use the file's line endings
    already (``match_line_endings``)."""
    if old == new:
        return []
    a, b = _lines(old), _lines(new)
    head = 0
    while head < len(a) and head < len(b) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < len(a) - head and tail < len(b) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    starts = [0]
    for line in a:
        starts.append(starts[-1] + len(line))
    middle_a, middle_b = a[head : len(a) - tail], b[head : len(b) - tail]
    matcher = difflib.SequenceMatcher(None, middle_a, middle_b, autojunk=len(middle_a) > 2000)
    edits = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        edits.append(Edit(starts[head + i1], starts[head + i2], "".join(middle_b[j1:j2])))
    return edits


def rewrite_edits(old: str, new: str) -> list[Edit]:
    """Minimal edits for a text generated with "\\n" line breaks."""
    return minimal_edits(old, match_line_endings(new, line_ending(old)))


# -- edits of one member or value, in the file's layout -----------------------------------------


def dumps(value: Any) -> str:
    """A JSON value as one token or one line, as it goes into the text."""
    return json.dumps(value, ensure_ascii=False)


def snippet_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("$", "\\$").replace("}", "\\}")


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in _JSON_SPACE:
        index += 1
    return index


def _skip_space_back(text: str, index: int) -> int:
    """The index of the last non-space character before ``index`` (-1: none)."""
    index -= 1
    while index >= 0 and text[index] in _JSON_SPACE:
        index -= 1
    return index


def _line_start(text: str, index: int) -> int:
    return max(text.rfind("\n", 0, index), text.rfind("\r", 0, index)) + 1


def _alone_on_line(text: str, start: int, end: int) -> bool:
    before = text[_line_start(text, start) : start]
    after_end = _skip_horizontal(text, end)
    return not before.strip(" \t") and (after_end == len(text) or text[after_end] in "\r\n")


def _skip_horizontal(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t":
        index += 1
    return index


def _line_after(text: str, index: int) -> int:
    """The start of the line after the one holding ``index``."""
    match = _NEWLINE.search(text, index)
    return match.end() if match else len(text)


def replace_value(document: Document, path: JsonPath, new_text: str) -> list[Edit]:
    span = document.locate(tuple(path), "value")
    return [] if span is None else [Edit(span[0], span[1], new_text)]


def rename_key(document: Document, path: JsonPath, new_key: str) -> list[Edit]:
    span = document.locate(tuple(path), "key")
    return [] if span is None else [Edit(span[0], span[1], dumps(new_key))]


def remove_span(text: str, start: int, end: int) -> Edit:
    """Remove ``[start, end)``: its whole line when nothing else is on it, else with the
    spaces before it."""
    if _alone_on_line(text, start, end):
        return Edit(_line_start(text, start), _line_after(text, end), "")
    begin = start
    while begin > 0 and text[begin - 1] in " \t":
        begin -= 1
    return Edit(begin, end, "")


def remove_member(document: Document, path: JsonPath) -> list[Edit]:
    """Remove the member at ``path`` with its comma, keeping the layout of the others."""
    text = document.text
    key_span = document.locate(tuple(path), "key")
    if key_span is None:
        return []
    value_span = document.locate(tuple(path), "value")
    start = key_span[0]
    end = value_span[1] if value_span is not None else key_span[1]
    after = _skip_space(text, end)
    if after < len(text) and text[after] == ",":
        following = _skip_space(text, after + 1)
        line = _line_start(text, start)
        if not text[line:start].strip(" \t") and _NEWLINE.search(text[after + 1 : following]):
            return [Edit(line, _line_start(text, following), "")]
        return [Edit(start, following, "")]
    before = _skip_space_back(text, start)
    if before >= 0 and text[before] == ",":
        return [Edit(before, end, "")]
    if before >= 0 and text[before] == "{" and after < len(text) and text[after] == "}":
        return [Edit(before + 1, after, "")]
    return [Edit(start, end, "")]


def insert_member(
    document: Document,
    path: JsonPath,
    key: str,
    value_text: str,
    order: Sequence[str] = (),
    snippet: bool = False,
) -> list[Edit]:
    """Insert ``"key": value_text`` into the object at ``path``: after the last present key that
    comes before ``key`` in ``order`` (first when none does), on its own line with the
    members' indentation when they are on lines of their own. ``value_text`` is already a
    snippet when ``snippet`` is set; the rest is escaped for it."""
    path = tuple(path)
    text = document.text
    target = value_at(document.value, path)
    opening = document.locate(path, "value")
    if not isinstance(target, dict) or opening is None or text[opening[0]] != "{":
        return []
    escape = snippet_escape if snippet else (lambda t: t)
    member = escape(dumps(key) + ": ") + value_text
    ending = line_ending(text)
    key_spans: dict[str, Span] = {}
    for k in target:
        found = document.locate((*path, k), "key")
        if found is not None:
            key_spans[k] = found
    keys = list(key_spans)
    if not keys:
        # An object the text leaves open ("{" at the end) has no closing brace to keep.
        closed = opening[1] - opening[0] >= 2 and text[opening[1] - 1] == "}"
        close = opening[1] - 1 if closed else opening[1]
        inner = text[opening[0] + 1 : close]
        if "\n" in inner or "\r" in inner:
            indent = _indent_of(text, opening[0])
            return [
                Edit(
                    opening[0] + 1,
                    close,
                    escape(ending + indent + INDENT) + member + escape(ending + indent),
                )
            ]
        return [Edit(opening[0] + 1, close, member)]
    first_start = key_spans[keys[0]][0]
    multiline = bool(_NEWLINE.search(text, opening[0], first_start))
    indent = text[_line_start(text, first_start) : first_start] if multiline else ""
    if indent.strip(" \t"):
        indent = ""
    rank = {name: index for index, name in enumerate(order)}
    after = None
    if key in rank:
        before = [k for k in keys if rank.get(k, len(rank)) < rank[key]]
        after = before[-1] if before else None
        if after is None and not any(k in rank for k in keys):
            after = keys[-1]
    else:
        after = keys[-1]
    if after is None:
        separator = ending + indent if multiline else " "
        return [Edit(first_start, first_start, member + escape("," + separator))]
    span = document.locate((*path, after), "value") or key_spans[after]
    end = span[1]
    comma = _skip_space(text, end)
    if comma < len(text) and text[comma] == ",":
        lead = ending + indent if multiline else " "
        return [Edit(comma + 1, comma + 1, escape(lead) + member + escape(","))]
    lead = "," + (ending + indent if multiline else " ")
    return [Edit(end, end, escape(lead) + member)]


def _indent_of(text: str, index: int) -> str:
    start = _line_start(text, index)
    end = _skip_horizontal(text, start)
    return text[start:end]


# -- whole-document serialization in the file's style ---------------------------------------------


def dumps_like(
    value: Any,
    original: str,
    value_span: tuple[int, int] | None,
    original_value: Any = None,
) -> str:
    """``value`` as JSON text laid out like ``original``: on one line when it is on one line,
    else as ``json.dumps(indent=2)`` writes it (Keras's layout), or with the file's own indent
    unit when the file is ``json.dumps`` output with that unit; what surrounds the value (a
    final newline) is kept; "\\n" line breaks."""
    start, end = value_span if value_span is not None else (0, len(original))
    body = original[start:end]
    ensure_ascii = original.isascii()
    if "\n" in body or "\r" in body:
        indent: str | int = _indent_unit(body)
        if indent != 2 and (
            original_value is None
            or json.dumps(original_value, indent=indent, ensure_ascii=ensure_ascii)
            != body.replace("\r\n", "\n").replace("\r", "\n")
        ):
            indent = 2
        text = json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)
    else:
        text = json.dumps(value, ensure_ascii=ensure_ascii)
    prefix = original[:start].replace("\r\n", "\n").replace("\r", "\n")
    suffix = original[end:].replace("\r\n", "\n").replace("\r", "\n")
    return prefix + text + suffix


def _indent_unit(body: str) -> str | int:
    for line in _NEWLINE.split(body)[1:]:
        stripped = line.lstrip(" \t")
        if not stripped:
            continue
        lead = line[: len(line) - len(stripped)]
        if lead.startswith("\t"):
            return "\t"
        return len(lead) or 2
    return 2


# -- formatting ------------------------------------------------------------------------------------


def format_edits(document: Document) -> list[Edit]:
    """Edits that lay the document out as ``json.dumps(indent=2)`` does, changing only the
    whitespace between tokens (strings and numbers are kept as written) and only where it
    differs. Raises FormattingRefused on a document that is not strict JSON."""
    refusal = _refusal(document)
    if refusal:
        raise FormattingRefused(refusal)
    text = document.text
    start = 1 if text.startswith("\ufeff") else 0
    ending = line_ending(text)
    spans = _model_layer_spans(document)
    if spans is None:
        return _layout(text, start, None, 0, None, ending)
    return _layout_by_layer(text, start, spans, ending)


# A model's layers, laid out before: (the text from the gap before a layer to its end, the
# token before, the depth, the line ending) -> that text's edits, relative to its start. Kept
# from one whole-document formatting to the next, for the layers met in the last one: after an
# edit only the edited layer is walked again.
_LAYER_EDITS: dict[tuple[str, str | None, int, str], list[Edit]] = {}
_FEW_LAYERS = 64


def _model_layer_spans(document: Document) -> list[tuple[int, int]] | None:
    value = document.value
    config = value.get("config") if isinstance(value, dict) else None
    layers = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list) or len(layers) < _FEW_LAYERS:
        return None
    spans = document.item_spans(("config", "layers"))
    return spans if spans and len(spans) == len(layers) else None


def _layout_by_layer(
    text: str, start: int, spans: list[tuple[int, int]], ending: str
) -> list[Edit]:
    """``_layout`` of the whole text, with each layer's part taken from ``_LAYER_EDITS`` when
    the same text was laid out before in the same place."""
    global _LAYER_EDITS
    edits: list[Edit] = []
    kept: dict[tuple[str, str | None, int, str], list[Edit]] = {}
    state: tuple[int, int, str | None] = (start, 0, None)
    for item_start, item_end in spans:
        walked = _layout_span(text, state, item_start, ending, edits)
        assert walked is not None  # no stop given
        gap_start, depth, previous = walked
        key = (text[gap_start:item_end], previous, depth, ending)
        relative = kept.get(key) or _LAYER_EDITS.get(key)
        if relative is None:
            relative = []
            _layout_span(
                text[gap_start:item_end],
                (0, depth, previous),
                item_end - gap_start,
                ending,
                relative,
            )
        kept[key] = relative
        edits.extend(Edit(e.start + gap_start, e.end + gap_start, e.new_text) for e in relative)
        last = text[item_end - 1]
        state = (item_end, depth, last if last in "{[,:" else "value")
    _LAYER_EDITS = kept
    return edits + _layout(text, state[0], None, state[1], state[2], ending)


def _layout_span(
    text: str,
    state: tuple[int, int, str | None],
    end: int,
    ending: str,
    edits: list[Edit],
    stop: int | None = None,
) -> tuple[int, int, str | None] | None:
    """Lay out the tokens that start before ``end``; the state (where the gap before the next
    token starts, the depth, the token before it) is handed back for the rest. With ``stop``,
    the walk ends after the gap before the first token that starts past it (None back)."""
    gap_start, depth, previous = state
    for match in _TOKEN.finditer(text, gap_start, end):
        token_start = match.start()
        token = match.group()
        if token == "}" or token == "]":
            depth -= 1
            gap = "" if previous == "{" or previous == "[" else ending + INDENT * depth
        elif previous is None:
            gap = ""
        elif previous == "{" or previous == "[" or previous == ",":
            gap = ending + INDENT * depth
        elif previous == ":":
            gap = " "
        else:
            gap = ""
        if token == "{" or token == "[":
            depth += 1
        if text[gap_start:token_start] != gap:
            edits.append(_trimmed(gap_start, text[gap_start:token_start], gap))
        if stop is not None and token_start > stop:
            return None
        previous = token
        gap_start = match.end()
    return gap_start, depth, previous


def _layout(
    text: str, gap_start: int, stop: int | None, depth: int, previous: str | None, ending: str
) -> list[Edit]:
    """The layout edits from ``gap_start`` on, where the text has ``depth`` brackets open and
    ``previous`` is the token before (None: the document's start). With ``stop``, the walk ends
    after the gap before the first token that starts past ``stop``."""
    edits: list[Edit] = []
    state = _layout_span(text, (gap_start, depth, previous), len(text), ending, edits, stop)
    if state is None:
        return edits
    # What follows the value: a final line break stays (in the file's style), nothing else.
    trailing = text[state[0] :]
    wanted = ending if trailing and ("\n" in trailing or "\r" in trailing) else ""
    if trailing != wanted:
        edits.append(_trimmed(state[0], trailing, wanted))
    return edits


def _trimmed(start: int, old: str, new: str) -> Edit:
    """The edit replacing ``old`` (at ``start``) with ``new``, without the parts they share:
    a re-indented line gets an edit at its start, the line before it none. A "\\r\\n" pair
    is never split: LSP positions cannot point between its two characters."""
    limit = min(len(old), len(new))
    head = 0
    while head < limit and old[head] == new[head]:
        head += 1
    if 0 < head < len(old) and old[head - 1] == "\r" and old[head] == "\n":
        head -= 1
    tail = 0
    while tail < limit - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    if 0 < tail < len(old) - head and old[-1 - tail] == "\r" and old[len(old) - tail] == "\n":
        tail -= 1
    return Edit(start + head, start + len(old) - tail, new[head : len(new) - tail])


def range_format_edits(document: Document, start: int, end: int) -> list[Edit]:
    """The formatting edits that touch the lines of ``[start, end]``. Only those lines are
    walked: the depth where they begin comes from the syntax tree, so formatting one layer of
    a 10 MB model costs what the layer costs."""
    refusal = _refusal(document)
    if refusal:
        raise FormattingRefused(refusal)
    text = document.text
    lines = document.lines
    first = lines.line_start(lines.line_at(start))
    last = lines.line_end(lines.line_at(end))
    # A line never starts inside a string of strict JSON: what precedes ``first`` is
    # whitespace after a whole token, or the document's start.
    head = 1 if text.startswith("\ufeff") else 0
    gap_start = len(text[:first].rstrip(_JSON_SPACE))
    if gap_start <= head:
        gap_start, previous = head, None
    else:
        before = text[gap_start - 1]
        previous = before if before in "{[,:" else "value"
    depth = _depth_at(document, gap_start)
    edits = _layout(text, gap_start, last, depth, previous, line_ending(text))
    return [e for e in edits if e.end >= first and e.start <= last]


def _depth_at(document: Document, offset: int) -> int:
    """How many objects and arrays are open at ``offset`` (a str offset between tokens)."""
    byte = document._offsets.to_byte(offset)
    node = document.tree.root_node.descendant_for_byte_range(byte, byte)
    depth = 0
    while node is not None:
        if node.type in ("object", "array") and node.start_byte < byte < node.end_byte:
            depth += 1
        node = node.parent
    return depth


def _refusal(document: Document) -> str | None:
    for problem in document.problems:
        if problem.code == Code.INVALID_JSON:
            return "the document has syntax errors; fix them before formatting"
        if problem.code == Code.NOT_STRICT_JSON and (kind := (problem.data or {}).get("kind")) in (
            "comment",
            "trailing_comma",
        ):
            what = "comments" if kind == "comment" else "trailing commas"
            return f"the document has {what}, which JSON does not allow; remove them first"
    return None


def formatted_text(document: Document) -> str:
    """The whole formatted text (used by tests and the command line)."""
    return apply_edits(document.text, format_edits(document))
