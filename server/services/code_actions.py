"""Quick fixes for the fast checks' findings, ``source.fixAll.layercfg``, and the canonical
form actions.

The fixes themselves (``Fixer``: offsets, from a located problem and its JSON path) are in
``fixes``; this module ties each to its diagnostic as a CodeAction. A fix is *safe* when it
is the one obvious choice and keeps what the user meant (a lossless conversion, the one
close spelling, removing a comment): ``fix_all`` and ``layercfg check --fix`` apply exactly
those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lsprotocol import types

from ...codes import JsonPath
from .. import engine
from ..catalog import Catalog
from ..document import Document, Problem
from ..settings import Settings
from .fixes import MAX_ROUNDS, Fix, Fixer, rewritable
from .formatting import (
    Edit,
    apply_edits,
    overlaps,
    to_text_edits,
)
from .validation import SPECIAL_CLASS_NAMES

FIX_ALL = "source.fixAll.layercfg"
FILL_DEFAULTS = "source.layercfg.fillDefaults"
REMOVE_DEFAULTS = "source.layercfg.removeDefaults"
CANONICAL_MODES = {FILL_DEFAULTS: "fill", REMOVE_DEFAULTS: "prune"}
CANONICAL_TITLES = {
    "fill": "Fill in defaults (as Keras writes the config)",
    "prune": "Remove keys equal to their defaults",
}


def safe_fixes(fixer: Fixer, document: Document, checked: Iterable[engine.Checked]) -> list[Fix]:
    """The one safe fix of each finding that has exactly one, without overlaps."""
    chosen: list[Fix] = []
    taken: list[Edit] = []
    for item in checked:
        safe = [f for f in fixer.fixes(document, item.problem, item.path) if f.safe]
        if len(safe) != 1:
            continue
        fix = safe[0]
        if overlaps(fix.edits, taken):
            continue  # the next round, on the text after this one
        chosen.append(fix)
        taken.extend(fix.edits)
    return chosen


def fix_all(
    document: Document,
    catalog: Catalog | None,
    settings: Settings,
    fixer: Fixer | None = None,
) -> tuple[str, list[Fix]]:
    """The text after every fix that has exactly one safe choice, applied round after round
    (a fix may make another one possible), and the fixes applied."""
    fixer = fixer or Fixer(catalog)
    applied: list[Fix] = []
    current = document
    for _ in range(MAX_ROUNDS):
        checked = engine.check(current, catalog, settings)
        fixes = safe_fixes(fixer, current, checked)
        if not fixes:
            break
        text = apply_edits(current.text, [e for fix in fixes for e in fix.edits])
        if text == current.text:
            break
        applied.extend(fixes)
        current = Document.parse(document.uri, text, document.version)
    return current.text, applied


def canonical_refusal(document: Document, diagnostics: Sequence[types.Diagnostic]) -> str | None:
    """Why the canonical form cannot be computed now (None: it can)."""
    if not isinstance(document.value, dict) or "class_name" not in document.value:
        return "The document is not a serialized Keras object."
    if document.value.get("class_name") in SPECIAL_CLASS_NAMES:
        return "The document is not a serialized Keras object."
    errors = [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Error]
    if errors:
        first = errors[0]
        line = first.range.start.line + 1
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"Fix the errors first: line {line}: {first.message}{more}"
    return None


# -- diagnostics from the client ----------------------------------------------------------------


def problem_of(
    document: Document, diagnostic: types.Diagnostic, encoding: str
) -> tuple[Problem, JsonPath]:
    """The problem and JSON path a diagnostic of this document stands for."""
    lines = document.lines
    start = lines.offset_at(diagnostic.range.start, encoding)
    end = lines.offset_at(diagnostic.range.end, encoding)
    code = str(diagnostic.code)
    data = diagnostic.data if isinstance(diagnostic.data, dict) else None
    problem = Problem(start, end, code, diagnostic.message, int(diagnostic.severity or 1), data)
    location = document.node_at(start)
    if location.kind == "key" and location.key is not None:
        path: JsonPath = (*location.path, location.key)
    else:
        path = tuple(location.path)
    return problem, path


# A diagnostic the server showed, with the problem it was made from.
Shown = tuple[types.Diagnostic, engine.Checked]


def _problems(
    document: Document,
    current: Sequence[types.Diagnostic | Shown],
    encoding: str,
) -> list[tuple[types.Diagnostic, Problem, JsonPath]]:
    """Each current diagnostic with its problem and JSON path: the ones the checks found when
    they are given (``Shown``), else read back from the diagnostic."""
    out = []
    for item in current:
        if isinstance(item, tuple):
            diagnostic, checked = item
            out.append((diagnostic, checked.problem, checked.path))
        else:
            out.append((item, *problem_of(document, item, encoding)))
    return out


def same_diagnostic(a: types.Diagnostic, b: types.Diagnostic) -> bool:
    """Whether the client's diagnostic is one the current version still has."""
    return (
        a.range == b.range
        and str(a.code) == str(b.code)
        and a.message == b.message
        and (a.source is None or b.source is None or a.source == b.source)
    )


