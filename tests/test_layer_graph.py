"""The layer graph (``server/layer_graph.py``) and the agreement it exists for: rename edits
exactly the places that LCF202 checks, and the graph's duplicates are LCF201's, on Keras 3 and
Keras 2 documents with shared layers and nested models. Pure Python: no Keras."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from layercfg.codes import Code, JsonPath
from layercfg.server import layer_graph
from layercfg.server.document import Document
from layercfg.server.services import rename
from layercfg.server.services.schema_match import value_at
from layercfg.server.services.validation import validate_model_links

URI = "file:///graph.layercfg.json"


def tensor(name: str, node: int = 0, index: int = 0) -> dict[str, Any]:
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": [None, 8], "dtype": "float32", "keras_history": [name, node, index]},
    }


def k3_layer(class_name: str, name: str, *inputs: Any, **config: Any) -> dict[str, Any]:
    """A Keras 3 Functional layer entry; each of ``inputs`` is one call (a node)."""
    return {
        "module": "keras.layers",
        "class_name": class_name,
        "config": {"name": name, "trainable": True, **config},
        "registered_name": None,
        "name": name,
        "inbound_nodes": [{"args": list(args), "kwargs": {}} for args in inputs],
    }


def k3_input(name: str) -> dict[str, Any]:
    entry = k3_layer("InputLayer", name, batch_shape=[None, 8], dtype="float32")
    entry["inbound_nodes"] = []
    return entry


def k3_inner() -> dict[str, Any]:
    """A nested Functional model whose layers reuse the outer model's names."""
    return {
        "module": "keras",
        "class_name": "Functional",
        "config": {
            "name": "inner",
            "trainable": True,
            "layers": [
                k3_input("inner_input"),
                k3_layer("Dense", "shared", [tensor("inner_input")], units=8),
            ],
            "input_layers": [["inner_input", 0, 0]],
            "output_layers": [["shared", 0, 0]],
        },
        "registered_name": None,
        "name": "inner",
        "inbound_nodes": [{"args": [tensor("shared", 1)], "kwargs": {}}],
    }


def keras3() -> dict[str, Any]:
    """A shared Dense called twice, a nested model, an Add of both, two outputs."""
    return {
        "module": "keras",
        "class_name": "Functional",
        "config": {
            "name": "outer",
            "trainable": True,
            "layers": [
                k3_input("input"),
                k3_layer("Dense", "shared", [tensor("input")], [tensor("shared")], units=8),
                k3_inner(),
                k3_layer("Add", "add", [[tensor("shared", 1), tensor("inner", 1)]]),
            ],
            "input_layers": [["input", 0, 0]],
            "output_layers": [["add", 0, 0], ["shared", 1, 0]],
        },
        "registered_name": None,
    }


def k2_layer(class_name: str, name: str, *nodes: list[list[Any]], **config: Any) -> dict:
    """A Keras 2 layer entry: each node is a list of [name, node, tensor, kwargs]."""
    return {
        "class_name": class_name,
        "config": {"name": name, "trainable": True, **config},
        "name": name,
        "inbound_nodes": [list(node) for node in nodes],
    }


def keras2() -> dict[str, Any]:
    inner = {
        "class_name": "Functional",
        "config": {
            "name": "inner",
            "layers": [
                k2_layer("InputLayer", "inner_input", batch_input_shape=[None, 8]),
                k2_layer("Dense", "shared", [["inner_input", 0, 0, {}]], units=8),
            ],
            "input_layers": [["inner_input", 0, 0]],
            "output_layers": [["shared", 0, 0]],
        },
        "name": "inner",
        "inbound_nodes": [[["shared", 1, 0, {}]]],
    }
    return {
        "class_name": "Functional",
        "config": {
            "name": "outer",
            "layers": [
                k2_layer("InputLayer", "input", batch_input_shape=[None, 8]),
                k2_layer("Dense", "shared", [["input", 0, 0, {}]], [["shared", 0, 0, {}]], units=8),
                inner,
                k2_layer("Add", "add", [["shared", 1, 0, {}], ["inner", 1, 0, {}]]),
            ],
            "input_layers": [["input", 0, 0]],
            "output_layers": [["add", 0, 0], ["shared", 1, 0]],
        },
        "keras_version": "2.15.0",
        "backend": "tensorflow",
    }


DOCUMENTS = {"keras3": keras3, "keras2": keras2}
OUTER = ("config", "layers")
INNER = ("config", "layers", 2, "config", "layers")


def parse(value: Any) -> Document:
    return Document.parse(URI, json.dumps(value, indent=1))


