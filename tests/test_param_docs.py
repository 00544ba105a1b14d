"""Arguments are documented by what they mean in their class: a keyword the base Layer
takes is never described by another class's argument of the same name."""

from __future__ import annotations


def _params(catalog: dict, class_name: str) -> dict:
    return next(e for e in catalog["classes"] if e["class_name"] == class_name)["params"]


def test_dense_input_dim_is_not_embeddings_vocabulary(catalog: dict) -> None:
    dense, embedding = _params(catalog, "Dense"), _params(catalog, "Embedding")
    assert "vocabulary" in embedding["input_dim"]["description"].lower()
    if "input_dim" in dense:
        described = dense["input_dim"]
        assert "vocabulary" not in (described.get("description") or "").lower()
        assert described.get("description_from") != "Embedding"
        assert "last axis" in described["description"]
    for name, param in dense.items():
        if param.get("inherited"):
            assert param.get("description_from") is None, name


def test_undocumented_own_arguments_still_borrow_a_shared_description(catalog: dict) -> None:
    borrowed = [
        (entry["class_name"], name)
        for entry in catalog["classes"]
        for name, param in entry["params"].items()
        if param.get("description_from")
    ]
    assert borrowed, "no argument borrowed its description any more"
