"""The fast checks of one document: syntax findings plus schema and model findings, located.

One engine, two front ends: the language server and ``layercfg check`` both call ``check``.
Problems stay as offsets here; ``to_diagnostic`` converts them once, at the LSP boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from pathlib import PurePath
from typing import Any

from lsprotocol import types

from ..codes import JsonPath
from .catalog import Catalog
from .doc_edit import changed_layers, same_json
from .document import Document, Problem
from .services import security, security_cache
from .services.suggest import budget_refused
from .services.validation import (
    Finding,
    checkpoint,
    fold_legacy,
    model_layers,
    validate,
    validate_envelope,
    validate_model_links,
)
from .settings import Settings

SOURCE = "layercfg"
MAX_PATHS = 200
MAX_PER_CODE = 5000


@dataclass(frozen=True)
class Checked:
    """A located problem and the JSON path it is about."""

    problem: Problem
    path: JsonPath
    source: str = SOURCE
    # places in other files (the deep check's): (file, 1-based line, message)
    external: tuple[tuple[str, int, str], ...] = ()


def with_severity(item: Checked, severity: int) -> Checked:
    """``item`` with another severity (a copy: a cached problem is never changed)."""
    if severity == item.problem.severity:
        return item
    problem = item.problem
    return Checked(
        Problem(
            problem.start,
            problem.end,
            problem.code,
            problem.message,
            severity,
            problem.data,
            problem.related,
        ),
        item.path,
        item.source,
        item.external,
    )


def _locate(document: Document, finding: Finding) -> tuple[int, int]:
    """The span of a finding; where its exact place is gone, the nearest enclosing one."""
    path = finding.path
    span = document.locate(path, finding.part)
    while span is None and path:
        path = path[:-1]
        span = document.locate(path, "value")
    if span is None:
        return 0, min(len(document.text), 1)
    return span


def locate_finding(document: Document, finding: Finding) -> Problem:
    start, end = _locate(document, finding)
    related = []
    if finding.code == "LCF103" and finding.part == "open" and finding.path:
        # A missing key: shown on the key that names the object ("config"), a one-character
        # squiggle on its brace being easy to miss; the object itself is the related place.
        if isinstance(finding.path[-1], str):
            named = document.locate(finding.path, "key")
            whole = document.locate(finding.path, "value")
            if named is not None and whole is not None:
                start, end = named
                related.append((whole[0], whole[1], "the object that lacks the key"))
    for path, part, message in finding.related:
        span = document.locate(path, part)
        if span is not None:
            related.append((span[0], span[1], message))
    return Problem(
        start=start,
        end=end,
        code=finding.code,
        message=finding.message,
        severity=finding.severity,
        data=finding.data,
        related=tuple(related),
    )


class LayerCache:
    """Findings of each layer of a document's model, kept across versions: after an edit only
    the layers that changed are validated again. A layer is known by its object when the
    document's value was spliced from the previous one (the layers outside the edit are the
    same objects), else by its text. One per document."""

    # Up to this many unknown layers are validated without looking for their text: finding
    # the layers' spans costs more than validating a few of them.
    FEW = 16

    def __init__(self) -> None:
        self.catalog: Catalog | None = None
        # id(layer) -> (layer, kind, findings); the layer is kept so that the id stays its own
        self._by_object: dict[int, tuple[Any, str, list[Finding]]] = {}
        self._by_text: dict[tuple[str, str], list[Finding]] = {}
        self.security = security_cache.Cache()
        self._last: _LastCheck | None = None
        self._unindexed: _Unindexed | None = None
        # The located findings of the last version checked: (its token, id(finding) ->
        # (finding, located)); a finding the next version still has is moved with the text
        # between them instead of being located again.
        self.located: tuple[object, dict[int, tuple[Finding, Checked]]] | None = None

    def validate(self, document: Document, catalog: Catalog) -> list[Finding]:
        findings = self._validate(document, catalog)
        if budget_refused():
            # Which findings got a did-you-mean depends on the layers checked before them:
            # the next version is checked whole, as a fresh open is.
            self._by_object, self._by_text, self._last = {}, {}, None
            self._unindexed = None
        return findings

    def _validate(self, document: Document, catalog: Catalog) -> list[Finding]:
        if catalog is not self.catalog:
            self.catalog, self._by_object, self._by_text = catalog, {}, {}
            self._last = None
        value = document.value
        last, self._last = self._last, None
        pending, self._unindexed = self._unindexed, None
        if pending is not None and not self._by_text:
            self._by_text = pending.texts()
        if last is not None:
            quick = self._after_edit(last, value, catalog)
            if quick is not None:
                return quick
        layers = list(model_layers(value, catalog))
        if not layers or not all(isinstance(layer, dict) for _, layer, _ in layers):
            return validate(value, catalog)  # the rare shapes are worded by the whole check
        results: list[list[Finding] | None] = []
        unknown = []
        for index, (_, layer, kind) in enumerate(layers):
            known = self._by_object.get(id(layer))
            if known is not None and known[0] is layer and known[1] == kind:
                results.append(known[2])
            else:
                results.append(None)
                unknown.append(index)
        by_text: dict[tuple[str, str], list[Finding]] = {}
        if len(unknown) > self.FEW and not self._by_text and not document.has_tree:
            # Nothing to reuse by text, and the layers' texts would cost a parse of the tree
            # before the first diagnostics (a fresh open): the layers are validated as they
            # are, and their texts are read at the next check, from the tree parsed meanwhile.
            for index in unknown:
                results[index] = self._one(layers[index], catalog)
            self._unindexed = _Unindexed(document, [kind for _, _, kind in layers], results)
        elif len(unknown) > self.FEW:
            spans = document.item_spans(("config", "layers"))
            if spans is None or len(spans) != len(layers):
                return validate(value, catalog)
            text = document.text
            for index in unknown:
                start, end = spans[index]
                key = (layers[index][2], text[start:end])
                found = by_text.get(key) or self._by_text.get(key)
                if found is None:
                    found = self._one(layers[index], catalog)
                results[index] = by_text[key] = found
        else:
            for index in unknown:
                results[index] = self._one(layers[index], catalog)
        findings = validate_envelope(value, catalog, (), shallow=True)
        by_object = {}
        placed: list[list[Finding]] = []
        for (path, layer, kind), cached in zip(layers, results, strict=True):
            assert cached is not None  # the unknown layers were all validated above
            by_object[id(layer)] = (layer, kind, cached)
            placed.append([f.prefixed(path) for f in cached] if cached else [])
        findings.extend(chain.from_iterable(placed))
        # What this version no longer has is dropped; texts are kept from the last full look.
        self._by_object = by_object
        if by_text:
            self._by_text = by_text
        links = validate_model_links(value, ())
        findings.extend(links)
        self._last = _LastCheck(value, layers[0][2], placed, links)
        return fold_legacy(value, findings, catalog.keras2)

    def _after_edit(self, last: _LastCheck, value: Any, catalog: Catalog) -> list[Finding] | None:
        """The findings of ``value`` when it is the last value checked with a few of its
        model's layers replaced (an edit inside them): those layers are validated again, the
        others' findings kept, the links kept unless a replaced layer's links changed. None
        when that is not the case."""
        changed = changed_layers(last.value, value)
        if changed is None or len(changed) > self.FEW:
            return None
        layers = value["config"]["layers"]
        old_layers = last.value["config"]["layers"]
        if not all(type(layers[index]) is dict for index in changed):
            return None
        placed = list(last.placed)
        by_object = self._by_object
        for index in changed:
            layer = layers[index]
            found = self._one((None, layer, last.kind), catalog)
            by_object.pop(id(old_layers[index]), None)
            by_object[id(layer)] = (layer, last.kind, found)
            placed[index] = [f.prefixed(("config", "layers", index)) for f in found]
        links = last.links
        if not all(_same_links(old_layers[i], layers[i]) for i in changed):
            links = validate_model_links(value, ())
        findings = validate_envelope(value, catalog, (), shallow=True)
        findings.extend(chain.from_iterable(placed))
        findings.extend(links)
        self._last = _LastCheck(value, last.kind, placed, links)
        return fold_legacy(value, findings, catalog.keras2)

    def _one(self, item: tuple[Any, Any, str], catalog: Catalog) -> list[Finding]:
        _, layer, kind = item
        return validate_envelope(layer, catalog, (), kind=kind, top_level=False)


@dataclass(frozen=True, slots=True)
class _Unindexed:
    """The layers' findings of a version checked without reading the layers' texts."""

    document: Document
    kinds: list[str]
    results: list[list[Finding] | None]

    def texts(self) -> dict[tuple[str, str], list[Finding]]:
        """(kind, layer text) -> findings, once the version has its tree ({} before)."""
        if not self.document.has_tree:
            return {}
        spans = self.document.item_spans(("config", "layers"))
        if spans is None or len(spans) != len(self.results):
            return {}
        text = self.document.text
        return {
            (kind, text[start:end]): found
            for kind, (start, end), found in zip(self.kinds, spans, self.results, strict=True)
            if found is not None
        }


@dataclass(frozen=True, slots=True)
class _LastCheck:
    """The last value a LayerCache checked through its layers, with what it found: each
    layer's findings at its place, and the links' findings."""

    value: Any
    kind: str
    placed: list[list[Finding]]
    links: list[Finding]


# What the link checks (layer_graph) read of a layer entry, and of its config.
_LINK_KEYS = ("name", "inbound_nodes", "class_name")
_LINK_CONFIG_KEYS = ("name", "layers", "layer", "backward_layer", "input_layers", "output_layers")
_ABSENT = object()


def _same_links(old: Any, new: Any) -> bool:
    """Whether the link checks read the same in two versions of a layer entry."""
    if type(old) is not dict or type(new) is not dict:
        return False
    for key in _LINK_KEYS:
        if not same_json(old.get(key, _ABSENT), new.get(key, _ABSENT)):
            return False
    config, old_config = new.get("config", _ABSENT), old.get("config", _ABSENT)
    if type(config) is not dict or type(old_config) is not dict:
        return same_json(old_config, config)
    return all(
        same_json(old_config.get(key, _ABSENT), config.get(key, _ABSENT))
        for key in _LINK_CONFIG_KEYS
    )


def check(
    document: Document,
    catalog: Catalog | None,
    settings: Settings,
    cache: LayerCache | None = None,
) -> list[Checked]:
    """Every fast finding of the document, after the user's severity overrides."""
    out = []
    for item in check_raw(document, catalog, settings, cache):
        severity = settings.severity_for(item.problem.code, item.problem.severity)
        if severity is not None:
            out.append(with_severity(item, severity))
    return capped(out)


