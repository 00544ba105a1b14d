"""Typed settings (SPEC §5) with defaults; invalid values are reported and replaced by defaults."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = None

DEEP_CHECK_MODES = ("onType", "onSave", "off")
_USER_ONLY = {"trustWorkspace", "python"}
SEVERITIES = {"error": 1, "warning": 2, "information": 3, "hint": 4, "off": None}


@dataclass(frozen=True)
class Settings:
    modules: tuple[str, ...] = ()
    python: str | None = None
    trustWorkspace: bool = False  # noqa: N815 - the setting's name on the wire
    deepCheck: str = "onType"  # noqa: N815
    deepCheckTimeout: float = 20.0  # noqa: N815
    deepCheckMemoryMB: int = 2048  # noqa: N815
    severity: dict[str, str] = field(default_factory=dict)

    def severity_for(self, code: str, default: int) -> int | None:
        """The LSP severity for a code after the user's override; None when turned off."""
        name = self.severity.get(code)
        return default if name is None else SEVERITIES[name]


def _check(key: str, value: Any) -> Any:
    """The value converted to its setting's type; raises ValueError with a clear reason."""
    if key == "modules":
        if isinstance(value, str):
            value = [m.strip() for m in value.split(",") if m.strip()]
        if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
            raise ValueError("expected a list of module names")
        return tuple(value)
    if key == "python":
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError("expected the path of a Python interpreter")
        return value or None
    if key == "trustWorkspace":
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if key == "deepCheck":
        if value not in DEEP_CHECK_MODES:
            raise ValueError(f"expected one of {', '.join(DEEP_CHECK_MODES)}")
        return value
    if key in ("deepCheckTimeout", "deepCheckMemoryMB"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError("expected a positive number")
        return int(value) if key == "deepCheckMemoryMB" else float(value)
    if key == "severity":
        if not isinstance(value, dict):
            raise ValueError("expected an object mapping codes to severities")
        for code, name in value.items():
            if name not in SEVERITIES:
                raise ValueError(
                    f"{code}: expected one of {', '.join(SEVERITIES)}, got {name!r}"
                )
        return dict(value)
    raise ValueError("unknown setting")


def merge(base: Settings, raw: Any, origin: str) -> tuple[Settings, list[str]]:
    """``base`` updated with the valid entries of ``raw``; the problems, one line each."""
    if raw is None:
        return base, []
    if not isinstance(raw, dict):
        return base, [f"{origin}: settings must be an object, got {type(raw).__name__}"]
    if isinstance(raw.get("layercfg"), dict):
        raw = raw["layercfg"]
    known = {f.name for f in fields(Settings)}
    changes: dict[str, Any] = {}
    problems = []
    for key, value in raw.items():
        if key not in known:
            problems.append(f"{origin}: unknown setting {key!r} ignored")
            continue
        try:
            changes[key] = _check(key, value)
        except ValueError as exc:
            default = getattr(Settings(), key)
            problems.append(f"{origin}: {key}: {exc}; using the default {default!r}")
    return replace(base, **changes), problems


def from_pyproject(root: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The ``[tool.layercfg]`` table of the workspace's pyproject.toml, if any."""
    path = root / "pyproject.toml"
    if tomllib is None or not path.is_file():
        return None, []
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return None, [f"pyproject.toml: cannot read [tool.layercfg]: {exc}"]
    table = data.get("tool", {}).get("layercfg")
    problems = []
    if isinstance(table, dict):
        # A checked-out project must not be able to trust itself or pick the interpreter.
        for key in _USER_ONLY & set(table):
            problems.append(f"pyproject.toml [tool.layercfg]: {key} is a user setting; ignored")
        table = {k: v for k, v in table.items() if k not in _USER_ONLY}
    return table, problems


def resolve(
    init_options: Any = None,
    configuration: Any = None,
    workspace_root: Path | None = None,
) -> tuple[Settings, list[str]]:
    """Settings from pyproject.toml, then initialization options, then workspace/configuration."""
    settings, problems = Settings(), []
    if workspace_root is not None:
        table, errors = from_pyproject(workspace_root)
        problems += errors
        settings, errors = merge(settings, table, "pyproject.toml [tool.layercfg]")
        problems += errors
    for raw, origin in ((init_options, "initializationOptions"),
                        (configuration, "workspace/configuration")):
        settings, errors = merge(settings, raw, origin)
        problems += errors
    return settings, problems
