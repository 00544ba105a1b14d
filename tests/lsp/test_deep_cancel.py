"""Superseded deep checks, through the real server and a real Keras worker: a version edited
before its check starts is dropped without running, and a version edited while its check runs
never publishes that check's findings: the check is cancelled in the worker, which stays up,
Keras imported, and checks the new version as a fresh worker would."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from chains import chain
from lsprotocol import types
from pytest_lsp import LanguageClient

from layercfg.server.deepcheck import run_check
from layercfg.server.document import Document
from layercfg.server.settings import Settings
from layercfg.server.worker import WorkerClient

from .conftest import wait_for_publication
from .test_deep_shutdown import workers_of

URI = "file:///project/cancel.layercfg.json"
EXAMPLES = Path(__file__).parent.parent.parent / "examples"


def _model(target_shape: list[int] | None) -> str:
    """The MNIST CNN, with a Reshape to ``target_shape`` (a size mistake) when given."""
    document = json.loads((EXAMPLES / "mnist_cnn.layercfg.json").read_text())
    if target_shape is not None:
        document["config"]["layers"].insert(
            3,
            {
                "module": "keras.layers",
                "class_name": "Reshape",
                "config": {"target_shape": target_shape},
                "registered_name": None,
            },
        )
    return json.dumps(document, indent=2)


def _change(client: LanguageClient, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def _runs(client: LanguageClient) -> int:
    """How many times the deep check went from not running to running."""
    count, before = 0, None
    for status in client.statuses:  # type: ignore[attr-defined]
        state = status.get("deepCheck")
        if state == "running" and before != "running":
            count += 1
        before = state
    return count


async def _until(predicate, timeout: float = 120.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


def _deep_versions(client: LanguageClient) -> set[int | None]:
    return {
        version
        for uri, version, diagnostics in client.published  # type: ignore[attr-defined]
        if uri == URI and any(d.source == "keras" for d in diagnostics)
    }


async def test_versions_edited_before_their_check_starts_are_never_checked(deep):
    deep.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=1, text=_model([7, 7])
            )
        )
    )
    # Typing faster than the deep check's delay: each version replaces the last one queued.
    for version, shape in ((2, [6, 6]), (3, [5, 5]), (4, [8, 8])):
        await asyncio.sleep(0.05)
        _change(deep, version, _model(shape))
    await wait_for_publication(deep, URI, 4)
    await _until(lambda: 4 in _deep_versions(deep))
    await asyncio.sleep(1.0)
    assert _runs(deep) == 1, deep.statuses
    assert _deep_versions(deep) == {4}
    (shape,) = [
        d
        for uri, version, diagnostics in deep.published
        if uri == URI and version == 4
        for d in diagnostics
        if d.code == "LCF302"
    ][-1:]
    assert "total size" in shape.message


async def test_a_version_edited_while_its_check_runs_never_publishes_its_findings(deep):
    deep.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=1, text=_model([7, 7])
            )
        )
    )
    await _until(lambda: _runs(deep) >= 1)  # version 1 is in the worker now
    _change(deep, 2, _model(None))  # the mistake is fixed while version 1 is checked
    await _until(lambda: _runs(deep) >= 2)
    await _until(lambda: deep.statuses[-1].get("deepCheck") == "idle")
    await asyncio.sleep(1.0)
    assert 1 not in _deep_versions(deep)
    for uri, version, diagnostics in deep.published:
        if uri == URI:
            assert not any(d.code == "LCF302" for d in diagnostics), (version, diagnostics)
    result = await deep.workspace_execute_command_async(
        types.ExecuteCommandParams(command="layercfg.deepCheck", arguments=[URI])
    )
    assert result["checked"] and result["version"] == 2 and result["problems"] == 0


def _long_chain(target_shape: list[int]) -> str:
    """2,000 Dense layers in a chain (seconds to check the first time), then a Reshape of
    their (None, 4) output to ``target_shape``: a size mistake only the deep check sees."""
    document = chain(2000)
    layers = document["config"]["layers"]
    tensor = {
        "class_name": "__keras_tensor__",
        "config": {"shape": [None, 4], "dtype": "float32", "keras_history": ["dense_1999", 0, 0]},
    }
    layers.append(
        {
            "module": "keras.layers",
            "class_name": "Reshape",
            "config": {"name": "reshape", "target_shape": target_shape},
            "registered_name": None,
            "name": "reshape",
            "inbound_nodes": [{"args": [tensor], "kwargs": {}}],
        }
    )
    document["config"]["output_layers"] = ["reshape", 0, 0]
    return json.dumps(document, indent=2)


def _logged(client: LanguageClient, text: str) -> list[str]:
    return [m.message for m in client.log_messages if text in m.message]


def _keras(client: LanguageClient, version: int) -> list[types.Diagnostic]:
    return [
        d
        for uri, published, diagnostics in client.published  # type: ignore[attr-defined]
        if uri == URI and published == version
        for d in diagnostics
        if d.source == "keras"
    ]


async def test_a_long_check_edited_mid_run_is_cancelled_and_the_warm_worker_checks_the_next(
    deep, subprocess_env
):
    deep.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=1, text=_model([7, 7])
            )
        )
    )
    await _until(lambda: 1 in _deep_versions(deep))  # the worker is up, Keras imported
    assert deep._server is not None
    (worker,) = workers_of(deep._server.pid)
    _change(deep, 2, _long_chain([3]))
    await _until(lambda: _runs(deep) >= 2)
    await asyncio.sleep(1.5)  # the request is in the worker: it takes far longer than this
    third = _long_chain([5])
    _change(deep, 3, third)
    await _until(lambda: 3 in _deep_versions(deep), timeout=300)
    # Version 2 was stopped in the worker, not checked to its end and dropped.
    assert _logged(deep, "(version 2) cancelled"), [m.message for m in deep.log_messages]
    assert _logged(deep, "stopped request"), [m.message for m in deep.log_messages]
    assert not _logged(deep, "ended before its cancel arrived")
    assert _deep_versions(deep) == {1, 3}
    assert not any("[3]" in d.message for _, _, ds in deep.published for d in ds)
    assert workers_of(deep._server.pid) == [worker]  # the same worker, warm
    # What the warm worker found in version 3 is what a fresh one finds.
    published = [(d.code, d.message, d.range) for d in _keras(deep, 3)]
    fresh = WorkerClient(env=subprocess_env)
    try:
        document = Document.parse(URI, third, 3)
        result = await run_check(fresh, document, Settings(deepCheckTimeout=300), None)
    finally:
        await fresh.kill()
    assert published == [(d.code, d.message, d.range) for d in result.diagnostics]
    assert [code for code, _, _ in published] == ["LCF302"]


async def test_closing_a_document_cancels_its_check(deep):
    deep.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=1, text=_model(None)
            )
        )
    )
    await _until(lambda: _runs(deep) >= 1 and deep.statuses[-1].get("deepCheck") == "idle")
    assert deep._server is not None
    (worker,) = workers_of(deep._server.pid)
    _change(deep, 2, _long_chain([3]))
    await _until(lambda: _runs(deep) >= 2)
    await asyncio.sleep(1.5)
    deep.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    await _until(lambda: bool(_logged(deep, "stopped request")), timeout=60)
    assert _logged(deep, "(version 2) cancelled")
    assert not any(d.source == "keras" for _, _, ds in deep.published for d in ds)
    assert workers_of(deep._server.pid) == [worker]