# -- the graph itself ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", DOCUMENTS)
def test_models_outer_first_with_their_linked_names(kind):
    found = list(layer_graph.models(DOCUMENTS[kind]()))
    assert [m.path for m in found] == [(), ("config", "layers", 2)]
    outer, inner = found
    assert outer.functional and inner.functional
    assert outer.names == {
        "input": (*OUTER, 0, "name"),
        "shared": (*OUTER, 1, "name"),
        "inner": (*OUTER, 2, "name"),
        "add": (*OUTER, 3, "name"),
    }
    assert inner.names == {"inner_input": (*INNER, 0, "name"), "shared": (*INNER, 1, "name")}


@pytest.mark.parametrize("kind", DOCUMENTS)
def test_references_of_a_shared_layer_in_both_formats(kind):
    outer = next(layer_graph.models(DOCUMENTS[kind]()))
    refs = [(r.name, r.node[1], r.kind) for r in outer.references()]
    node_kind = "history" if kind == "keras3" else "legacy"
    assert refs == [
        ("input", 0, node_kind),
        ("shared", 0, node_kind),  # the shared layer called on its own first output
        ("shared", 1, node_kind),  # the nested model called on the second
        ("shared", 1, node_kind),
        ("inner", 1, node_kind),
        ("input", 0, "io"),
        ("add", 0, "io"),
        ("shared", 1, "io"),
    ]
    value = DOCUMENTS[kind]()
    for reference in outer.references():
        assert value_at(value, reference.path) == reference.name
        assert layer_graph.is_reference(reference.path)


def test_a_reference_inside_a_nested_model_names_the_nested_models_layer():
    value = keras3()
    inner_dense = (*INNER, 1, "inbound_nodes", 0, "args", 0, "config", "keras_history", 0)
    model = layer_graph.enclosing_model(value, inner_dense)
    assert model is not None and model.path == ("config", "layers", 2)
    assert model.names["shared"] == (*INNER, 1, "name")
    # The nested model's own node is the outer model's: it names the outer "shared".
    own_node = ("config", "layers", 2, "inbound_nodes", 0, "args", 0, "config", "keras_history", 0)
    assert layer_graph.enclosing_model(value, own_node).path == ()


def all_paths(value: Any, path: JsonPath = ()) -> list[JsonPath]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += all_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += all_paths(item, (*path, index))
    return out


@pytest.mark.parametrize("kind", DOCUMENTS)
def test_enclosing_model_is_the_innermost_model_of_the_walk(kind):
    value = DOCUMENTS[kind]()
    found = list(layer_graph.models(value))
    for path in all_paths(value):
        holding = [m for m in found if path[: len(m.config_path)] == m.config_path]
        expected = holding[-1].path if holding else None
        model = layer_graph.enclosing_model(value, path)
        assert (model.path if model else None) == expected, path


def test_models_inside_wrappers_and_sequential_models():
    sequential = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "seq",
            "layers": [
                {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d"}},
            ],
        },
    }
    wrapper = {
        "module": "keras.layers",
        "class_name": "TimeDistributed",
        "config": {"name": "td", "layer": sequential},
    }
    value = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "top", "layers": [wrapper]},
    }
    found = list(layer_graph.models(value))
    assert [m.path for m in found] == [(), ("config", "layers", 0, "config", "layer")]
    assert found[0].names == {"td": ("config", "layers", 0, "config", "name")}
    assert not found[0].functional and list(found[0].references()) == []
    path = ("config", "layers", 0, "config", "layer", "config", "layers", 0, "config", "name")
    assert layer_graph.enclosing_model(value, path).names == {"d": path}


def test_a_layers_list_of_no_model_is_no_model():
    value = {"class_name": "Pipeline", "config": {"layers": [{"config": {"name": "a"}}]}}
    assert list(layer_graph.models(value)) == []
    assert layer_graph.enclosing_model(value, ("config", "layers", 0, "config", "name")) is None


def test_layer_paths_for_the_deep_check():
    assert layer_graph.layer_paths(keras3()) == {
        "input": (*OUTER, 0),
        "shared": (*OUTER, 1),
        "inner": (*OUTER, 2),
        "add": (*OUTER, 3),
    }


def test_a_hostile_nesting_is_walked_without_recursion():
    deep: Any = ["x", 0, 0]
    for _ in range(5000):
        deep = [deep]
    value = keras3()
    value["config"]["output_layers"] = deep
    outer = next(layer_graph.models(value))
    # The output triple is past MAX_DEPTH: not searched, and no recursion on the way.
    assert [r.name for r in outer.io_references()] == ["input"]


# -- agreement with the link checks ------------------------------------------------------------


def without_layer(value: Any, model: layer_graph.Model, name: str) -> Any:
    """``value`` with the layer ``name`` of ``model`` renamed away at its definitions only."""
    gone = copy.deepcopy(value)
    for layer in model.layers():
        for path in ((*layer.path, "name"), (*layer.path, "config", "name")):
            if value_at(value, path) == name:
                holder = value_at(gone, path[:-1])
                holder[path[-1]] = "__gone__"
    return gone


