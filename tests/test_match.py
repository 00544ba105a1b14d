"""One class pick: two classes with the same class_name in different modules / registered
names, and validation, hover's matcher and completion's matcher agree on which one applies."""

from __future__ import annotations

from typing import Any

import pytest

from layercfg.server.catalog import Catalog
from layercfg.server.services.schema_match import match, pick
from layercfg.server.services.validation import validate

pytestmark = pytest.mark.fast


def _entry(module: str, registered: str | None, custom: bool) -> dict[str, Any]:
    return {
        "id": f"{module}.Block",
        "class_name": "Block",
        "aliases": [],
        "module": module,
        "registered_name": registered,
        "family": "layer",
        "custom": custom,
        "params": {},
        "schema_ref": f"#/$defs/{module}.Block",
    }


def _catalog() -> Catalog:
    envelope = {
        "type": "object",
        "required": ["class_name", "config"],
        "properties": {
            "module": {"type": ["string", "null"]},
            "class_name": {"type": "string"},
            "config": {"type": "object"},
            "registered_name": {"type": ["string", "null"]},
        },
        "additionalProperties": False,
        "allOf": [{"$ref": "#/$defs/dispatch.layer"}],
    }
    config = {"type": "object", "additionalProperties": False}
    return Catalog.from_json(
        {
            "classes": [_entry("alpha", None, False), _entry("beta", "beta>Block", True)],
            "names": {},
            "schema": {
                "$ref": "#/$defs/envelope.layer",
                "$defs": {
                    "envelope.layer": envelope,
                    "dispatch.layer": {"allOf": []},
                    "alpha.Block": {
                        **config,
                        "title": "Block",
                        "properties": {"width": {"type": "integer"}},
                    },
                    "beta.Block": {
                        **config,
                        "title": "Block",
                        "properties": {"depth": {"type": "integer"}},
                    },
                },
            },
        }
    )


@pytest.mark.parametrize(
    "envelope, module",
    [
        ({"module": "alpha", "class_name": "Block", "config": {"depth": 1}}, "alpha"),
        ({"module": "beta", "class_name": "Block", "config": {"width": 1}}, "beta"),
        (
            {
                "module": "x",
                "class_name": "Block",
                "registered_name": "beta>Block",
                "config": {"width": 1},
            },
            "beta",
        ),
    ],
)
def test_validation_hover_and_completion_pick_the_same_class(envelope, module):
    catalog = _catalog()
    picked = pick(catalog, envelope)
    assert picked is not None and picked["module"] == module
    # hover and completion ask the matcher for the class and the schema of a key
    at_key = match(catalog, envelope, ("config", next(iter(envelope["config"]))))
    assert at_key.entry is picked
    completion = match(catalog, envelope, ("config",))
    offered = {k for s in completion.schemas for k in s.get("properties", {})}
    own = "width" if module == "alpha" else "depth"
    assert offered == {own}
    # validation reports the key the other class has, on the class the matcher picked
    (finding,) = [f for f in validate(envelope, catalog) if f.code == "LCF102"]
    assert finding.path == ("config", next(iter(envelope["config"])))


def test_a_document_deeper_than_the_engine_recurses_is_checked_to_the_limit():
    catalog = _catalog()
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    envelope = {"module": "alpha", "class_name": "Block", "config": {"width": deep}}
    (finding,) = validate(envelope, catalog)  # the engine runs on a cut copy: no crash
    assert (finding.code, finding.path) == ("LCF104", ("config", "width"))
