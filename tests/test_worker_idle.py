"""Memory at rest: an idle Keras worker exits, the status says so, and the next request
starts another."""

from __future__ import annotations

import asyncio
import os

import pytest

from layercfg.server.core import Core
from layercfg.server.settings import Settings, merge
from layercfg.server.worker import WorkerClient, WorkerPool


class _Fake:
    def __init__(self, python: str) -> None:
        self.busy = False
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True


async def test_an_idle_worker_exits_and_a_busy_one_does_not():
    exits = []
    pool = WorkerPool(_Fake, on_idle_exit=lambda: exits.append(1))
    pool.idle_seconds = 0.05
    first = pool.get(None, False, (), None)
    first.busy = True
    await asyncio.sleep(0.2)
    assert pool.worker is first and not exits, "a worker answering a request was stopped"
    first.busy = False
    await asyncio.sleep(0.2)
    assert pool.worker is None and pool.idle_exited and exits == [1]
    await asyncio.sleep(0)
    assert first.stopped
    second = pool.get(None, False, (), None)  # on demand
    assert second is not first and not pool.idle_exited


async def test_without_an_idle_time_the_worker_stays():
    pool = WorkerPool(_Fake)
    pool.idle_seconds = None
    worker = pool.get(None, False, (), None)
    await asyncio.sleep(0.1)
    assert pool.worker is worker


def test_the_idle_time_setting_is_checked():
    good, problems = merge(Settings(), {"workerIdleMinutes": 0}, "test")
    assert good.workerIdleMinutes == 0 and not problems
    for bad in (-1, "5", True, 10**6):
        settings, problems = merge(Settings(), {"workerIdleMinutes": bad}, "test")
        assert problems and settings.workerIdleMinutes == Settings().workerIdleMinutes


class _Edge:
    def __init__(self) -> None:
        self.statuses = []

    def notify_status(self, status):
        self.statuses.append(status)

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


@pytest.mark.parametrize("minutes, seconds", [(0, None), (2, 120.0)])
def test_the_server_passes_the_setting_to_the_pool(minutes, seconds):
    core = Core(_Edge())
    core.apply_settings({"workerIdleMinutes": minutes}, tell=False)
    assert core.workers.idle_seconds == seconds
    assert core.status()["worker"] == "none"
    assert core.status()["flavor"] == "keras" and core.status()["packages"] == {}


async def test_a_real_worker_process_exits_when_idle(subprocess_env):
    edge = _Edge()
    pool = WorkerPool(lambda python: WorkerClient(python, env=subprocess_env))
    core = Core(edge, pool)
    pool.on_idle_exit = core.send_status
    pool.idle_seconds = 1.0
    worker = pool.get(None, False, (), None)
    answer = await worker.request("ping", {}, timeout=120)
    pid = answer["pid"]
    assert core.status()["worker"] == "running"
    for _ in range(100):
        await asyncio.sleep(0.1)
        if pool.worker is None:
            break
    for _ in range(50):  # the stop is asked for, then awaited
        await asyncio.sleep(0.1)
        if not _alive(pid):
            break
    assert not _alive(pid), "the idle worker process is still there"
    assert edge.statuses[-1]["worker"] == "idle-exited"
    again = pool.get(None, False, (), None)
    assert (await again.request("ping", {}, timeout=120))["pid"] != pid
    await pool.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        return os.path.exists(f"/proc/{pid}")
