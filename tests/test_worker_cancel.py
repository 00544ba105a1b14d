"""Cancelling a deep check in the real Keras worker: the check stops at a safe point and is
answered ``cancelled``, the worker stays up with Keras imported, its memo of layers stays
right, and a cancel never stops a request it does not name."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
import subprocess
import sys
import time

import keras
import pytest

from layercfg.schema_builder import protocol
from layercfg.server.worker import WorkerClient

HOSTILE = "custom.hostile_layers"


def _layer(class_name: str, module: str = "keras.layers", registered=None, **config) -> dict:
    return {
        "module": module,
        "class_name": class_name,
        "config": config,
        "registered_name": registered,
    }


def slow_model(count: int, seconds: float, units: int = 4) -> dict:
    """A Sequential of Dense layers, then ``count`` layers that each sleep ``seconds`` in their
    constructor: the check loads each of them twice (the replay, then Keras's own load)."""
    layers = [_layer("InputLayer", batch_shape=[None, 4], dtype="float32", name="input")]
    layers += [_layer("Dense", units=4, name=f"dense_{i}") for i in range(6)]
    layers[3]["config"]["units"] = units
    layers += [
        _layer("Slow", HOSTILE, "hostile>Slow", seconds=seconds, name=f"slow_{i}")
        for i in range(count)
    ]
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "slow", "trainable": True, "layers": layers},
        "registered_name": None,
    }


LONG = slow_model(60, 0.5)  # half a minute at least, and as long again in Keras's own load
DENSE = _layer("Dense", units=3)


def scope(fixtures_on_path) -> dict:
    return {"modules": [HOSTILE], "trusted": True, "workspace": str(fixtures_on_path)}


class CancellableWorker:
    """The worker started by hand, as the client starts it, with its cancel pipe."""

    def __init__(self, env: dict[str, str], private) -> None:
        answers, answer_end = os.pipe()
        cancel_end, self.cancels = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "layercfg.schema_builder.worker"]
            + ["--answer-fd", str(answer_end), "--private", str(private)]
            + ["--cancel-fd", str(cancel_end)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**env, "TMPDIR": str(private)},
            pass_fds=(answer_end, cancel_end),
            cwd=str(private),
        )
        os.close(answer_end)
        os.close(cancel_end)
        self.answers = os.fdopen(answers, encoding="utf-8")
        self.ids = iter(range(1, 10_000))

    def send(self, method: str, params: dict | None = None) -> tuple[int, str]:
        ident, nonce = next(self.ids), secrets.token_hex(8)
        line = {"id": ident, "nonce": nonce, "method": method, "params": params or {}}
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(line) + "\n")
        self.process.stdin.flush()
        return ident, nonce

    def cancel(self, ident: int, nonce: str) -> None:
        os.write(self.cancels, protocol.cancel(ident, nonce))

    def answer(self) -> dict:
        while True:
            message = json.loads(self.answers.readline())
            if "id" in message:
                return message

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self.answers.close()
        os.close(self.cancels)


@pytest.fixture(scope="module")
def raw(tmp_path_factory, cache_dir, fixtures_on_path):
    env = dict(os.environ)
    env["LAYERCFG_CACHE_DIR"] = str(cache_dir)
    env["PYTHONPATH"] = str(fixtures_on_path)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    worker = CancellableWorker(env, tmp_path_factory.mktemp("private"))
    worker.send("deep_check", {**scope(fixtures_on_path), "value": DENSE})  # Keras imported
    assert "result" in worker.answer()
    yield worker
    worker.kill()


def test_a_cancel_stops_the_check_under_way_and_the_worker_goes_on(raw, fixtures_on_path):
    ident, nonce = raw.send("deep_check", {**scope(fixtures_on_path), "value": LONG})
    ping, _ = raw.send("ping")
    time.sleep(2)  # the check is under way by now; it is far from done in any case
    raw.cancel(ident, nonce)
    answer = raw.answer()
    assert answer["id"] == ident and answer["nonce"] == nonce
    assert answer["error"]["kind"] == protocol.ErrorKind.CANCELLED  # not a result: it stopped
    pong = raw.answer()
    assert pong["id"] == ping and pong["result"]["pid"] == raw.process.pid
    assert raw.process.poll() is None


