"""Bounds of the deep check's limits, shared by the settings, the CLI and the worker (no
dependencies: the server imports it without importing Keras)."""

from __future__ import annotations

from typing import Any

DEFAULT_TIMEOUT_S = 20.0
MAX_TIMEOUT_S = 600.0
DEFAULT_MEMORY_MB = 2048
MIN_MEMORY_MB = 256
MAX_MEMORY_MB = 16384


def clamp_memory_mb(value: Any) -> int:
    """A memory cap within the bounds; the default for anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return DEFAULT_MEMORY_MB
    return int(min(max(value, MIN_MEMORY_MB), MAX_MEMORY_MB))


def clamp_timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        return DEFAULT_TIMEOUT_S
    return float(min(value, MAX_TIMEOUT_S))
