"""The catalog cache's key hashes the builder's sources (``cachekey.BUILDER_SOURCES``): a module
of the builder left out of them could change a catalog without changing its key, so that a
stale catalog would be read as current."""

from __future__ import annotations

import json
import subprocess
import sys

from layercfg.schema_builder import cachekey

# Modules of schema_builder a build imports that shape no catalog: the package itself and the
# cache folder's upkeep.
UNHASHED = {"layercfg.schema_builder", "layercfg.schema_builder.cache_files"}


def test_every_builder_module_a_build_imports_is_hashed() -> None:
    # In a fresh interpreter: what this one imported before must not count.
    probe = (
        "import json, sys\n"
        "import layercfg.schema_builder.catalog\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = {
        name
        for name in json.loads(done.stdout)
        if name == "layercfg.schema_builder" or name.startswith("layercfg.schema_builder.")
    }
    assert "layercfg.schema_builder.catalog_parts" in imported
    hashed = {f"layercfg.schema_builder.{path.stem}" for path in cachekey.BUILDER_SOURCES}
    assert sorted(imported - UNHASHED - hashed) == []


def test_every_hashed_source_is_a_file() -> None:
    # A renamed module would be hashed as unreadable, the same whatever its new text says.
    assert [str(path) for path in cachekey.BUILDER_SOURCES if not path.is_file()] == []
