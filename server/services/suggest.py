"""Did-you-mean for the fast checks: close names within a budget per document, the Keras 1/2
names of keys and classes, and the scope (``checking``) that bounds one document's check."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


class Superseded(Exception):
    """Raised inside ``checking(current)`` once ``current()`` is false: the document changed,
    and nobody will see the findings of this version."""


# Did-you-mean lookups one document's check makes, and the candidates they compare in all
# (lookups remembered from before compare none): past either, findings keep their plain
# message, so that the suggestions of a hostile document cost a bounded time.
MAX_SUGGESTIONS = 200
MAX_COMPARED = 50_000
# Longer words get no suggestion: no key, class or value name is that long.
MAX_SUGGESTED_LENGTH = 100
# Strings shown in messages are cut to this many characters.
MAX_SHOWN = 80


@dataclass
class _Scope:
    current: Callable[[], bool] | None
    suggestions: int = MAX_SUGGESTIONS
    compared: int = MAX_COMPARED
    # A did-you-mean was left out for the budget: findings then depend on what came before.
    refused: bool = False


_scope: ContextVar[_Scope | None] = ContextVar("layercfg_check", default=None)


@contextmanager
def checking(current: Callable[[], bool] | None = None) -> Iterator[None]:
    """The check of one document: its did-you-mean work is bounded, and with ``current``,
    it ends with ``Superseded`` at the next envelope after ``current()`` turned false."""
    token = _scope.set(_Scope(current))
    try:
        yield
    finally:
        _scope.reset(token)


def budget_refused() -> bool:
    """Whether the check in progress left out a did-you-mean for its budget."""
    scope = _scope.get()
    return scope is not None and scope.refused


def checkpoint() -> None:
    """Raise ``Superseded`` when the check in progress is for a version no longer current."""
    scope = _scope.get()
    if scope is not None and scope.current is not None and not scope.current():
        raise Superseded


# Keras 1/2 config keys and their Keras 3 names, offered as candidates for unknown keys.
KEY_RENAMES: dict[str, tuple[str, ...]] = {
    "batch_input_shape": ("batch_shape", "input_shape"),
    "input_dtype": ("dtype",),
    "init": ("kernel_initializer",),
    "inner_init": ("recurrent_initializer",),
    "beta_init": ("beta_initializer",),
    "gamma_init": ("gamma_initializer",),
    "forget_bias_init": ("unit_forget_bias",),
    "output_dim": ("units",),
    "nb_filter": ("filters",),
    "filter_length": ("kernel_size",),
    "nb_row": ("kernel_size",),
    "nb_col": ("kernel_size",),
    "subsample": ("strides",),
    "subsample_length": ("strides",),
    "stride": ("strides",),
    "pool_length": ("pool_size",),
    "border_mode": ("padding",),
    "dim_ordering": ("data_format",),
    "atrous_rate": ("dilation_rate",),
    "W_regularizer": ("kernel_regularizer",),
    "b_regularizer": ("bias_regularizer",),
    "U_regularizer": ("recurrent_regularizer",),
    "W_constraint": ("kernel_constraint",),
    "b_constraint": ("bias_constraint",),
    "U_constraint": ("recurrent_constraint",),
    "bias": ("use_bias",),
    "p": ("rate",),
    "dropout_W": ("dropout",),
    "dropout_U": ("recurrent_dropout",),
    "sigma": ("stddev",),
}

# Keras 2 class names that Keras 3 renamed or folded into another class.
CLASS_RENAMES: dict[str, str] = {
    "CuDNNLSTM": "LSTM",
    "CuDNNGRU": "GRU",
    "Policy": "DTypePolicy",
    "ThresholdedReLU": "ReLU",
    "AtrousConvolution1D": "Conv1D",
    "AtrousConvolution2D": "Conv2D",
    "Deconvolution2D": "Conv2DTranspose",
    "Deconvolution3D": "Conv3DTranspose",
    "Merge": "Concatenate",
}

# What Keras 3's legacy loader (legacy/saving/saving_utils.py ``model_from_config``) rewrites


class _Keys:
    """Names to suggest from (keys of a schema, classes of a family), with their lower-case
    spellings; made once per schema node or family."""

    __slots__ = ("names", "lowered", "known")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.lowered = {name.lower(): name for name in names}
        self.known = frozenset(names)


def _closest_keys(key: str, valid: _Keys) -> list[str]:
    candidates = [r for r in KEY_RENAMES.get(key, ()) if r in valid.known]
    same = valid.lowered.get(key.lower()) if len(key) <= MAX_SUGGESTED_LENGTH else None
    if same is not None:
        candidates.append(same)
    candidates += _close_matches(key, valid.names, 3)
    return list(dict.fromkeys(candidates))[:4]


def _closest_values(value: Any, allowed: list[Any]) -> list[Any]:
    if not isinstance(value, str):
        return list(allowed)
    strings = tuple(a for a in allowed if isinstance(a, str))
    first = _same_but_case(value, strings)
    first += _close_matches(value, strings, len(strings), cutoff=0.0)
    ordered = list(dict.fromkeys(first))
    return ordered + [a for a in allowed if a not in ordered]


def _same_but_case(value: str, strings: tuple[str, ...]) -> list[str]:
    lowered = value.lower() if len(value) <= MAX_SUGGESTED_LENGTH else None
    return [a for a in strings if len(a) == len(value) and a.lower() == lowered]


_memo: dict[tuple[str, tuple[str, ...], int, float], list[str]] = {}
_MEMO_SIZE = 4096
# Candidate sets larger than this (a model's layer names) are not remembered: hashing them
# would cost as much as the lookup.
_MEMO_CANDIDATES = 2048


def _close_matches(
    word: str, candidates: tuple[str, ...], n: int, cutoff: float = 0.6
) -> list[str]:
    """``difflib.get_close_matches``, within the did-you-mean budget of the check in progress
    (see ``checking``), remembered per (word, candidates)."""
    if not candidates or len(word) > MAX_SUGGESTED_LENGTH:
        return []
    scope = _scope.get()
    if scope is not None:
        # Remembered lookups count too, so that which findings get one does not depend on
        # what was checked before.
        if scope.suggestions <= 0:
            scope.refused = True
            return []
        scope.suggestions -= 1
    remembered = len(candidates) <= _MEMO_CANDIDATES
    key = (word, candidates, n, cutoff)
    if remembered:
        found = _memo.get(key)
        if found is not None:
            return list(found)
    if scope is not None:
        if scope.compared < len(candidates):
            scope.refused = True
            return []
        scope.compared -= len(candidates)
    pool: Any = candidates
    if cutoff > 0:
        # difflib's ratio is at most 2 * min(len) / (sum of lengths): a cheap filter first
        # (it is the test difflib starts with, done here without a matcher per candidate).
        low, high = cutoff * len(word) / (2 - cutoff), len(word) * (2 - cutoff) / cutoff
        pool = [c for c in candidates if low <= len(c) <= high]
    found = difflib.get_close_matches(word, pool, n, cutoff) if pool else []
    if remembered:
        if len(_memo) >= _MEMO_SIZE:
            _memo.clear()
        _memo[key] = found
    return list(found)
