"""The incremental deep check gives what a full check gives, and re-runs only what an edit
touched: the layer edited and the layers whose inputs it changed; the safety scan skips the
layers an earlier check found nothing to refuse in, and scans an edited one again."""

from __future__ import annotations

import dataclasses
import functools
import json

import keras
import pytest

from layercfg.schema_builder import deep
from layercfg.schema_builder.deep import DeepChecker
from layercfg.schema_builder.deep_common import LayerInfo
from layercfg.schema_builder.deep_replay import ReplayMemo
from layercfg.schema_builder.keras_api import KerasAPI


@pytest.fixture(scope="module")
def api():
    return KerasAPI()


def _plain(model):
    return json.loads(json.dumps(keras.saving.serialize_keras_object(model)))


def _copy(value):
    return json.loads(json.dumps(value))


def _index(value, name):
    return next(
        i
        for i, e in enumerate(value["config"]["layers"])
        if e.get("name", e["config"].get("name")) == name
    )


def _config(value, name):
    return value["config"]["layers"][_index(value, name)]["config"]


@functools.cache
def _models():
    out = {}
    a = keras.Input((16,), name="a")
    b = keras.Input((8,), name="b")
    x = keras.layers.Dense(8, activation="relu", name="d1")(a)
    y = keras.layers.Dense(8, name="d2")(b)
    s = keras.layers.Add(name="add")([x, y])
    c = keras.layers.Concatenate(name="cat")([s, y])
    o1 = keras.layers.Dense(3, activation="softmax", name="head1")(c)
    o2 = keras.layers.Dense(1, name="head2")(s)
    out["two inputs, two outputs"] = _plain(keras.Model([a, b], [o1, o2], name="m"))
    i = keras.Input((10, 10, 3), name="img")
    h = keras.layers.Conv2D(4, 3, padding="same", name="c1")(i)
    h = keras.layers.BatchNormalization(name="bn")(h)
    r = keras.layers.Conv2D(4, 1, name="c2")(h)
    h = keras.layers.Add(name="res")([h, r])
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out["residual"] = _plain(keras.Model(i, keras.layers.Dense(2, name="out")(h)))
    unused = _copy(out["residual"])
    extra = keras.saving.serialize_keras_object(keras.layers.Dense(5, name="spare"))
    unused["config"]["layers"].append({**_copy(extra), "name": "spare", "inbound_nodes": []})
    out["an unused layer"] = unused
    out["sequential"] = _plain(
        keras.Sequential(
            [keras.Input((6,)), *[keras.layers.Dense(6, name=f"s{k}") for k in range(8)]]
        )
    )
    out["mobilenet"] = _plain(
        keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35)
    )
    return out


def _mutations():
    models = _models()
    out = {}
    m = _copy(models["two inputs, two outputs"])
    _config(m, "d1")["units"] = 5  # Add of 5 and 8
    out["add of mismatched shapes"] = m
    m = _copy(models["two inputs, two outputs"])
    _config(m, "head1")["activation"] = "softmaxx"
    out["unknown activation"] = m
    m = _copy(models["residual"])
    _config(m, "c1")["kernel_size"] = [20, 20]
    _config(m, "c1")["padding"] = "valid"
    out["kernel larger than input"] = m
    m = _copy(models["residual"])
    _config(m, "bn")["momentm"] = 0.9
    out["unknown argument"] = m
    m = _copy(models["sequential"])
    _config(m, "s3")["units"] = -1
    out["negative units"] = m
    m = _copy(models["residual"])
    m["config"]["output_layers"] = [["nowhere", 0, 0]]
    out["output of no layer"] = m
    return out


def _all():
    return {**_models(), **_mutations()}


@pytest.mark.parametrize("name", sorted(_all()))
def test_incremental_equals_full_on_first_second_and_third_check(api, name):
    document = _all()[name]
    full = DeepChecker(api).check(_copy(document))
    memo = ReplayMemo()
    for _ in range(3):  # cold; graph known; all from the memo
        assert DeepChecker(api, memo=memo).check(_copy(document)) == full


