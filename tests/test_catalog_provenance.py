"""A catalog is stored under its cache key only when its classes were imported from the files
that key hashed: a module that hands Python another file (a shadow) builds a catalog that is
used, and never cached."""

from __future__ import annotations

import asyncio
from pathlib import Path

from layercfg.schema_builder import cachekey
from layercfg.server.catalogs import CatalogManager
from layercfg.server.session import Session
from layercfg.server.settings import Settings
from layercfg.server.worker import WorkerClient

LAYER = '''
import keras


class {name}(keras.layers.Layer):
    """A layer.

    Args:
        factor: Float.
        **kwargs: Base layer keyword arguments.
    """

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def get_config(self):
        return {{**super().get_config(), "factor": self.factor}}
'''

SHADOW = """
import importlib.util
import os
import sys

_spec = importlib.util.spec_from_file_location(
    __name__, os.path.join(os.path.dirname(__file__), "elsewhere", "impl.py"))
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
sys.modules[__name__] = _module
"""


class _NoEdge:
    def status_changed(self) -> None: ...

    async def begin_progress(self, title: str) -> None: ...

    def show_error(self, message: str) -> None: ...


def _build(workspace: Path, module: str, env: dict[str, str]) -> tuple[dict, bool]:
    session = Session(workspace_root=workspace)
    session.settings = Settings(modules=(module,), trustWorkspace=True)
    manager = CatalogManager(session, _NoEdge(), lambda fresh: None, lambda: None)  # type: ignore

    async def run() -> dict:
        worker = WorkerClient(env=env)
        try:
            params = {
                "modules": [module],
                "trusted": True,
                "workspace": str(workspace),
                "rebuild": True,
            }
            return await worker.request("catalog", params, timeout=600)
        finally:
            await worker.stop()

    result = asyncio.run(run())
    return result, manager.storable(manager.main, result)


def test_a_shadowed_module_builds_a_catalog_that_is_not_cached(tmp_path, subprocess_env):
    (tmp_path / "shadowy.py").write_text(SHADOW)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "impl.py").write_text(LAYER.format(name="Shade"))
    result, storable = _build(tmp_path, "shadowy", subprocess_env)
    names = {entry["class_name"] for entry in result["catalog"]["classes"]}
    assert "Shade" in names  # the catalog is there to use
    assert result["imported"]["shadowy"] == str((tmp_path / "elsewhere" / "impl.py").resolve())
    assert result["hashed"]["shadowy"] == [str((tmp_path / "shadowy.py").resolve())]
    assert result["cacheable"] is False and not storable
    key = cachekey.compute(
        ("shadowy",), search_path=cachekey.search_path(("shadowy",), str(tmp_path))
    )
    assert result["filename"] == key.filename  # the server and the worker agree on the key


def test_a_module_imported_from_its_hashed_file_is_cached(tmp_path, subprocess_env):
    (tmp_path / "plainly.py").write_text(LAYER.format(name="Plain"))
    result, storable = _build(tmp_path, "plainly", subprocess_env)
    assert result["imported"]["plainly"] == str((tmp_path / "plainly.py").resolve())
    assert result["cacheable"] is True and storable
