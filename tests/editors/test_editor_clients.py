"""The editor configurations in editors/ load, detect *.layercfg.json and hand the server what
the contract says: command, settings (initializationOptions, workspace/configuration,
didChangeConfiguration), language id, commands, and the layercfg/status notification.

Neovim and Emacs run headless against lsp_recorder.py, a stand-in server, so these tests
need neither Keras nor the real server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDITORS = ROOT / "editors"
RECORDER = Path(__file__).with_name("lsp_recorder.py")
SAMPLE = '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 4}}\n'


def _run(
    command: list[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def _read_record(path: Path) -> dict[str, Any]:
    assert path.exists(), "the client never started the server"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "configs").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n", encoding="utf-8")
    (root / "configs" / "a.layercfg.json").write_text(SAMPLE, encoding="utf-8")
    (root / "configs" / "b.layercfg.json").write_text(SAMPLE, encoding="utf-8")
    (root / "plain.json").write_text("{}\n", encoding="utf-8")
    return root


# --- Neovim -----------------------------------------------------------------------------

NVIM = shutil.which("nvim")
needs_nvim = pytest.mark.skipif(
    NVIM is None, reason="nvim is not installed (Debian: apt-get install neovim)"
)


def _nvim_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(tmp_path / name.lower())
    return env


@needs_nvim
def test_neovim_example_config_loads(tmp_path: Path) -> None:
    result = _run(
        [NVIM, "--headless", "-u", str(EDITORS / "neovim" / "init-example.lua"), "+q"],
        env=_nvim_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "Error" not in result.stderr + result.stdout


NVIM_DRIVER = r"""
package.path = EDITORS .. '/neovim/?.lua;' .. package.path
vim.cmd('filetype plugin indent on')
vim.cmd('syntax on')
local layercfg = require('layercfg').setup({
  cmd = { PYTHON, RECORDER, RECORD },
  settings = { modules = { 'pkg.layers' }, trustWorkspace = true, severity = { LCF305 = 'off' } },
})
local out = {}
vim.cmd('edit ' .. vim.fn.fnameescape(FILE_A))
out.filetype = vim.bo.filetype
out.syntax = vim.b.current_syntax or ''
out.comments = vim.bo.commentstring
vim.wait(15000, function() return layercfg.status() == 'Keras 9.9.9' end, 50)
out.status = layercfg.status()
vim.cmd('edit ' .. vim.fn.fnameescape(FILE_B))
vim.wait(5000, function() return #vim.lsp.buf_get_clients(0) > 0 end, 50)
out.clients = #vim.lsp.get_active_clients()
vim.cmd('LayercfgDeepCheck')
vim.wait(300)
vim.cmd('edit ' .. vim.fn.fnameescape(PLAIN))
out.plain_filetype = vim.bo.filetype
out.plain_clients = #vim.lsp.buf_get_clients(0)
local file = io.open(OUT, 'w')
file:write(vim.fn.json_encode(out))
file:close()
vim.lsp.stop_client(vim.lsp.get_active_clients())
vim.wait(3000, function() return #vim.lsp.get_active_clients() == 0 end, 50)
vim.cmd('qa!')
"""


@needs_nvim
def test_neovim_client_against_recorder(tmp_path: Path, project: Path) -> None:
    record = tmp_path / "record.json"
    out = tmp_path / "out.json"
    values = {
        "EDITORS": str(EDITORS),
        "PYTHON": sys.executable,
        "RECORDER": str(RECORDER),
        "RECORD": str(record),
        "OUT": str(out),
        "FILE_A": str(project / "configs" / "a.layercfg.json"),
        "FILE_B": str(project / "configs" / "b.layercfg.json"),
        "PLAIN": str(project / "plain.json"),
    }
    driver = tmp_path / "driver.lua"
    driver.write_text(
        "".join(f"local {k} = {json.dumps(v)}\n" for k, v in values.items()) + NVIM_DRIVER,
        encoding="utf-8",
    )
    env = _nvim_env(tmp_path)
    result = _run(
        [NVIM, "--headless", "-u", "NONE", "-c", f"luafile {driver}"], env=env, cwd=project
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(out.read_text(encoding="utf-8"))
    assert seen["filetype"] == "json.layercfg"
    assert seen["syntax"] == "json"
    assert seen["status"] == "Keras 9.9.9"
    assert seen["clients"] == 1, "one server per project root"
    assert seen["plain_filetype"] == "json"
    assert seen["plain_clients"] == 0

    sent = _read_record(record)
    expected = {
        "modules": ["pkg.layers"],
        "trustWorkspace": True,
        "deepCheck": "onType",
        "deepCheckTimeout": 20,
        "deepCheckMemoryMB": 2048,
        "severity": {"LCF305": "off"},
    }
    assert sent["initialize"]["initializationOptions"] == expected
    assert sent["initialize"]["rootUri"] == project.as_uri()
    assert sent["configuration"] == [expected]
    assert sent["didChangeConfiguration"] == [{"settings": {"layercfg": expected}}]
    assert {d["languageId"] for d in sent["didOpen"]} == {"layercfg-json"}
    assert len(sent["didOpen"]) == 2
    assert sent["executeCommand"] == [
        {
            "command": "layercfg.deepCheck",
            "arguments": [(project / "configs" / "b.layercfg.json").as_uri()],
        }
    ]
    assert Path(sent["cwd"]) == tmp_path / "xdg_cache_home" / "nvim" / "layercfg", (
        "the server runs outside the project"
    )


@needs_nvim
def test_neovim_reports_missing_layercfg(tmp_path: Path, project: Path) -> None:
    # An interpreter without the package: the user is told how to install it.
    fake = tmp_path / "python-without-layercfg"
    fake.write_text(
        "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'layercfg'\" >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    driver = tmp_path / "driver.lua"
    driver.write_text(
        f"package.path = {json.dumps(str(EDITORS / 'neovim'))} .. '/?.lua;' .. package.path\n"
        "local messages = {}\n"
        "vim.notify = function(msg) table.insert(messages, msg) end\n"
        f"require('layercfg').setup({{ python = {json.dumps(str(fake))} }})\n"
        f"vim.cmd('edit ' .. {json.dumps(str(project / 'configs' / 'a.layercfg.json'))})\n"
        "local clients = #vim.lsp.get_active_clients()\n"
        "io.stdout:write(table.concat(messages, '\\n'), '\\n', clients, '\\n')\n"
        "vim.cmd('qa!')\n",
        encoding="utf-8",
    )
    result = _run(
        [NVIM, "--headless", "-u", "NONE", "-c", f"luafile {driver}"], env=_nvim_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "layercfg is not installed" in result.stdout
    assert "-m pip install layercfg" in result.stdout
    assert result.stdout.strip().endswith("0"), "no server is started"


# --- Emacs ------------------------------------------------------------------------------

EMACS = shutil.which("emacs")


def _emacs_has_eglot() -> bool:
    if EMACS is None:
        return False
    result = _run([EMACS, "--batch", "--eval", "(kill-emacs (if (require 'eglot nil t) 0 1))"])
    return result.returncode == 0


needs_emacs = pytest.mark.skipif(
    EMACS is None, reason="emacs is not installed (Debian: apt-get install emacs-nox)"
)


@needs_emacs
def test_emacs_config_loads() -> None:
    for preload in ([], ["--eval", "(require 'eglot nil t)"]):
        result = _run(
            [
                EMACS,
                "--batch",
                *preload,
                "-l",
                str(EDITORS / "emacs" / "layercfg.el"),
                "--eval",
                '(kill-emacs (if (eq (assoc-default "x.layercfg.json" auto-mode-alist'
                " #'string-match) 'layercfg-json-mode) 0 3))",
            ]
        )
        assert result.returncode == 0, result.stderr


@needs_emacs
def test_emacs_config_byte_compiles_cleanly(tmp_path: Path) -> None:
    source = tmp_path / "layercfg.el"
    shutil.copy(EDITORS / "emacs" / "layercfg.el", source)
    result = _run(
        [
            EMACS,
            "--batch",
            "--eval",
            "(require 'eglot nil t)",
            "--eval",
            "(setq byte-compile-error-on-warn t)",
            "-f",
            "batch-byte-compile",
            str(source),
        ]
    )
    assert result.returncode == 0, result.stderr


EMACS_DRIVER = r"""
(require 'eglot)
(load LAYERCFG-EL nil t)
(setq layercfg-server-command (list PYTHON RECORDER RECORD))
(setq layercfg-settings '(:modules ["pkg.layers"] :trustWorkspace t :deepCheck "onType"))
;; What a project's .dir-locals.el could say: the protected keys must not get through.
(setq-default eglot-workspace-configuration
              '(:layercfg (:deepCheck "off" :trustWorkspace :json-false :python "/not/this")))
(setq eglot-sync-connect 30)
(find-file FILE)
(let ((mode major-mode) (comment comment-start) seen)
  (apply #'eglot (eglot--guess-contact))
  (let ((deadline (+ (float-time) 15)))
    (while (and (null layercfg--status) (< (float-time) deadline))
      (accept-process-output nil 0.05)))
  (layercfg-deep-check)
  (setq seen (list :mode (symbol-name mode)
                   :comment (or comment "none")
                   :class (symbol-name (eieio-object-class-name (eglot-current-server)))
                   :modeline (concat (car mode-name) (layercfg--status-text))))
  (eglot-shutdown (eglot-current-server))
  (with-temp-file OUT (insert (json-encode seen))))
"""


@pytest.mark.skipif(
    not _emacs_has_eglot(),
    reason="emacs with eglot is not installed (Debian: apt-get install emacs-nox elpa-eglot)",
)
def test_emacs_client_against_recorder(tmp_path: Path, project: Path) -> None:
    record = tmp_path / "record.json"
    out = tmp_path / "out.json"
    file_a = project / "configs" / "a.layercfg.json"
    values = {
        "LAYERCFG-EL": str(EDITORS / "emacs" / "layercfg.el"),
        "PYTHON": sys.executable,
        "RECORDER": str(RECORDER),
        "RECORD": str(record),
        "OUT": str(out),
        "FILE": str(file_a),
    }
    driver = tmp_path / "driver.el"
    driver.write_text(
        "".join(f"(defvar {k} {json.dumps(v)})\n" for k, v in values.items()) + EMACS_DRIVER,
        encoding="utf-8",
    )
    result = _run([EMACS, "--batch", "-l", str(driver)], cwd=project)
    assert result.returncode == 0, result.stderr
    seen = json.loads(out.read_text(encoding="utf-8"))
    assert seen["mode"] == "layercfg-json-mode"
    assert seen["comment"] == "none", "no comment syntax: Keras rejects comments"
    assert seen["class"] == "layercfg-eglot-server"
    assert seen["modeline"] == "layercfg[Keras 9.9.9]"

    sent = _read_record(record)
    assert sent["initialize"]["initializationOptions"] == {
        "modules": ["pkg.layers"],
        "trustWorkspace": True,
        "deepCheck": "onType",
    }
    # The directory-local section overrides deepCheck, but neither trust nor the interpreter.
    expected = {"modules": ["pkg.layers"], "trustWorkspace": True, "deepCheck": "off"}
    assert sent["configuration"] == [expected]
    assert sent["didChangeConfiguration"] == [{"settings": {"layercfg": expected}}]
    assert sent["didOpen"] == [{"uri": file_a.as_uri(), "languageId": "layercfg-json"}]
    assert sent["executeCommand"] == [
        {"command": "layercfg.deepCheck", "arguments": [file_a.as_uri()]}
    ]


# --- Helix ------------------------------------------------------------------------------


def test_helix_languages_toml() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text(encoding="utf-8"))
    server = config["language-server"]["layercfg"]
    assert [server["command"], *server["args"]] == ["layercfg", "lsp"]
    section = server["config"]["layercfg"]
    assert section["trustWorkspace"] is False
    assert section["deepCheck"] == "onType"
    assert section["severity"] == {}
    (language,) = [entry for entry in config["language"] if entry["name"] == "layercfg"]
    assert language["file-types"] == [{"glob": "*.layercfg.json"}]
    assert language["language-servers"] == ["layercfg"]
    assert language["language-id"] == "layercfg-json"
    assert language["grammar"] == "json"
    for query in ("highlights.scm", "indents.scm"):
        text = (EDITORS / "helix" / "runtime" / "queries" / "layercfg" / query).read_text()
        assert text.startswith("; inherits: json")