# -- LSP values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionSupport:
    """What the client takes in code actions, decided from its capabilities."""

    snippet_edits: bool = False  # SnippetTextEdit in a TextDocumentEdit (LSP 3.18)
    document_changes: bool = False  # versioned TextDocumentEdits
    resolve_edits: bool = False  # codeAction/resolve fills in ``edit``
    disabled: bool = False  # actions shown greyed out with a reason


def workspace_edit(
    document: Document,
    edits: Sequence[Edit],
    encoding: str,
    support: ActionSupport,
    snippet: bool = False,
) -> types.WorkspaceEdit:
    """Edits of this version of the document: versioned where the client can check it."""
    lines = document.lines
    if not support.document_changes:
        return types.WorkspaceEdit(changes={document.uri: to_text_edits(document, edits, encoding)})
    items: list[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit] = []
    for edit in sorted(edits):
        edit_range = lines.range_of(edit.start, edit.end, encoding)
        if snippet and "$" in edit.new_text:
            items.append(
                types.SnippetTextEdit(
                    range=edit_range, snippet=types.StringValue(value=edit.new_text)
                )
            )
        else:
            items.append(types.TextEdit(range=edit_range, new_text=edit.new_text))
    return types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=document.uri, version=document.version
                ),
                edits=items,
            )
        ]
    )


def wanted(kind: str, only: Sequence[str] | None) -> bool:
    """Whether a kind is asked for: ``only`` lists kinds and their parents (LSP 3.17)."""
    if not only:
        return True
    return any(kind == k or kind.startswith(k + ".") for k in only)


def _overlap(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> tuple[int, int]:
        return p.line, p.character

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def quick_fixes(
    document: Document,
    fixer: Fixer,
    requested: Sequence[types.Diagnostic],
    current: Sequence[types.Diagnostic | Shown],
    request_range: types.Range,
    support: ActionSupport,
    encoding: str,
) -> list[types.CodeAction]:
    """A CodeAction per fix of each diagnostic the client asked about that the current
    version still has (a diagnostic of an older text is not fixed in this one). A client
    that sends no diagnostics gets the fixes of the current ones in the range."""
    mine = [
        item
        for item in current
        if (item[0] if isinstance(item, tuple) else item).source == engine.SOURCE
    ]
    if requested:
        chosen = [
            (asked, found)
            for asked in requested
            if asked.source in (None, engine.SOURCE)
            for found in [
                next(
                    (
                        item
                        for item in mine
                        if same_diagnostic(asked, item[0] if isinstance(item, tuple) else item)
                    ),
                    None,
                )
            ]
            if found is not None
        ]
    else:
        chosen = [
            (d, item)
            for item in mine
            for d in [item[0] if isinstance(item, tuple) else item]
            if _overlap(d.range, request_range)
        ]
    located = _problems(document, [found for _, found in chosen], encoding)
    snippets = support.snippet_edits and support.document_changes
    actions: list[types.CodeAction] = []
    for (asked, _), (_, problem, path) in zip(chosen, located, strict=True):
        for fix in fixer.fixes(document, problem, path, snippets):
            actions.append(
                types.CodeAction(
                    title=fix.title + (" (unsafe)" if fix.unsafe else ""),
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[asked],
                    is_preferred=fix.preferred or None,
                    edit=workspace_edit(document, fix.edits, encoding, support, fix.snippet),
                )
            )
    actions.sort(key=lambda a: not a.is_preferred)
    return actions


def has_safe_fix(
    document: Document, fixer: Fixer, current: Sequence[types.Diagnostic | Shown], encoding: str
) -> bool:
    mine = [
        item
        for item in current[:500]
        if (item[0] if isinstance(item, tuple) else item).source == engine.SOURCE
    ]
    for diagnostic, problem, path in _problems(document, mine, encoding):
        data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
        if diagnostic.code == "LCF108" and "markers" in data:
            return rewritable(document)  # the upgrade, without computing it
        if sum(f.safe for f in fixer.fixes(document, problem, path)) == 1:
            return True
    return False
