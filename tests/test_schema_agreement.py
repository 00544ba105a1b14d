"""The fast checks and the exported schema agree: a document gets a schema error from
``layercfg schema``'s output (checked with ``jsonschema.Draft202012Validator``) iff the fast
checks report a schema-derived error (LCF101-LCF106), and at the same instance path (an
``additionalProperties`` error names the object: its unexpected key is the path; an ``anyOf``
error names the value: the fast check may blame an item inside it)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from layercfg.server.catalog import Catalog
from layercfg.server.services.validation import ERROR, validate

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.layercfg.json"))
SCHEMA_CODES = {"LCF101", "LCF102", "LCF103", "LCF104", "LCF105", "LCF106"}


@pytest.fixture(scope="module")
def cat(plain_catalog) -> Catalog:
    return Catalog.from_json(plain_catalog)


def _exported(schema_validator: Any, document: Any) -> list[tuple[Any, ...]]:
    paths = []
    for error in schema_validator.iter_errors(document):
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
            paths += [path + (key,) for key in extra]
        else:
            paths.append(path)
    return paths


def _fast(document: Any, cat: Catalog) -> list[tuple[Any, ...]]:
    return [
        f.path for f in validate(document, cat) if f.severity == ERROR and f.code in SCHEMA_CODES
    ]


def _agree(exported: list[tuple[Any, ...]], fast: list[tuple[Any, ...]]) -> None:
    assert bool(exported) == bool(fast), (exported, fast)
    for path in fast:
        assert any(path[: len(e)] == e for e in exported), (path, exported)


def _mutations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Single mistakes in the first layer config that has each kind of key."""
    out = []
    layers = document.get("config", {}).get("layers") or [document]
    for layer in layers:
        config = layer.get("config") if isinstance(layer, dict) else None
        if not isinstance(config, dict):
            continue
        for key, value in config.items():
            if key == "name":
                continue
            for wrong in ({"typo": key + "x"}, {"value": "not-a-value"}):
                changed = copy.deepcopy(document)
                target = changed.get("config", {}).get("layers") or [changed]
                index = layers.index(layer)
                if "typo" in wrong:
                    target[index]["config"][wrong["typo"]] = target[index]["config"].pop(key)
                elif isinstance(value, (int, bool)) and not isinstance(value, bool):
                    target[index]["config"][key] = wrong["value"]
                else:
                    continue
                out.append(changed)
        if len(out) > 12:
            break
    return out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_and_their_single_mistakes_agree(cat, plain_catalog, path):
    import jsonschema

    exported = jsonschema.Draft202012Validator(plain_catalog["schema"])
    document = json.loads(path.read_text(encoding="utf-8"))
    assert "module" in document  # Keras 3: a Keras 2 document's markers fold into LCF108
    _agree(_exported(exported, document), _fast(document, cat))
    mutations = _mutations(document)
    assert mutations
    for changed in mutations:
        _agree(_exported(exported, changed), _fast(changed, cat))
