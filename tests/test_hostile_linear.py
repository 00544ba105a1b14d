"""Hostile documents: the fast checks do work linear in the document's size, did-you-mean
work is bounded per document, integers too long for Python's json are a finding, and the
server gives up on validations of versions that are no longer current.

Linearity is measured by counting the Python lines a parse and check executes (deterministic,
unlike time on a shared machine): four times the size must cost at most six times the lines
(a quadratic walk costs sixteen). Only where the work that grows is inside C (string
methods) are times compared, with a generous factor.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import pytest_lsp
from lsp.conftest import SERVER, capabilities, start, wait_for_publication
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from layercfg.server import engine
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.services import validation
from layercfg.server.settings import Settings

URI = "file:///hostile.layercfg.json"
SETTINGS = Settings()
HEAD = '{\n"module": "keras.layers",\n"class_name": "Dense",\n"config": {\n"units": 4'
TAIL = '\n},\n"registered_name": null\n}\n'
NEAR_MISSES = ("Dens", "Conv2", "Dnse", "LSTN", "Dropot", "Flaten", "Embeding")


@pytest.fixture(scope="module")
def cat(plain_catalog: dict) -> Catalog:
    return Catalog.from_json(plain_catalog)


# -- shapes -------------------------------------------------------------------------------------


def unknown_keys(n: int) -> str:
    return HEAD + "".join(f',\n"unitz_{i}": {i}' for i in range(n)) + TAIL


def unknown_keys_after_a_syntax_error(n: int) -> str:
    # The trailing comma sends the whole document through the tolerant parser.
    return HEAD + "".join(f',\n"unitz_{i}": {i}' for i in range(n)) + ",\n" + TAIL


def _layer(class_name: str, name: str, extra: str = "") -> str:
    return (
        f'{{"module": "keras.layers", "class_name": "{class_name}", '
        f'"config": {{"name": "{name}", "units": 4}}{extra}, "registered_name": null}}'
    )


def _model(class_name: str, layers: list[str], extra: str = "") -> str:
    return (
        f'{{"module": "keras", "class_name": "{class_name}", "config": {{"name": "m", '
        '"layers": [\n' + ",\n".join(layers) + f'\n]{extra}}}, "registered_name": null}}'
    )


def near_miss_classes(n: int) -> str:
    return _model("Sequential", [_layer(f"{NEAR_MISSES[i % 7]}{i}", f"l{i}") for i in range(n)])


def duplicate_layer_names(n: int) -> str:
    return _model("Sequential", [_layer("Dense", "dense") for _ in range(n)])


def dangling_references(n: int) -> str:
    """A Functional model whose every layer takes its input from a layer that is not there."""
    node = (
        '"inbound_nodes": [{{"args": [{{"class_name": "__keras_tensor__", "config": '
        '{{"shape": [null, 4], "dtype": "float32", "keras_history": ["gone_{i}", 0, 0]}}}}], '
        '"kwargs": {{}}}}]'
    )
    layers = [_layer("Dense", f"d{i}", f', "name": "d{i}", ' + node.format(i=i)) for i in range(n)]
    return _model("Functional", layers, ', "input_layers": [], "output_layers": []')


def duplicate_keys(n: int) -> str:
    return HEAD + "".join(f',\n"units": {i}' for i in range(n)) + TAIL


def deep_arrays(n: int) -> str:
    return HEAD + ',\n"bias_initializer": ' + "[" * n + "]" * n + TAIL


def deep_objects(n: int) -> str:
    return HEAD + ',\n"bias_initializer": ' + '{"a": ' * n + "1" + "}" * n + TAIL


def duplicated_distinct_keys(n: int) -> str:
    half = [f',\n"key_{i}": {i}' for i in range(n // 2)]
    return HEAD + "".join(half + half) + TAIL


def long_value(n: int) -> str:
    return HEAD + ',\n"activation": "' + ("relu" * (n // 4 + 1))[:n] + '"' + TAIL


def long_key(n: int) -> str:
    return HEAD + ',\n"' + ("units" * (n // 5 + 1))[:n] + '": 1' + TAIL


# -- measuring ----------------------------------------------------------------------------------


def _check(text: str, cat: Catalog) -> list[engine.Checked]:
    document = Document.parse(URI, text, 1)
    document.problems  # noqa: B018 - computed on first use
    return engine.check(document, cat, SETTINGS)


def _lines(run: Callable[[], Any]) -> int:
    """Python lines executed by ``run()``."""
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        count += 1
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        count += 1
        return local

    sys.settrace(calls)
    try:
        run()
    finally:
        sys.settrace(None)
    return count


def _work(shape: Callable[[int], str], n: int, cat: Catalog) -> int:
    text = shape(n)
    validation._memo.clear()  # remembered suggestions would make the second run cheaper
    return _lines(lambda: _check(text, cat))


@pytest.mark.parametrize(
    "shape, n",
    [
        (unknown_keys, 300),
        (unknown_keys_after_a_syntax_error, 1000),
        (near_miss_classes, 150),
        (duplicate_layer_names, 300),
        (dangling_references, 150),
        (duplicate_keys, 500),
        (deep_arrays, 0),
        (deep_objects, 0),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_the_fast_checks_do_linear_work(cat, shape, n):
    if not n:
        # Nested deeper than Python's json reads (the recursion limit, which importing Keras
        # raises) at both sizes, so that both are read the same way.
        n = max(2 * sys.getrecursionlimit(), 3000)
    _check(shape(n // 4), cat)  # schemas are compiled on first use
    small, large = _work(shape, n, cat), _work(shape, 4 * n, cat)
    print(f"{shape.__name__}: {small:,} lines at {n}, {large:,} at {4 * n}")
    assert large < 6 * small


def _best_seconds(text: str, cat: Catalog) -> float:
    best = float("inf")
    for _ in range(2):
        began = time.perf_counter()
        _check(text, cat)
        best = min(best, time.perf_counter() - began)
    return best


@pytest.mark.parametrize(
    "shape, n",
    [(long_value, 2_500_000), (long_key, 1_000_000), (duplicated_distinct_keys, 5_000)],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_work_inside_string_methods_is_linear(cat, shape, n):
    # What grows here is C code (lower(), find(), difflib's tables): timed, generously.
    _check(shape(n // 4), cat)
    small, large = _best_seconds(shape(n), cat), _best_seconds(shape(4 * n), cat)
    print(f"{shape.__name__}: {small:.3f} s at {n:,}, {large:.3f} s at {4 * n:,}")
    assert large < 12 * max(small, 0.01)


# -- did-you-mean -------------------------------------------------------------------------------


def test_only_the_first_unknown_keys_get_a_suggestion(cat, monkeypatch):
    calls = []
    original = difflib.get_close_matches

    def counted(*args: Any, **kwargs: Any) -> list[str]:
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(validation.difflib, "get_close_matches", counted)
    counts = []
    for n in (1_000, 4_000):
        validation._memo.clear()
        calls.clear()
        checked = [c for c in _check(unknown_keys(n), cat) if c.problem.code == "LCF102"]
        assert len(checked) == n
        assert len(calls) <= validation.MAX_SUGGESTIONS  # the same bound at any size
        hinted = [c for c in checked if "Did you mean 'units'?" in c.problem.message]
        assert hinted == checked[: len(hinted)]  # the first ones, in the document's order
        assert all(c.problem.data["candidates"] == ["units"] for c in hinted)
        counts.append(len(hinted))
        plain = checked[len(hinted)]
        assert plain.problem.message == f"Unknown key '{plain.path[-1]}' in the config of Dense."
        assert plain.problem.data["candidates"] == []
    assert counts[0] == counts[1] >= 50


def test_a_remembered_suggestion_is_the_same_and_the_budget_is_per_document(cat):
    text = unknown_keys(3)
    first = [c.problem for c in _check(text, cat)]
    again = [c.problem for c in _check(text, cat)]  # from the memo this time
    assert first == again
    assert all("Did you mean 'units'?" in p.message for p in first)


@pytest.mark.parametrize(
    "word",
    [
        "Dens",
        "conv2d",
        "LSTN",
        "BatchNormalisation",
        "x",
        "Dense",
        "GlobalAveragePooling",
        "Embeding",
        "a" * 100,
    ],
)
def test_the_length_filter_keeps_difflib_results(cat, word):
    names = tuple(sorted({e["class_name"] for e in cat.entries}))
    assert validation._close_matches(word, names, 5) == difflib.get_close_matches(
        word, list(names), 5, 0.6
    )


def test_messages_show_long_strings_cut(cat):
    (finding,) = [c for c in _check(long_key(100_000), cat) if c.problem.code == "LCF102"]
    assert len(finding.problem.message) < 200
    assert finding.problem.data["key"] == ("units" * 20_000)  # the data keeps it whole


# -- integers too long for Python's json ----------------------------------------------------------

BIG = "1" * 5_000
BIG_INT_DOCUMENT = (
    '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 4, '
    '"kernel_size": [-' + BIG + '], "bias": ' + BIG + ', "activation": "rleu"}}'
)


def test_a_too_long_integer_is_a_finding_and_the_rest_is_checked(cat):
    checked = _check(BIG_INT_DOCUMENT, cat)
    big = [c for c in checked if c.problem.code == "LCF002"]
    assert [BIG_INT_DOCUMENT[c.problem.start : c.problem.end] for c in big] == ["-" + BIG, BIG]
    assert [c.path for c in big] == [("config", "kernel_size", 0), ("config", "bias")]
    assert "5,000 digits" in big[0].problem.message and big[0].problem.severity == 1
    assert big[0].problem.data == {"kind": "big_int"}
    codes = {c.problem.code for c in checked}
    assert {"LCF105", "LCF102"} <= codes  # 'rleu'; 'kernel_size' and 'bias' are not Dense's


def test_a_string_of_too_many_digits_gets_no_number_suggestion(cat):
    text = '{"module": "keras.layers", "class_name": "Dense", "config": {"units": "' + BIG + '"}}'
    (wrong,) = [c for c in _check(text, cat) if c.problem.code == "LCF104"]
    assert "suggestion" not in wrong.problem.data


def test_layercfg_check_reports_a_too_long_integer(tmp_path, subprocess_env, plain_catalog):
    path = tmp_path / "big.layercfg.json"
    path.write_text(BIG_INT_DOCUMENT, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "layercfg", "check", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (report,) = json.loads(result.stdout)["files"]
    big = [d for d in report["diagnostics"] if d["code"] == "LCF002"]
    assert [d["pointer"] for d in big] == ["/config/kernel_size/0", "/config/bias"]
    start = BIG_INT_DOCUMENT.index(BIG)
    assert big[1]["range"]["start"] == {
        "line": 0,
        "character": BIG_INT_DOCUMENT.index(BIG, start + len(BIG)),
    }
    assert any(d["code"] == "LCF105" for d in report["diagnostics"])


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def neovim(lsp_client: LanguageClient, plain_catalog):
    await start(lsp_client, types.InitializeParams(capabilities=capabilities("neovim@v0.7.0")))
    yield
    await lsp_client.shutdown_session()


async def test_the_server_reports_a_too_long_integer(neovim: LanguageClient):
    neovim.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=1, text=BIG_INT_DOCUMENT
            )
        )
    )
    diagnostics = await wait_for_publication(neovim, URI, 1, timeout=120)
    big = [d for d in diagnostics if d.code == "LCF002"]
    starts = [BIG_INT_DOCUMENT.index("-" + BIG), BIG_INT_DOCUMENT.rindex(BIG)]
    assert [(d.range.start.character, d.range.end.character) for d in big] == [
        (starts[0], starts[0] + 5_001),
        (starts[1], starts[1] + 5_000),
    ]
    assert any(d.code == "LCF105" for d in diagnostics)


# -- superseded validations ---------------------------------------------------------------------


def _sequential(units: int, count: int = 60) -> str:
    layers = [
        _layer("Dense", f"dense_{i}").replace('"units": 4', f'"units": {units}')
        for i in range(count)
    ]
    return _model("Sequential", layers)


class Envelopes:
    """Counts the envelopes validated; at the ``at``-th one, ``then()`` runs (an edit)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.at = 0
        self.then: Callable[[], None] = lambda: None
        self.threads: set[int] = set()
        original = validation._Envelope.check_envelope

        def counted(node: Any, *args: Any, **kwargs: Any) -> None:
            self.count += 1
            self.threads.add(threading.get_ident())
            if self.count == self.at:
                self.then()
            return original(node, *args, **kwargs)

        monkeypatch.setattr(validation._Envelope, "check_envelope", counted)


