"""The deep check puts a mistake Keras rejects on the key a person would change, exactly once,
and finds a refused model's failing layer from Keras's own error: it never tries every layer
alone. KerasHub models (tests/kerashub_corpus.py), a keras.applications MobileNetV2 and the
same model as tf_keras (Keras 2) writes it, each with one mistake (tests/model_mistakes.py)."""

from __future__ import annotations

import functools
import json
import warnings
from typing import Any

import kerashub_corpus as corpus
import model_mistakes
import pytest

from layercfg.schema_builder.deep import DeepChecker
from layercfg.schema_builder.deep_replay import ReplayMemo
from layercfg.schema_builder.keras_api import KerasAPI


def _pointer(path: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _errors(result: dict[str, Any]) -> list[str]:
    return [_pointer(f["path"]) for f in result["findings"] if f["severity"] == 1]


def _refused(load, value: Any) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load(_copy(value))
    except Exception:
        return True
    return False


@functools.cache
def _hub_mistakes() -> tuple[Any, ...]:
    import keras

    def load(value):
        return keras.saving.deserialize_keras_object(value, safe_mode=True)

    mistakes = corpus.mutations(corpus.clean_documents())
    return tuple(m for m in mistakes if _refused(load, m.value))


@functools.cache
def _mobilenet(flavor: str) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if flavor == "tf_keras":
            import tf_keras

            model = tf_keras.applications.MobileNetV2(
                weights=None, input_shape=(32, 32, 3), alpha=0.35
            )
            return json.loads(model.to_json())  # the Keras 2 format: no module, node lists
        import keras

        model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35)
        return _copy(keras.saving.serialize_keras_object(model))


@functools.cache
def _api(flavor: str) -> KerasAPI:
    return KerasAPI(flavor)


KINDS = ("key filtersz", "filters as a string", "activation rleu", "initializer GlorotUnifrm")


def _mistake(flavor: str, kind: str):
    mistakes = model_mistakes.mistakes("MobileNetV2", _mobilenet(flavor))
    found = [m for m in mistakes if kind in m.name]
    assert len(found) == 1, kind
    return found[0]


@pytest.mark.kerashub
def test_every_kerashub_mistake_is_one_finding_at_its_pointer():
    mistakes = _hub_mistakes()
    assert len(mistakes) >= 12
    checker = DeepChecker(_api("keras"), modules=("keras_hub",))
    for mistake in mistakes:
        assert _errors(checker.check(_copy(mistake.value))) == [mistake.pointer], mistake.name


@pytest.mark.kerashub
@pytest.mark.parametrize(
    "name, pointer",
    [
        ("BertBackbone: key 'num_layer'", "/config/num_layer"),  # a required argument misspelt
        ("BertBackbone: /config/num_heads = '2'", "/config/num_heads"),  # int // str, in build
        ("CSPNetBackbone: /config/stage_type = 'darkk'", "/config/stage_type"),  # other name
        ("GemmaBackbone: /config/hidden_dim = 8.5", "/config/hidden_dim"),  # "output_dim=8.5"
        ("WhisperBackbone: /config/num_mels = [8]", "/config/num_mels"),  # "(None, [8])"
    ],
)
def test_what_keras_message_calls_otherwise_is_found_at_the_key_of_the_document(name, pointer):
    (mistake,) = [m for m in _hub_mistakes() if m.name == name]
    result = DeepChecker(_api("keras"), modules=("keras_hub",)).check(_copy(mistake.value))
    assert _errors(result) == [pointer]


