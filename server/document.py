"""One parsed version of a *.layercfg.json document: text, syntax tree, JSON value, syntax
problems, and the offset <-> JSON path mapping that every service uses.

The parser's parts live beside this module: ``doc_base`` (problem and location types, codes,
limits), ``doc_view`` (navigable values), ``doc_strict`` (strict decoding, duplicated keys),
``doc_tolerant`` (the tolerant parser), ``doc_locate`` (offset <-> path) and ``doc_edit``
(incremental edits).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from tree_sitter import Tree

from layercfg.server.positions import UTF16, LineIndex, Utf8Offsets, normalize_encoding, utf8_length

from .doc_base import (
    DUPLICATE_KEY,
    ERROR,
    HINT,
    INFORMATION,
    INVALID_JSON,
    NOT_STRICT_JSON,
    WARNING,
    JsonPath,
    Location,
    LocationKind,
    Problem,
    Span,
    _parser,
    _tree_sitter_bytes,
)
from .doc_edit import (
    _NO_SPLICE,
    _enclosing,
    _merge,
    _point,
    _point_after,
    _shift_spans,
    _Splice,
)
from .doc_locate import (
    _item_spans,
    _locate,
    _node_at,
)
from .doc_strict import (
    _find_duplicates,
    _Pairs,
    _Rejected,
    _strict_loads,
    _with_first_occurrences,
)
from .doc_tolerant import (
    _BOM_MESSAGE,
    _Tolerant,
)
from .doc_view import (
    _Context,
    _TsValue,
    _Value,
)

__all__ = [
    "DUPLICATE_KEY",
    "ERROR",
    "HINT",
    "INFORMATION",
    "INVALID_JSON",
    "NOT_STRICT_JSON",
    "WARNING",
    "Document",
    "JsonPath",
    "Location",
    "LocationKind",
    "Problem",
    "Span",
]


@dataclass(slots=True)
class _Analysis:
    value: Any
    problems: list[Problem]
    root: _Value | None  # the tolerant parser's view; None when the tree is error-free


class Document:
    """One version of a document, parsed once. The value and the problems are computed on
    first use, so that an edit costs only an incremental tree-sitter parse."""

    __slots__ = (
        "uri",
        "version",
        "text",
        "_tree",
        "_unparsed",
        "_lock",
        "_origin",
        "_token",
        "_history",
        "_offsets",
        "_lines",
        "_changed",
        "_analysis",
        "_splice",
        "_ctx",
        "_unverified",
    )

    def __init__(
        self,
        uri: str,
        text: str,
        version: int | None,
        tree: Tree | None,
        changed: list[Span] | tuple[list[Span], Tree] | None = None,
        unparsed: Tree | None = None,
        ascii_hint: bool | None = None,
    ) -> None:
        self.uri = uri
        self.version = version
        self.text = text
        self._tree = tree
        # Without ``tree``: the last parsed tree with every edit since applied, parsed into
        # this text's tree when one is first wanted (an edit alone costs no parse).
        self._unparsed = unparsed
        self._lock = threading.Lock()
        # The container the value was last spliced at: (path, span in this text)
        self._origin: tuple[JsonPath, Span] | None = None
        # What tells this version from the ones before it: each earlier version's token with
        # the edits (start, end, inserted length) that led from it to the next one.
        self._token = object()
        self._history: tuple[tuple[object, tuple[tuple[int, int, int], ...]], ...] = ()
        self._offsets = Utf8Offsets(text, ascii_hint)
        self._lines: LineIndex | None = None
        self._changed = changed
        self._analysis: _Analysis | None = None
        self._splice: _Splice | None = None
        self._ctx: _Context | None = None
        # The value was read as strict JSON before any tree was parsed: should tree-sitter
        # disagree, it is worked out again from the tree, as the splice's is.
        self._unverified = False

    @classmethod
    def parse(cls, uri: str, text: str, version: int | None = None) -> Document:
        """A document whose syntax tree is parsed when first wanted (``warm``): strict JSON
        gets its value and its checks without one."""
        return cls(uri, text, version, None)

    @property
    def has_tree(self) -> bool:
        """Whether the syntax tree is parsed (or a parsed one is being edited)."""
        return self._tree is not None or self._unparsed is not None

    def warm(self) -> None:
        """Parse the syntax tree now (off the path of the first diagnostics), so that the
        first edit, hover or completion does not wait for it."""
        self.tree  # noqa: B018

    # -- derived data

    @property
    def tree(self) -> Tree:
        """The syntax tree, parsed (incrementally after an edit) when first wanted."""
        tree = self._tree
        if tree is not None:
            return tree
        with self._lock:
            if self._tree is None:
                source, old = _tree_sitter_bytes(self.text), self._unparsed
                tree = _parser().parse(source) if old is None else _parser().parse(source, old)
                if tree.root_node.has_error and (self._origin is not None or self._unverified):
                    # The splice (or a strict read without a tree) found strict JSON; should
                    # tree-sitter disagree, the value is worked out again from the tree, as
                    # for a fresh parse.
                    self._analysis, self._origin, self._unverified = None, None, False
                self._tree, self._unparsed = tree, None
            return self._tree

    @property
    def lines(self) -> LineIndex:
        if self._lines is None:
            self._lines = LineIndex(self.text)
        return self._lines

    @property
    def value(self) -> Any:
        """The JSON value: exact when the text is valid JSON, else a best-effort value with
        the broken pieces left out (an unusable array element becomes None)."""
        return self._analyse().value

    @property
    def problems(self) -> list[Problem]:
        """Syntax findings (LCF001-LCF003), sorted by position."""
        return self._analyse().problems

    @property
    def syntax_ok(self) -> bool:
        """True when the text is strict JSON that Keras's loader reads as it is."""
        return not any(p.code != DUPLICATE_KEY for p in self._analyse().problems)

    def _context(self) -> _Context:
        ctx = self._ctx
        if ctx is None:
            ctx = self._ctx = _Context(self.text, self._offsets)
        return ctx

    def _analyse(self) -> _Analysis:
        analysis = self._analysis
        if analysis is None:
            analysis = self._compute()
            with self._lock:  # as the tree is set: a tree parsed meanwhile is seen here
                tree = self._tree
                stale = analysis.root is None and tree is not None and tree.root_node.has_error
                if not stale:
                    self._analysis = analysis
            if stale:
                # Read without a tree, which was parsed meanwhile (for a duplicate key's
                # place, or in another thread) and disagrees: read again from the tree.
                self._origin, self._unverified = None, False
                analysis = self._analysis = self._compute()
        return analysis

    def _compute(self) -> _Analysis:
        text = self.text
        start = 1 if text.startswith("\ufeff") else 0
        too_deep = False
        splice, self._splice = self._splice, None  # the base value is not kept any longer
        if splice is not None and (self._tree is None or not self._tree.root_node.has_error):
            # Strict JSON in the container, the rest as in a version that was: the whole
            # text is strict JSON, which the tree is not needed to tell.
            value = splice.value(text)
            if value is not _NO_SPLICE:
                self._origin = (splice.path, splice.span)
                problems = [Problem(0, 1, NOT_STRICT_JSON, _BOM_MESSAGE, ERROR, {"kind": "bom"})]
                return _Analysis(value, problems if start else [], None)
        tree = self._tree
        if tree is None or not tree.root_node.has_error:
            pairs = _Pairs()
            try:
                value = _strict_loads(text[start:] if start else text, pairs)
            except RecursionError:
                too_deep = True
            except (ValueError, _Rejected):
                pass
            else:
                problems = []
                if start:
                    problems.append(
                        Problem(
                            0,
                            1,
                            NOT_STRICT_JSON,
                            _BOM_MESSAGE,
                            ERROR,
                            {"kind": "bom"},
                        )
                    )
                if pairs.count:
                    problems.extend(_find_duplicates(self.tree.root_node, self._context(), pairs))
                self._unverified = tree is None and self._tree is None
                return _Analysis(value, _sorted(_with_first_occurrences(problems)), None)
        parser = _Tolerant(text, start, self.tree, self._context())
        parser.run()
        problems = parser.problems
        if too_deep and not any(p.code == INVALID_JSON for p in problems):
            problems.append(
                Problem(
                    start,
                    start + 1,
                    INVALID_JSON,
                    "Nested too deeply: Python's json cannot read it",
                )
            )
        return _Analysis(parser.value, _sorted(_with_first_occurrences(problems)), parser.root)

    def _root_view(self) -> _Value | None:
        root = self.tree.root_node
        if root.has_error:
            return self._analyse().root
        for child in root.named_children:
            if not child.is_extra:
                return _TsValue(child, self._context())
        return None

    # -- queries

    def node_at(self, offset: int) -> Location:
        """What is at `offset` (a str offset): see Location."""
        offset = min(max(offset, 0), len(self.text))
        return _node_at(self.text, self._root_view(), offset)

    def locate(self, path: JsonPath, part: str = "value") -> Span | None:
        """The span of the value at `path` ("value"), of its key string with quotes ("key"),
        or of the opening bracket of the container at `path`, or of the one holding it
        when `path` leads to a scalar or to nothing ("open")."""
        return _locate(self._root_view(), tuple(path), part)

    def item_spans(self, path: JsonPath) -> list[Span] | None:
        """The spans of every item of the array at `path`, in one pass (None: no array)."""
        return _item_spans(self._root_view(), tuple(path))

    @property
    def token(self) -> object:
        """Names this version for ``edits_since``."""
        return self._token

    def edits_since(self, token: object) -> list[tuple[int, int, int]] | None:
        """The edits, (start, end, inserted length) in the text each applies to, that lead
        from the version named ``token`` to this one; None when it is not a recent ancestor
        (or a whole text was parsed afresh on the way)."""
        if token is self._token:
            return []
        history = self._history
        for index in range(len(history) - 1, -1, -1):
            if history[index][0] is token:
                return [step for _, steps in history[index:] for step in steps]
        return None

    def changed_spans(self) -> list[Span] | None:
        """Spans of this text that differ from the previous version (edited text and
        tree-sitter's changed ranges, merged), or None after a full parse."""
        changed = self._changed
        if changed is None:
            return None
        if isinstance(changed, tuple):
            edited, old_tree = changed
            to_str = self._offsets.to_str
            spans = edited + [
                (to_str(r.start_byte), to_str(r.end_byte))
                for r in old_tree.changed_ranges(self.tree)
            ]
            changed = self._changed = _merge(spans)
        return list(changed)

    # -- edits

    def apply_changes(
        self,
        changes: Sequence[types.TextDocumentContentChangeEvent],
        version: int | None,
        encoding: str = UTF16,
    ) -> Document:
        """The next version: ranged changes re-parse incrementally; a whole-text change is
        turned into the one ranged change that differs from the text before it (common prefix
        and suffix), and parses from scratch only when it rewrites most of the text."""
        encoding = normalize_encoding(encoding)
        text = self.text
        lines: LineIndex | None = self._lines
        offsets: Utf8Offsets | None = self._offsets
        tree: Tree | None = (self._tree or self._unparsed or self.tree).copy()
        edited: list[Span] = []
        single = None  # (start, end, start byte, end byte, inserted) of a lone ranged change
        steps: list[tuple[int, int, int]] = []
        for change in changes:
            change_range = getattr(change, "range", None)
            if change_range is None:
                # A whole text: what differs from the text before it is one edit (the common
                # prefix and suffix kept), unless it is most of the text.
                found = _difference(text, change.text) if tree is not None else None
                if found is None:
                    text, tree, edited, lines, offsets = change.text, None, [], None, None
                    continue
                start, end, inserted = found
            else:
                if lines is None:
                    lines = LineIndex(text)
                start = lines.offset_at(change_range.start, encoding)
                end = lines.offset_at(change_range.end, encoding)
                if end < start:
                    start, end = end, start
                inserted = change.text
            if lines is None:
                lines = LineIndex(text)
            new_text = "".join((text[:start], inserted, text[end:]))
            if tree is not None:
                if offsets is None:
                    offsets = Utf8Offsets(text, lines.ascii_hint)
                start_byte, old_end_byte = offsets.to_byte(start), offsets.to_byte(end)
                start_point = _point(lines, start)
                tree.edit(
                    start_byte=start_byte,
                    old_end_byte=old_end_byte,
                    new_end_byte=start_byte + utf8_length(inserted),
                    start_point=start_point,
                    old_end_point=_point(lines, end),
                    new_end_point=_point_after(start_point, inserted),
                )
                if len(changes) == 1:
                    single = (start, end, start_byte, old_end_byte, len(inserted))
            edited = _shift_spans(edited, start, end, len(inserted))
            edited.append((start, start + len(inserted)))
            steps.append((start, end, len(inserted)))
            lines = lines.edited(start, end, inserted, new_text)
            text, offsets = new_text, None
        if tree is None:
            return Document.parse(self.uri, text, version)
        ascii_hint = lines.ascii_hint if lines is not None else None
        document = Document(self.uri, text, version, None, unparsed=tree, ascii_hint=ascii_hint)
        document._lines = lines
        if single is not None:
            document._splice = self._next_splice(*single)
        # tree-sitter's changed ranges are asked for only when someone wants them.
        document._changed = (edited, tree)
        history = (*self._history, (self._token, tuple(steps)))
        document._history = history[-MAX_HISTORY:]
        return document

    def _next_splice(
        self, start: int, end: int, start_byte: int, end_byte: int, inserted: int
    ) -> _Splice | None:
        """How the next version, this one with [start, end) replaced, gets its value from the
        last decoded one; None when it must decode its whole text."""
        analysis, pending = self._analysis, self._splice
        # The small container decoded last (or to be decoded), if any.
        last: tuple[JsonPath, Span] | None
        if analysis is not None:
            if analysis.root is not None or any(p.code == DUPLICATE_KEY for p in analysis.problems):
                return None
            base, last = analysis.value, self._origin
        elif pending is not None:
            base, last = pending.base, (pending.path, pending.span)
        else:
            return None
        # Inside that container: that one again, without looking for the innermost one in
        # the tree (which would have to be parsed).
        if last is not None:
            path, (container_start, container_end) = last
            if (
                container_start < start
                and end < container_end
                and container_end - container_start <= MAX_REUSED
            ):
                delta = inserted - (end - start)
                return _Splice(base, path, (container_start, container_end + delta))
        chain = _enclosing(self.tree.root_node, start_byte, end_byte, self.text, self._offsets)
        if not chain:
            return None
        for path, (container_start, container_end) in chain:
            # Edits not yet decoded lie in the container at pending.path: this one must
            # enclose it too.
            if pending is None or analysis is not None or pending.path[: len(path)] == path:
                delta = inserted - (end - start)
                return _Splice(base, path, (container_start, container_end + delta))
        return None