def check_raw(
    document: Document,
    catalog: Catalog | None,
    settings: Settings,
    cache: LayerCache | None = None,
) -> list[Checked]:
    """Every fast finding of the document with the severity its check gave it, in text
    order, not capped (what the server keeps; it applies overrides when it shows them)."""
    results: list[Checked] = []
    for index, problem in enumerate(document.problems):
        # Finding the path costs a walk through the object; thousands of findings in one
        # object (duplicate keys) would make that quadratic, so only the first ones get one.
        path = tuple(document.node_at(problem.start).path) if index < MAX_PATHS else ()
        results.append(Checked(problem, path))
    findings: list[Finding] = []
    if catalog is not None and _worth_validating(document):
        if cache is not None:
            findings = cache.validate(document, catalog)
        else:
            findings = validate(document.value, catalog)
    if isinstance(document.value, dict):  # the security rules need no catalog
        scanner = cache.security if cache is not None else security
        found = scanner.scan(document.value, catalog, settings.modules)
        findings = security.merged(findings, found)
    known: dict[int, tuple[Finding, Checked]] = {}
    edits = None
    if cache is not None and cache.located is not None:
        edits = document.edits_since(cache.located[0])
        if edits is not None:
            known = cache.located[1]
    located: dict[int, tuple[Finding, Checked]] = {}
    for index, finding in enumerate(findings):
        if index % 512 == 0:
            checkpoint()  # inside checking(current): a server gives up here on a stale version
        item = None
        last = known.get(id(finding))
        if last is not None and last[0] is finding and edits is not None:
            item = moved(last[1], edits)
        if item is None:
            item = Checked(locate_finding(document, finding), finding.path)
        located[id(finding)] = (finding, item)
        results.append(item)
    if cache is not None:
        cache.located = (document.token, located)
    results.sort(key=lambda c: (c.problem.start, c.problem.code))
    return results


