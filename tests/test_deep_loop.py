"""Starting a deep check leaves the event loop free: the strict parse of the document and the
encoding of the request happen in a thread, and only the current version is checked."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
from typing import Any

import pytest

from layercfg.server import deepcheck, worker
from layercfg.server.deepcheck import DeepChecks
from layercfg.server.document import Document
from layercfg.server.settings import Settings
from layercfg.server.worker import WorkerClient, encode_request

URI = "file:///big.layercfg.json"


def model_text(count: int) -> str:
    """A Functional model of ``count`` Dense layers with their full configs (about 1.8 KB each)."""
    layers: list[dict[str, Any]] = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "input"},
            "registered_name": None,
            "name": "input",
            "inbound_nodes": [],
        }
    ]
    previous = "input"
    for index in range(count):
        name = f"dense_{index}"
        config = {
            "name": name,
            "trainable": True,
            "dtype": {
                "module": "keras",
                "class_name": "DTypePolicy",
                "config": {"name": "float32"},
                "registered_name": None,
            },
            "units": 4,
            "activation": "linear",
            "use_bias": True,
            "kernel_initializer": {
                "module": "keras.initializers",
                "class_name": "GlorotUniform",
                "config": {"seed": None},
                "registered_name": None,
            },
            "bias_initializer": {
                "module": "keras.initializers",
                "class_name": "Zeros",
                "config": {},
                "registered_name": None,
            },
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        }
        tensor = {
            "class_name": "__keras_tensor__",
            "config": {"shape": [None, 4], "dtype": "float32", "keras_history": [previous, 0, 0]},
        }
        layers.append(
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "config": config,
                "registered_name": None,
                "build_config": {"input_shape": [None, 4]},
                "name": name,
                "inbound_nodes": [{"args": [tensor], "kwargs": {}}],
            }
        )
        previous = name
    return json.dumps(
        {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": {
                "name": "model",
                "trainable": True,
                "layers": layers,
                "input_layers": ["input", 0, 0],
                "output_layers": [previous, 0, 0],
            },
            "registered_name": "Functional",
        },
        indent=2,
    )


class FakeWorker:
    stopped = False

    def __init__(self) -> None:
        self.requests: list[str] = []

    async def request(self, method: str, params: dict[str, Any], **limits: Any) -> Any:
        self.requests.append(method)
        return {"findings": [], "layers": [], "total_params": 0}


class FakeSink:
    """What the scheduler is given instead of a server: the documents, a worker, a sink."""

    def __init__(self, document: Document, worker: Any):
        self.documents = {document.uri: document}
        self.settings = Settings()
        self.worker = worker
        self.arrived: list[str] = []

    def deep_arrived(self, uri: str, result: Any) -> None:
        self.arrived.append(uri)

    def checks(self) -> DeepChecks:
        async def run(document: Document) -> Any:
            return await deepcheck.run_check(self.worker, document, self.settings, None)

        return DeepChecks(self.documents.get, run, self)


def record_thread(
    monkeypatch, module: Any, name: str, threads: list[threading.Thread], before: Any = None
) -> None:
    original = getattr(module, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        if before is not None:
            before()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, recorded)


async def test_the_strict_parse_runs_off_the_event_loop(monkeypatch):
    document = Document.parse(URI, model_text(3), 1)
    server = FakeSink(document, FakeWorker())
    threads: list[threading.Thread] = []
    record_thread(monkeypatch, deepcheck, "_checkable", threads)
    result = await server.checks()._check(document)
    assert result is not None and server.arrived == [URI]
    assert threads and all(t is not threading.current_thread() for t in threads)


async def test_a_version_replaced_while_it_was_parsed_is_not_checked(monkeypatch):
    document = Document.parse(URI, model_text(3), 1)
    fake = FakeWorker()
    server = FakeSink(document, fake)
    newer = Document.parse(URI, model_text(4), 2)
    threads: list[threading.Thread] = []
    record_thread(
        monkeypatch,
        deepcheck,
        "_checkable",
        threads,
        before=lambda: server.documents.__setitem__(URI, newer),
    )
    assert await server.checks()._check(document) is None
    assert fake.requests == [] and server.arrived == []


async def test_the_request_is_encoded_off_the_event_loop(monkeypatch):
    threads: list[threading.Thread] = []
    record_thread(monkeypatch, worker, "encode_request", threads)

    async def no_process(self: WorkerClient) -> None:
        raise RuntimeError("encoded first, started afterwards")

    monkeypatch.setattr(WorkerClient, "start", no_process)
    with pytest.raises(RuntimeError, match="encoded first"):
        await WorkerClient().request("deep_check", {"value": {"class_name": "Dense"}})
    assert threads and all(t is not threading.current_thread() for t in threads)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {
            "value": json.loads(model_text(2)),
            "modules": ["a", "b"],
            "trusted": False,
            "workspace": None,
            "memory_mb": 2048,
        },
        {
            "value": {
                "é": ["ü", 1.5, -0.0, 1e300, True, None, {}, [], [[]], {"a": {"b": {"c": {}}}}]
            }
        },
        {"value": [[[[[[[1, {"deep": [2, 3]}]]]]]], {"x": [{}], "y": [[]]}]},
        {"value": {1: "an int key", "s": [{2: None}]}},  # what json.dumps does with them
    ],
)
def test_the_encoded_request_is_what_json_dumps_writes(params):
    expected = json.dumps({"id": 7, "nonce": "n7", "method": "deep_check", "params": params}) + "\n"
    assert encode_request(7, "deep_check", params, "n7") == expected.encode()


def _longest_pause(work, env: dict[str, str]) -> float:
    """The longest the event loop could not run a 2 ms timer while ``work(worker)`` ran, with
    a worker already started (starting one forks this large process: that pause is not the
    check's) and full garbage collections left for idle time, as the server leaves them."""

    async def measure() -> float:
        client = WorkerClient(env=env)
        await client.request("ping", timeout=60)
        pauses = [0.0]
        done = False

        async def ticker() -> None:
            last = time.perf_counter()
            while not done:
                await asyncio.sleep(0.002)
                now = time.perf_counter()
                pauses.append(now - last)
                last = now

        ticking = asyncio.ensure_future(ticker())
        await asyncio.sleep(0.02)
        try:
            await work(client)
        finally:
            done = True
            await ticking
            await client.kill()
        return max(pauses)

    gc.collect()
    saved = gc.get_threshold()
    gc.set_threshold(saved[0], saved[1], 1 << 30)
    try:
        return asyncio.run(measure())
    finally:
        gc.set_threshold(*saved)


def test_the_loop_stays_responsive_while_a_large_check_is_prepared(subprocess_env):
    text = model_text(5000)  # about 9 MB
    assert len(text) > 8_000_000
    documents = [Document.parse(URI, text, version) for version in range(4)]  # not parsed yet

    async def on_the_loop(client: WorkerClient) -> None:  # what starting a check did before
        document = documents[3]
        assert document.syntax_ok
        json.dumps({"id": 1, "method": "ping", "params": {"value": document.value}})

    async def prepare(client: WorkerClient, version: int) -> None:
        document = documents[version]
        server = FakeSink(document, FakeWorker())
        assert await server.checks()._check(document) is not None
        # The worker answers ping without reading the value: this measures the sending.
        await client.request("ping", {"value": document.value}, timeout=60)

    blocked = _longest_pause(on_the_loop, subprocess_env)
    # Best of three: a shared machine may pause any process now and then.
    paused = min(
        _longest_pause(lambda client, version=version: prepare(client, version), subprocess_env)
        for version in range(3)
    )
    assert paused < blocked / 2, (
        f"loop paused {paused * 1000:.0f} ms, blocked {blocked * 1000:.0f} ms"
    )
