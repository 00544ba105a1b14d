"""``layercfg check`` output: text, JSON (SPEC §4) and SARIF 2.1.0."""

from __future__ import annotations

import json
from typing import Any

from layercfg import __version__

from . import engine
from .document import Document

Result = tuple[str, Document, list[engine.Checked]]

_SARIF_LEVEL = {1: "error", 2: "warning", 3: "note", 4: "note"}
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
            lines.append(f"{path}:{position.line + 1}:{position.character + 1}: "
                         f"{item.problem.code} {severity}: {item.problem.message}")
    count = sum(len(c) for _, _, c in results)
    lines.append(f"{len(results)} file(s) checked, {count} problem(s)")
    return "\n".join(lines) + "\n"


def _json(results: list[Result]) -> dict[str, Any]:
    return {
        "version": 1,
        "files": [
            {"path": path, "diagnostics": [engine.to_json(document, c) for c in checked]}
            for path, document, checked in results
        ],
    }


def _sarif(results: list[Result]) -> dict[str, Any]:
    codes = sorted({c.problem.code for _, _, checked in results for c in checked})
    sarif_results = []
    for path, document, checked in results:
        for item in checked:
            problem = item.problem
            start = document.lines.position_at(problem.start)
            end = document.lines.position_at(problem.end)
            sarif_results.append({
                "ruleId": problem.code,
                "level": _SARIF_LEVEL[problem.severity],
                "message": {"text": problem.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": path},
                        "region": {
                            "startLine": start.line + 1,
                            "startColumn": start.character + 1,
                            "endLine": end.line + 1,
                            "endColumn": end.character + 1,
                        },
                    },
                    "logicalLocations": [{"fullyQualifiedName": engine.json_pointer(item.path)}],
                }],
            })
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "layercfg",
                "version": __version__,
                "rules": [{"id": code} for code in codes],
            }},
            "results": sarif_results,
        }],
    }