def test_a_cancel_that_comes_before_its_request_still_cancels_it(raw, fixtures_on_path):
    ident, nonce = next(raw.ids), "early"
    raw.cancel(ident, nonce)
    line = {"id": ident, "nonce": nonce, "method": "deep_check"}
    line["params"] = {**scope(fixtures_on_path), "value": LONG}
    assert raw.process.stdin is not None
    raw.process.stdin.write(json.dumps(line) + "\n")
    raw.process.stdin.flush()
    answer = raw.answer()
    assert answer["id"] == ident and answer["error"]["kind"] == "cancelled"


def test_a_cancel_for_another_request_or_nonce_or_a_late_one_stops_nothing(raw, fixtures_on_path):
    ident, nonce = raw.send("deep_check", {**scope(fixtures_on_path), "value": DENSE})
    assert "result" in raw.answer()
    raw.cancel(ident, nonce)  # late: its request was answered
    following = next(raw.ids)
    raw.cancel(following, "not its nonce")  # the next id, with another nonce
    raw.cancel(following + 1, "no such request yet")
    os.write(raw.cancels, b'not json\n[1, 2]\n{"id": "x", "nonce": 1}\n\n')
    line = {"id": following, "nonce": "its own", "method": "deep_check"}
    line["params"] = {**scope(fixtures_on_path), "value": slow_model(2, 0.5)}
    assert raw.process.stdin is not None
    raw.process.stdin.write(json.dumps(line) + "\n")
    raw.process.stdin.flush()
    answer = raw.answer()
    assert answer["id"] == following and "result" in answer, answer
    assert [layer["name"] for layer in answer["result"]["layers"]][-2:] == ["slow_0", "slow_1"]


def test_a_document_cannot_cancel_its_own_check(raw, fixtures_on_path):
    """Only the cancel pipe cancels: a document whose values are cancel lines, the error kind,
    or the request's own nonce is checked like any other."""
    ident, nonce = next(raw.ids), "the nonce"
    value = slow_model(2, 0.2)
    value["config"]["name"] = json.dumps({"id": ident, "nonce": nonce})
    value["config"]["layers"][1]["config"]["name"] = "cancelled"
    value["config"]["layers"][2]["config"]["name"] = protocol.cancel(ident, nonce).decode()
    line = {"id": ident, "nonce": nonce, "method": "deep_check"}
    line["params"] = {**scope(fixtures_on_path), "value": value}
    assert raw.process.stdin is not None
    raw.process.stdin.write(json.dumps(line) + "\n")
    raw.process.stdin.flush()
    answer = raw.answer()
    assert answer["id"] == ident and "result" in answer, answer


# -- through the client ----------------------------------------------------------------------


@pytest.fixture
async def client(subprocess_env):
    worker = WorkerClient(env=subprocess_env)
    yield worker
    await worker.kill()


async def _check(worker: WorkerClient, fixtures_on_path, value: dict) -> dict:
    return await worker.request(
        "deep_check", {**scope(fixtures_on_path), "value": value}, timeout=300
    )


def _comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "uncontained"}


async def test_after_a_cancel_the_warm_worker_checks_the_next_version_as_a_fresh_one_would(
    client, subprocess_env, fixtures_on_path
):
    await _check(client, fixtures_on_path, DENSE)
    pid = client._process.pid
    first = asyncio.ensure_future(_check(client, fixtures_on_path, LONG))
    await asyncio.sleep(2)  # the Dense layers are loaded and remembered; the slow ones load
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    # The next version: the Dense layers as before but one, which Keras refuses.
    edited = slow_model(2, 0.0, units=-3)
    after = await _check(client, fixtures_on_path, edited)
    assert client._process.pid == pid and client.cancelled == 1
    assert (await client.request("ping", timeout=60))["pid"] == pid
    fresh = WorkerClient(env=subprocess_env)
    try:
        expected = await _check(fresh, fixtures_on_path, edited)
    finally:
        await fresh.kill()
    assert _comparable(after) == _comparable(expected)
    (finding,) = after["findings"]
    assert finding["path"] == ["config", "layers", 3, "config", "units"], finding
    # And the memo holds what the cancelled check had made right: the first version again.
    again = await _check(client, fixtures_on_path, slow_model(2, 0.0))
    assert again["findings"] == [] and again["total_params"] == 120


