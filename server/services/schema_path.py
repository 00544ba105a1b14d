"""Transition shim: the matcher now lives in ``schema_match`` (one class pick for validation,
hover, completion, navigation and code actions). ``SchemaWalker`` is that matcher."""

from __future__ import annotations

from ...codes import JsonPath
from .schema_match import Match, Matcher, Schema, missing, value_at

SchemaWalker = Matcher

__all__ = ["Match", "JsonPath", "Schema", "SchemaWalker", "missing", "value_at"]
