"""Where the publisher makes a document's diagnostics: a small document's, and any already
known, on the event loop (an edit's round trip without two thread switches); a large
document's in a thread, so that the loop stays free while it is checked; and when it pushes
them: a lone edit at once, a burst of edits once, with its last version."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from layercfg.server import engine, publisher
from layercfg.server.capabilities import ClientCaps
from layercfg.server.document import Document
from layercfg.server.publisher import INLINE_CHARS, Publisher
from layercfg.server.services.validation import checkpoint
from layercfg.server.session import Session

URI = "file:///w/a.layercfg.json"
SMALL = '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3}}\n'


class Edge:
    def __init__(self) -> None:
        self.published: list[tuple[str, Any, list[Any]]] = []

    def publish(self, uri: str, version: Any, diagnostics: list[Any]) -> None:
        self.published.append((uri, version, diagnostics))

    def refresh_diagnostics(self) -> None:
        pass

    def refresh_inlay_hints(self) -> None:
        pass


def _setup(pull: bool) -> tuple[Session, Publisher, Edge, list[int]]:
    session = Session(caps=ClientCaps(pull_diagnostics=pull, diagnostic_refresh=pull))
    threads: list[int] = []

    def check(document: Document, cache: engine.LayerCache) -> list[engine.Checked]:
        threads.append(threading.get_ident())
        return engine.check_raw(document, None, session.settings, cache)

    edge = Edge()
    return session, Publisher(session, edge, check), edge, threads


def _large() -> str:
    # Strict JSON over the limit, with a syntax finding at its end (a trailing comma).
    padding = " " * (INLINE_CHARS + 10)
    return '{"module": "keras.layers",' + padding + '"class_name": "Dense",}\n'


def _open(session: Session, text: str, version: int = 1) -> Document:
    document = Document.parse(URI, text, version)
    session.documents[URI] = document
    return document


async def test_a_small_document_is_checked_on_the_loop_and_a_large_one_in_a_thread():
    loop_thread = threading.get_ident()
    session, pub, _, threads = _setup(pull=True)
    small = _open(session, SMALL)
    report = await pub.report(URI, None)
    assert threads == [loop_thread]
    assert report.items == pub.diagnostics(small)

    large = _open(session, _large(), 2)
    assert len(large.text) > INLINE_CHARS
    report = await pub.report(URI, None)
    assert len(threads) == 2 and threads[1] != loop_thread
    assert [d.code for d in report.items] == [d.code for d in pub.diagnostics(large)]
    assert report.items  # the trailing comma


async def test_known_diagnostics_of_a_large_document_are_answered_without_a_thread(
    monkeypatch,
):
    session, pub, _, threads = _setup(pull=True)
    _open(session, _large())
    first = await pub.report(URI, None)
    hops: list[Any] = []
    real = asyncio.to_thread

    async def counted(function: Any, *args: Any) -> Any:
        hops.append(function)
        return await real(function, *args)

    monkeypatch.setattr(publisher.asyncio, "to_thread", counted)
    again = await pub.report(URI, None)  # a client that does not send the previous result id
    assert hops == [] and len(threads) == 1
    assert again.items == first.items and again.result_id == first.result_id
    unchanged = await pub.report(URI, first.result_id)
    assert unchanged.kind == "unchanged"


async def test_a_pushed_small_document_is_published_for_its_version():
    loop_thread = threading.get_ident()
    session, pub, edge, threads = _setup(pull=False)
    document = _open(session, SMALL.replace("3", '"3"'))
    await pub.publish(URI)
    assert threads == [loop_thread]
    ((uri, version, diagnostics),) = edge.published
    assert (uri, version) == (URI, 1)
    assert diagnostics == pub.diagnostics(document)


async def test_a_small_version_replaced_before_its_turn_is_not_published():
    session, pub, edge, _ = _setup(pull=False)
    _open(session, SMALL)
    newer = _open(session, SMALL.replace("3", "4"), 2)
    await pub.publish(URI)
    assert [(v, d) for _, v, d in edge.published] == [(2, pub.diagnostics(newer))]


async def test_a_small_document_slow_to_check_is_checked_in_a_thread_next_time():
    loop_thread = threading.get_ident()
    session, pub, _, threads = _setup(pull=True)
    slow = pub.checker

    def check(document: Document, cache: engine.LayerCache) -> list[engine.Checked]:
        found = slow(document, cache)
        time.sleep(publisher.INLINE_SECONDS * 2)  # as thousands of findings would take
        return found

    pub.checker = check
    _open(session, SMALL)
    await pub.report(URI, None)
    _open(session, SMALL.replace("3", "4"), 2)
    await pub.report(URI, None)
    assert threads[0] == loop_thread and threads[1] != loop_thread
    pub.closed(URI)  # a new open starts afresh
    _open(session, SMALL, 3)
    pub.checker = slow
    await pub.report(URI, None)
    assert threads[2] == loop_thread


async def _turns(count: int = 10) -> None:
    """Let the loop run ready callbacks ``count`` times, its clock standing still."""
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_lone_edit_is_published_at_once_and_a_burst_once_with_its_last_version(
    monkeypatch,
):
    loop = asyncio.get_running_loop()
    clock = [loop.time()]
    monkeypatch.setattr(loop, "time", lambda: clock[0])  # only this test moves time
    session, pub, edge, _ = _setup(pull=False)

    def edit(version: int) -> None:
        _open(session, SMALL.replace("3", str(version)), version)
        pub.edited(URI)

    _open(session, SMALL)
    pub.opened(URI)
    await _turns()
    clock[0] += 1.0  # a quiet moment
    edit(2)
    await _turns()  # no time passed: the lone edit did not wait for the window
    assert [v for _, v, _ in edge.published] == [1, 2]

    for version in range(3, 8):  # typing: each edit well within the window of the last
        clock[0] += publisher.DEBOUNCE_SECONDS / 3
        edit(version)
        await _turns()
    assert [v for _, v, _ in edge.published] == [1, 2]  # the burst waits for its end
    clock[0] += publisher.DEBOUNCE_SECONDS * 2 / 3
    await _turns()
    assert [v for _, v, _ in edge.published] == [1, 2]  # still within the last edit's window
    clock[0] += publisher.DEBOUNCE_SECONDS / 3
    await _turns()
    assert [(v, d) for _, v, d in edge.published][2:] == [
        (7, pub.diagnostics(session.document(URI)))
    ]
    assert len(edge.published) == 3

    clock[0] += 1.0
    edit(8)  # quiet again: at once
    await _turns()
    assert [v for _, v, _ in edge.published] == [1, 2, 7, 8]


async def test_a_burst_that_arrives_at_once_publishes_its_last_version(monkeypatch):
    loop = asyncio.get_running_loop()
    clock = [loop.time()]
    monkeypatch.setattr(loop, "time", lambda: clock[0])
    session, pub, edge, _ = _setup(pull=False)
    _open(session, SMALL)
    pub.opened(URI)
    await _turns()
    clock[0] += 1.0
    for version in range(2, 12):  # read in one go: no turn of the loop between them
        _open(session, SMALL.replace("3", str(version)), version)
        pub.edited(URI)
    await _turns()
    clock[0] += publisher.DEBOUNCE_SECONDS
    await _turns()
    versions = [v for _, v, _ in edge.published]
    assert versions[0] == 1 and versions[-1] == 11 and len(versions) <= 3
    assert versions == sorted(set(versions))  # never a version twice, never an older one


async def test_a_small_document_slow_on_its_first_check_leaves_the_loop_within_the_budget():
    loop_thread = threading.get_ident()
    session, pub, _, _ = _setup(pull=True)
    plain = pub.checker
    started: list[int] = []
    release = threading.Event()

    def slow(document: Document, cache: engine.LayerCache) -> list[engine.Checked]:
        started.append(threading.get_ident())
        time.sleep(publisher.INLINE_SECONDS * 2)  # as the first of thousands of findings
        checkpoint()  # where the engine's check looks between envelopes
        if threading.get_ident() != loop_thread:
            assert release.wait(30)
        return plain(document, cache)

    pub.checker = slow
    document = _open(session, SMALL.replace("}}", "},}"))  # a trailing comma
    pending = asyncio.ensure_future(pub.report(URI, None))
    for _ in range(3000):  # this coroutine runs while the check goes on: the loop is free
        if len(started) == 2:
            break
        await asyncio.sleep(0.01)
    assert started[0] == loop_thread and started[1:] != [loop_thread] and len(started) == 2
    assert not pending.done()
    release.set()
    report = await pending
    assert [d.code for d in report.items] == ["LCF002"]
    assert report.items == pub.diagnostics(document)

    _open(session, SMALL.replace("3", "4"), 2)  # the next version: in a thread at once
    release.set()
    await pub.report(URI, None)
    assert len(started) == 3 and started[2] != loop_thread


async def test_a_check_given_up_for_a_newer_version_is_not_counted_as_slow():
    loop_thread = threading.get_ident()
    session, pub, _, threads = _setup(pull=True)
    plain = pub.checker

    def replaced(document: Document, cache: engine.LayerCache) -> list[engine.Checked]:
        if document.version == 1:
            _open(session, SMALL.replace("3", "4"), 2)  # an edit arrives meanwhile
            checkpoint()
        return plain(document, cache)

    pub.checker = replaced
    _open(session, SMALL)
    report = await pub.report(URI, None)
    assert report.result_id is not None and report.result_id.startswith("2:")
    _open(session, SMALL.replace("3", "5"), 3)
    await pub.report(URI, None)
    assert threads and all(thread == loop_thread for thread in threads)
