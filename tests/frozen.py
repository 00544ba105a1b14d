"""Frozen copies of the session's two catalogs, for the fast tier (``pytest -m fast``).

The fast tier runs the pure service tests without TensorFlow: instead of building the
catalogs (which imports Keras), the session cache is seeded with these copies, made from a
real build by ``python tests/frozen.py``. The full tier builds the catalogs for real and
``tests/test_frozen_catalogs.py`` fails when a copy no longer matches a fresh build.

Paths inside a catalog (source files of classes) are stored relative to two roots, this
checkout and the interpreter's site-packages, and restored when seeding.
"""

from __future__ import annotations

import gzip
import json
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
FROZEN = TESTS / "data" / "frozen"
ROOTS = {"<checkout>": str(TESTS.parent), "<site-packages>": sysconfig.get_paths()["purelib"]}
CUSTOM_MODULES = ("custom.good_layers", "custom.registered_layers", "custom.defective_layers")
VOLATILE = ("build_seconds",)  # what differs between two builds of the same catalog


def _swap(text: str, to_markers: bool) -> str:
    for marker, root in ROOTS.items():
        text = text.replace(root, marker) if to_markers else text.replace(marker, root)
    return text


def comparable(catalog: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in catalog.items() if key not in VOLATILE}


def thawed() -> dict[str, dict[str, Any]]:
    """Cache file name -> catalog, paths restored."""
    out = {}
    for path in sorted(FROZEN.glob("*.json.gz")):
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
        out[path.name.removesuffix(".gz")] = json.loads(_swap(text, to_markers=False))
    return out


def seed(cache: Path) -> None:
    for name, catalog in thawed().items():
        (cache / name).write_text(json.dumps(catalog), encoding="utf-8")


def freeze() -> list[Path]:
    import os

    sys.path.insert(0, str(TESTS / "fixtures"))
    os.environ["LAYERCFG_CACHE_DIR"] = tempfile.mkdtemp(prefix="layercfg-freeze-")
    from layercfg.schema_builder.catalog import load_or_build
    from layercfg.schema_builder.catalog_cache import cache_path

    # Both catalogs are built before anything is replaced: a build that fails leaves the
    # frozen catalogs as they were.
    built = {}
    for modules in ((), CUSTOM_MODULES):
        text = _swap(json.dumps(load_or_build(modules), sort_keys=True), to_markers=True)
        built[FROZEN / (cache_path(modules).name + ".gz")] = text
    FROZEN.mkdir(parents=True, exist_ok=True)
    for old in FROZEN.glob("*.json.gz"):
        if old not in built:
            old.unlink()
    for target, text in built.items():
        target.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    return list(built)


def stale() -> list[str]:
    """The frozen catalogs that differ from a build made now, as ``freeze`` makes it."""
    import os

    sys.path.insert(0, str(TESTS / "fixtures"))
    os.environ["LAYERCFG_CACHE_DIR"] = tempfile.mkdtemp(prefix="layercfg-freeze-")
    from layercfg.schema_builder.catalog import load_or_build
    from layercfg.schema_builder.catalog_cache import cache_path

    frozen, out = thawed(), []
    for modules in ((), CUSTOM_MODULES):
        name = cache_path(modules).name
        if name not in frozen or comparable(frozen[name]) != comparable(load_or_build(modules)):
            out.append(name)
    return out


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        names = stale()
        for name in names:
            print(f"stale: {name}; run `python tests/frozen.py`")
        sys.exit(1 if names else 0)
    for path in freeze():
        print(f"wrote {path.relative_to(TESTS.parent)} ({path.stat().st_size // 1024} KB)")
