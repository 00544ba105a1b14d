"""Ending the server while a deep check keeps the worker busy: ``shutdown`` answers at once,
no worker outlives the server, and the server ends when its client goes away."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest
import pytest_lsp
from chains import chain
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from .conftest import SERVER, capabilities, start

pytest.importorskip("keras")

URI = "file:///project/chain.layercfg.json"
WORKER = b"layercfg.schema_builder.worker"


def chain_text(count: int) -> str:
    """A Functional model of ``count`` Dense layers in a chain: Keras takes seconds to load it."""
    return json.dumps(chain(count), indent=2)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def workers_of(server_pid: int) -> list[int]:
    """Living Keras workers started by this server."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not alive(int(entry)):
            continue
        stat = _stat(int(entry))
        if stat is None or stat[1] != server_pid:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read()
        except OSError:
            continue
        if WORKER in command:
            found.append(int(entry))
    return found


async def gone(pid: int, timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return not alive(pid)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def busy(lsp_client: LanguageClient, plain_catalog):
    """A session whose test ends it; whatever is left is killed afterwards."""
    await start(
        lsp_client,
        types.InitializeParams(
            capabilities=capabilities("neovim@v0.7.0"),
            initialization_options={"deepCheck": "onType", "deepCheckTimeout": 120},
        ),
    )
    yield
    server = lsp_client._server
    if server is not None and server.returncode is None:
        for pid in workers_of(server.pid):
            os.kill(pid, signal.SIGKILL)
        server.kill()
        await server.wait()


async def a_busy_worker(client: LanguageClient) -> int:
    """Open a model Keras needs seconds to load; the worker's pid once it is loading it."""
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=1, text=chain_text(2000)
            )
        )
    )
    assert client._server is not None
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        running = any(s.get("deepCheck") == "running" for s in client.statuses)  # type: ignore
        workers = workers_of(client._server.pid)
        if running and workers:
            await asyncio.sleep(1.5)  # the request is on its way; Keras is being imported
            return workers[0]
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no deep check started: {client.statuses}")  # type: ignore


async def test_shutdown_during_a_deep_check_answers_at_once_and_ends_the_worker(
    busy: LanguageClient,
):
    server = busy._server
    assert server is not None
    worker = await a_busy_worker(busy)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.wait_for(busy.shutdown_async(None), 10)
    answered = loop.time() - began
    assert answered < 2, f"shutdown took {answered:.2f} s"
    assert await gone(worker, 2)
    await asyncio.sleep(1)  # a retry on a fresh worker would start now
    assert workers_of(server.pid) == []
    busy.exit(None)
    assert await asyncio.wait_for(server.wait(), 5) == 0
    assert not alive(worker)


async def test_the_server_and_its_worker_end_when_the_client_goes_away(busy: LanguageClient):
    server = busy._server
    assert server is not None and server.stdin is not None
    worker = await a_busy_worker(busy)
    server.stdin.close()
    await asyncio.wait_for(server.wait(), 5)
    assert await gone(worker, 2)


async def test_a_worker_does_not_outlive_a_killed_server(busy: LanguageClient):
    server = busy._server
    assert server is not None
    worker = await a_busy_worker(busy)
    server.kill()
    await server.wait()
    assert await gone(worker, 2)  # nobody would enforce its time limit or memory cap