def moved(item: Checked, edits: list[tuple[int, int, int]]) -> Checked | None:
    """``item`` in the text after ``edits`` (start, end, inserted length, in order), when no
    edit touches its spans (its text is then the same, somewhere else); None otherwise."""
    problem = item.problem
    start = _moved_span(problem.start, problem.end, edits)
    if start is None:
        return None
    related = []
    for s, e, message in problem.related:
        at = _moved_span(s, e, edits)
        if at is None:
            return None
        related.append((at, e - s + at, message))
    same = all(r[0] == o[0] for r, o in zip(related, problem.related, strict=True))
    if start == problem.start and same:
        return item
    return Checked(
        Problem(
            start,
            problem.end - problem.start + start,
            problem.code,
            problem.message,
            problem.severity,
            problem.data,
            tuple(related),
        ),
        item.path,
        item.source,
        item.external,
    )


def _moved_span(s: int, e: int, edits: list[tuple[int, int, int]]) -> int | None:
    """Where the span [s, e) starts after the edits, or None when one touches it."""
    for start, end, inserted in edits:
        if e < start or (e == start and s < e):
            continue
        if s > end or (s == end and s < e):
            delta = inserted - (end - start)
            s, e = s + delta, e + delta
            continue
        return None
    return s


def capped(checked: list[Checked]) -> list[Checked]:
    """At most MAX_PER_CODE findings of one code (the first ones in the text), then one
    that says how many more there are: a document of 200,000 duplicate keys must not become
    200,000 diagnostics for the editor to draw."""
    counts: dict[str, int] = {}
    for item in checked:
        counts[item.problem.code] = counts.get(item.problem.code, 0) + 1
    if all(count <= MAX_PER_CODE for count in counts.values()):
        return checked
    kept: list[Checked] = []
    seen: dict[str, int] = {}
    for item in checked:
        code = item.problem.code
        seen[code] = seen.get(code, 0) + 1
        if seen[code] <= MAX_PER_CODE:
            kept.append(item)
        elif seen[code] == MAX_PER_CODE + 1:
            last = kept[-1].problem
            more = counts[code] - MAX_PER_CODE
            kept.append(
                Checked(
                    Problem(
                        item.problem.start,
                        item.problem.end,
                        code,
                        f"{more:,} more {code} finding{'s' if more != 1 else ''} in this document "
                        f"after this one are not shown (the first {MAX_PER_CODE} are)",
                        max(last.severity, item.problem.severity),
                        {"hidden": more},
                    ),
                    item.path,
                    item.source,
                )
            )
    return kept


