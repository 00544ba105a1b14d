"""Typed settings (SPEC §5) with defaults; invalid values are reported and replaced by defaults."""

from __future__ import annotations

import keyword
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from layercfg.schema_builder.limits import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    MAX_MEMORY_MB,
    MAX_TIMEOUT_S,
    MIN_MEMORY_MB,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = None

DEEP_CHECK_MODES = ("onType", "onSave", "off")
DEFAULT_IDLE_MINUTES = 5.0
MAX_IDLE_MINUTES = 24 * 60.0
_USER_ONLY = {"trustWorkspace", "python"}
# What a workspace's pyproject.toml may set: never the interpreter, never its own trust.
PROJECT_KEYS = (
    "modules",
    "deepCheck",
    "deepCheckTimeout",
    "deepCheckMemoryMB",
    "severity",
    "flavor",
)
# The Keras a document is checked against: detected (auto), or forced (see flavor.py).
FLAVOR_MODES = ("auto", "keras", "tf_keras")


def is_security_code(code: str) -> bool:
    """Codes a workspace cannot silence or lower: what safe mode refused, a worker that
    failed or broke the protocol, and the static security rules. The user's own settings
    still may."""
    return code in ("LCF303", "LCF304") or (code.startswith("LCF5") and len(code) == 6)


SEVERITIES = {"error": 1, "warning": 2, "information": 3, "hint": 4, "off": None}


@dataclass(frozen=True)
class Settings:
    modules: tuple[str, ...] = ()
    python: str | None = None
    trustWorkspace: bool = False  # noqa: N815 - the setting's name on the wire
    deepCheck: str = "onType"  # noqa: N815
    deepCheckTimeout: float = DEFAULT_TIMEOUT_S  # noqa: N815
    deepCheckMemoryMB: int = DEFAULT_MEMORY_MB  # noqa: N815
    severity: dict[str, str] = field(default_factory=dict)
    flavor: str = "auto"
    # The Keras worker (about 500 MB) exits after this long without a request; the next
    # deep check starts it again. 0: it stays.
    workerIdleMinutes: float = DEFAULT_IDLE_MINUTES  # noqa: N815

    def severity_for(self, code: str, default: int) -> int | None:
        """The LSP severity for a code after the user's override; None when turned off."""
        name = self.severity.get(code)
        return default if name is None else SEVERITIES[name]


def is_module_name(name: str) -> bool:
    """Whether ``name`` is a dotted Python module name (``mypkg.layers``): each part an
    identifier and none a keyword. A path (``../x``, ``/abs/path``), an empty part (``a..b``)
    or anything else (``os;rm``) is not one, and is never handed to the import system."""
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in name.split("."))


def module_names(value: Any) -> tuple[str, ...]:
    """The ``modules`` setting: a list of module names or one comma-separated string of
    them; raises ValueError naming the first entry that is not a module name."""
    if isinstance(value, str):
        value = [m for m in value.split(",") if m.strip()]
    if not isinstance(value, list):
        raise ValueError("expected a list of module names")
    names = []
    for entry in value:
        if not isinstance(entry, str):
            raise ValueError(f"expected a list of module names, got {_shown(entry)}")
        name = entry.strip()
        if not is_module_name(name):
            raise ValueError(
                f"{_shown(entry)} is not a Python module name (dotted identifiers, such as "
                "'mypkg.layers')"
            )
        names.append(name)
    return tuple(names)


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check(key: str, value: Any) -> Any:
    """The value converted to its setting's type; raises ValueError with a clear reason."""
    if key == "modules":
        return module_names(value)
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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError("expected a positive number")
        if key == "deepCheckTimeout" and value > MAX_TIMEOUT_S:
            raise ValueError(f"at most {MAX_TIMEOUT_S:g} seconds")
        if key == "deepCheckMemoryMB" and not MIN_MEMORY_MB <= value <= MAX_MEMORY_MB:
            raise ValueError(f"expected {MIN_MEMORY_MB} to {MAX_MEMORY_MB} MB")
        return int(value) if key == "deepCheckMemoryMB" else float(value)
    if key == "workerIdleMinutes":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError("expected a number of minutes, 0 or more (0: the worker stays)")
        if value > MAX_IDLE_MINUTES:
            raise ValueError(f"at most {MAX_IDLE_MINUTES:g} minutes")
        return float(value)
    if key == "flavor":
        if value not in FLAVOR_MODES:
            raise ValueError(f"expected one of {', '.join(FLAVOR_MODES)}")
        return value
    if key == "severity":
        if not isinstance(value, dict):
            raise ValueError("expected an object mapping codes to severities")
        for code, name in value.items():
            if not isinstance(name, str) or name not in SEVERITIES:
                raise ValueError(f"{code}: expected one of {', '.join(SEVERITIES)}, got {name!r}")
        return dict(value)
    raise ValueError("unknown setting")


def merge(base: Settings, raw: Any, origin: str, unwrap: bool = True) -> tuple[Settings, list[str]]:
    """``base`` updated with the valid entries of ``raw``; the problems, one line each.
    ``unwrap``: a client may send the ``layercfg`` section inside an object of its own."""
    if raw is None:
        return base, []
    if not isinstance(raw, dict):
        return base, [f"{origin}: settings must be an object, got {type(raw).__name__}"]
    if unwrap and isinstance(raw.get("layercfg"), dict):
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
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return None, [f"pyproject.toml: cannot read [tool.layercfg]: {exc}"]
    except RecursionError:
        return None, ["pyproject.toml: cannot read [tool.layercfg]: nested too deeply"]
    tool = data.get("tool")
    table = tool.get("layercfg") if isinstance(tool, dict) else None
    origin = "pyproject.toml [tool.layercfg]"
    if table is None:
        return None, []
    if not isinstance(table, dict):
        return None, [f"{origin}: expected a table; ignored"]
    problems = []
    kept: dict[str, Any] = {}
    # A checked-out project must not be able to trust itself, pick the interpreter, or
    # silence what protects the user from it.
    for key, value in table.items():
        if key in _USER_ONLY:
            problems.append(f"{origin}: {key} is a user setting; ignored")
        elif key not in PROJECT_KEYS:
            what = "table" if isinstance(value, dict) else "setting"
            problems.append(f"{origin}: unknown {what} {key!r} ignored")
        elif key == "severity" and isinstance(value, dict):
            for code in [c for c in value if isinstance(c, str) and is_security_code(c)]:
                problems.append(
                    f"{origin}: severity of {code} is a user setting (a workspace "
                    "cannot lower a security finding); ignored"
                )
            kept[key] = {
                c: v for c, v in value.items() if not (isinstance(c, str) and is_security_code(c))
            }
        else:
            kept[key] = value
    return kept, problems


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
        settings, errors = merge(settings, table, "pyproject.toml [tool.layercfg]", unwrap=False)
        problems += errors
    for raw, origin in (
        (init_options, "initializationOptions"),
        (configuration, "workspace/configuration"),
    ):
        settings, errors = merge(settings, raw, origin)
        problems += errors
    return settings, problems
