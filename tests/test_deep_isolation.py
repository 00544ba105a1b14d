"""Deep checks through the real worker process: time limit, memory cap, crashes, no network."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest

from layercfg.server.deepcheck import run_check
from layercfg.server.document import Document
from layercfg.server.settings import Settings
from layercfg.server.worker import WorkerClient, WorkerError

pytest.importorskip("keras")

GOOD = (
    '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3},'
    ' "registered_name": null}'
)


def hostile(class_name: str, **config) -> Document:
    text = json.dumps(
        {
            "module": "custom.hostile_layers",
            "class_name": class_name,
            "config": config,
            "registered_name": f"hostile>{class_name}",
        }
    )
    return Document.parse("file:///h.layercfg.json", text, 1)


@pytest.fixture
def settings(fixtures_on_path) -> Settings:
    return Settings(
        modules=("custom.hostile_layers",),
        trustWorkspace=True,
        deepCheckTimeout=60,
        deepCheckMemoryMB=2048,
    )


@pytest.fixture
async def worker(subprocess_env):
    client = WorkerClient(env=subprocess_env)
    yield client
    await client.kill()  # in the test's own loop, which owns the process


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


async def _good_afterwards(worker, settings, fixtures_on_path):
    result = await run_check(
        worker, Document.parse("file:///g", GOOD, 1), settings, str(fixtures_on_path)
    )
    assert codes(result) == []


async def test_time_limit_ends_the_check_and_a_fresh_worker_goes_on(
    worker, settings, fixtures_on_path
):
    await _good_afterwards(worker, settings, fixtures_on_path)  # warm: Keras imported
    first_pid = worker._process.pid
    slow = Settings(**{**settings.__dict__, "deepCheckTimeout": 2.0})
    result = await run_check(worker, hostile("Slow", seconds=30), slow, str(fixtures_on_path))
    assert codes(result) == ["LCF304"]
    assert "longer than 2 s" in result.diagnostics[0].message
    await _good_afterwards(worker, settings, fixtures_on_path)
    assert worker._process.pid != first_pid


async def test_memory_cap_ends_the_check(worker, settings, fixtures_on_path):
    await _good_afterwards(worker, settings, fixtures_on_path)
    from layercfg.server.worker import resident_mb

    cap = int(resident_mb(worker._process.pid)) + 300
    capped = Settings(**{**settings.__dict__, "deepCheckMemoryMB": cap})
    result = await run_check(
        worker, hostile("Hungry", megabytes=1500), capped, str(fixtures_on_path)
    )
    assert codes(result) == ["LCF304"]
    assert f"more than {cap} MB" in result.diagnostics[0].message
    await _good_afterwards(worker, settings, fixtures_on_path)


async def test_a_killed_worker_is_restarted_and_the_check_not_lost(
    worker, settings, fixtures_on_path
):
    await _good_afterwards(worker, settings, fixtures_on_path)
    victim = worker._process.pid

    async def kill_soon():
        await asyncio.sleep(1.0)
        os.kill(victim, signal.SIGKILL)

    killer = asyncio.ensure_future(kill_soon())
    result = await run_check(worker, hostile("Slow", seconds=2), settings, str(fixtures_on_path))
    await killer
    assert worker._process.pid != victim
    assert "LCF304" not in codes(result)  # checked again on the fresh worker


async def test_no_network_from_a_deep_check(worker, settings, fixtures_on_path):
    result = await run_check(worker, hostile("Caller", port=9), settings, str(fixtures_on_path))
    assert result.diagnostics, "the connection attempt was not reported"
    assert any("network access is disabled" in d.message for d in result.diagnostics)


async def test_untrusted_modules_are_not_imported(worker, settings, fixtures_on_path):
    untrusted = Settings(**{**settings.__dict__, "trustWorkspace": False})
    result = await run_check(worker, hostile("Slow", seconds=0), untrusted, str(fixtures_on_path))
    assert codes(result) == ["LCF301"]
    assert "Slow" in result.diagnostics[0].message


async def test_output_from_user_code_never_reaches_the_protocol(worker, settings, fixtures_on_path):
    result = await run_check(
        worker,
        hostile("Chatty", words='{"id": 1, "result": "garbage"'),
        settings,
        str(fixtures_on_path),
    )
    assert codes(result) == []
    await _good_afterwards(worker, settings, fixtures_on_path)


class _FakeProcess:
    pid = 2**22 + 12345  # no such process: killing it is a no-op
    returncode = None

    def kill(self):
        self.returncode = -9

    async def wait(self):
        return 0


async def _read_lines(*lines: bytes) -> asyncio.Future:
    """The future of request 5 (nonce "n5") after the client read ``lines`` off its pipe."""
    stream = asyncio.StreamReader()
    for line in lines:
        stream.feed_data(line)
    stream.feed_eof()
    client = WorkerClient()
    future = asyncio.get_running_loop().create_future()
    client._pending[5] = future
    client._nonces[5] = "n5"
    await client._read(_FakeProcess(), stream)
    return future


@pytest.mark.parametrize(
    "line",
    [
        b"not json at all\n",
        b'{"id": 5, "result": {"ok": true}}\n',  # no nonce
        b'{"id": 5, "nonce": "guess", "result": {"ok": true}}\n',
        b'{"id": 6, "nonce": "n5", "result": {"ok": true}}\n',  # no such request
        b'{"method": "progress", "nonce": "n5", "params": {"id": 99}}\n',
        b"[1, 2]\n",
    ],
)
async def test_anything_but_our_answer_on_the_pipe_is_a_fault(line):
    """The answer pipe carries answers with their request's nonce and nothing else: a line
    that is not one fails the request (kind "protocol"), even when a real answer follows."""
    future = await _read_lines(line, b'{"id": 5, "nonce": "n5", "result": {"ok": true}}\n')
    with pytest.raises(WorkerError) as caught:
        future.result()
    assert caught.value.kind == "protocol"


async def test_our_answer_with_its_nonce_is_believed():
    future = await _read_lines(
        b'{"method": "progress", "nonce": "n5", "params": {"id": 5}}\n',
        b'{"id": 5, "nonce": "n5", "result": {"ok": true}}\n',
    )
    assert future.result() == {"ok": True}


def test_a_request_nested_too_deeply_for_json_leaves_the_worker_running(subprocess_env, tmp_path):
    from test_worker import RawWorker

    worker = RawWorker(subprocess_env, tmp_path)
    try:
        deep = '{"id": 1, "method": "ping", "params": ' + "[" * 100_000 + "]" * 100_000 + "}"
        worker.stdin.write(deep + "\n" + '{"id": 2, "method": "ping"}\n')
        worker.stdin.flush()
        error = json.loads(worker.answers.readline())
        assert error["id"] is None and error["error"]["kind"] == "protocol"
        assert json.loads(worker.answers.readline())["id"] == 2
    finally:
        worker.kill()


async def test_stopping_a_busy_worker_ends_it_at_once_and_starts_no_other(
    worker, settings, fixtures_on_path
):
    await _good_afterwards(worker, settings, fixtures_on_path)
    busy = worker._process
    check = asyncio.ensure_future(
        run_check(worker, hostile("Slow", seconds=30), settings, str(fixtures_on_path))
    )
    await asyncio.sleep(1.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await worker.stop()
    assert loop.time() - began < 1
    with pytest.raises(WorkerError) as stopped:
        await asyncio.wait_for(check, 5)
    assert stopped.value.kind == "stopped"  # not "died": nothing is checked again
    assert busy.returncode is not None and worker._process is None
    with pytest.raises(WorkerError):
        await worker.request("ping")
    assert worker._process is None


async def test_stopping_an_idle_worker_asks_it_to_leave(worker, settings, fixtures_on_path):
    await _good_afterwards(worker, settings, fixtures_on_path)
    idle = worker._process
    began = asyncio.get_running_loop().time()
    await worker.stop()
    assert idle.returncode == 0  # it answered shutdown and ended by itself
    assert asyncio.get_running_loop().time() - began < 2