def _worth_validating(document: Document) -> bool:
    value = document.value
    return isinstance(value, dict)


def to_diagnostic(
    document: Document, checked: Checked, encoding: str = "utf-16"
) -> types.Diagnostic:
    problem = checked.problem
    lines = document.lines
    related = [
        types.DiagnosticRelatedInformation(
            location=types.Location(uri=document.uri, range=lines.range_of(start, end, encoding)),
            message=message,
        )
        for start, end, message in problem.related
    ]
    for file, line, message in checked.external:
        position = types.Position(line=max(line - 1, 0), character=0)
        related.append(
            types.DiagnosticRelatedInformation(
                location=types.Location(
                    uri=PurePath(file).as_uri() if PurePath(file).is_absolute() else file,
                    range=types.Range(start=position, end=position),
                ),
                message=message,
            )
        )
    return types.Diagnostic(
        range=lines.range_of(problem.start, problem.end, encoding),
        message=problem.message,
        severity=types.DiagnosticSeverity(problem.severity),
        code=problem.code,
        source=checked.source,
        data=wire_safe(problem.data),
        related_information=related or None,
    )


def wire_safe(value: Any) -> Any:
    """``value`` with the floats JSON cannot carry (``1e400`` reads as infinity) as their
    text: a message with ``Infinity`` in it is not JSON, and the client would drop it."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return repr(value)
    if isinstance(value, dict):
        if not any(isinstance(v, (float, dict, list)) for v in value.values()):
            return value
        return {k: wire_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire_safe(v) for v in value]
    return value


def json_pointer(path: JsonPath) -> str:
    """RFC 6901."""
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in path)


def to_json(document: Document, checked: Checked) -> dict[str, Any]:
    """The ``check --format json`` shape of SPEC §4."""
    problem = checked.problem
    rng = document.lines.range_of(problem.start, problem.end)
    return {
        "code": problem.code,
        "severity": {1: "error", 2: "warning", 3: "information", 4: "hint"}[problem.severity],
        "message": problem.message,
        "pointer": json_pointer(checked.path),
        "range": {
            "start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character},
        },
        "source": checked.source,
    }
