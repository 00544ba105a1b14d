"""The catalog cache folder's upkeep (schema_builder/cache_files.py): a catalog read is marked
used; once one is written, only the most recently used are kept, none unused for a month;
nothing but the cache's own regular files is ever removed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from layercfg.schema_builder import cache_files
from layercfg.server.catalog import Catalog, store

DAY = 86400.0
CATALOG = {"classes": [{"id": "a", "class_name": "A", "family": "layer"}], "names": {}}


def _cached(folder: Path, name: str, age_days: float, now: float) -> Path:
    path = folder / name
    path.write_text(json.dumps(CATALOG), encoding="utf-8")
    os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    return path


def test_the_most_recently_used_are_kept_and_nothing_else_is_touched(tmp_path):
    now = time.time()
    names = [f"catalog-f7-keras-3-tensorflow-{i:02d}-b0.json" for i in range(cache_files.KEEP + 4)]
    for age, name in enumerate(names):  # the first the most recently used
        _cached(tmp_path, name, age * 0.1, now)
    _cached(tmp_path, "part-f7-keras-3-tensorflow-b0.json", 31, now)  # a month unused
    foreign = _cached(tmp_path, "notes.json", 400, now)
    target = _cached(tmp_path, "elsewhere.json", 400, now)
    (tmp_path / "catalog-f7-link.json").symlink_to(target)
    (tmp_path / "catalog-f7-folder.json").mkdir()
    _cached(tmp_path, ".catalog-abc123.json", 1, now)  # an interrupted write
    _cached(tmp_path, ".catalog-def456.json", 0, now)  # a write under way
    written = names[-1]  # just written, though its time says otherwise

    removed = cache_files.prune(tmp_path, protect=written, now=now)

    left = set(os.listdir(tmp_path))
    assert written in left
    assert set(names[: cache_files.KEEP - 1]) <= left
    assert set(removed) == set(names[cache_files.KEEP - 1 : -1]) | {
        "part-f7-keras-3-tensorflow-b0.json",
        ".catalog-abc123.json",
    }
    assert not left & set(removed)
    assert {
        "notes.json",
        "elsewhere.json",
        "catalog-f7-link.json",
        "catalog-f7-folder.json",
    } <= left
    assert ".catalog-def456.json" in left
    assert foreign.read_text(encoding="utf-8") and target.is_file()


def test_a_catalog_read_is_marked_used_and_one_stored_prunes_the_folder(tmp_path):
    now = time.time()
    old = _cached(tmp_path, "catalog-f7-keras-3-tensorflow-old-b0.json", 40, now)
    read = _cached(tmp_path, "catalog-f7-keras-3-tensorflow-read-b0.json", 40, now)
    Catalog.load(read)
    assert now - read.stat().st_mtime < DAY  # used now
    stored = store(tmp_path, "catalog-f7-keras-3-tensorflow-new-b0.json", dict(CATALOG))
    assert stored is not None and stored.is_file()
    assert read.is_file()
    assert not old.exists()


def test_an_unwritable_cache_is_still_read(tmp_path, monkeypatch):
    path = _cached(tmp_path, "catalog-f7-keras-3-tensorflow-x-b0.json", 2, time.time())

    def refuse(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(os, "utime", refuse)
    monkeypatch.setattr(os, "unlink", refuse)
    assert Catalog.load(path).by_id["a"]["class_name"] == "A"
    assert cache_files.prune(tmp_path, now=time.time() + 100 * DAY) == []