@pytest.mark.parametrize("flavor", ["keras", "tf_keras"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_mistake_in_a_layer_of_mobilenet_is_one_finding_at_its_pointer(flavor, kind):
    mistake = _mistake(flavor, kind)
    api = _api(flavor)
    assert _refused(lambda v: api.deserialize(v), mistake.value)
    assert _errors(DeepChecker(api).check(_copy(mistake.value))) == [mistake.pointer]


@pytest.mark.parametrize("kind", KINDS)
def test_incremental_locates_as_the_full_check(kind):
    api = _api("keras")
    mistake = _mistake("keras", kind)
    full = DeepChecker(api).check(_copy(mistake.value))
    memo = ReplayMemo()
    DeepChecker(api, memo=memo).check(_copy(_mobilenet("keras")))  # the clean model first
    for _ in range(2):
        assert DeepChecker(api, memo=memo).check(_copy(mistake.value)) == full


class _Counting(DeepChecker):
    """Counts the envelopes loaded alone (a whole model counts one)."""

    loads = 0

    def _deserialize(self, envelope):
        type(self).loads += 1
        return super()._deserialize(envelope)


@pytest.mark.parametrize("flavor", ["keras", "tf_keras"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_failing_layer_is_found_from_keras_error_not_by_loading_each_layer(flavor, kind):
    mistake = _mistake(flavor, kind)
    layers = len(mistake.value["config"]["layers"])
    assert layers > 100
    _Counting.loads = 0
    result = _Counting(_api(flavor)).check(_copy(mistake.value))
    assert _errors(result) == [mistake.pointer]
    # The model once, the failing layer alone, and the envelopes inside that layer.
    assert _Counting.loads <= 4, _Counting.loads


def test_a_layer_that_cannot_take_its_input_is_found_by_one_replay_of_the_graph():
    value = _copy(_mobilenet("keras"))
    entries = value["config"]["layers"]
    index = next(i for i, e in enumerate(entries) if e["class_name"] == "Add")
    # The convolution that feeds the Add from the block: its output no longer fits.
    source = entries[index]["inbound_nodes"][0]["args"][0][1]["config"]["keras_history"][0]
    (conv,) = [i for i, e in enumerate(entries) if e["name"] == source]
    bn = entries[conv]
    feeding = bn["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0]
    (conv,) = [i for i, e in enumerate(entries) if e["name"] == feeding]
    entries[conv]["config"]["filters"] += 1
    entries[conv].pop("build_config", None)
    _Counting.loads = 0
    result = _Counting(_api("keras")).check(value)
    errors = [f for f in result["findings"] if f["severity"] == 1]
    assert len(errors) == 1, errors
    assert list(errors[0]["path"][:2]) == ["config", "layers"]  # a layer of the model, not its root
    assert _Counting.loads <= 3, _Counting.loads


def test_one_error_per_key_and_no_warning_about_the_layer_it_is_in():
    from layercfg.codes import Code, Severity
    from layercfg.schema_builder.deep_common import DeepFinding

    at = ("config", "layers", 3, "config", "units")
    findings = [
        DeepFinding(
            ("config", "layers", 3, "class_name"),
            "value",
            Code.KERAS_WARNING,
            "w",
            severity=Severity.WARNING,
        ),
        DeepFinding(at, "value", Code.FROM_CONFIG_FAILED, "Keras's first words"),
        DeepFinding(at, "value", Code.SHAPE, "the same mistake, seen by the replay"),
        DeepFinding(
            ("config", "layers", 5, "class_name"),
            "value",
            Code.KERAS_WARNING,
            "w",
            severity=Severity.WARNING,
        ),
    ]
    result = DeepChecker(_api("keras"))._result(findings, [], None)
    assert [(f["path"], f["message"]) for f in result["findings"]] == [
        (at, "Keras's first words"),
        (("config", "layers", 5, "class_name"), "w"),
    ]


def _sequential(**dense):
    import keras

    layers = [keras.Input((4,)), *[keras.layers.Dense(4, name=f"d{k}") for k in range(6)]]
    value = _copy(keras.saving.serialize_keras_object(keras.Sequential(layers)))
    value["config"]["layers"][3]["config"].update(dense)
    return value


def test_a_required_argument_removed_is_shown_where_it_belongs_not_on_an_unrelated_key():
    value = _sequential(bogus_flag=True)
    del value["config"]["layers"][3]["config"]["units"]
    result = DeepChecker(_api("keras")).check(value)
    (finding,) = [f for f in result["findings"] if f["severity"] == 1]
    assert finding["path"] == ("config", "layers", 3, "config") and finding["part"] == "open"
    assert finding["data"] == {"keys": ["units"]}


def test_a_misspelt_argument_among_many_unknown_keys_is_the_one_named_like_it():
    noise = {f"k{i}": i for i in range(300)}
    value = _sequential(**noise)
    config = value["config"]["layers"][3]["config"]
    config["unitz"] = config.pop("units")
    result = DeepChecker(_api("keras")).check(value)
    assert _errors(result) == ["/config/layers/3/config/unitz"]


@pytest.mark.parametrize(
    "change, pointer",
    [
        ({"units": "4"}, "/config/layers/3/config/units"),
        ({"activation": "rleu"}, "/config/layers/3/config/activation"),
        ({"self": 1, "__class__": "x", "cls": None}, None),  # names of the frames' locals
    ],
)
def test_a_sequential_layer_is_located_in_one_pass(change, pointer):
    value = _sequential(**change)
    _Counting.loads = 0
    result = _Counting(_api("keras")).check(value)
    errors = _errors(result)
    if pointer is None:  # Keras names the unknown arguments: one of them, once
        assert len(errors) == 1 and errors[0].startswith("/config/layers/3/config/"), errors
    else:
        assert errors == [pointer]
    assert _Counting.loads <= 3, _Counting.loads


@pytest.mark.parametrize("change", [{"units": "4"}, {"activation": "rleu"}, {"unitz": 4}])
def test_incremental_locates_a_sequential_layer_as_the_full_check(change):
    api = _api("keras")
    value = _sequential(**change)
    full = DeepChecker(api).check(_copy(value))
    memo = ReplayMemo()
    DeepChecker(api, memo=memo).check(_sequential())
    for _ in range(2):
        assert DeepChecker(api, memo=memo).check(_copy(value)) == full


def test_a_users_class_refusing_its_own_trainable_is_an_error_of_the_class(tmp_path, monkeypatch):
    """The same defect as KerasHub's RMSNormalization in a class of the user's own module:
    LCF401 at the key, an error (the user fixes the class), with the constructor's line."""
    import keras

    (tmp_path / "lcf_no_kwargs_layers.py").write_text(
        "import keras\n"
        "@keras.saving.register_keras_serializable(package='lcfnokw')\n"
        "class Strict(keras.layers.Layer):\n"
        "    def __init__(self, width):\n"
        "        super().__init__()\n"
        "        self.width = width\n"
        "    def get_config(self):\n"
        "        return {**super().get_config(), 'width': self.width}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import lcf_no_kwargs_layers

    document = json.loads(
        json.dumps(keras.saving.serialize_keras_object(lcf_no_kwargs_layers.Strict(3)))
    )
    assert _refused(
        lambda v: keras.saving.deserialize_keras_object(v, safe_mode=True), _copy(document)
    )
    checker = DeepChecker(KerasAPI("keras"), modules=("lcf_no_kwargs_layers",))
    findings = checker.check(document)["findings"]
    defects = [f for f in findings if f["code"] == "LCF401" and f["path"][-1] != "class_name"]
    assert len(defects) == 1 and defects[0]["severity"] == 1, findings
    assert defects[0]["path"][-1] in ("name", "trainable", "dtype")
    assert any(r["file"].endswith("lcf_no_kwargs_layers.py") for r in defects[0]["related"])
    assert not [f for f in findings if f["code"] == "LCF301"]