@pytest.fixture
def server(cat):
    from layercfg.server.server import create_server

    server = create_server()
    core = server.core
    core.catalogs.main.use(cat)
    core.catalogs.main.settled.set()
    # The names these tests use, on the parts of the server that own them now.
    server.documents = core.session.documents
    server.diagnose = core.publisher.diagnostics
    server.publish = core.publisher.publish
    server._results = core.publisher._fast
    return server


def _open(server: Any, text: str, version: int) -> Document:
    document = Document.parse(URI, text, version)
    server.documents[URI] = document
    return document


def test_a_validation_is_abandoned_when_a_newer_version_arrives(server, monkeypatch):
    envelopes = Envelopes(monkeypatch)
    first = _open(server, _sequential(1), 1)
    second = Document.parse(URI, _sequential(2), 2)
    envelopes.at = 10
    envelopes.then = lambda: server.documents.__setitem__(URI, second)  # didChange meanwhile
    with pytest.raises(validation.Superseded):
        server.diagnose(first)
    assert envelopes.count == 10  # the 61 envelopes of version 1 were not all validated
    assert URI not in server._results
    envelopes.count, envelopes.at = 0, 0
    diagnostics = server.diagnose(second)
    assert envelopes.count >= 61 and diagnostics == []
    assert server._results[URI].version == 2


