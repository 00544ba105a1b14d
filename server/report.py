"""``layercfg check`` output: text, JSON (SPEC §4) and SARIF 2.1.0."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layercfg import __version__

from . import engine
from .document import Document

Result = tuple[str, Document, list[engine.Checked]]

_SARIF_LEVEL = {1: "error", 2: "warning", 3: "note", 4: "note"}
_MAX_SOURCE = 8 << 20  # larger source files are not read for a line length
_NAMES = {1: "error", 2: "warning", 3: "information", 4: "hint"}


def render(results: list[Result], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(_json(results), indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(_sarif(results), indent=2) + "\n"
    return _text(results)


def _text(results: list[Result]) -> str:
    lines = []
    for path, document, checked in results:
        for item in checked:
            position = document.lines.position_at(item.problem.start)
            severity = _NAMES[item.problem.severity]
            lines.append(
                f"{path}:{position.line + 1}:{position.character + 1}: "
                f"{item.problem.code} {severity}: {item.problem.message}"
            )
            for other in getattr(item, "elsewhere", ()):
                at = other.document.lines.position_at(other.start)
                lines.append(
                    f"  {other.path}:{at.line + 1}:{at.character + 1}: related: {other.message}"
                )
            for place in _external(item):
                lines.append(f"  {place.path}:{place.line + 1}:1: related: {place.message}")
    count = sum(len(c) for _, _, c in results)
    lines.append(f"{len(results)} file(s) checked, {count} problem(s)")
    return "\n".join(lines) + "\n"


def _json(results: list[Result]) -> dict[str, Any]:
    return {
        "version": 1,
        "files": [
            {**_file_of(path), "diagnostics": [_to_json(document, c) for c in checked]}
            for path, document, checked in results
        ],
    }


def _file_of(path: str) -> dict[str, Any]:
    """A file's path; an archive member's (``model.keras!config.json``) apart."""
    member = getattr(path, "member", None)
    if member is None:
        return {"path": path}
    return {"path": path.archive, "member": member}  # type: ignore[attr-defined]


def _to_json(document: Document, checked: engine.Checked) -> dict[str, Any]:
    out = engine.to_json(document, checked)
    elsewhere = getattr(checked, "elsewhere", ())
    if elsewhere:
        out["related"] = [
            {
                **_file_of(other.path),
                "message": other.message,
                "range": _range(other.document, other.start, other.end),
            }
            for other in elsewhere
        ]
    external = [
        {"path": place.path, "message": place.message, "range": place.range}
        for place in _external(checked)
    ]
    if external:
        out["related"] = [*out.get("related", []), *external]
    return out


@dataclass(frozen=True)
class _Place:
    """A related location in a file that is not a document (the line of a custom class's
    broken ``from_config``): its path as the user would type it, 0-based line."""

    path: str
    line: int
    message: str
    length: int  # of the line, in UTF-16 code units (0 when the file cannot be read)

    @property
    def range(self) -> dict[str, Any]:
        return {
            "start": {"line": self.line, "character": 0},
            "end": {"line": self.line, "character": self.length},
        }

    @property
    def uri(self) -> str:
        return self.path if not os.path.isabs(self.path) else Path(self.path).as_uri()


def _external(checked: engine.Checked) -> list[_Place]:
    return [_place(file, line, message) for file, line, message in getattr(checked, "external", ())]


@functools.lru_cache(maxsize=256)
def _place(file: str, line: int, message: str) -> _Place:
    path = file
    with contextlib.suppress(ValueError):
        relative = os.path.relpath(file)
        if not relative.startswith(".."):
            path = relative
    return _Place(path, max(line - 1, 0), message, _line_length(file, max(line - 1, 0)))


def _line_length(file: str, line: int) -> int:
    """The length of a line of a (small, regular) source file, for a range that covers it."""
    try:
        # Opened without blocking and checked before a byte is read: a FIFO or a device put
        # where the traceback's file was cannot hang the report.
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_SOURCE:
            os.close(fd)
            return 0
        with open(fd, encoding="utf-8", errors="replace") as handle:
            for index, text in enumerate(handle):
                if index == line:
                    text = text.rstrip("\r\n")
                    return len(text.encode("utf-16-le")) // 2
    except OSError:
        return 0
    return 0


def _range(document: Document, start: int, end: int) -> dict[str, Any]:
    rng = document.lines.range_of(start, end)
    return {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }


def _region(document: Document, start: int, end: int) -> dict[str, int]:
    first = document.lines.position_at(start)
    last = document.lines.position_at(end)
    return {
        "startLine": first.line + 1,
        "startColumn": first.character + 1,
        "endLine": last.line + 1,
        "endColumn": last.character + 1,
    }


def _artifact(path: str) -> dict[str, Any]:
    member = getattr(path, "member", None)
    if member is None:
        return {"uri": path}
    return {"uri": path.archive, "properties": {"member": member}}  # type: ignore[attr-defined]


def _sarif(results: list[Result]) -> dict[str, Any]:
    codes = sorted({c.problem.code for _, _, checked in results for c in checked})
    sarif_results: list[dict[str, Any]] = []
    for path, document, checked in results:
        for item in checked:
            problem = item.problem
            start = document.lines.position_at(problem.start)
            end = document.lines.position_at(problem.end)
            sarif_results.append(
                {
                    "ruleId": problem.code,
                    "level": _SARIF_LEVEL[problem.severity],
                    "message": {"text": problem.message},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": _artifact(path),
                                "region": {
                                    "startLine": start.line + 1,
                                    "startColumn": start.character + 1,
                                    "endLine": end.line + 1,
                                    "endColumn": end.character + 1,
                                },
                            },
                            "logicalLocations": [
                                {"fullyQualifiedName": engine.json_pointer(item.path)}
                            ],
                        }
                    ],
                }
            )
            elsewhere = getattr(item, "elsewhere", ())
            if elsewhere:
                sarif_results[-1]["relatedLocations"] = [
                    {
                        "id": index,
                        "message": {"text": other.message},
                        "physicalLocation": {
                            "artifactLocation": _artifact(other.path),
                            "region": _region(other.document, other.start, other.end),
                        },
                    }
                    for index, other in enumerate(elsewhere)
                ]
            external = _external(item)
            if external:
                first = len(sarif_results[-1].get("relatedLocations", []))
                sarif_results[-1].setdefault("relatedLocations", []).extend(
                    {
                        "id": first + index,
                        "message": {"text": place.message},
                        "physicalLocation": {
                            "artifactLocation": {"uri": place.uri},
                            "region": {
                                "startLine": place.line + 1,
                                "startColumn": 1,
                                "endLine": place.line + 1,
                                "endColumn": place.length + 1,
                            },
                        },
                    }
                    for index, place in enumerate(external)
                )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "layercfg",
                        "version": __version__,
                        "rules": [{"id": code} for code in codes],
                    }
                },
                "results": sarif_results,
            }
        ],
    }
