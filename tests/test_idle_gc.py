"""Full garbage collections wait for a quiet moment in the server."""

from __future__ import annotations

import asyncio
import gc

from layercfg.server import server as server_module
from layercfg.server.server import IdleCollector


async def test_full_collections_run_once_the_editor_is_quiet(monkeypatch):
    collected = []
    monkeypatch.setattr(server_module.gc, "collect", lambda *a: collected.append(a))
    monkeypatch.setattr(IdleCollector, "IDLE_SECONDS", 0.05)
    before = gc.get_threshold()
    collector = IdleCollector()
    collector.activity()  # not installed: nothing scheduled
    assert collector._timer is None
    collector.install()
    try:
        assert gc.get_threshold()[:2] == before[:2]
        assert gc.get_threshold()[2] > 10**8  # no automatic full collection
        for _ in range(5):  # a burst of messages: the collection keeps waiting
            collector.activity()
            await asyncio.sleep(0.02)
        assert collected == []
        await asyncio.sleep(0.1)
        assert collected == [()]  # one, after the burst
    finally:
        collector.uninstall()
    assert gc.get_threshold() == before


async def test_the_server_counts_every_message_as_activity(monkeypatch):
    from layercfg.server.server import create_server

    server = create_server()
    seen = []
    monkeypatch.setattr(server.idle_gc, "activity", lambda: seen.append(1))
    from lsprotocol import types

    message = types.SetTraceNotification(params=types.SetTraceParams(value=types.TraceValue.Off))
    server.protocol.handle_message(message)
    assert seen == [1]


async def test_a_catalog_build_stopped_by_shutdown_is_no_failure(monkeypatch):
    from layercfg.server.server import create_server
    from layercfg.server.worker import WorkerError

    server = create_server()
    catalogs = server.core.catalogs
    failures = []

    class Stopped:
        async def request(self, *args, **kwargs):
            raise WorkerError("the Keras worker was stopped", kind="stopped")

    async def no_progress(*args):
        return None

    monkeypatch.setattr(catalogs, "worker", lambda fresh=False: Stopped())
    monkeypatch.setattr(server.edge, "status_changed", lambda: None)
    monkeypatch.setattr(server.edge, "begin_progress", no_progress)
    monkeypatch.setattr(catalogs, "failed", lambda slot, reason: failures.append(reason))
    await catalogs._load(catalogs.main, rebuild=True, fresh=False)
    assert failures == []

    class Died(Stopped):
        async def request(self, *args, **kwargs):
            raise WorkerError("the Keras worker exited (code 1)", kind="died")

    monkeypatch.setattr(catalogs, "worker", lambda fresh=False: Died())
    await catalogs._load(catalogs.main, rebuild=True, fresh=False)
    assert failures == ["the Keras worker exited (code 1)"]
