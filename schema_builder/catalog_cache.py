"""The catalog cache's files: where a catalog and the implementation's part are kept, how one
is written (whole or not at all) and how a part is read back.

The folder's upkeep (what is no longer used goes) is ``cache_files``; the key a file is named
by, ``cachekey``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import cache_files, cachekey
from .protocol import read_cached


def cache_path(modules: tuple[str, ...] = (), implementation: str = "keras") -> Path:
    return cachekey.cache_dir() / cachekey.compute(modules, implementation).filename


def part_path(implementation: str = "keras") -> Path:
    return cachekey.cache_dir() / cachekey.compute((), implementation).part_filename


def write_atomically(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".catalog-", suffix=".json", dir=path.parent)
    try:
        # json.dumps uses the C encoder (json.dump streams through the Python one, three
        # times slower on a keras_hub catalog); the text is the same.
        text = json.dumps(data, separators=(",", ":"))
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_part(implementation: str = "keras") -> dict[str, Any] | None:
    """The cached part of the implementation's own classes, None when there is none (or it
    cannot be read: it is made again)."""
    path = part_path(implementation)
    try:
        data = read_cached(path)
    except (OSError, ValueError):
        return None
    cache_files.mark_used(path)
    return data if isinstance(data, dict) else None
