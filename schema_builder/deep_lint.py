"""The deep check's lint of custom classes (LCF401): the classic serialization defects of a
class from a configured, trusted module, found through Keras's own safe loader."""

from __future__ import annotations

import copy
import inspect
import json
import sys
import warnings
from typing import Any

from layercfg.codes import Code, JsonPath, Severity

from .deep_common import (
    SPECIAL,
    CheckerBase,
    DeepFinding,
    clean_message,
    envelopes,
    source_of,
)


def _installed(cls: type) -> bool:
    """Whether a class comes from an installed package (site-packages), not the user's code."""
    try:
        path = (inspect.getsourcefile(cls) or "").replace("\\", "/")
    except TypeError:
        return False
    return "/site-packages/" in path or "/dist-packages/" in path


def _in_modules(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == m or name.startswith(f"{m}.") for m in modules)


class CustomClassLint(CheckerBase):
    # -- custom classes (LCF401) -------------------------------------------------------------------
    def _custom_defects(
        self, value: Any, failed: set[JsonPath] = frozenset(), unsafe: set[JsonPath] = frozenset()
    ) -> list[DeepFinding]:
        if not self.modules:
            return []  # custom classes come from the configured modules only
        seen: set[type] = set()
        out: list[DeepFinding] = []
        root = [((), value)] if isinstance(value, dict) and "class_name" in value else []
        for path, envelope in [*root, *envelopes(value)]:
            if path in failed:
                continue
            # Never load an envelope the safety scan refused, nor one that holds one.
            if any(p[: len(path)] == path or path[: len(p)] == p for p in unsafe):
                continue
            cls = self._custom_class(envelope)
            if cls is None or cls in seen:
                continue
            seen.add(cls)
            out += self._defects_of(cls, envelope, path)
        return out

    def _custom_class(self, envelope: dict[str, Any]) -> type | None:
        """The class of a configured (trusted) module the envelope names; None for any other,
        whatever module the document names: a class is never looked up elsewhere."""
        name = envelope.get("class_name")
        if not self.modules or not isinstance(name, str) or name in SPECIAL or name == "function":
            return None
        registered = envelope.get("registered_name")
        module = envelope.get("module") or ""
        if not isinstance(module, str) or module == "keras" or module.startswith("keras."):
            return None
        found = None
        if isinstance(registered, str):
            found = self.keras.saving.get_registered_object(registered, self.custom_objects)
        if found is None and module and _in_modules(module, self.modules):
            imported = sys.modules.get(module)
            found = vars(imported).get(name) if imported is not None else None
        if not inspect.isclass(found) or not _in_modules(found.__module__, self.modules):
            return None
        return found

    def _defects_of(self, cls: type, envelope: dict[str, Any], path: JsonPath) -> list[DeepFinding]:
        """The defects of one class. A config Keras loads cannot fix a ``get_config`` that
        leaves an argument out, and the classes of an installed package (KerasHub) are its
        maintainers' to fix: those are warnings, with the package's source line."""
        out = self._class_defects(cls, envelope, path)
        third_party = _installed(cls)
        for finding in out:
            if third_party or "leaves out the constructor" in finding.message:
                finding.severity = Severity.WARNING
        return out

    def _class_defects(
        self, cls: type, envelope: dict[str, Any], path: JsonPath
    ) -> list[DeepFinding]:
        where = (*path, "class_name")
        out = []
        try:
            signature = inspect.signature(cls.__init__)
        except (TypeError, ValueError):
            return out
        params = [
            p
            for p in list(signature.parameters.values())[1:]
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if not any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
            out.append(
                DeepFinding(
                    where,
                    "value",
                    Code.CUSTOM_CLASS,
                    f"{cls.__name__}.__init__ does not accept **kwargs: Keras "
                    "passes name, trainable and dtype to every layer.",
                    related=source_of(cls.__init__, "__init__ without **kwargs"),
                )
            )
        plain = {
            k: v
            for k, v in envelope.items()
            if k not in ("name", "inbound_nodes", "build_config", "compile_config")
        }
        # The class came from a configured module: Keras's loader is told it by name.
        registered = envelope.get("registered_name")
        if not isinstance(registered, str) or not registered:
            registered = plain["registered_name"] = cls.__name__
        custom = {**self.custom_objects, cls.__name__: cls, registered: cls}
        try:
            # Keras's own loader calls from_config, in safe mode; never this code directly.
            with self._stateless(initialize_variables=False), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                instance = self.api.deserialize(copy.deepcopy(plain), custom)
                if not isinstance(instance, cls):
                    return out
                written = instance.get_config()
        except Exception as exc:
            out.append(
                DeepFinding(
                    where,
                    "value",
                    Code.CUSTOM_CLASS,
                    f"{cls.__name__}.from_config fails on this config: {clean_message(exc)}",
                    related=self._user_frames(exc) or source_of(cls.from_config, "from_config"),
                )
            )
            self._reset()
            return out
        missing = [p.name for p in params if p.name not in written]
        if missing:
            out.append(
                DeepFinding(
                    where,
                    "value",
                    Code.CUSTOM_CLASS,
                    f"{cls.__name__}.get_config() leaves out the constructor "
                    f"argument{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(repr(m) for m in missing)}: a saved model would "
                    "lose them.",
                    data={"missing": missing},
                    related=source_of(cls.get_config, "get_config"),
                )
            )
        try:
            with self._stateless(initialize_variables=False), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                again = self.api.deserialize(
                    json.loads(json.dumps(self.api.serialize(instance))), custom
                )
        except Exception as exc:
            out.append(
                DeepFinding(
                    where,
                    "value",
                    Code.CUSTOM_CLASS,
                    f"{cls.__name__}.from_config(get_config()) does not round "
                    f"trip: {clean_message(exc)}",
                    related=self._user_frames(exc) or source_of(cls.from_config, "from_config"),
                )
            )
            again = None
        for holder in (instance, again):
            if holder is None:
                continue
            for attribute, item in vars(holder).items():
                if isinstance(item, dict) and "class_name" in item and "config" in item:
                    out.append(
                        DeepFinding(
                            where,
                            "value",
                            Code.CUSTOM_CLASS,
                            f"{cls.__name__}.{attribute} is still a config dict after from_config: "
                            "deserialize nested layers there "
                            "(keras.saving.deserialize_keras_object).",
                            related=source_of(
                                cls.from_config if "from_config" in vars(cls) else cls.__init__,
                                "from_config",
                            ),
                        )
                    )
                    break
            else:
                continue
            break
        self._reset()
        return out
