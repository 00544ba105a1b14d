"""Hostile input for the incremental safety scan: what it refuses is refused when it is put
into a model whose layers an earlier check found clean, wherever it goes in a layer (its
config, a nested list, a key of the entry itself, the node feeding it), and after the clean
version was checked again; nothing of an unconfigured package is imported on the way."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import keras
import pytest

from layercfg.schema_builder.deep import DeepChecker
from layercfg.schema_builder.deep_replay import ReplayMemo
from layercfg.schema_builder.keras_api import KerasAPI

REFUSED = ("LCF303", "LCF101")


@pytest.fixture(scope="module")
def api():
    return KerasAPI()


def _copy(value):
    return json.loads(json.dumps(value))


@functools.cache
def _models():
    a = keras.Input((16,), name="a")
    x = keras.layers.Dense(8, activation="relu", name="d1")(a)
    y = keras.layers.Dense(8, name="d2")(x)
    functional = keras.Model(a, keras.layers.Add(name="add")([x, y]), name="m")
    sequential = keras.Sequential(
        [keras.Input((6,)), *[keras.layers.Dense(6, name=f"s{k}") for k in range(3)]]
    )
    return {
        name: _copy(keras.saving.serialize_keras_object(model))
        for name, model in (("functional", functional), ("sequential", sequential))
    }


BAD = {
    "a lambda": {
        "class_name": "__lambda__",
        "config": {"code": "4wEAAAAAAAAA", "defaults": None, "closure": None},
    },
    # Keras's own initializer, named by a registered_name of a package not configured.
    "a registered_name of keras_hub": {
        "module": "keras.initializers",
        "class_name": "GlorotUniform",
        "config": {"seed": None},
        "registered_name": "keras_hub>GlorotUniform",
    },
    "a module of keras_hub alone": {
        "module": "keras_hub",
        "class_name": "GlorotUniform",
        "config": {"seed": None},
        "registered_name": None,
    },
    "a Keras function named as a class": {
        "module": "keras.utils",
        "class_name": "get_file",
        "config": {},
        "registered_name": None,
    },
}


def _put(model: str, place: str, value):
    document = _copy(_models()[model])
    entry = document["config"]["layers"][2]
    if place == "config":
        entry["config"]["kernel_initializer"] = value
    elif place == "nested list":
        entry["config"]["extra"] = {"deep": [[value]]}
    elif place == "entry key":
        entry["extra"] = value
    elif place == "node":
        entry["inbound_nodes"][0]["kwargs"] = {"mask": value}
    return document


CASES = [
    (model, place, bad)
    for model, places in (
        ("functional", ("config", "nested list", "entry key", "node")),
        ("sequential", ("config", "nested list", "entry key")),
    )
    for place in places
    for bad in sorted(BAD)
]


@pytest.mark.parametrize(("model", "place", "bad"), CASES)
def test_refused_in_a_model_found_clean_as_in_a_fresh_check(api, model, place, bad):
    clean = _models()[model]
    edited = _put(model, place, BAD[bad])
    imported = {name for name in sys.modules if name.startswith("keras_hub")}
    full = DeepChecker(api).check(_copy(edited))
    assert [f for f in full["findings"] if f["code"] in REFUSED], full["findings"]
    memo = ReplayMemo()
    for _ in range(2):  # found clean, then known
        DeepChecker(api, memo=memo).check(_copy(clean))
    assert DeepChecker(api, memo=memo).check(_copy(edited)) == full
    DeepChecker(api, memo=memo).check(_copy(clean))  # clean again: the edit is still refused
    assert DeepChecker(api, memo=memo).check(_copy(edited)) == full
    assert {name for name in sys.modules if name.startswith("keras_hub")} == imported


# -- a crafted part of the catalog cache -----------------------------------------------------


def test_a_cached_part_naming_a_module_never_imports_it():
    """The part of the catalog cache names each class by module and qualified name: a file
    that names any other module (written by hand, by another tool, shipped in a cache folder
    that CI keeps in the repository) must not make the builder import it (``this`` prints on
    import); the part is not used, the classes are read from Keras again."""
    from layercfg.schema_builder.catalog import CatalogBuilder
    from layercfg.schema_builder.catalog_parts import part_key

    assert "this" not in sys.modules
    builder = CatalogBuilder("keras", (), cached_part=False)
    crafted = {
        "key": part_key("keras"),
        "infos": [{"cls": ["this", "Zen"], "params": {}}],
        "skipped": [],
    }
    assert not builder._use_part(crafted)
    assert "this" not in sys.modules


@pytest.mark.parametrize(
    "named",
    [
        ["os", "PathLike"],  # imported, a class, but no module of Keras
        ["keras.src.layers.core.dense", "Dense.__init__"],  # of Keras, not a class
        ["keras.src.layers", "Dense"],  # a class, not defined in the module the part names
        ["keras.src.no_such_module", "Dense"],  # of Keras, never imported
        [["keras"], "Dense"],  # not a name
    ],
)
def test_a_cached_part_naming_what_is_no_class_of_keras_is_not_used(named):
    from layercfg.schema_builder.catalog import CatalogBuilder
    from layercfg.schema_builder.catalog_parts import part_key

    builder = CatalogBuilder("keras", (), cached_part=False)
    crafted = {"key": part_key("keras"), "infos": [{"cls": named, "params": {}}], "skipped": []}
    assert not builder._use_part(crafted)
    assert "keras.src.no_such_module" not in sys.modules


# -- a cached catalog that is JSON but no catalog -----------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["[]", '{"classes": [{}]}', "[" * 100_000 + "]" * 100_000],
    ids=["a list", "a class without an id", "nested too deeply"],
)
def test_the_command_line_rebuilds_a_cached_file_that_is_not_a_catalog(tmp_path, text):
    """``layercfg check`` with such a file where its catalog is cached: rebuilt, the document
    checked (no traceback, no exit code 1), and the cache then holds a catalog."""
    import os
    import subprocess

    from layercfg.schema_builder import cachekey
    from layercfg.schema_builder.protocol import read_catalog

    cache = tmp_path / "cache"
    cache.mkdir()
    cached = cache / cachekey.compute((), "keras").filename
    cached.write_text(text, encoding="utf-8")
    example = Path(__file__).resolve().parents[1] / "examples" / "dense.layercfg.json"
    done = subprocess.run(
        [sys.executable, "-m", "layercfg", "check", str(example)],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, LAYERCFG_CACHE_DIR=str(cache)),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert read_catalog(cached)["classes"]
