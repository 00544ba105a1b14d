"""A catalog is the same from one build to the next: two interpreters with other hash seeds
build the same keras_hub catalog, and a build that reuses the cached part of Keras's own
classes gives the catalog a build reading them afresh gives.

Each build runs in a fresh interpreter (what a process imported or named before must not
reach a catalog) with a cache folder of its own. The parts a catalog is compared by: every
class entry, then each other key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras  # noqa: F401  (the builds need Keras and KerasHub: missing, they fail here)
import keras_hub  # noqa: F401
import pytest

BUILD = """
import json, sys
from layercfg.schema_builder import catalog
modules, mode, out = tuple(sys.argv[1].split(",")), sys.argv[2], sys.argv[3]
if mode == "cache":  # as the command line builds: reads and writes the cache
    data = dict(catalog.load_or_build(modules, rebuild=True))
    reused = None
else:
    builder = catalog.CatalogBuilder(modules=modules, cached_part=mode == "part")
    data = dict(builder.build())
    reused = builder.part_reused
data.pop("part", None)
data.pop("build_seconds")
with open(out, "w", encoding="utf-8") as handle:
    json.dump({"catalog": data, "reused": reused}, handle)
"""


def _build(
    env: dict[str, str], cache: Path, out: Path, mode: str, seed: str
) -> tuple[dict[str, Any], bool | None]:
    cache.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", BUILD, "keras_hub", mode, str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(env, LAYERCFG_CACHE_DIR=str(cache), PYTHONHASHSEED=seed),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    return result["catalog"], result["reused"]


def _differences(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """Where two catalogs differ: class ids with the keys of their entries, other keys."""
    out = []
    a = {entry["id"]: entry for entry in first["classes"]}
    b = {entry["id"]: entry for entry in second["classes"]}
    out += [f"only in the first: {i}" for i in sorted(a.keys() - b.keys())]
    out += [f"only in the second: {i}" for i in sorted(b.keys() - a.keys())]
    for class_id in sorted(a.keys() & b.keys()):
        x, y = a[class_id], b[class_id]
        keys = sorted(k for k in x.keys() | y.keys() if x.get(k) != y.get(k))
        if keys:
            out.append(f"{class_id}: {', '.join(keys)}")
        elif json.dumps(x) != json.dumps(y):
            out.append(f"{class_id}: the same keys in another order")
    for key in sorted((first.keys() | second.keys()) - {"classes"}):
        if json.dumps(first.get(key)) != json.dumps(second.get(key)):
            if isinstance(first.get(key), dict) and isinstance(second.get(key), dict):
                inner = sorted(
                    k
                    for k in first[key].keys() | second[key].keys()
                    if json.dumps(first[key].get(k)) != json.dumps(second[key].get(k))
                )
                out.append(f"{key}: {', '.join(inner[:20]) or 'order of keys'}")
            else:
                out.append(key)
    if not out and json.dumps(first) != json.dumps(second):
        out.append("the same content in another order")
    return out


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


@pytest.fixture(scope="module")
def first_build(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    """keras_hub built as the command line builds it with nothing cached (hash seed 1): the
    catalog, and the cache folder that now holds its part of Keras's own classes."""
    folder = tmp_path_factory.mktemp("determinism")
    catalog, _ = _build(env, folder / "cache", folder / "first.json", "cache", "1")
    return catalog, folder / "cache"


def test_two_interpreters_build_the_same_keras_hub_catalog(
    first_build: tuple[dict[str, Any], Path], env: dict[str, str], tmp_path: Path
) -> None:
    first, _ = first_build
    second, reused = _build(env, tmp_path / "cache", tmp_path / "b.json", "fresh", "2")
    assert reused is False
    assert len(first["classes"]) > 400  # keras_hub's classes are in it
    differ = _differences(first, second)
    assert not differ, "classes or keys that differ between two builds:\n" + "\n".join(differ)


def test_a_build_reusing_the_cached_keras_part_gives_the_fresh_catalog(
    first_build: tuple[dict[str, Any], Path], env: dict[str, str], tmp_path: Path
) -> None:
    first, cache = first_build
    parts = sorted(p.name for p in cache.glob("part-*.json"))
    assert len(parts) == 1, parts  # the first build kept what it read of Keras itself
    again, reused = _build(env, cache, tmp_path / "again.json", "part", "3")
    assert reused is True
    differ = _differences(first, again)
    assert not differ, "classes or keys that differ with the part reused:\n" + "\n".join(differ)


def test_a_part_of_another_builder_is_not_used(
    first_build: tuple[dict[str, Any], Path],
) -> None:
    from layercfg.schema_builder import catalog

    _, cache = first_build
    part = json.loads(next(cache.glob("part-*.json")).read_text(encoding="utf-8"))
    stale = dict(part, key=dict(part["key"], builder="0" * 64))
    builder = catalog.CatalogBuilder.__new__(catalog.CatalogBuilder)
    builder.api = catalog.KerasAPI("keras")
    builder.infos, builder.skipped, builder.progress = [], [], lambda message, percent: None
    assert builder._use_part(stale) is False
    assert builder.infos == []
    assert builder._use_part(part) is True
    assert {info.family for info in builder.infos} >= {"layer", "initializer", "model"}


def test_the_server_rebuilds_keras_part_and_keeps_it_apart_from_the_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    import asyncio

    from layercfg.schema_builder import cachekey
    from layercfg.server.catalogs import CatalogManager
    from layercfg.server.session import Session
    from layercfg.server.settings import Settings
    from layercfg.server.worker import WorkerClient

    class Edge:
        def status_changed(self) -> None: ...

        async def begin_progress(self, title: str) -> None: ...

        def show_error(self, message: str) -> None: ...

    cache = tmp_path / "cache"
    monkeypatch.setenv("LAYERCFG_CACHE_DIR", str(cache))
    session = Session()
    session.settings = Settings()
    workers: list[WorkerClient] = []

    def worker(fresh: bool) -> WorkerClient:
        workers.append(WorkerClient(env=dict(env, LAYERCFG_CACHE_DIR=str(cache))))
        return workers[-1]

    manager = CatalogManager(session, Edge(), worker, lambda: None)  # type: ignore[arg-type]
    key = manager.key("keras")
    # A part that would leave every class of Keras out: a rebuild reads them again instead.
    cache.mkdir()
    empty = {"key": {"filename": key.part_filename, "builder": key.builder}, "infos": []}
    (cache / key.part_filename).write_text(json.dumps(dict(empty, skipped=[])), encoding="utf-8")

    async def build() -> None:
        try:
            await manager._load(manager.main, rebuild=True, fresh=True)
        finally:
            for client in workers:
                await client.stop()

    asyncio.run(build())
    assert manager.main.state == "ready", manager.main.message
    stored = json.loads((cache / key.filename).read_text(encoding="utf-8"))
    assert "part" not in stored  # the catalog file holds the catalog alone
    part = json.loads((cache / key.part_filename).read_text(encoding="utf-8"))
    assert part["key"] == {"filename": key.part_filename, "builder": cachekey.builder_hash()}
    assert len(part["infos"]) == len(stored["classes"]) > 100
