"""The narrow core without a client: settings problems said once, the publisher's result ids
and severity overrides, the source watcher, and which built catalogs may be cached."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from layercfg.schema_builder import cachekey
from layercfg.server import engine
from layercfg.server.capabilities import ClientCaps
from layercfg.server.catalogs import CatalogManager, SourceWatcher
from layercfg.server.deepcheck import DeepResult, to_checked
from layercfg.server.document import Document, Problem
from layercfg.server.publisher import Publisher
from layercfg.server.session import Session
from layercfg.server.settings import Settings

URI = "file:///w/a.layercfg.json"
BAD = {"deepCheck": "sometimes", "deepCheckTimeout": -1}


def test_a_settings_problem_is_said_once_though_read_from_two_places():
    session = Session(init_options=BAD)
    _, at_initialize = session.apply_settings(None, remember=False)
    assert len(at_initialize) == 2  # not shown yet: the configuration is asked for next
    _, problems = session.apply_settings(BAD)  # VS Code sends the same values again
    assert len(problems) == 2
    assert any("deepCheck" in p for p in problems)
    _, again = session.apply_settings(BAD)  # another change, the same problems
    assert again == []
    _, more = session.apply_settings({**BAD, "deepCheckMemoryMB": "lots"})
    assert len(more) == 1 and "deepCheckMemoryMB" in more[0]
    _, fixed = session.apply_settings({})
    session.init_options = None
    _, fixed = session.apply_settings({})
    assert fixed == []
    _, back = session.apply_settings({"deepCheck": "sometimes"})
    assert len(back) == 1  # gone, then back: said again


class Edge:
    def __init__(self) -> None:
        self.published: list[tuple[str, Any, list]] = []
        self.refreshes = 0

    def publish(self, uri: str, version: Any, diagnostics: list) -> None:
        self.published.append((uri, version, diagnostics))

    def refresh_diagnostics(self) -> None:
        self.refreshes += 1

    def refresh_inlay_hints(self) -> None:
        pass


def _publisher(session: Session) -> tuple[Publisher, Edge]:
    edge = Edge()

    def check(document: Document, cache: engine.LayerCache) -> list[engine.Checked]:
        return engine.check_raw(document, None, session.settings, cache)

    return Publisher(session, edge, check), edge


def _deep(document: Document) -> DeepResult:
    findings = [{"path": ["class_name"], "code": "LCF302", "message": "shapes", "severity": 1}]
    return DeepResult(document.version, to_checked(document, findings), document=document)


async def test_a_deep_result_changes_the_result_id_and_overrides_never_stick():
    session = Session(caps=ClientCaps(pull_diagnostics=True, diagnostic_refresh=True))
    publisher, edge = _publisher(session)
    document = Document.parse(URI, '{"class_name": "Dense", "config": {,}}', 1)
    session.documents[URI] = document
    before = publisher.result_id(document)
    fast = {d.code for d in publisher.diagnostics(document)}
    assert "LCF302" not in fast
    result = _deep(document)
    publisher.deep_arrived(URI, result)
    assert edge.refreshes == 1 and edge.published == []  # told to pull, not pushed
    assert publisher.result_id(document) != before
    (shape,) = [d for d in publisher.diagnostics(document) if d.code == "LCF302"]
    assert shape.severity == 1
    session.settings = Settings(severity={"LCF302": "hint", "LCF002": "off"})
    publisher.changed(recheck=False)
    shown = publisher.diagnostics(document)
    assert [d.severity for d in shown if d.code == "LCF302"] == [4]
    assert not [d for d in shown if d.code == "LCF002"]
    assert result.checked[0].problem.severity == 1  # the cached problem is untouched
    session.settings = Settings()
    publisher.changed(recheck=False)
    assert [d.severity for d in publisher.diagnostics(document) if d.code == "LCF302"] == [1]
    # Each diagnostic is shown with the problem it was made from: path and offsets.
    for diagnostic, checked in publisher.shown(document):
        assert diagnostic.code == checked.problem.code


async def test_a_deep_finding_that_restates_a_fast_one_is_shown_once():
    """A class of a package nobody configured: the fast check warns that it is not checked,
    the deep check's note says the same of the same key; only the warning is shown, and a
    deep finding with news at that key still is."""
    session = Session(caps=ClientCaps(pull_diagnostics=True, diagnostic_refresh=True))
    text = '{"class_name": "BertBackbone", "config": {}}'
    document = Document.parse(URI, text, 1)
    session.documents[URI] = document
    message = "'BertBackbone' is from package keras_hub: add it to `modules` to check it."
    start = text.index('"BertBackbone"')
    fast = engine.Checked(
        Problem(start, start + len('"BertBackbone"'), "LCF101", message, 2), ("class_name",)
    )
    publisher = Publisher(session, Edge(), lambda document, cache: [fast])
    findings = [
        {
            "path": ["class_name"],
            "code": "LCF101",
            "severity": 3,
            "message": f"Not loaded by the deep check: {message}",
        },
        {
            "path": ["class_name"],
            "code": "LCF101",
            "severity": 3,
            "message": "Not loaded by the deep check: its module failed to import.",
        },
    ]
    deep = DeepResult(1, to_checked(document, findings), document=document)
    assert [c.problem.start for c in deep.checked] == [start, start]  # the same place
    publisher.deep_arrived(URI, deep)
    shown = [(d.severity, d.message) for d in publisher.diagnostics(document)]
    assert shown == [
        (2, message),
        (3, "Not loaded by the deep check: its module failed to import."),
    ]


async def test_a_pull_client_without_refresh_gets_the_deep_result_pushed():
    session = Session(caps=ClientCaps(pull_diagnostics=True, diagnostic_refresh=False))
    publisher, edge = _publisher(session)
    document = Document.parse(URI, '{"class_name": "Dense"}', 3)
    session.documents[URI] = document
    publisher.deep_arrived(URI, _deep(document))
    await asyncio.sleep(0.05)
    assert edge.refreshes == 0
    ((uri, version, diagnostics),) = edge.published
    assert (uri, version) == (URI, 3) and "LCF302" in {d.code for d in diagnostics}


def test_the_watcher_sees_edits_new_files_and_removals(tmp_path: Path):
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_text("x = 1\n")
    files = [first]
    watcher = SourceWatcher(lambda: list(files), lambda paths: None)
    watcher.snapshot()
    assert watcher.poll() == []
    first.write_text("x = 22\n")
    assert watcher.poll() == [first]
    assert watcher.poll() == []
    second.write_text("y = 1\n")
    files.append(second)
    assert watcher.poll() == [second]
    first.unlink()
    assert watcher.poll() == [first]
    stamp = second.stat()
    second.write_text("y = 2\n")  # the same size: the time tells
    os.utime(second, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))
    assert watcher.poll() == [second]


class _NoEdge:
    def status_changed(self) -> None: ...

    async def begin_progress(self, title: str) -> None: ...

    def show_error(self, message: str) -> None: ...


def test_a_catalog_is_cached_only_when_its_classes_came_from_the_hashed_sources(tmp_path):
    (tmp_path / "mine.py").write_text("import keras\n")
    other = tmp_path / "elsewhere" / "mine.py"
    other.parent.mkdir()
    other.write_text("import keras\n")
    session = Session(workspace_root=tmp_path)
    session.settings = Settings(modules=("mine",), trustWorkspace=True)
    manager = CatalogManager(session, _NoEdge(), lambda fresh: None, lambda: None)  # type: ignore
    key = manager.key("keras")
    hashed = cachekey.hashed_sources(("mine",), manager.search_path())
    assert hashed["mine"] == [str((tmp_path / "mine.py").resolve())]
    good = {
        "filename": key.filename,
        "cacheable": True,
        "imported": {"mine": hashed["mine"][0]},
        "hashed": hashed,
    }
    assert manager.storable(manager.main, good)  # type: ignore[arg-type]
    shadowed = {**good, "imported": {"mine": str(other.resolve())}}
    assert not manager.storable(manager.main, shadowed)  # type: ignore[arg-type]
    assert not manager.storable(manager.main, {**good, "imported": {"mine": None}})  # type: ignore
    assert not manager.storable(manager.main, {**good, "cacheable": False})  # type: ignore
    # The worker's module search order: its own path, then the workspace's folders.
    assert manager.search_path()[-1] == str(tmp_path)
    assert manager.search_path()[:-1] == cachekey.isolated_path()
    assert str(tmp_path / "pyproject.toml") in map(str, manager.source_files())
    globs = dict.fromkeys(pattern for _, pattern in manager.source_globs())
    assert {"pyproject.toml", "mine.py", "src/mine.py", "mine/**/*.py"} <= set(globs)


def test_a_cancel_for_an_answered_request_is_not_logged(caplog):
    import logging

    from layercfg.server.server import create_server

    create_server()
    rpc = logging.getLogger("pygls.protocol.json_rpc")
    with caplog.at_level(logging.WARNING, logger="pygls.protocol.json_rpc"):
        rpc.warning('Cancel notification for unknown message id "%s"', 12)
        rpc.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]


def test_a_deep_finding_keeps_its_places_in_the_document_and_in_files():
    text = '{"class_name": "Add", "config": {"units": 3}, "other": {"units": 4}}'
    document = Document.parse(URI, text, 1)
    findings = [
        {
            "path": ["config", "units"],
            "code": "LCF302",
            "message": "shapes",
            "related": [
                {"path": ["other", "units"], "message": "the other input"},
                {"file": "/w/layers.py", "line": 7, "message": "defined here"},
                {"path": "not a path", "message": "ignored"},
            ],
        }
    ]
    (item,) = to_checked(document, findings)
    start = text.index("4")
    assert item.problem.related == ((start, start + 1, "the other input"),)
    assert item.external == (("/w/layers.py", 7, "defined here"),)
    (diagnostic,) = [engine.to_diagnostic(document, item)]
    assert [r.message for r in diagnostic.related_information or ()] == [
        "the other input",
        "defined here",
    ]
