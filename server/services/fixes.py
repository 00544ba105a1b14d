"""The fixes of the fast checks' findings, as offsets: each from a located problem and its
JSON path (``Checked``), with its safety class (``fix_safety``). ``code_actions`` turns them
into LSP code actions, ``fix_all`` and ``layercfg check --fix``."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...codes import JsonPath
from ..catalog import Catalog
from ..document import Document, Problem
from . import fix_safety, rename, upgrade
from .completion import placeholder
from .formatting import (
    Edit,
    dumps,
    dumps_like,
    insert_member,
    remove_member,
    remove_span,
    rename_key,
    replace_value,
    rewrite_edits,
    snippet_escape,
)
from .schema_match import Matcher, missing, value_at
from .validation import CLASS_RENAMES, KEY_RENAMES

MAX_CHOICES = 5
MAX_ROUNDS = 8
# Keys of an envelope in the order Keras writes them.
ENVELOPE_ORDER = (
    "module",
    "class_name",
    "config",
    "registered_name",
    "build_config",
    "compile_config",
    "name",
    "inbound_nodes",
)


@dataclass(frozen=True)
class Fix:
    title: str
    code: str
    edits: tuple[Edit, ...]
    preferred: bool = False
    safe: bool = False
    snippet: bool = False  # the edits' texts are snippets
    unsafe: bool = False  # the best fix of a finding that has no safe one (--unsafe-fixes)
    reason: str = ""  # why it is not safe (fix_safety)


class Fixer:
    """Fixes for one catalog (None: only the syntax fixes)."""

    def __init__(self, catalog: Catalog | None, walker: Matcher | None = None):
        self.catalog = catalog
        self.walker = walker or (Matcher(catalog) if catalog is not None else None)
        self._builders: dict[str, Callable[[Document, Problem, JsonPath, bool], list[Fix]]] = {
            "LCF002": self._syntax,
            "LCF101": self._unknown_class,
            "LCF102": self._unknown_key,
            "LCF103": self._missing_key,
            "LCF104": self._wrong_type,
            "LCF105": self._not_allowed,
            "LCF107": self._envelope,
            "LCF108": self._legacy,
            "LCF201": self._duplicate_name,
            "LCF202": self._missing_reference,
        }

    def fixes(
        self, document: Document, problem: Problem, path: JsonPath, snippets: bool = False
    ) -> list[Fix]:
        builder = self._builders.get(problem.code)
        if builder is None:
            return []
        return [fix for fix in builder(document, problem, tuple(path), snippets) if fix.edits]

    # -- LCF002 -----------------------------------------------------------------------------------
    def _syntax(self, document: Document, problem: Problem, path: JsonPath, snippets: bool):
        kind = (problem.data or {}).get("kind")
        text = document.text
        if kind == "comment":
            edit = remove_span(text, problem.start, problem.end)
            return [Fix("Remove the comment", problem.code, (edit,), True, True)]
        if kind == "trailing_comma":
            edit = Edit(problem.start, problem.end, "")
            return [Fix("Remove the trailing comma", problem.code, (edit,), True, True)]
        if kind == "bom":
            edit = Edit(problem.start, problem.end, "")
            return [Fix("Remove the byte order mark", problem.code, (edit,), True, True)]
        return []

    # -- LCF101 -----------------------------------------------------------------------------------
    def _unknown_class(self, document: Document, problem: Problem, path: JsonPath, snippets: bool):
        data = problem.data or {}
        name = data.get("class_name")
        candidates = [c for c in data.get("candidates") or [] if isinstance(c, dict)]
        if not isinstance(name, str) or not candidates or path[-1:] != ("class_name",):
            return []
        envelope_path = path[:-1]
        envelope = value_at(document.value, envelope_path)
        if not isinstance(envelope, dict):
            return []
        by_name: dict[str, dict[str, Any]] = {}
        for candidate in candidates:
            by_name.setdefault(candidate["class_name"], candidate)
        names = fix_safety.ordered(name, list(by_name), [CLASS_RENAMES.get(name)])
        candidates = [by_name[n] for n in names]
        fixes = []
        for index, candidate in enumerate(candidates[:MAX_CHOICES]):
            edits = list(replace_value(document, path, dumps(candidate["class_name"])))
            sets = self._identity_sets(envelope_path, envelope, candidate)
            edits += self._identity_edits(document, envelope_path, envelope, candidate)
            where = candidate.get("registered_name") or candidate.get("module")
            title = f"Change to '{candidate['class_name']}'" + (f" ({where})" if where else "")
            verdict = fix_safety.Verdict(fix_safety.DISPLAY)
            if index == 0:
                verdict = fix_safety.judge_class(
                    document.value, self.catalog, path, candidate, candidates, sets
                )
            fixes.append(_classed(title, problem.code, tuple(edits), verdict))
        return fixes

    def _identity_sets(
        self, path: JsonPath, envelope: dict[str, Any], candidate: dict[str, Any]
    ) -> list[tuple[JsonPath, Any]]:
        """``_identity_edits`` as changes of the value."""
        keras3 = "module" in envelope or "registered_name" in envelope or not path
        return [
            ((*path, key), candidate.get(key))
            for key in ("module", "registered_name")
            if (key in envelope and envelope[key] != candidate.get(key))
            or (key not in envelope and keras3 and candidate.get(key) is not None)
        ]

    def _identity_edits(
        self,
        document: Document,
        path: JsonPath,
        envelope: dict[str, Any],
        candidate: dict[str, Any],
    ) -> list[Edit]:
        """``module`` and ``registered_name`` that go with a class."""
        edits: list[Edit] = []
        keras3 = "module" in envelope or "registered_name" in envelope or not path
        for key in ("module", "registered_name"):
            wanted = candidate.get(key)
            if key in envelope:
                if envelope[key] != wanted:
                    edits += replace_value(document, (*path, key), dumps(wanted))
            elif keras3 and wanted is not None:
                edits += insert_member(document, path, key, dumps(wanted), ENVELOPE_ORDER)
        return edits

    # -- LCF102 -----------------------------------------------------------------------------------
    def _unknown_key(self, document: Document, problem: Problem, path: JsonPath, snippets: bool):
        data = problem.data or {}
        key = data.get("key")
        if not path or path[-1] != key:
            return []
        container = value_at(document.value, path[:-1])
        present = container if isinstance(container, dict) else {}
        pool = fix_safety.key_pool(self.walker, document.value, path[:-1])
        offered = [*(data.get("candidates") or []), *fix_safety.near(key, pool)]
        renames = KEY_RENAMES.get(key, ())
        usable = [c for c in dict.fromkeys(offered) if c not in present and c != key]
        usable = fix_safety.ordered(key, usable, renames)
        fixes = []
        for index, candidate in enumerate(usable[:MAX_CHOICES]):
            verdict = fix_safety.Verdict(fix_safety.DISPLAY)
            if index == 0:
                verdict = fix_safety.judge_key(
                    document.value,
                    self.catalog,
                    problem.code,
                    path,
                    candidate,
                    [c for c in [*usable, *pool] if c not in present],
                )
            edits = tuple(rename_key(document, path, candidate))
            fixes.append(_classed(f"Change to '{candidate}'", problem.code, edits, verdict))
        fixes.append(Fix(f"Remove '{key}'", problem.code, tuple(remove_member(document, path))))
        return fixes

    # -- LCF103 -----------------------------------------------------------------------------------
    def _missing_key(self, document: Document, problem: Problem, path: JsonPath, snippets: bool):
        key = (problem.data or {}).get("key")
        target = value_at(document.value, path)
        if not isinstance(key, str) or not isinstance(target, dict) or key in target:
            return []
        value, order = self._new_member(document, path, key, target)
        text = dumps(value)
        if snippets:
            text = "${1:" + snippet_escape(text) + "}"
        edits = insert_member(document, path, key, text, order, snippet=snippets)
        title = f"Insert '{key}'" + ("" if snippets else f" with {_short(dumps(value))} to fill in")
        return [Fix(title, problem.code, tuple(edits), True, False, snippets)]

    def _new_member(
        self, document: Document, path: JsonPath, key: str, target: dict[str, Any]
    ) -> tuple[Any, Sequence[str]]:
        """A placeholder value for a missing key, and the order keys go in there."""
        if key in ("class_name", "config", "module", "registered_name") or (
            key in ("name", "inbound_nodes") and "class_name" in target
        ):
            config = target.get("config")
            envelope_values: dict[str, Any] = {
                "class_name": "",
                "config": {},
                "module": None,
                "registered_name": None,
                "inbound_nodes": [],
                "name": config.get("name", "") if isinstance(config, dict) else "",
            }
            return envelope_values[key], ENVELOPE_ORDER
        if self.walker is None:
            return None, ()
        match = self.walker.match(document.value, path)
        entry = match.entry if path[-1:] == ("config",) else None
        params: Mapping[str, Any] = entry.get("params", {}) if entry is not None else {}
        order = ["name", "trainable", "dtype", *params]
        param = params.get(key) or {}
        for field in ("sample", "config_default", "default"):
            if field in param:
                return param[field], order
        for schema in match.schemas:
            sub = self.walker.resolve(schema.get("properties", {}).get(key, {}))
            if "default" in sub:
                return sub["default"], order
            found = placeholder(sub)
            if found is not missing():
                return found, order
        return None, order

    # -- LCF104 -----------------------------------------------------------------------------------
    def _wrong_type(self, document: Document, problem: Problem, path: JsonPath, snippets: bool):
        data = problem.data or {}
        expected = data.get("expected") or []
        if "suggestion" in data:
            new = data["suggestion"]
            if isinstance(new, float) and new.is_integer() and _integer_text(data.get("value")):
                new = int(new)  # "8" for a number is 8, as written, not 8.0
            edits = replace_value(document, path, dumps(new))
            return [Fix(f"Convert to {_short(dumps(new))}", problem.code, tuple(edits), True, True)]
        current = value_at(document.value, path)
        if isinstance(current, bool):
            return []
        if isinstance(current, float) and current.is_integer() and "integer" in expected:
            new_int = int(current)
            edits = replace_value(document, path, dumps(new_int))
            return [Fix(f"Convert to {new_int}", problem.code, tuple(edits), True, True)]
        if isinstance(current, (int, float)) and "array" in expected:
            size = self._tuple_size(document, path, current)
            if size:
                new_list = [current] * size
                edits = replace_value(document, path, dumps(new_list))
                return [
                    Fix(f"Convert to {dumps(new_list)}", problem.code, tuple(edits), True, True)
                ]
        return []

    def _tuple_size(self, document: Document, path: JsonPath, number: float) -> int | None:
        """The length of the fixed-size number tuple the schema wants at ``path``."""
        if self.walker is None or not path:
            return None
        parent = self.walker.match(document.value, path[:-1])
        raw = []
        for schema in parent.schemas:
            if isinstance(path[-1], str):
                sub = schema.get("properties", {}).get(path[-1])
            else:
                sub = schema.get("items")
            if isinstance(sub, dict):
                raw.append(sub)
        sizes = set()
        for schema in self.walker.expand(raw, missing()):
            if schema.get("type") != "array":
                continue
            low, high = schema.get("minItems"), schema.get("maxItems")
            items = self.walker.resolve(schema.get("items") or {})
            item_types = items.get("type")
            item_types = item_types if isinstance(item_types, list) else [item_types]
            fits = "number" in item_types or ("integer" in item_types and isinstance(number, int))
            if low is not None and low == high and fits:
                sizes.add(low)
        return sizes.pop() if len(sizes) == 1 else None

    # -- LCF105 -----------------------------------------------------------------------------------
    def _not_allowed(self, document: Document, problem: Problem, path: JsonPath, snippets: bool):
        data = problem.data or {}
        allowed = data.get("allowed")
        current = value_at(document.value, path)
        if not isinstance(allowed, list) or not allowed or isinstance(current, (dict, list)):
            return []
        close: list[Any] = []
        if isinstance(current, str):
            strings = [a for a in allowed if isinstance(a, str)]
            close = [a for a in strings if a.lower() == current.lower()]
            close += difflib.get_close_matches(current, strings, n=3, cutoff=0.6)
            close = list(dict.fromkeys(close))
        if isinstance(current, str):
            close = fix_safety.ordered(current, close) + fix_safety.near(current, strings)
            close = fix_safety.ordered(current, list(dict.fromkeys(close)))
        choices = list(dict.fromkeys([*close, *allowed]))[:MAX_CHOICES]
        fixes = []
        for index, option in enumerate(choices):
            verdict = fix_safety.Verdict(fix_safety.DISPLAY)
            if index == 0 and close:
                verdict = fix_safety.judge_value(
                    document.value, self.catalog, path, option, allowed
                )
            edits = replace_value(document, path, dumps(option))
            fixes.append(
                _classed(f"Change to {_short(dumps(option))}", problem.code, tuple(edits), verdict)
            )
        return fixes

    # -- LCF107 -----------------------------------------------------------------------------------
    def _envelope(self, document: Document, problem: Problem, path: JsonPath, snippets: bool):
        data = problem.data or {}
        if "candidates" in data and path and path[-1] == data.get("key"):
            # An unknown envelope key: like an unknown config key.
            return self._unknown_key(document, problem, path, snippets)
        if "module" not in data:
            return []
        envelope_path = path[:-1] if path and path[-1] in ("module", "registered_name") else path
        envelope = value_at(document.value, envelope_path)
        if not isinstance(envelope, dict):
            return []
        edits: list[Edit] = []
        changed = []
        for key in ("module", "registered_name"):
            wanted = data.get(key)
            if key in envelope:
                if envelope[key] != wanted and (path[-1:] == (key,) or wanted is not None):
                    edits += replace_value(document, (*envelope_path, key), dumps(wanted))
                    changed.append(key)
            elif wanted is not None and data.get("key") == key:
                edits += insert_member(document, envelope_path, key, dumps(wanted), ENVELOPE_ORDER)
                changed.append(key)
        if not edits:
            return []
        title = "Set " + " and ".join(f"'{k}' to {dumps(data.get(k))}" for k in changed)
        return [Fix(title, problem.code, tuple(edits), True, True)]

    # -- LCF108 -----------------------------------------------------------------------------------
    def _legacy(self, document: Document, problem: Problem, path: JsonPath, snippets: bool):
        data = problem.data or {}
        fixes = []
        if "markers" not in data and data.get("key"):
            key = data["key"]
            if "rename" in data and path and path[-1] == key:
                container = value_at(document.value, path[:-1])
                if isinstance(container, dict) and data["rename"] not in container:
                    edits = rename_key(document, path, data["rename"])
                    fixes.append(Fix(f"Change to '{data['rename']}'", problem.code, tuple(edits)))
            elif "value" in data and path and path[-1] == key:
                edits = replace_value(document, path, dumps(data["value"]))
                fixes.append(
                    Fix(f"Change to {dumps(data['value'])}", problem.code, tuple(edits), True, True)
                )
            elif key in ("keras_version", "backend") and path == (key,):
                edits = remove_member(document, path)
                fixes.append(Fix(f"Remove '{key}'", problem.code, tuple(edits), True, True))
        edits = self.upgrade_edits(document)
        if edits:
            whole = "markers" in data
            fixes.append(Fix("Upgrade to Keras 3 format", problem.code, tuple(edits), whole, whole))
        return fixes

    def upgrade_edits(self, document: Document) -> list[Edit]:
        if not rewritable(document):
            return []
        try:
            result = upgrade.upgrade(document.value, self.catalog)
            return rewrite_whole(document, result.value)
        except RecursionError:
            return []  # nested past what Python's json (and so Keras) reads anyway

    # -- LCF201 / LCF202 --------------------------------------------------------------------------
    def _duplicate_name(self, document: Document, problem: Problem, path: JsonPath, snippets: bool):
        found = rename.rename_duplicate(document, path)
        if found is None:
            return []
        new_name, edits = found
        return [Fix(f"Rename this layer to '{new_name}'", problem.code, tuple(edits), True, False)]

    def _missing_reference(self, document: Document, problem: Problem, path: JsonPath, snippets):
        data = problem.data or {}
        candidates = data.get("candidates") or []
        fixes = []
        for index, name in enumerate(candidates[:MAX_CHOICES]):
            verdict = fix_safety.Verdict(fix_safety.DISPLAY)
            if index == 0:
                verdict = fix_safety.judge_reference(data.get("name"), name, candidates)
            edits = tuple(replace_value(document, path, dumps(name)))
            fixes.append(_classed(f"Change to '{name}'", problem.code, edits, verdict))
        return fixes


# -- whole documents ---------------------------------------------------------------------------


def rewritable(document: Document) -> bool:
    """A document whose value is all there: no syntax error dropped a piece of it."""
    return isinstance(document.value, dict) and not any(
        p.code == "LCF001" for p in document.problems
    )


def rewrite_whole(document: Document, value: Any) -> list[Edit]:
    """Minimal edits that turn the document into ``value``, laid out like the file."""
    span = document.locate((), "value")
    new_text = dumps_like(value, document.text, span, document.value)
    return rewrite_edits(document.text, new_text)


def _classed(title: str, code: str, edits: tuple[Edit, ...], verdict: fix_safety.Verdict) -> Fix:
    """A did-you-mean fix of its class: safe ones are preferred; the best of the others is
    unsafe (``--unsafe-fixes``); the rest are for a person to choose."""
    safe, unsafe = verdict.safe, verdict.applicability == fix_safety.UNSAFE
    return Fix(title, code, edits, safe, safe, unsafe=unsafe, reason=verdict.reason)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _integer_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lstrip("+-").isdigit()