# A whole-text change that rewrites more than this share of the text is parsed afresh.
MAX_DIFFERENCE = 0.5


def _difference(old: str, new: str) -> tuple[int, int, str] | None:
    """(start, end, inserted): `new` is `old` with [start, end) replaced by `inserted`, the
    common prefix and suffix kept; None when the replaced part is most of either text."""
    prefix = common_prefix(old, new)
    suffix = common_suffix(old, new, min(len(old), len(new)) - prefix)
    end = len(old) - suffix
    inserted = new[prefix : len(new) - suffix]
    if max(end - prefix, len(inserted)) > MAX_DIFFERENCE * max(len(old), len(new), 1):
        return None
    return prefix, end, inserted


_STEP = 4096


def common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix (slices compared a chunk at a time)."""
    limit = min(len(a), len(b))
    at = 0
    step = _STEP
    while at < limit:
        upto = min(at + step, limit)
        if a[at:upto] != b[at:upto]:
            if upto - at <= 64:
                while a[at] == b[at]:
                    at += 1
                return at
            step = (upto - at) // 2  # halve into the chunk that differs
            continue
        at = upto
        step = _STEP if step < _STEP else step * 2
    return limit


def common_suffix(a: str, b: str, limit: int) -> int:
    """The length of the longest common suffix, at most `limit`."""
    la, lb = len(a), len(b)
    at = 0
    step = _STEP
    while at < limit:
        upto = min(at + step, limit)
        if a[la - upto : la - at] != b[lb - upto : lb - at]:
            if upto - at <= 64:
                while a[la - at - 1] == b[lb - at - 1]:
                    at += 1
                return at
            step = (upto - at) // 2
            continue
        at = upto
        step = _STEP if step < _STEP else step * 2
    return limit


# Versions a document remembers the edits from (``edits_since``).
MAX_HISTORY = 64

# The container decoded last is decoded again for an edit inside it up to this size (str
# characters); past it, the innermost container around the edit is looked for.
MAX_REUSED = 1 << 16


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.start, p.end, p.code, p.message))
