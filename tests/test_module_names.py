"""The ``modules`` setting takes dotted Python module names only: a path, an empty part, a
keyword or shell text is refused with a message naming the setting and the value, at every
entry point (the client's settings, ``[tool.layercfg]``, ``--modules``). No Keras: the CLI
refuses before it builds a catalog."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from layercfg import cli
from layercfg.server import settings
from layercfg.server.settings import Settings

NOT_MODULES = ["../x", "/abs/path", "a..b", "os;rm", "", ".a", "a.", "a/b", "a b", "class", "x.def"]
MODULES = ["mypkg", "mypkg.layers", "_private.m2", "café.couches", "match"]  # a soft keyword


@pytest.mark.parametrize("name", NOT_MODULES)
@pytest.mark.parametrize("origin", ["initializationOptions", "workspace/configuration"])
def test_a_client_setting_that_is_not_a_module_name_is_refused(origin, name):
    s, problems = settings.merge(Settings(), {"modules": ["good.one", name]}, origin)
    assert s.modules == ()
    assert problems == [
        f"{origin}: modules: {name!r} is not a Python module name (dotted identifiers, such "
        "as 'mypkg.layers'); using the default ()"
    ]


@pytest.mark.parametrize("name", [n for n in NOT_MODULES if n and "," not in n])
def test_the_comma_separated_form_is_checked_too(name):
    s, problems = settings.merge(Settings(), {"modules": f"good.one,{name}"}, "x")
    assert s.modules == ()
    assert len(problems) == 1 and repr(name) in problems[0]


@pytest.mark.parametrize("name", MODULES)
def test_module_names_are_taken(name):
    s, problems = settings.merge(Settings(), {"modules": [name, f" {name} "]}, "x")
    assert problems == [] and s.modules == (name, name)


def test_a_long_value_is_shown_shortened():
    _, (problem,) = settings.merge(Settings(), {"modules": ["/" * 10_000]}, "x")
    assert len(problem) < 300 and "'///" in problem


@pytest.mark.parametrize("name", NOT_MODULES)
def test_a_workspace_pyproject_that_names_a_path_is_refused(tmp_path, name):
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.layercfg]\nmodules = ["{name}"]\ndeepCheck = "onSave"\n', encoding="utf-8"
    )
    s, problems = settings.resolve(workspace_root=tmp_path)
    assert s.modules == () and s.deepCheck == "onSave"
    assert [p for p in problems if f"modules: {name!r} is not a Python module name" in p]
    assert all(p.startswith("pyproject.toml [tool.layercfg]: ") for p in problems)


@pytest.mark.parametrize("command", ["schema", "check", "new"])
@pytest.mark.parametrize("value", ["../x", "/abs/path", "a..b", "os;rm", "mypkg,a b", "x.class"])
def test_the_command_line_refuses_them_before_any_import(command, value, capsys, tmp_path):
    words = {"schema": ["schema"], "check": ["check", str(tmp_path)], "new": ["new", "Dense"]}
    code = cli.main([*words[command], "--modules", value])
    err = capsys.readouterr().err
    assert code == 2
    (line,) = [line for line in err.splitlines() if line.startswith("layercfg: error:")]
    assert line.startswith("layercfg: error: --modules: '")
    assert "is not a Python module name" in line


SHOW = "window/showMessage"


def _messages(output: bytes) -> list[dict]:
    found = []
    while output.strip():
        header, _, rest = output.partition(b"\r\n\r\n")
        length = int(header.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        found.append(json.loads(rest[:length]))
        output = rest[length:]
    return found


def test_the_server_says_which_setting_and_value_it_refused(tmp_path):
    """Over stdio: initializationOptions and the workspace's pyproject.toml, each shown."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.layercfg]\nmodules = ["/abs/path"]\n', encoding="utf-8"
    )
    params = {
        "processId": None,
        "rootUri": tmp_path.as_uri(),
        "capabilities": {},
        "initializationOptions": {"modules": ["mypkg", "os;rm"]},
    }
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params},
        {"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None},
    ]
    data = b"".join(
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        for body in (json.dumps(m).encode("utf-8") for m in messages)
    )
    done = subprocess.run(
        [sys.executable, "-m", "layercfg", "lsp"], input=data, capture_output=True, timeout=120
    )
    shown = [m["params"]["message"] for m in _messages(done.stdout) if m.get("method") == SHOW]
    assert (
        "layercfg: initializationOptions: modules: 'os;rm' is not a Python module name "
        "(dotted identifiers, such as 'mypkg.layers'); using the default ()"
    ) in shown
    assert any(
        m.startswith("layercfg: pyproject.toml [tool.layercfg]: modules: '/abs/path' is not")
        for m in shown
    ), shown
    assert done.returncode == 0
