"""How sure a fix is, as ruff's ``Applicability``: *safe* fixes are applied by ``check --fix``
and ``source.fixAll.layercfg``, the best *unsafe* one of a finding also by ``--unsafe-fixes``,
and *display* fixes (the other choices, removals, placeholders) only by a person.

A did-you-mean is safe when its name is clearly the closest (by a margin, in a
transposition-aware edit distance over every name Keras accepts there), the changed envelope
has no error the document did not have, and it keeps the value's kind and the class's package.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...codes import JsonPath
from .. import engine
from ..catalog import Catalog, class_names
from ..document import Document
from ..settings import Settings
from . import validation
from .formatting import apply_edits, overlaps
from .schema_match import Matcher

if TYPE_CHECKING:
    from .fixes import Fix, Fixer

SAFE = "safe"
UNSAFE = "unsafe"
DISPLAY = "display"

# A substitution of a letter by the same letter in the other case costs this much: a case
# slip is a smaller mistake than a wrong letter, and a name that differs only by case wins.
CASE_COST = 0.25
# The closest name must be closer than the next one by this much.
MARGIN = 1.0
# Layer references: names a model generated (dense, dense_1, dense_2) are close to each other
# by construction, and a wrong one rewires the model.
REFERENCE_MARGIN = 2.0
# The best name may be this far at most (a longer word may hold two slips).
NEAR = 1.0
NEAR_LONG = 2.0
LONG_WORD = 12
MAX_ROUNDS = 8
# How deep ``verify`` applies the safe fixes of what a change brings to light.
MAX_SETTLING = 2
# Findings that say a class or key is not the one meant.
STRUCTURAL = frozenset({"LCF101", "LCF102", "LCF103", "LCF107"})
_settling: ContextVar[int] = ContextVar("layercfg_fix_settling", default=0)


@dataclass(frozen=True)
class Verdict:
    """The class of one fix, and why it is not safe ('' when it is)."""

    applicability: str
    reason: str = ""

    @property
    def safe(self) -> bool:
        return self.applicability == SAFE


# -- distance and ranking ------------------------------------------------------------------------


def distance(word: str, name: str, bound: float = float("inf")) -> float:
    """Optimal string alignment distance (insertions, deletions, substitutions and adjacent
    transpositions cost 1; a change of case only, CASE_COST); past ``bound``, some value
    above it."""
    if word == name:
        return 0.0
    n, m = len(word), len(name)
    if abs(n - m) > bound:
        return abs(n - m)
    a, b = word.lower(), name.lower()
    previous2: list[float] = []
    previous = [float(j) for j in range(m + 1)]
    for i in range(1, n + 1):
        current = [float(i)] + [0.0] * m
        for j in range(1, m + 1):
            if word[i - 1] == name[j - 1]:
                cost = 0.0
            elif a[i - 1] == b[j - 1]:
                cost = CASE_COST
            else:
                cost = 1.0
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if (
                i > 1
                and j > 1
                and a[i - 1] == b[j - 2]
                and a[i - 2] == b[j - 1]
                and a[i - 1] != a[i - 2]
            ):
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        if min(current) > bound:
            return min(current)
        previous2, previous = previous, current
    return previous[m]


def rank(word: str, names: Iterable[str]) -> list[tuple[str, float]]:
    """``names`` closest first (ties keep their order), each with its distance."""
    unique = list(dict.fromkeys(n for n in names if isinstance(n, str)))
    scored = [(name, distance(word, name, bound=NEAR_LONG + REFERENCE_MARGIN)) for name in unique]
    return sorted(scored, key=lambda item: item[1])


def near_limit(word: str) -> float:
    return NEAR_LONG if len(word) >= LONG_WORD else NEAR


def judge_name(word: str, chosen: str, pool: Iterable[str], margin: float = MARGIN) -> Verdict:
    """Whether ``chosen`` is clearly the name meant by ``word`` among ``pool``."""
    ranked = [(n, d) for n, d in rank(word, [chosen, *pool]) if n != word]
    mine = next(d for n, d in ranked if n == chosen)
    others = [(n, d) for n, d in ranked if n != chosen]
    if mine > near_limit(word):
        return Verdict(UNSAFE, f"'{chosen}' is not close to '{word}' (distance {mine:g})")
    if others and others[0][1] - mine < margin:
        rival, far = others[0]
        if far <= mine:
            return Verdict(
                UNSAFE, f"'{word}' is as close to '{rival}' as to '{chosen}' (ambiguous)"
            )
        return Verdict(UNSAFE, f"'{word}' is almost as close to '{rival}' as to '{chosen}'")
    return Verdict(SAFE)


def ordered(word: str, candidates: Sequence[Any], first: Iterable[Any] = ()) -> list[Any]:
    """Candidates closest first by ``distance``; ``first`` (known renames) before all."""
    pinned = [c for c in first if c in candidates]
    rest = [c for c in candidates if c not in pinned]
    strings = [c for c in rest if isinstance(c, str)]
    by_distance = [n for n, _ in rank(word, strings)]
    return [*pinned, *by_distance, *(c for c in rest if not isinstance(c, str))]


# -- what Keras accepts there --------------------------------------------------------------------


def class_pool(catalog: Catalog | None, candidates: Sequence[dict[str, Any]]) -> list[str]:
    """Every class name of the families the candidates belong to."""
    if catalog is None:
        return []
    families = {e["family"] for c in candidates for e in catalog.find(c["class_name"])}
    return [name for entry in catalog.in_families(families) for name in class_names(entry)]


def key_pool(walker: Matcher | None, root: Any, container: JsonPath) -> list[str]:
    """Every key the schema names for the object at ``container``."""
    if walker is None:
        return []
    try:
        schemas = walker.match(root, container).schemas
    except RecursionError:
        return []
    return [k for schema in schemas for k in schema.get("properties", {})]


def near(word: str, pool: Iterable[str]) -> list[str]:
    """The names of ``pool`` within reach of a slip of ``word``, closest first."""
    return [n for n, d in rank(word, pool) if d <= near_limit(word) and n != word]


# -- verdicts per kind of finding ----------------------------------------------------------------


def judge_class(
    root: Any,
    catalog: Catalog | None,
    path: JsonPath,
    candidate: dict[str, Any],
    candidates: Sequence[dict[str, Any]],
    sets: Sequence[tuple[JsonPath, Any]],
) -> Verdict:
    """A class name (LCF101) at ``path`` changed to ``candidate``, with the identity keys
    ``sets`` that go with it."""
    name = _at(root, path)
    wanted = candidate["class_name"]
    if validation.CLASS_RENAMES.get(name) != wanted:
        pool = [c["class_name"] for c in candidates] + class_pool(catalog, candidates)
        verdict = judge_name(name, wanted, pool)
        if not verdict.safe:
            return verdict
    envelope = _at(root, path[:-1])
    module, new_module = envelope.get("module"), candidate.get("module")
    if isinstance(module, str) and isinstance(new_module, str):
        if module.split(".")[0] != new_module.split(".")[0]:
            return Verdict(UNSAFE, f"it moves the class from '{module}' to '{new_module}'")
    change = Change(sets=((path, wanted), *sets))
    reason = verify(root, catalog, change, "LCF101", path, structural=True)
    return Verdict(UNSAFE, reason) if reason else Verdict(SAFE)


def judge_key(
    root: Any,
    catalog: Catalog | None,
    code: str,
    path: JsonPath,
    candidate: str,
    pool: Sequence[str],
) -> Verdict:
    """An unknown key (LCF102, or LCF107 in an envelope) at ``path`` renamed to ``candidate``."""
    key = path[-1]
    assert isinstance(key, str)
    renames = validation.KEY_RENAMES.get(key, ())
    if renames and candidate in renames:
        if len(renames) > 1:
            return Verdict(UNSAFE, f"Keras 3 split '{key}' into {' and '.join(renames)}")
    else:
        verdict = judge_name(key, candidate, pool)
        if not verdict.safe:
            return verdict
    reason = verify(root, catalog, Change(renames=((path, candidate),)), code, path)
    return Verdict(UNSAFE, reason) if reason else Verdict(SAFE)


def judge_value(
    root: Any, catalog: Catalog | None, path: JsonPath, option: Any, allowed: Sequence[Any]
) -> Verdict:
    """A value not among the allowed ones (LCF105) at ``path`` changed to ``option``."""
    current = _at(root, path)
    if not isinstance(current, str) or not isinstance(option, str):
        return Verdict(UNSAFE, "it changes the kind of the value")
    verdict = judge_name(current, option, [a for a in allowed if isinstance(a, str)])
    if not verdict.safe:
        return verdict
    reason = verify(root, catalog, Change(sets=((path, option),)), "LCF105", path)
    return Verdict(UNSAFE, reason) if reason else Verdict(SAFE)


def judge_reference(name: Any, candidate: str, candidates: Sequence[str]) -> Verdict:
    """A reference to a layer that does not exist (LCF202) changed to ``candidate``."""
    if not isinstance(name, str):
        return Verdict(UNSAFE, "the reference is not a name")
    return judge_name(name, candidate, candidates, margin=REFERENCE_MARGIN)


# -- the change keeps the document valid ---------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A fix as a change of the value: ``renames`` (path of a key, new key) and ``sets``
    (path of a value, new value)."""

    renames: tuple[tuple[JsonPath, str], ...] = ()
    sets: tuple[tuple[JsonPath, Any], ...] = field(default_factory=tuple)