def test_a_validation_of_a_stale_version_is_not_started(server, monkeypatch):
    envelopes = Envelopes(monkeypatch)
    first = _open(server, _sequential(1), 1)
    _open(server, _sequential(2), 2)
    with pytest.raises(validation.Superseded):
        server.diagnose(first)
    assert envelopes.count == 0


async def test_publish_gives_up_on_a_stale_version_and_publishes_the_new_one(server, monkeypatch):
    published: list[types.PublishDiagnosticsParams] = []
    monkeypatch.setattr(server, "text_document_publish_diagnostics", published.append)
    envelopes = Envelopes(monkeypatch)
    _open(server, _sequential(1), 1)
    second = Document.parse(URI, _sequential(-1), 2)
    envelopes.at = 5
    envelopes.then = lambda: server.documents.__setitem__(URI, second)
    await server.publish(URI)
    assert envelopes.count == 5 and published == []  # version 1: abandoned, not published
    await server.publish(URI)
    assert [p.version for p in published] == [2]
    assert {d.code for d in published[0].diagnostics} == {"LCF106"}  # units -1


async def test_a_pull_answers_for_the_version_that_replaced_the_one_it_started_on(
    server, monkeypatch
):
    envelopes = Envelopes(monkeypatch)
    _open(server, _sequential(1), 1)
    second = Document.parse(URI, _sequential(-1), 2)
    envelopes.at = 5
    envelopes.then = lambda: server.documents.__setitem__(URI, second)
    handler = server.protocol.fm.features[types.TEXT_DOCUMENT_DIAGNOSTIC]
    report = await handler(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    assert report.result_id.startswith("2:")
    assert {d.code for d in report.items} == {"LCF106"}
    assert envelopes.count < 5 + 70  # version 1 stopped at its 5th envelope


async def test_concurrent_requests_for_one_version_validate_it_once(server, monkeypatch):
    envelopes = Envelopes(monkeypatch)
    document = _open(server, _sequential(1), 1)
    results = await asyncio.gather(
        *(asyncio.to_thread(server.diagnose, document) for _ in range(4))
    )
    assert all(r is results[0] for r in results)
    assert envelopes.count == 61  # one model envelope and its 60 layers, once


def test_findings_of_one_code_are_capped_with_a_summary():
    from layercfg.server import engine
    from layercfg.server.document import Document
    from layercfg.server.settings import Settings

    keys = ", ".join(['"units": 1'] * 6000)
    text = (
        '{"module": "keras.layers", "class_name": "Dense", "config": {'
        + keys
        + '}, "registered_name": null}'
    )
    checked = engine.check(Document.parse("file:///dup.layercfg.json", text, 1), None, Settings())
    duplicates = [c for c in checked if c.problem.code == "LCF003"]
    assert len(duplicates) == engine.MAX_PER_CODE + 1
    summary = duplicates[-1].problem
    assert summary.data == {"hidden": 6000 - engine.MAX_PER_CODE}
    assert f"{6000 - engine.MAX_PER_CODE:,} more LCF003" in summary.message


def test_a_number_json_cannot_carry_never_reaches_the_wire():
    import json as _json

    from layercfg.server import engine
    from layercfg.server.document import Document
    from layercfg.server.settings import Settings

    text = (
        '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 1e400,'
        ' "unitz": -1e400}, "registered_name": null}'
    )
    document = Document.parse("file:///inf.layercfg.json", text, 1)
    for checked in engine.check(document, None, Settings()):
        diagnostic = engine.to_diagnostic(document, checked)
        _json.dumps(diagnostic.data, allow_nan=False)  # raises on Infinity or NaN
    assert engine.wire_safe({"a": [float("inf"), 1.5], "b": float("nan")}) == {
        "a": ["inf", 1.5],
        "b": "nan",
    }