def cases() -> list[tuple[str, int, str]]:
    out = []
    for kind, build in DOCUMENTS.items():
        for index, model in enumerate(layer_graph.models(build())):
            out += [(kind, index, name) for name in model.names]
    return out


@pytest.mark.parametrize(("kind", "model_index", "name"), cases())
def test_rename_edits_exactly_the_places_lcf202_checks(kind, model_index, name):
    value = DOCUMENTS[kind]()
    document = parse(value)
    model = list(layer_graph.models(value))[model_index]
    definition = document.locate(model.names[name], "value")
    edits = rename.rename_edits(document, definition[0] + 1, "renamed")
    edited = {(edit.start, edit.end) for edit in edits}
    # Take the layer away: every reference to it is now LCF202, and nothing else is.
    gone = without_layer(value, model, name)
    missing = [f for f in validate_model_links(gone, ()) if f.code == Code.UNKNOWN_LAYER]
    assert missing, "the layer has references"
    assert all(f.data["name"] == name for f in missing)
    flagged = {document.locate(f.path, "value") for f in missing}
    definitions = {
        document.locate(path, "value")
        for path in ((*layer.path, key) for layer in model.layers() for key in ("name",))
        if value_at(value, path) == name
    } | {
        document.locate((*layer.path, "config", "name"), "value")
        for layer in model.layers()
        if layer.config_name == name
    }
    assert edited == flagged | definitions


@pytest.mark.parametrize("kind", DOCUMENTS)
def test_rename_from_a_reference_in_a_nested_model_stays_in_it(kind):
    value = DOCUMENTS[kind]()
    document = parse(value)
    inner = list(layer_graph.models(value))[1]
    reference = next(r for r in inner.references() if r.name == "shared")
    span = document.locate(reference.path, "value")
    edits = rename.rename_edits(document, span[0] + 1, "renamed")
    inner_spans = {document.locate(path, "value") for path in inner.places("shared")}
    assert {(e.start, e.end) for e in edits} == inner_spans
    assert all(path[: len(INNER) - 2] == INNER[:-2] for path in inner.places("shared"))


@pytest.mark.parametrize("kind", DOCUMENTS)
def test_the_graphs_duplicates_are_lcf201s(kind):
    value = DOCUMENTS[kind]()
    layers = value["config"]["layers"]
    layers[3]["name"] = "shared"  # the Add, by its entry name
    layers[2]["config"]["name"] = "input"  # the nested model, by its config name only
    layers[2]["config"]["layers"][1]["config"]["name"] = "inner_input"  # inside the nested one
    expected = [
        (d.path, d.name, d.first) for m in layer_graph.models(value) for d in m.duplicates()
    ]
    found = [
        (f.path, f.data["name"], f.related[0][0])
        for f in validate_model_links(value, ())
        if f.code == Code.DUPLICATE_LAYER_NAME
    ]
    assert sorted(found) == sorted(expected)
    assert len(expected) == 3


@pytest.mark.parametrize("kind", DOCUMENTS)
def test_the_graphs_unknown_references_are_lcf202s(kind):
    value = DOCUMENTS[kind]()
    text = json.dumps(value)
    # Dangling names in every kind of place: nodes, a nested model's node, the outputs.
    text = text.replace('"inner_input", 0, 0', '"inner_inpt", 0, 0', 1)
    value = json.loads(text.replace('["add", 0, 0]', '["ad", 0, 0]'))
    value["config"]["layers"][3]["inbound_nodes"][0] = (
        {"args": [[tensor("shard", 1), tensor("inner", 1)]], "kwargs": {}}
        if kind == "keras3"
        else [["shard", 1, 0, {}], ["inner", 1, 0, {}]]
    )
    expected = {(r.path, r.name) for m in layer_graph.models(value) for r in m.unknown_references()}
    found = {
        (f.path, f.data["name"])
        for f in validate_model_links(value, ())
        if f.code == Code.UNKNOWN_LAYER
    }
    assert found == expected
    assert {name for _, name in expected} == {"inner_inpt", "ad", "shard"}


def test_scalars_and_junk_in_nodes_are_no_references():
    value = keras3()
    value["config"]["layers"][1]["inbound_nodes"] += [1, "shared", None, [], {}, ["x"], [1, 0, 0]]
    value["config"]["output_layers"] = [5, "add", {"a": ["add", "0", 0]}, ["add", 0, 0]]
    outer = next(layer_graph.models(value))
    assert [(r.name, r.kind) for r in outer.references()][-2:] == [("input", "io"), ("add", "io")]
    assert layer_graph.node_references(7, ()) == [] and layer_graph.io_references(None, ()) == []