def _changed(value: Any, path: JsonPath, edit: Any, rename: bool) -> Any:
    """``value`` with the change at ``path``, copying only the containers on the way."""
    if not path:
        return edit
    step, rest = path[0], path[1:]
    if isinstance(value, dict) and isinstance(step, str) and not rest and not rename:
        return {**value, step: edit}  # replaced, or inserted
    if isinstance(value, dict) and isinstance(step, str) and step in value:
        if rename and not rest:
            return {(edit if k == step else k): v for k, v in value.items()}
        copy = dict(value)
        copy[step] = _changed(value[step], rest, edit, rename)
        return copy
    if isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
        copy_list = list(value)
        copy_list[step] = _changed(value[step], rest, edit, rename)
        return copy_list
    return value


def _scope(root: Any, path: JsonPath, catalog: Catalog) -> tuple[JsonPath, str | None]:
    """The envelope a change at ``path`` is checked in: its layer in the top-level model, or
    the document (kind None)."""
    for layer_path, _, kind in validation.model_layers(root, catalog):
        if path[: len(layer_path)] == layer_path:
            return layer_path, kind
    return (), None


def _errors(value: Any, catalog: Catalog, scope: JsonPath, kind: str | None) -> dict[tuple, str]:
    if kind is None:
        findings = validation.validate_envelope(value, catalog, (), shallow=True)
    else:
        findings = validation.validate_envelope(value, catalog, scope, kind=kind, top_level=False)
    return {(f.code, f.path): f.message for f in findings if f.severity == validation.ERROR}


