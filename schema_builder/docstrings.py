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
