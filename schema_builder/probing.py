"""Probing a constructor: the strings and numbers it refuses, asked one argument at a time
on the sample instance's arguments; and, for a class read without an instance, the strings
its docstring states for an argument."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from . import docstrings

if TYPE_CHECKING:
    from .introspect import ClassInfo, Param

PROBE = "__layercfg_probe__"
_QUOTED = re.compile(r"""[`"']([A-Za-z0-9_][A-Za-z0-9_\-]*)[`"']""")
INT_OR_TUPLE = re.compile(r"\bint(eger)?\b.{0,40}\bor\b.{0,20}\b(tuple|list)", re.I)


class Prober:
    """What the Introspector asks a constructor, one argument at a time."""

    _refusals: dict[tuple[Any, ...], str | None]

    def construct(self, info: ClassInfo, **overrides: Any) -> Any:
        raise NotImplementedError

    def _sample_kwargs(self, info: ClassInfo, attempt: int) -> dict[str, Any] | None:
        raise NotImplementedError

    def _own_init(self, cls: type) -> Any:
        raise NotImplementedError

    def _refuses(self, info: ClassInfo, name: str, value: Any) -> str | None:
        """The constructor's error message when it refuses ``name=value``, naming ``name``.

        Classes that share one ``__init__`` (a package's fifty image converters) and the same
        sample arguments answer alike: they are asked once."""
        key = None
        init = self._own_init(info.cls)
        if info.custom and init is not None:
            attempt = info.__dict__.get("_attempt", 0)
            key = (
                init,
                name,
                repr(value),
                repr(self._sample_kwargs(info, attempt)),
            )
        if key is not None and key in self._refusals:
            return self._refusals[key]
        answer = self._refuses_now(info, name, value)
        if key is not None:
            self._refusals[key] = answer
        return answer

    def _refuses_now(self, info: ClassInfo, name: str, value: Any) -> str | None:
        try:
            self.construct(info, **{name: value})
        except Exception as exc:
            message = str(exc)
            if name in message or (isinstance(value, str) and value in message):
                return message
            return None
        return None

    def _probe(self, info: ClassInfo, instance: Any) -> None:
        if instance is None:
            return
        for param in info.params.values():
            if not (param.in_signature or param.inherited) or param.name in ("name", "dtype"):
                continue
            current = param.sample if param.required else param.default
            if isinstance(current, str) or (
                current is None and docstrings.string_enum(param.description)
            ):
                self._probe_strings(info, param)
            if isinstance(current, bool):
                continue
            if isinstance(current, (int, float)):
                self._probe_numbers(info, param, current)
            elif INT_OR_TUPLE.search(param.description) and isinstance(current, list):
                # "int or tuple of ints": a scalar probe tells the bound of every element.
                self._probe_numbers(info, param, 1)

    def _documented_enums(self, info: ClassInfo) -> None:
        """A class read without an instance (a package's models): the alternatives its
        docstring lists for a string argument, when its default is one of them."""
        for param in info.params.values():
            if not param.in_signature or param.name in ("name", "dtype"):
                continue
            documented = docstrings.string_enum(param.description)
            default = param.default if param.has_default else None
            if (
                len(documented) >= 2
                and (default is None or default in documented)
                and not isinstance(default, bool)
            ):
                param.allowed = documented

    def _probe_strings(self, info: ClassInfo, param: Param) -> None:
        allowed: list[str] = []
        message = self._refuses(info, param.name, PROBE)
        if message:
            allowed = [
                word
                for word in dict.fromkeys(_QUOTED.findall(message))
                if word not in (PROBE, param.name) and not word.startswith("__")
            ]
        documented = docstrings.string_enum(param.description)
        if len(allowed) < 2 and documented:
            # The constructor does not validate it; trust the docs, but only values it accepts.
            allowed = [v for v in documented if self._refuses(info, param.name, v) is None]
        elif documented:
            allowed += [v for v in documented if v not in allowed and v.lower() in _lower(allowed)]
        if len(allowed) < 2:
            return
        current = param.sample if param.required else param.default
        written = param.config_default if param.has_config_default else None
        for value in (current, written):
            if isinstance(value, str) and value not in allowed:
                return  # the docs or the message do not tell the whole story
        # Keras's message lists the values of a set, in an order that changes between runs.
        allowed = sorted(allowed)
        param.allowed = allowed
        shouted = allowed[0].upper()
        if shouted != allowed[0] and shouted not in allowed:
            param.case_insensitive = (
                self._refuses_now(info, param.name, shouted) is None
                and self._refuses_now(info, param.name, PROBE.upper()) is not None
            )

    def _probe_numbers(self, info: ClassInfo, param: Param, current: int | float) -> None:
        as_int = isinstance(current, int)
        probes = [0, -1] if as_int else [-0.5, 1.5]
        refused = {value: self._refuses(info, param.name, value) for value in probes}
        if as_int:
            if refused[0] and refused[-1]:
                param.minimum = 1
            elif refused[-1] and not refused[0]:
                param.minimum = 0
        else:
            if refused[-0.5] and not self._refuses(info, param.name, 0.0):
                param.minimum = 0
            if refused[1.5] and not self._refuses(info, param.name, 1.0):
                param.maximum = 1


def _lower(values: list[str]) -> set[str]:
    return {v.lower() for v in values}