@pytest.mark.parametrize("pause", [0, 0.001, 0.01, 0.05, 0.2])
async def test_a_cancel_racing_its_answer_never_reaches_the_next_request(
    client, fixtures_on_path, pause
):
    """A check cancelled about when it ends: finished or stopped, its answer is not taken for
    the next request's, and the worker stays."""
    await _check(client, fixtures_on_path, DENSE)
    pid = client._process.pid
    for units in (5, 6, 7):
        short = asyncio.ensure_future(
            _check(client, fixtures_on_path, _layer("Dense", units=units))
        )
        await asyncio.sleep(pause)
        short.cancel()
        try:
            await short
        except asyncio.CancelledError:
            pass
        value = slow_model(1, 0.0, units=units)
        result = await _check(client, fixtures_on_path, value)
        assert result["findings"] == [] and result["layers"][3]["params"] == 4 * units + units
    assert client._process.pid == pid
    assert not client.busy


# -- the memo, cancelled at any point ----------------------------------------------------------


def _residual(padding: str = "same", units: int = 2) -> dict:
    i = keras.Input((10, 10, 3), name="img")
    h = keras.layers.Conv2D(4, 3, padding="same", name="c1")(i)
    h = keras.layers.BatchNormalization(name="bn")(h)
    r = keras.layers.Conv2D(4, 1, name="c2")(h)
    h = keras.layers.Add(name="res")([h, r])
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(i, keras.layers.Dense(units, name="out")(h), name="residual")
    value = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    value["config"]["layers"][1]["config"]["padding"] = padding  # "sme": Keras refuses it
    return value


@pytest.fixture(scope="module")
def api():
    from layercfg.schema_builder.keras_api import KerasAPI

    return KerasAPI()


def _cancelled_at(monkeypatch, api, memo, value: dict, point: int) -> bool:
    """Check ``value`` with a cancel arriving at the ``point``-th look-up or Keras load of the
    check; False when the check ended before."""
    from keras.src.saving import serialization_lib

    from layercfg.schema_builder import deep_cancel
    from layercfg.schema_builder.deep import DeepChecker
    from layercfg.schema_builder.deep_replay import ReplayMemo

    cancels = deep_cancel.Cancels()
    seen = [0]

    def count() -> None:
        seen[0] += 1
        if seen[0] == point:
            cancels.cancel(1, "n")  # as the listening thread does

    with monkeypatch.context() as patch:
        deep_cancel.hook_keras(api.keras.saving.deserialize_keras_object)
        hooked = serialization_lib.deserialize_keras_object
        patch.setattr(
            serialization_lib,
            "deserialize_keras_object",
            lambda *a, **k: (count(), hooked(*a, **k))[1],
        )
        original_get = ReplayMemo.get
        patch.setattr(ReplayMemo, "get", lambda self, key: (count(), original_get(self, key))[1])
        try:
            with cancels.region(1, "n"):
                DeepChecker(api, memo=memo).check(value)
        except deep_cancel.Cancelled:
            return True
    return False


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (_residual, functools.partial(_residual, units=3)),
        (functools.partial(_residual, "sme"), _residual),
        (_residual, functools.partial(_residual, "sme", units=3)),
    ],
    ids=["clean then edited", "refused then fixed", "clean then refused"],
)
def test_a_check_cancelled_at_any_point_leaves_a_memo_that_checks_as_a_fresh_one(
    monkeypatch, api, first, second
):
    from layercfg.schema_builder.deep import DeepChecker
    from layercfg.schema_builder.deep_replay import ReplayMemo

    before, after = first(), second()
    expected = [DeepChecker(api, memo=ReplayMemo()).check(v) for v in (after, before)]
    point = 1
    while True:
        memo = ReplayMemo()
        if not _cancelled_at(monkeypatch, api, memo, before, point):
            break  # the check ended before this point: every point before it was tried
        got = [DeepChecker(api, memo=memo).check(v) for v in (after, before)]
        assert got == expected, point
        point += 1 if point < 12 else 5
    assert point > 5, point  # the check was cancelled at several points before it ended