def test_an_edit_reruns_the_edited_layer_and_what_its_output_reaches(api):
    base = _copy(_models()["mobilenet"])
    for entry in base["config"]["layers"]:
        entry.pop("build_config", None)  # as people write them: a width edit stays valid
    memo = ReplayMemo()
    checker = lambda: DeepChecker(api, memo=memo)  # noqa: E731  (one per check, as the worker)
    checker().check(_copy(base))
    checker().check(_copy(base))
    before = memo.misses
    assert checker().check(_copy(base)) == DeepChecker(api).check(_copy(base))
    assert memo.misses == before, "a check of an unchanged document made a layer again"

    # A value that changes no shape: that layer alone is made again.
    edited = _copy(base)
    last_relu = [e["name"] for e in edited["config"]["layers"] if e["class_name"] == "ReLU"][-1]
    _config(edited, last_relu)["max_value"] = 5.0
    before = memo.misses
    assert checker().check(_copy(edited)) == DeepChecker(api).check(_copy(edited))
    assert memo.misses - before <= 3  # its load and its call (and the envelope once)

    # A width near the output: that layer and the few after it.
    widened = _copy(base)
    convs = [e["name"] for e in widened["config"]["layers"] if e["class_name"] == "Conv2D"]
    _config(widened, convs[-1])["filters"] = 64
    before = memo.misses
    assert checker().check(_copy(widened)) == DeepChecker(api).check(_copy(widened))
    layers = len(widened["config"]["layers"])
    assert memo.misses - before < layers / 10

    # And a mistake: located as the full check locates it.
    broken = _copy(base)
    _config(broken, convs[-1])["filters"] = -3
    before = memo.misses
    result = checker().check(_copy(broken))
    assert memo.misses - before < layers / 10  # located without loading every layer again
    assert result == DeepChecker(api).check(_copy(broken))
    assert [f for f in result["findings"] if f["severity"] == 1]


def _scanned(monkeypatch) -> list[tuple]:
    """The paths of the envelopes the safety scan looks at, from now on."""
    seen: list[tuple] = []
    original = DeepChecker._scan_envelope

    def scan(self, path, *args):
        seen.append(path)
        return original(self, path, *args)

    monkeypatch.setattr(DeepChecker, "_scan_envelope", scan)
    return seen


def test_the_scan_skips_layers_found_clean_and_scans_an_edited_one_again(api, monkeypatch):
    base = _copy(_models()["residual"])
    edited = _copy(base)
    _config(edited, "c2")["kernel_size"] = [3, 3]
    full = [DeepChecker(api).check(_copy(v)) for v in (base, edited)]
    memo = ReplayMemo()
    DeepChecker(api, memo=memo).check(_copy(base))
    seen = _scanned(monkeypatch)
    assert DeepChecker(api, memo=memo).check(_copy(base)) == full[0]
    assert seen, "nothing scanned"
    assert not [p for p in seen if p[:2] == ("config", "layers")], "a clean layer was scanned"

    seen.clear()
    assert DeepChecker(api, memo=memo).check(_copy(edited)) == full[1]
    layers = {p[2] for p in seen if p[:2] == ("config", "layers")}
    assert layers == {_index(edited, "c2")}


def _refused_edits():
    """Edits that put into a layer, or into the node feeding it, what the scan refuses."""
    out = {}
    lam = {
        "class_name": "__lambda__",
        "config": {"code": "4wEAAAAAAAAA", "defaults": None, "closure": None},
    }
    m = _copy(_models()["two inputs, two outputs"])
    _config(m, "d1")["activation"] = {
        "module": "keras.config",
        "class_name": "function",
        "config": "set_floatx",
        "registered_name": "function",
    }
    out["a non-modeling function"] = m
    m = _copy(_models()["two inputs, two outputs"])
    _config(m, "d2")["kernel_initializer"] = {
        "module": "keras_hub.src.layers",
        "class_name": "Anything",
        "config": {},
        "registered_name": "keras_hub>Anything",
    }
    out["a class of a package not configured"] = m
    m = _copy(_models()["residual"])
    node = m["config"]["layers"][_index(m, "gap")]["inbound_nodes"][0]
    node["kwargs"] = {"mask": lam}
    out["a lambda in a node"] = m
    m = _copy(_models()["sequential"])
    m["config"]["layers"][_index(m, "s4")]["config"]["kernel_regularizer"] = lam
    out["a lambda in a Sequential's layer"] = m
    return out


@pytest.mark.parametrize("name", sorted(_refused_edits()))
def test_an_edit_the_scan_refuses_after_the_layer_was_found_clean(api, name):
    edited = _refused_edits()[name]
    base = {
        "a non-modeling function": "two inputs, two outputs",
        "a class of a package not configured": "two inputs, two outputs",
        "a lambda in a node": "residual",
        "a lambda in a Sequential's layer": "sequential",
    }[name]
    memo = ReplayMemo()
    for _ in range(2):  # the layers found clean, then known
        DeepChecker(api, memo=memo).check(_copy(_models()[base]))
    full = DeepChecker(api).check(_copy(edited))
    assert [f for f in full["findings"] if f["code"] in ("LCF303", "LCF101")], full["findings"]
    for _ in range(2):
        assert DeepChecker(api, memo=memo).check(_copy(edited)) == full
    # And the fix: as a fresh check of it says.
    fixed = _copy(_models()[base])
    assert DeepChecker(api, memo=memo).check(_copy(fixed)) == DeepChecker(api).check(fixed)


def test_a_layer_answers_every_field_of_its_info():
    info = LayerInfo(("config", "layers", 3), "d", "Dense", "None, 4", 20)
    assert deep._layer(info) == dataclasses.asdict(info)
