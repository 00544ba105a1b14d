"""The fast checks and the exported schema agree: a document gets a schema error from
``layercfg schema``'s output (checked with ``jsonschema.Draft202012Validator``) iff the fast
checks report a schema-derived error (LCF101-LCF106), and at the same instance path (an
``additionalProperties`` error names the object: its unexpected key is the path; an ``anyOf``
error names the value: the fast check may blame an item inside it).

Documents: the examples, every class's sample and minimal config, two keras.applications
models and the KerasHub corpus, each with single mistakes (a misspelt key, a wrong-typed
value, an unknown class, a class name Keras lets be: beside a registered_name it finds the
class by, or in a private Keras module the catalog does not cover, such as the operations
``keras.src.ops.numpy.Add`` of a Functional model), among them mistakes inside envelopes
nested where the class's schema says nothing of the value (a KerasHub task's
``preprocessor`` and ``backbone``), which the fast checks and the exported schema both check
against the class they name. Among the mistakes: a null config and an envelope key Keras ignores.

What a JSON Schema cannot tell apart is left out: ``64.0`` where Keras wants an integer is
the fast checks' error, but JSON has one number type and ``{"type": "integer"}`` accepts any
number with no fraction."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from layercfg.server.catalog import Catalog
from layercfg.server.services.schema_match import envelope_kind
from layercfg.server.services.validation import ERROR, validate, validate_envelope

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.layercfg.json"))
SCHEMA_CODES = {"LCF101", "LCF102", "LCF103", "LCF104", "LCF105", "LCF106"}


@pytest.fixture(scope="module")
def cat(plain_catalog) -> Catalog:
    return Catalog.from_json(plain_catalog)


def _exported(schema_validator: Any, document: Any) -> list[tuple[Any, ...]]:
    """The instance paths of the schema's errors, from ``jsonschema`` or ``jsonschema_rs``."""
    paths = []
    for error in schema_validator.iter_errors(document):
        if hasattr(error, "kind"):  # jsonschema_rs
            path = tuple(error.instance_path)
            extra = getattr(error.kind, "unexpected", None)
            if type(error.kind).__name__ == "AdditionalProperties" and extra:
                paths += [path + (key,) for key in extra]
            else:
                paths.append(path)
            continue
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
            paths += [path + (key,) for key in extra]
        else:
            paths.append(path)
    return paths


def _reported(finding: Any) -> bool:
    """A fast-check finding the exported schema reports too: a schema-derived error, or the
    warning for an envelope key Keras ignores (which a schema, having no severities, reports
    as any other problem; a schema-aware editor shows schema problems as warnings)."""
    if finding.severity == ERROR:
        return finding.code in SCHEMA_CODES
    return finding.code == "LCF107" and finding.part == "key"


def _fast(document: Any, cat: Catalog) -> list[tuple[Any, ...]]:
    return [f.path for f in validate(document, cat) if _reported(f)]


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
    import jsonschema_rs

    # The reference implementation and the one the other tests run agree here too.
    engines = [
        jsonschema.Draft202012Validator(plain_catalog["schema"]),
        jsonschema_rs.Draft202012Validator(plain_catalog["schema"]),
    ]
    document = json.loads(path.read_text(encoding="utf-8"))
    assert "module" in document  # Keras 3: a Keras 2 document's markers fold into LCF108
    mutations = _mutations(document)
    assert mutations
    for changed in [document, *mutations]:
        fast = _fast(changed, cat)
        for exported in engines:
            _agree(_exported(exported, changed), fast)


# -- every class's sample, keras.applications models, KerasHub models ----------------------------

# One keras.applications model of each architecture, small inputs (building them is what takes
# time: the exported schema checks one, with jsonschema_rs, as fast as the fast checks do).
# ConvNeXt and EfficientNet hold operations of private modules (keras.src.ops.numpy.Add).
_SMALL = {"input_shape": (32, 32, 3)}
APPLICATIONS = {
    "ConvNeXtTiny": _SMALL,
    "DenseNet121": _SMALL,
    "EfficientNetB0": _SMALL,
    "EfficientNetV2B0": _SMALL,
    "InceptionResNetV2": {"input_shape": (75, 75, 3)},
    "InceptionV3": {"input_shape": (75, 75, 3)},
    "MobileNet": {**_SMALL, "alpha": 0.25},
    "MobileNetV2": {**_SMALL, "alpha": 0.35},
    "MobileNetV3Small": _SMALL,
    "NASNetMobile": _SMALL,
    "ResNet50": _SMALL,
    "ResNet50V2": _SMALL,
    "VGG16": _SMALL,
    "Xception": {"input_shape": (71, 71, 3)},
}


def _validators(data: dict[str, Any]) -> dict[str, Any]:
    """A Draft 2020-12 validator of the exported schema per envelope definition
    (``jsonschema_rs``: ``jsonschema`` takes minutes on one keras.applications model)."""
    import jsonschema_rs

    schema = data["schema"]
    kinds = [k for k in schema["$defs"] if k.startswith("envelope.")]
    return {
        kind: jsonschema_rs.Draft202012Validator({**schema, "$ref": f"#/$defs/{kind}"})
        for kind in kinds
    }