def verify(
    root: Any,
    catalog: Catalog | None,
    change: Change,
    code: str,
    path: JsonPath,
    structural: bool = False,
) -> str | None:
    """Why the change does not keep the document valid (None: it fixes the finding ``code``
    at ``path`` and adds no error to the envelope it is in, once the safe fixes of what it
    brings to light are applied). ``structural``: only errors of keys and classes count (a
    class fixed, its config is checked for the first time: a wrong value there is a mistake
    of its own, a key the class does not have says the class is another one)."""
    if catalog is None:
        return None
    where = [p for p, _ in change.renames] + [p for p, _ in change.sets]
    if not where:
        return None
    scope, kind = _scope(root, where[0], catalog)
    if any(p[: len(scope)] != scope for p in where):
        scope, kind = (), None
    after_root = root
    for p, new in change.sets:
        after_root = _changed(after_root, p, new, rename=False)
    for p, new_key in change.renames:
        after_root = _changed(after_root, p, new_key, rename=True)
    before = _at(root, scope)
    after = _at(after_root, scope)
    old = set(_errors(before, catalog, scope, kind))
    new = _errors(after, catalog, scope, kind)
    moved = {p: (*p[:-1], k) for p, k in change.renames}

    def renamed(key: JsonPath) -> JsonPath:
        for old_path, new_path in moved.items():
            if key[: len(old_path)] == old_path:
                return (*new_path, *key[len(old_path) :])
        return key

    old = {(c, renamed(p)) for c, p in old}
    target = (code, renamed(path))
    if target in new:
        return f"it does not fix it: {new[target].rstrip('.')}"

    def added_by(found: dict[tuple, str]) -> list[str]:
        return [
            message
            for key, message in found.items()
            if key not in old and (not structural or key[0] in STRUCTURAL)
        ]

    added = added_by(new)
    if added and _settling.get() < MAX_SETTLING:
        # Slips that the change brings to light and that have safe fixes of their own are
        # not held against it.
        settled = _settled(after, catalog)
        if settled is not None:
            added = added_by(_errors(settled, catalog, scope, kind))
    if added:
        return f"the document would not be valid: {added[0].rstrip('.')}"
    return None


