"""Hostile input for the stdio transport (malformed headers and bodies, lengths past any
document, requests after exit, cancels of what does not exist), the catalog cache files (a
FIFO or a link where a cached file is expected) and the members of a ``.keras`` archive (a
symbolic link among them). No Keras: the server is a subprocess, the rest pure Python."""

from __future__ import annotations

import json
import os
import select
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from lsp_frames import messages as _messages

from layercfg.schema_builder import cache_files, cachekey
from layercfg.server import archives
from layercfg.server.catalog import Catalog
from layercfg.server.settings import resolve

SERVER = [sys.executable, "-m", "layercfg", "lsp"]
TIMEOUT = 120  # for a hung server only: nothing here is timed


def _body(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode("utf-8")


def _frame(message: dict[str, Any] | bytes) -> bytes:
    body = message if isinstance(message, bytes) else _body(message)
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"processId": None, "rootUri": None, "capabilities": {}},
}


def _request(ident: int, method: str = "layercfg/noSuchMethod", params: Any = None) -> bytes:
    return _frame({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})


def _session(data: bytes, stdin_file: Path | None = None) -> tuple[int, list[dict], bytes]:
    """The server run on ``data`` (then the end of its input): exit code, messages, stderr."""
    if stdin_file is None:
        done = subprocess.run(SERVER, input=data, capture_output=True, timeout=TIMEOUT)
    else:
        stdin_file.write_bytes(data)
        with stdin_file.open("rb") as stdin:
            done = subprocess.run(SERVER, stdin=stdin, capture_output=True, timeout=TIMEOUT)
    return done.returncode, _messages(done.stdout), done.stderr


