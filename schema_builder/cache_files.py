"""The catalog cache folder's upkeep: what is no longer used goes.

Every catalog is a file of its own, named by its key (``cachekey``): a new Keras, an edit
of a custom module or a new layercfg makes a new one, and the old ones are never read
again. A keras_hub catalog weighs about 14 MB. So a catalog read is marked used (its time
set to now), and once one is written the folder keeps the ``KEEP`` most recently used
catalogs and parts, none unused for ``MAX_AGE_DAYS``. Only regular files named as the
cache names its own are touched (never a link, a folder or another file), and a file that
cannot be removed stays: the cache's upkeep never fails a build.

Dependency-free: the server and the builder both use it.
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

KEEP = 16
MAX_AGE_DAYS = 30
# A temporary file of an interrupted write, left for an hour in case a write is under way.
TEMPORARY_SECONDS = 3600

CACHE_NAME = re.compile(r"(catalog|part)-[A-Za-z0-9._+-]{1,200}\.json")
_TEMPORARY = re.compile(r"\.catalog-[A-Za-z0-9_]{1,64}\.json")


def mark_used(path: str | Path) -> None:
    """Set the time of a cached file just read to now (its last use); of a link named so,
    the link's own time, never its target's."""
    try:
        if os.utime in os.supports_follow_symlinks:
            os.utime(path, follow_symlinks=False)
        elif not os.path.islink(path):
            os.utime(path)
    except OSError:
        pass  # a read-only cache is still read


def prune(folder: str | Path, protect: str | None = None, now: float | None = None) -> list[str]:
    """Remove the cached files of ``folder`` beyond the ``KEEP`` most recently used, and
    those unused for ``MAX_AGE_DAYS``; never ``protect`` (the name just written). The
    names removed."""
    now = time.time() if now is None else now
    cached: list[tuple[float, str]] = []
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        temporary = _TEMPORARY.fullmatch(name) is not None
        if name == protect or not (temporary or CACHE_NAME.fullmatch(name)):
            continue
        try:
            status = os.lstat(os.path.join(folder, name))
        except OSError:
            continue
        if not stat.S_ISREG(status.st_mode):
            continue
        if temporary:
            if now - status.st_mtime > TEMPORARY_SECONDS and _remove(folder, name):
                removed.append(name)
            continue
        cached.append((status.st_mtime, name))
    cached.sort(reverse=True)
    kept = 1 if protect is not None else 0
    for used, name in cached:
        if kept < KEEP and now - used <= MAX_AGE_DAYS * 86400:
            kept += 1
        elif _remove(folder, name):
            removed.append(name)
    return removed


def _remove(folder: str | Path, name: str) -> bool:
    try:
        os.unlink(os.path.join(folder, name))
    except OSError:
        return False
    return True