def _settled(value: Any, catalog: Catalog) -> Any:
    """``value`` after the safe fixes of the findings in it (None: it could not be read
    back)."""
    from .code_actions import fix_all

    token = _settling.set(_settling.get() + 1)
    try:
        document = Document.parse("file:///settled.layercfg.json", json.dumps(value), 1)
        text, applied = fix_all(document, catalog, Settings())
        return json.loads(text) if applied else value
    except (ValueError, RecursionError):
        return None
    finally:
        _settling.reset(token)


def _at(value: Any, path: JsonPath) -> Any:
    for step in path:
        value = value[step]
    return value


# -- applying ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Left:
    """A finding ``--fix`` did not fix, and why."""

    checked: engine.Checked
    reason: str
    fix: Fix | None = None  # its best fix, when there is one


@dataclass
class Outcome:
    text: str
    applied: list[Fix]
    left: list[Left]
    document: Document


def choose(fix_list: Sequence[Fix], unsafe: bool) -> Fix | None:
    """The fix ``--fix`` (or ``--unsafe-fixes``) applies for one finding."""
    safe = [f for f in fix_list if f.safe]
    if len(safe) == 1:
        return safe[0]
    if unsafe and not safe:
        return next((f for f in fix_list if f.unsafe), None)
    return None


def why_left(fix_list: Sequence[Fix], unsafe: bool) -> tuple[str, Fix | None]:
    safe = [f for f in fix_list if f.safe]
    if len(safe) > 1:
        return "more than one safe fix", None
    best = next((f for f in fix_list if f.unsafe), None)
    if best is not None:
        if unsafe:
            return "its fix overlaps another one", best
        return f"unsafe fix: {best.reason} (--unsafe-fixes applies it)", best
    if fix_list:
        return "no automatic fix: the choices are for a person", fix_list[0]
    return "no automatic fix", None


def apply_fixes(
    document: Document,
    catalog: Catalog | None,
    settings: Settings,
    fixer: Fixer | None = None,
    unsafe: bool = False,
) -> Outcome:
    """The text after the fixes of each finding by class, round after round (a fix may make
    another one possible: a class fixed, its config is checked), what was applied, and what
    is left with the reason."""
    from .fixes import Fixer

    fixer = fixer or Fixer(catalog)
    applied: list[Fix] = []
    current = document
    for _ in range(MAX_ROUNDS):
        chosen: list[Fix] = []
        taken: list[Any] = []
        for item in engine.check(current, catalog, settings):
            fix = choose(fixer.fixes(current, item.problem, item.path), unsafe)
            if fix is None or overlaps(fix.edits, taken):
                continue  # an overlapping one waits for the next round
            chosen.append(fix)
            taken.extend(fix.edits)
        if not chosen:
            break
        text = apply_edits(current.text, taken)
        if text == current.text:
            break
        applied.extend(chosen)
        current = Document.parse(document.uri, text, document.version)
    left = []
    for item in engine.check(current, catalog, settings):
        reason, best = why_left(fixer.fixes(current, item.problem, item.path), unsafe)
        left.append(Left(item, reason, best))
    return Outcome(current.text, applied, left, current)