def _answered(messages: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {m["id"]: m for m in messages if "id" in m and "method" not in m}


def _said(messages: list[dict[str, Any]], errors: bytes, words: str) -> bool:
    """Whether the server said ``words`` on stderr or in a log or show message."""
    notes = [m for m in messages if m.get("method") in ("window/logMessage", "window/showMessage")]
    return words in (errors.decode("utf-8", "replace") + json.dumps(notes)).lower()


# -- stdio: what holds --------------------------------------------------------------------------

BAD_BODIES = {
    "not JSON": b"this is not json",
    "a batch": b'[{"jsonrpc": "2.0", "id": 50, "method": "shutdown"}]',
    "no jsonrpc": _body({"id": 51, "method": "shutdown", "params": None}),
    "nested too deeply": b"[" * 100_000 + b"]" * 100_000,
    "not UTF-8": b'{"jsonrpc": "2.0", "method": "x", "params": "\xff\xfe"}',
    "a cancel of an object id": _body(
        {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": {"a": [1]}}}
    ),
    "a cancel without params": _body({"jsonrpc": "2.0", "method": "$/cancelRequest"}),
    "a response to nothing": _body({"jsonrpc": "2.0", "id": [1], "result": None}),
    "an error to nothing": _body(
        {"jsonrpc": "2.0", "id": {"x": 1}, "error": {"code": 1, "message": "x"}}
    ),
    "a huge open of the wrong types": _body(
        {
            "jsonrpc": "2.0",
            "method": "textDocument/didOpen",
            "params": {
                "textDocument": {"uri": 5, "languageId": 1, "version": "1", "text": "A" * (4 << 20)}
            },
        }
    ),
}


def test_bad_bodies_are_reported_and_each_next_request_answered():
    """Each body is dropped with a message, the stderr it costs does not grow with it (the
    4 MB text is not echoed), and the server goes on: the request after each is answered."""
    data = _frame(INITIALIZE)
    names = sorted(BAD_BODIES)
    for ident, name in enumerate(names, start=2):
        data += _frame(BAD_BODIES[name]) + _request(ident)
    data += _request(100, "shutdown")
    code, messages, errors = _session(data)
    answers = _answered(messages)
    unanswered = [name for ident, name in enumerate(names, start=2) if ident not in answers]
    assert unanswered == []
    assert {answers[i]["error"]["code"] for i in range(2, len(names) + 2)} == {-32601}
    assert answers[100]["result"] is None
    assert code == 0
    assert len(errors) < (16 << 10) * len(names), errors[-2000:]


def test_what_comes_after_exit_is_not_handled():
    exit_ = _frame({"jsonrpc": "2.0", "method": "exit"})
    data = _frame(INITIALIZE) + _request(2, "shutdown") + exit_ + _request(3) + _request(4)
    code, messages, errors = _session(data)
    assert not {3, 4} & set(_answered(messages))
    assert code == 0
    assert b"Traceback" not in errors


def test_a_cancel_of_a_request_answered_or_not_leaves_one_answer_each():
    cancel = [
        _frame({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": ident}})
        for ident in (2, 3, 99)
    ]
    data = _frame(INITIALIZE) + _request(2) + cancel[0] + cancel[1] + _request(3)
    data += cancel[2] + _request(4, "shutdown")
    code, messages, errors = _session(data)
    ids = [m["id"] for m in messages if "id" in m and "method" not in m]
    assert sorted(ids) == [1, 2, 3, 4]  # each once, cancelled or answered
    assert code == 0
    assert b"Traceback" not in errors


def test_requests_cancelled_while_edits_arrive_are_each_answered_once(tmp_path):
    """Hover, completion, code actions and pulled diagnostics, each cancelled right after it
    is sent, edits between them: every request gets one answer (its result or -32800)."""
    uri = (tmp_path / "a.layercfg.json").as_uri()
    layers = ",".join(
        '{"module": "keras.layers", "class_name": "Dense", '
        f'"config": {{"name": "d{i}", "units": "x", "activation": "relx"}}}}'
        for i in range(500)
    )
    text = f'{{"class_name": "Sequential", "config": {{"name": "s", "layers": [{layers}]}}}}'
    document = {"uri": uri}
    at = {"line": 0, "character": 60}
    requests = [
        ("textDocument/diagnostic", {"textDocument": document}),
        ("textDocument/hover", {"textDocument": document, "position": at}),
        ("textDocument/completion", {"textDocument": document, "position": at}),
        (
            "textDocument/codeAction",
            {
                "textDocument": document,
                "range": {"start": {"line": 0, "character": 0}, "end": at},
                "context": {"diagnostics": []},
            },
        ),
    ]
    opened = {"uri": uri, "languageId": "json", "version": 1, "text": text}
    data = _frame(INITIALIZE) + _frame({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    data += _frame(
        {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": opened}}
    )
    idents = list(range(2, 42))
    for ident in idents:
        method, params = requests[ident % len(requests)]
        data += _request(ident, method, params)
        data += _frame({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": ident}})
        if ident % 7 == 0:
            change = {"text": text.replace("relx", f"rel{ident}")}
            params = {"textDocument": {"uri": uri, "version": ident}, "contentChanges": [change]}
            data += _frame({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": params})
    process = subprocess.Popen(
        SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(data)
    process.stdin.flush()
    output = _read_until(process, b"", set(idents))
    process.stdin.write(_request(100, "shutdown"))
    process.stdin.flush()
    output = _read_until(process, output, {100})
    rest, errors = process.communicate(_frame({"jsonrpc": "2.0", "method": "exit"}), TIMEOUT)
    messages = _messages(output + rest)
    answers = [m["id"] for m in messages if "id" in m and "method" not in m]
    assert sorted(answers) == [1, *idents, 100]
    assert all(
        m.get("error", {}).get("code", -32800) == -32800 for m in messages if m.get("id") in idents
    )
    assert process.returncode == 0
    assert b"Traceback" not in errors


def _read_until(process: subprocess.Popen, output: bytes, idents: set[int]) -> bytes:
    """``output`` read on until the requests ``idents`` are answered."""
    assert process.stdout is not None
    while not idents <= set(_answered(_complete(output))):
        ready, _, _ = select.select([process.stdout], [], [], TIMEOUT)  # a hang guard only
        assert ready, "the server stopped answering"
        chunk = os.read(process.stdout.fileno(), 1 << 20)
        assert chunk, "the server closed its output"
        output += chunk
    return output


def _complete(output: bytes) -> list[dict[str, Any]]:
    """The whole messages at the start of ``output`` (the last one may still be coming)."""
    found = []
    while b"\r\n\r\n" in output:
        header, _, rest = output.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        if len(rest) < length:
            break
        found.append(json.loads(rest[:length]))
        output = rest[length:]
    return found


# -- stdio: holes -------------------------------------------------------------------------------


def test_a_lowercase_content_length_is_read():
    body = _body(INITIALIZE)
    code, messages, _ = _session(b"content-length: %d\r\n\r\n" % len(body) + body)
    assert 1 in _answered(messages)


def test_a_header_block_without_content_length_is_reported_or_skipped():
    data = b"X-Junk: 1\r\n\r\n{}" + _frame(INITIALIZE) + _request(2)
    code, messages, errors = _session(data)
    answered = {1, 2} <= set(_answered(messages))
    assert answered or _said(messages, errors, "content-length")


def test_a_content_length_past_any_document_is_refused_with_a_message():
    data = _frame(INITIALIZE) + b"Content-Length: 99999999999999\r\n\r\n{}" + _request(2)
    code, messages, errors = _session(data)
    assert _said(messages, errors, "content-length")


@pytest.mark.parametrize("length", [b"9" * 30, b"9999999999999"])
def test_a_huge_content_length_on_a_regular_file_ends_cleanly(tmp_path, length):
    data = _frame(INITIALIZE) + b"Content-Length: " + length + b"\r\n\r\n{}"
    code, messages, errors = _session(data, stdin_file=tmp_path / "session.lsp")
    assert 1 in _answered(messages)
    assert b"Traceback" not in errors
    assert code == 0


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover", "params": {"textDocument": 5}},
        {"jsonrpc": "2.0", "id": 2, "method": "layercfg/noSuchMethod"},  # params may be omitted
    ],
    ids=["params of the wrong type", "no params"],
)
def test_a_request_that_does_not_deserialize_is_answered_with_an_error(message):
    code, messages, _ = _session(_frame(INITIALIZE) + _frame(message) + _request(3, "shutdown"))
    answers = _answered(messages)
    assert 3 in answers
    assert "error" in answers.get(2, {})


# -- the catalog cache: a FIFO or a link where a cached file is expected -----------------------


def _key_names(folder: Path) -> tuple[Path, Path]:
    key = cachekey.compute((), "keras")
    return folder / key.filename, folder / key.part_filename


@pytest.mark.parametrize("which", ["catalog", "part"])
def test_reading_a_cached_file_through_a_link_leaves_its_target_alone(tmp_path, which):
    cache = tmp_path / "cache"
    cache.mkdir()
    outside = tmp_path / "elsewhere.json"
    outside.write_text(
        json.dumps({"classes": [{"id": "a", "class_name": "A", "family": "layer"}]}),
        encoding="utf-8",
    )
    os.utime(outside, (1_000_000, 1_000_000))
    catalog, part = _key_names(cache)
    link = catalog if which == "catalog" else part
    link.symlink_to(outside)
    if which == "catalog":
        Catalog.load(link)
    else:
        cache_files.mark_used(link)  # what read_part does after reading it
    assert os.stat(outside).st_mtime == 1_000_000


# -- a .keras archive with a symbolic link among its members -----------------------------------

CONFIG = {
    "module": "keras.layers",
    "class_name": "Dense",
    "config": {"name": "d", "units": 4},
    "registered_name": None,
}


def _archive_with_link(path: Path, target: str) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(CONFIG))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        link = zipfile.ZipInfo("assets")
        link.create_system = 3  # Unix: unzip and bsdtar make the link from its mode
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, target)
        archive.writestr("assets/escaped.txt", "written through the link")
        archive.writestr("model.weights.h5", b"\0" * 16)


@pytest.mark.parametrize("target", ["/tmp", "../../.."])
def test_a_member_that_is_a_symbolic_link_is_refused(tmp_path, target):
    path = tmp_path / "linked.keras"
    _archive_with_link(path, target)
    with pytest.raises(archives.ArchiveError):
        archives.read(str(path))


def test_a_member_named_to_escape_is_refused_and_the_original_kept(tmp_path):
    path = tmp_path / "escape.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(CONFIG))
        archive.writestr("assets/../../outside.txt", "x")
    before = path.read_bytes()
    with pytest.raises(archives.ArchiveError):
        archives.read(str(path))
    with pytest.raises(archives.ArchiveError):
        archives.write(str(path), str(path), json.dumps(CONFIG), None, replace=True)
    assert path.read_bytes() == before
    assert not (tmp_path.parent / "outside.txt").exists()


def test_an_archive_nested_in_an_archive_is_a_member_like_any_other(tmp_path):
    inner = tmp_path / "inner.keras"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("config.json", json.dumps(CONFIG))
    outer = tmp_path / "outer.keras"
    with zipfile.ZipFile(outer, "w") as archive:
        archive.writestr("config.json", json.dumps(CONFIG))
        archive.write(inner, "assets/inner.keras")
    read = archives.read(str(outer))
    assert json.loads(read.raw) == CONFIG
    assert read.members == ["config.json", "assets/inner.keras"]


def test_metadata_lying_about_the_version_only_changes_the_dialect_finding(tmp_path):
    path = tmp_path / "lying.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(CONFIG))
        archive.writestr("metadata.json", json.dumps({"keras_version": ["2.15"] * 3}))
    read = archives.read(str(path))
    assert read.keras_version is None  # not a string: no version at all
    assert not archives.saved_by_keras2(read)


# -- settings a hostile repository ships ---------------------------------------------------------


def test_a_workspace_pyproject_cannot_trust_itself_or_choose_the_interpreter(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.layercfg]\n"
        'modules = ["evil"]\n'
        "trustWorkspace = true\n"
        'python = "./evil.sh"\n'
        "[tool.layercfg.layercfg]\n"
        "trustWorkspace = true\n"
        "[tool.layercfg.severity]\n"
        'LCF501 = "off"\n'
        'LCF303 = "hint"\n',
        encoding="utf-8",
    )
    settings, problems = resolve(workspace_root=tmp_path)
    assert settings.trustWorkspace is False
    assert settings.python is None
    assert settings.severity == {}
    assert settings.modules == ("evil",)  # named, but imported only once the user trusts
    assert any("trustWorkspace is a user setting" in p for p in problems)


# -- editor settings a hostile repository ships ------------------------------------------------

EDITORS = Path(__file__).resolve().parents[1] / "editors"
SECURITY_CODES = ("LCF303", "LCF304", "LCF501")


def test_vscode_never_takes_a_workspace_severity_of_a_security_code_untrusted():
    package = json.loads((EDITORS / "vscode" / "package.json").read_text(encoding="utf-8"))
    restricted = package["capabilities"]["untrustedWorkspaces"]["restrictedConfigurations"]
    assert "layercfg.severity" in restricted


def test_vscode_restricts_the_interpreter_and_modules_in_an_untrusted_workspace():
    package = json.loads((EDITORS / "vscode" / "package.json").read_text(encoding="utf-8"))
    restricted = package["capabilities"]["untrustedWorkspaces"]["restrictedConfigurations"]
    assert {"layercfg.python", "layercfg.modules"} <= set(restricted)


def _emacs_section(settings: str, overrides: str) -> str:
    """``layercfg--section`` of editors/emacs/layercfg.el, printed."""
    program = f'(princ (format "%S" (layercfg--section (list {settings}) (list {overrides}))))'
    done = subprocess.run(
        ["emacs", "--batch", "-Q", "-L", str(EDITORS / "emacs"), "-l", "layercfg.el"]
        + ["--eval", program],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_emacs_dir_locals_cannot_trust_the_project_or_pick_the_interpreter():
    section = _emacs_section(
        ":trustWorkspace :json-false",
        ':trustWorkspace t :python "./evil" :deepCheck "onSave"',
    )
    assert ":trustWorkspace :json-false" in section
    assert "evil" not in section
    assert ':deepCheck "onSave"' in section


def test_emacs_dir_locals_cannot_silence_a_security_finding():
    codes = " ".join(f':{code} "off"' for code in SECURITY_CODES)
    section = _emacs_section(":severity nil", f':severity (list {codes} :LCF305 "off")')
    assert ':LCF305 "off"' in section  # any other code, as the project likes
    assert not [code for code in SECURITY_CODES if code in section]


# -- a workspace pyproject.toml that tomllib cannot read -----------------------------------------

UNREADABLE_PYPROJECT = {
    # In any table: the whole file is parsed to find [tool.layercfg].
    "nested too deeply": b"[tool.other]\nx = " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "not UTF-8": b'[tool.layercfg]\nmodules = ["caf\xe9"]  # a Latin-1 comment \xe9\n',
}


@pytest.mark.parametrize("name", sorted(UNREADABLE_PYPROJECT))
def test_an_unreadable_pyproject_is_reported_and_ignored(tmp_path, name):
    (tmp_path / "pyproject.toml").write_bytes(UNREADABLE_PYPROJECT[name])
    settings, problems = resolve(workspace_root=tmp_path)
    assert settings.modules == ()
    assert any("pyproject.toml" in problem for problem in problems)


def test_the_server_starts_in_a_workspace_whose_pyproject_nests_too_deeply(tmp_path):
    (tmp_path / "pyproject.toml").write_bytes(UNREADABLE_PYPROJECT["nested too deeply"])
    initialize = dict(INITIALIZE, params={**INITIALIZE["params"], "rootUri": tmp_path.as_uri()})
    code, messages, errors = _session(_frame(initialize) + _request(2, "shutdown"))
    answers = _answered(messages)
    assert "result" in answers[1], json.dumps(answers[1])[:500]
    assert len(errors) < 64 << 10


@pytest.mark.parametrize("value", ['["error"]', '{ level = "error" }'])
def test_a_severity_that_is_no_name_is_reported_and_ignored(tmp_path, value):
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.layercfg.severity]\nLCF101 = {value}\nLCF305 = "off"\n', encoding="utf-8"
    )
    settings, problems = resolve(workspace_root=tmp_path)
    assert "LCF101" not in settings.severity
    assert any("LCF101" in problem for problem in problems)
