"""The fast tier's frozen catalogs are what a real build gives today."""

from __future__ import annotations

from frozen import CUSTOM_MODULES, comparable, thawed

from layercfg.schema_builder.catalog import cache_path


def test_the_frozen_catalogs_match_a_fresh_build(catalog: dict, plain_catalog: dict) -> None:
    frozen = thawed()
    for modules, built in ((CUSTOM_MODULES, catalog), ((), plain_catalog)):
        name = cache_path(modules).name
        assert name in frozen, f"no frozen {name}: run `python tests/frozen.py`"
        assert comparable(frozen[name]) == comparable(built), (
            f"the frozen {name} is stale: run `python tests/frozen.py`"
        )
