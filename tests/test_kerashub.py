"""KerasHub models built in the session (tests/kerashub_corpus.py): the package's classes are in
the catalog, nothing Keras loads is an error of the fast or deep check, and single mistakes that
Keras rejects are found by the fast check at the pointer a person would change.

Select with ``-m kerashub``."""

from __future__ import annotations

import json
from typing import Any

import kerashub_corpus as corpus
import pytest
from kerashub_corpus import keras_error as _keras_error

pytestmark = pytest.mark.kerashub


def _pointer(path: tuple) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


@pytest.fixture(scope="module")
def hub_data(cache_dir) -> dict:
    from layercfg.schema_builder.catalog import load_or_build

    return load_or_build(("keras_hub",))


@pytest.fixture(scope="module")
def hub(hub_data):
    from layercfg.server.catalog import Catalog

    return Catalog.from_json(hub_data)


@pytest.fixture(scope="module")
def documents() -> dict[str, Any]:
    return corpus.clean_documents()


def test_package_classes_in_catalog(hub_data: dict) -> None:
    counts = hub_data["packages"]["keras_hub"]
    assert counts["registered"] > 300 and counts["defined"] > 0
    ids = {c["id"] for c in hub_data["classes"]}
    for name in ("BertBackbone", "GPT2CausalLM", "TransformerEncoder", "BertTokenizer"):
        assert f"keras_hub>{name}" in ids
    task = next(c for c in hub_data["classes"] if c["id"] == "keras_hub>BertTextClassifier")
    assert {"name", "trainable", "dtype", "backbone"} <= set(task["params"])


def test_clean_documents_load_and_have_no_fast_error(hub, documents) -> None:
    from layercfg.server.services.validation import ERROR, validate

    assert len(documents) >= 30
    for name, value in documents.items():
        assert _keras_error(value) is None, name
        errors = [f for f in validate(value, hub) if f.severity == ERROR]
        assert errors == [], (name, [(f.code, _pointer(f.path), f.message) for f in errors])


def test_mistakes_keras_rejects_are_found_at_their_pointer(hub, documents) -> None:
    from layercfg.server.services.validation import ERROR, validate

    rejected = [m for m in corpus.mutations(documents) if _keras_error(m.value) is not None]
    assert len(rejected) >= 12
    for mutation in rejected:
        found = {
            (f.code, _pointer(f.path)) for f in validate(mutation.value, hub) if f.severity == ERROR
        }
        assert (mutation.code, mutation.pointer) in found, (mutation.name, found)


def test_deep_check_has_no_error_on_task_models(documents) -> None:
    from layercfg.schema_builder.deep import DeepChecker
    from layercfg.schema_builder.keras_api import KerasAPI

    checker = DeepChecker(KerasAPI("keras"), modules=("keras_hub",))
    for name in (
        "BertTextClassifier",
        "GPT2CausalLM",
        "ViTImageClassifier",
        "ViTBackbone",
        "ResNetImageClassifier",
        "GPT2Tokenizer",
    ):
        findings = checker.check(documents[name])["findings"]
        errors = [f for f in findings if f["severity"] == 1]
        assert errors == [], (name, errors)
    # get_config leaving out data_format is KerasHub's to fix: a warning with its source line.
    lint = [f for f in checker.check(documents["ViTBackbone"])["findings"] if f["code"] == "LCF401"]
    assert lint and all(f["severity"] == 2 and f["related"] for f in lint)


def test_case_insensitive_enums(catalog) -> None:
    from layercfg.server.catalog import Catalog
    from layercfg.server.services.validation import ERROR, validate

    cat = Catalog.from_json(catalog)
    conv = {
        "module": "keras.layers",
        "class_name": "Conv2D",
        "registered_name": None,
        "config": {
            "filters": 4,
            "kernel_size": 3,
            "padding": "SAME",
            "data_format": "CHANNELS_LAST",
        },
    }
    assert _keras_error(conv) is None
    assert [f for f in validate(conv, cat) if f.severity == ERROR] == []
    conv["config"]["padding"] = "sme"
    assert any(f.path[-1] == "padding" for f in validate(conv, cat) if f.severity == ERROR)


def test_a_package_class_refusing_its_own_trainable_is_its_defect_a_warning() -> None:
    """keras_hub's RMSNormalization takes no **kwargs, yet Layer.get_config writes trainable
    and dtype: Keras refuses what the class itself saves (LCF401 with its source, a warning
    since the package's maintainers must fix it)."""
    import keras
    import keras_hub  # noqa: F401

    from layercfg.schema_builder.deep import DeepChecker
    from layercfg.schema_builder.keras_api import KerasAPI

    cls = keras.saving.get_registered_object("keras_hub>RMSNormalization")
    document = keras.saving.serialize_keras_object(cls(input_dim=8))
    assert set(document["config"]) >= {"trainable", "dtype"}
    assert "unexpected keyword argument 'trainable'" in (_keras_error(document) or "")
    checker = DeepChecker(KerasAPI("keras"), modules=("keras_hub",))
    findings = checker.check(json.loads(json.dumps(document)))["findings"]
    assert [f["code"] for f in findings if f["severity"] == 1] == []
    defects = [f for f in findings if f["code"] == "LCF401"]
    assert len(defects) == 1 and defects[0]["severity"] == 2, findings
    assert tuple(defects[0]["path"]) == ("config", "trainable")
    files = {r["file"].replace("\\", "/").rsplit("/", 1)[-1] for r in defects[0]["related"]}
    assert "rms_normalization.py" in files and all(r["line"] for r in defects[0]["related"])
