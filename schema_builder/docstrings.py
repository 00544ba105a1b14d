"""Google-style docstring reading: the summary line and the ``Args:`` entries.

Keras writes its docstrings in Google style. This reader is forgiving: a docstring that does
not follow the style yields what could be read and never raises.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_ARGS_HEADERS = ("args", "arguments", "parameters", "params", "keyword arguments", "kwargs")
_SECTION = re.compile(r"^([A-Z][A-Za-z ]{1,40}):\s*$")
_ENTRY = re.compile(r"^(\*{0,2}[A-Za-z_][A-Za-z0-9_]*)(\s*\([^)]*\))?\s*:\s?(.*)$")


@dataclass
class Docstring:
    summary: str = ""
    body: str = ""
    args: dict[str, str] = field(default_factory=dict)


def parse(doc: str | None) -> Docstring:
    """Read a docstring; never raises."""
    if not doc:
        return Docstring()
    text = inspect.cleandoc(doc)
    lines = text.splitlines()
    summary_lines: list[str] = []
    for line in lines:
        if not line.strip():
            break
        summary_lines.append(line.strip())
    summary = " ".join(summary_lines)
    return Docstring(summary=summary, body=text, args=_read_args(lines))


def _read_args(lines: list[str]) -> dict[str, str]:
    args: dict[str, str] = {}
    i = 0
    while i < len(lines):
        header = _SECTION.match(lines[i].strip())
        if header and header.group(1).lower() in _ARGS_HEADERS and not lines[i].startswith(" "):
            i = _read_entries(lines, i + 1, args)
        else:
            i += 1
    return args


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _read_entries(lines: list[str], i: int, out: dict[str, str]) -> int:
    """Read the entries of one Args section from line ``i``; return the next line to read."""
    entry_indent: int | None = None
    name: str | None = None
    parts: list[str] = []

    def flush() -> None:
        if name is not None:
            text = " ".join(p for p in parts if p).strip()
            out.setdefault(name.lstrip("*"), text)

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            parts.append("")
            i += 1
            continue
        indent = _indent(line)
        if indent == 0:
            break
        if entry_indent is None:
            entry_indent = indent
        if indent < entry_indent:
            break
        match = _ENTRY.match(stripped) if indent == entry_indent else None
        if match:
            flush()
            name, parts = match.group(1), [match.group(3).strip()]
        elif name is not None:
            parts.append(stripped)
        i += 1
    flush()
    return i


# -- what an argument's description says of its values -----------------------------------------
# A quoted value: `"same"`, ``"same"``, "same", `'same'`; a bare `same` only where a stating
# phrase introduces the run it is in ("either `round_robin` or `waterfall`").
_VALUE = re.compile(
    r"""``?"(?P<q1>[A-Za-z0-9_\-]+)"``?|"(?P<q2>[A-Za-z0-9_\-]+)"|`'(?P<q3>[A-Za-z0-9_\-]+)'`"""
    r"""|(?<!`)`(?P<bare>[a-z][a-z0-9]*(?:_[a-z0-9]+)*)`(?!`)"""
)
# What may stand between two values of one run: a comma, "or", "and", a slash, and a short
# remark in parentheses (`"channels_last"` (default) or `"channels_first"`).
_SEPARATOR = re.compile(
    r"\s*(?:\([^()`\"]{0,30}\)\s*)?(?:,\s*(?:or\s+|and\s+)?|or\s+|and\s+|/\s*|\|\s*)", re.I
)
# Where the sentence introducing a run starts; examples are read from a parenthesis too
# ("a supported format (e.g., `"yxyx"`, `"xyxy"`)").
_SENTENCE_START = re.compile(r"\.\s|;\s|\n")
_CLAUSE_START = re.compile(r"\.\s|;\s|\n|\(|\)")
# Wording that states the allowed set.
_STATING = re.compile(
    r"\b(one of|either|must be|supports?|supported|options?|"
    r"valid values?|accepted values?|allowed values?|possible values?)\b",
    re.I,
)
# Wording that gives examples only: before a run ("such as", "e.g.") or after it ("etc").
_EXAMPLES_BEFORE = re.compile(
    r"(\be\.\s?g\b|\beg\.|\bsuch as\b|\bfor (example|instance)\b|\blike\b|\bincluding\b)",
    re.I,
)
_EXAMPLES_AFTER = re.compile(r"^[\s,`\]]*(etc\b|\.\.\.|…)", re.I)
_NOT_VALUES = frozenset({"none", "true", "false", "int", "float", "str", "bool", "list", "tuple"})
# The documented type, first in the description: "list of str", "tuple", "A list of strings".
_TYPE_LEAD_WORDS = frozenset(
    "a an optional none or of list lists tuple tuples sequence sequences str string strings "
    "int integer integers float floats bool boolean".split()
)
_SEQUENCE = frozenset({"list", "lists", "tuple", "tuples", "sequence", "sequences"})
_STRING_ITEMS = re.compile(
    r"^\W*(?:an?\s+)?(?:optional\s+)?(?:list|tuple|sequence)s?\s+of\s+(?:`?str`?|strings?)\b",
    re.I,
)


@dataclass
class _Run:
    values: list[str]
    bare: bool
    joined_by_or: bool
    start: int
    end: int


def _runs(text: str) -> list[_Run]:
    """Values quoted one after the other with only separators between them."""
    runs: list[_Run] = []
    for match in _VALUE.finditer(text):
        value = next(v for v in match.groups() if v)
        bare = match.group("bare") is not None
        last = runs[-1] if runs else None
        gap = text[last.end : match.start()] if last else ""
        if last is not None and _SEPARATOR.fullmatch(gap):
            last.values.append(value)
            last.bare = last.bare or bare
            last.joined_by_or = last.joined_by_or or bool(re.search(r"\bor\b", gap, re.I))
            last.end = match.end()
        else:
            runs.append(_Run([value], bare, False, match.start(), match.end()))
    return runs


def _since(boundary: re.Pattern[str], text: str, end: int) -> str:
    """The text before ``end`` back to the last ``boundary``."""
    starts = [m.end() for m in boundary.finditer(text, 0, end)]
    return text[starts[-1] if starts else 0 : end]


def type_lead(description: str) -> str:
    """The description's first clause, where Keras names the argument's type ("int.",
    "list of str or `None`,", "A `keras.Model` instance."): up to the first full stop or
    comma outside backquotes."""
    quoted = False
    for i, char in enumerate(description):
        if char == "`":
            quoted = not quoted
        elif not quoted and (
            (char == "." and (i + 1 == len(description) or description[i + 1].isspace()))
            or char == ","
        ):
            return description[:i].strip()
    return description.strip()


def stated_values(description: str) -> list[str]:
    """The values an argument's description states as the allowed set: quoted values in a
    run introduced by "one of", "either", "must be" (or joined by "or": `"avg"` or `"max"`),
    at least two. Values given as examples ("e.g.", "such as", "for example", "like",
    "etc") are not a set."""
    if not description:
        return []
    out: list[str] = []
    for run in _runs(description):
        if len(run.values) < 2 or any(v.lower() in _NOT_VALUES for v in run.values):
            continue
        after = description[run.end : run.end + 12]
        if _EXAMPLES_BEFORE.search(_since(_CLAUSE_START, description, run.start)):
            continue
        if _EXAMPLES_AFTER.search(after):
            continue
        stated = _STATING.search(_since(_SENTENCE_START, description, run.start))
        if run.bare and not (stated and run.joined_by_or):
            continue  # a bare `name` is a value only in "either `a` or `b`"
        if stated or run.joined_by_or:
            out.extend(run.values)
    values = list(dict.fromkeys(out))
    return values if len(values) >= 2 else []


def string_enum(description: str) -> list[str]:
    """The strings a scalar argument is limited to: none when its documented type is a list
    or tuple ("list of str ... each `"full_attention"` or `"sliding_attention"`" is an array,
    whose items those are)."""
    words = re.findall(r"[A-Za-z]+", type_lead(description).lower())
    leading = []
    for word in words:
        if word not in _TYPE_LEAD_WORDS:
            break
        leading.append(word)
    if _SEQUENCE & set(leading):
        return []
    return stated_values(description)


def string_items(description: str) -> bool:
    """Whether the documented type is a list of strings ("list of str", "A list of strings
    specifying...", "list of str or `None`"), and nothing else ("A list of strings or a
    string filename path" is not)."""
    lead = type_lead(description)
    match = _STRING_ITEMS.match(lead)
    if not match:
        return False
    rest = re.sub(r"\bor\s+`?None`?", "", lead[match.end() :])
    return not re.search(r"\bor\b", rest, re.I)


_OPTIONAL_PREFIX = re.compile(r"^\s*(?:\(optional\)|optional\b[.,]?)\s*", re.I)
_CODE = re.compile(r"``?([A-Za-z_][A-Za-z0-9_.]*)``?")
_OBJECT_FILLER = frozenset({"a", "an", "instance", "instances", "of", "or", "object", "none"})


def documented_classes(description: str) -> tuple[list[str], bool]:
    """The classes the type lead names when it names nothing else ("A
    `keras_hub.models.MistralTokenizer` instance.", "`keras.Model`.", "A
    `keras_hub.models.Backbone` instance or a `keras.Model`", "``keras.layers.Layer`` or
    None"), as written, and whether it allows None; ``([], False)`` for any other lead."""
    text = description or ""
    optional = _OPTIONAL_PREFIX.match(text)
    lead = type_lead(text[optional.end() :] if optional else text)
    names = _CODE.findall(lead)
    words = re.findall(r"[A-Za-z]+", _CODE.sub(" ", lead))
    if not names or any(w.lower() not in _OBJECT_FILLER for w in words):
        return [], False
    nullable = bool(optional) or "None" in names or any(w.lower() == "none" for w in words)
    classes = [n for n in names if n != "None"]
    if not classes or not all(n.rsplit(".", 1)[-1][:1].isupper() for n in classes):
        return [], False
    return classes, nullable