def _mistakes(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A typo'd key, a wrong-typed value and unknown classes in one layer (or the envelope):
    a misspelt class_name with its registered_name misspelt too (unknown), with its
    registered_name kept (Keras finds a registered class by it and ignores class_name), and
    in an operation of a private module (keras.src.ops.numpy.Add, which Keras finds there
    whatever the catalog holds)."""
    out = _mutations(document)
    layers = document.get("config", {}).get("layers")
    indexes: list[int | None] = [None]
    if layers:
        public = [i for i, layer in enumerate(layers) if _public(layer)] or [len(layers) // 2]
        private = [i for i, layer in enumerate(layers) if not _public(layer)]
        indexes = [public[len(public) // 2], *private[len(private) // 2 :][:1]]
    for index in indexes:
        for rename_registered in (True, False):
            changed = copy.deepcopy(document)
            target = changed if index is None else changed["config"]["layers"][index]
            if not isinstance(target, dict) or not isinstance(target.get("class_name"), str):
                continue
            registered = target.get("registered_name")
            if not rename_registered and not isinstance(registered, str):
                continue
            target["class_name"] = target["class_name"] + "Xx"
            if rename_registered and isinstance(registered, str):
                package, _, name = registered.rpartition(">")
                target["registered_name"] = f"{package}>{name}Xx" if package else name + "Xx"
            out.append(changed)
        for envelope_change in _envelope_changes():
            changed = copy.deepcopy(document)
            target = changed if index is None else changed["config"]["layers"][index]
            if isinstance(target, dict) and "config" in target:
                envelope_change(target)
                out.append(changed)
    return out


def _envelope_changes() -> list[Any]:
    """A null config (Keras reads it as ``{}``: fine for a class that requires nothing, a
    missing key otherwise) and an envelope key Keras ignores (a warning)."""

    def null_config(envelope: dict[str, Any]) -> None:
        envelope["config"] = None

    def stray_key(envelope: dict[str, Any]) -> None:
        envelope["registred_name"] = envelope.get("registered_name")

    return [null_config, stray_key]


def _public(layer: Any) -> bool:
    module = layer.get("module") if isinstance(layer, dict) else None
    return not (isinstance(module, str) and module.startswith("keras.src."))


def _check(validators: dict[str, Any], cat: Catalog, document: Any, kind: str) -> None:
    exported = _exported(validators[kind], document)
    if kind == "envelope.layer":
        fast = _fast(document, cat)
    else:
        fast = [f.path for f in validate_envelope(document, cat, (), kind=kind) if _reported(f)]
    _agree(exported, fast)


def _samples(data: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    out = []
    for entry in data["classes"]:
        kind = envelope_kind(entry["family"])
        for config in (entry.get("sample_config"), entry.get("minimal_config")):
            if not isinstance(config, dict):
                continue
            envelope = {
                "module": entry["module"],
                "class_name": entry["class_name"],
                "config": config,
                "registered_name": entry["registered_name"],
            }
            out.append((entry["id"], envelope, kind))
    return out


@pytest.fixture(scope="module")
def plain_validators(plain_catalog) -> dict[str, Any]:
    return _validators(plain_catalog)


def test_every_class_sample_and_its_mistakes_agree(plain_catalog, cat, plain_validators):
    samples = _samples(plain_catalog)
    assert len(samples) > 300
    checked = 0
    for class_id, envelope, kind in samples:
        for document in [envelope, *_mistakes(envelope)]:
            try:
                _check(plain_validators, cat, document, kind)
            except AssertionError as exc:
                raise AssertionError(f"{class_id}: {exc}") from None
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_applications_and_their_mistakes_agree(name, cat, plain_validators):
    import warnings

    import keras
    from model_mistakes import mistakes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(keras.applications, name)(weights=None, **APPLICATIONS[name])
        document = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    keras.backend.clear_session()
    _check(plain_validators, cat, document, "envelope.layer")
    changes = [m.value for m in mistakes(name, document)] + _mistakes(document)
    assert len(changes) >= 4
    for changed in changes:
        _check(plain_validators, cat, changed, "envelope.layer")


@pytest.mark.kerashub
def test_kerashub_models_and_their_mistakes_agree(cache_dir):
    import kerashub_corpus as corpus

    from layercfg.schema_builder.catalog import load_or_build

    data = load_or_build(("keras_hub",))
    hub, validators = Catalog.from_json(data), _validators(data)
    documents = corpus.clean_documents()
    for name, document in documents.items():
        try:
            _check(validators, hub, document, "envelope.layer")
            for changed in _mistakes(document):
                _check(validators, hub, changed, "envelope.layer")
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    for mutation in corpus.mutations(documents):
        try:
            _check(validators, hub, mutation.value, "envelope.layer")
        except AssertionError as exc:
            raise AssertionError(f"{mutation.name}: {exc}") from None
