"""Neovim and Emacs start the real `layercfg lsp` from the configs in editors/ and work on a
file with known mistakes: the diagnostics arrive with the right codes and places, completion in
the `config` object offers the class's keys, hover on a key shows its description, and the
diagnostics follow the user's edits.

Each editor runs once per module (a few seconds with a warm catalog cache); the tests below
check what its driver observed. The server runs with this test's interpreter and finds the
catalog that the `plain_catalog` fixture built into the session cache (`LAYERCFG_CACHE_DIR`),
so it never imports Keras itself. The drivers (drive_neovim.lua, drive_emacs.el) only observe
and write JSON; the assertions are here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
EDITORS = HERE.parents[1] / "editors"

SAMPLE = """\
{
  "module": "keras.layers",
  "class_name": "Dense",
  "config": {
    "unitz": 64,
    "activation": "rleu",
    "use_bias": "yes"
  },
  "registered_name": null
}
"""

# The mistakes: code -> (0-based line, the text the diagnostic is pinned to).
MISTAKES = {
    "LCF102": (4, '"unitz"'),  # unknown config key
    "LCF105": (5, '"rleu"'),  # not an activation
    "LCF104": (6, '"yes"'),  # use_bias must be a boolean
}

# The user's edits, in order: fix the key; put a non-ASCII name (with a character outside the
# BMP, two UTF-16 units) before the remaining mistake on its line; fix that mistake.
NAME = '"name": "schicht_ü😀", '
TEXTS = [SAMPLE.splitlines()]
TEXTS.append([line.replace('"unitz"', '"units"') for line in TEXTS[-1]])
TEXTS.append([line.replace('    "use_bias"', "    " + NAME + '"use_bias"') for line in TEXTS[-1]])
TEXTS.append([line.replace('"yes"', "true") for line in TEXTS[-1]])
BEFORE, FIXED_KEY, NON_ASCII, FIXED_VALUE = TEXTS

Diagnostic = tuple[str, int, int, int]  # code, line, start column, end column


def _expected(lines: list[str], codes: list[str], unit: str) -> list[Diagnostic]:
    """Where each diagnostic belongs, in columns of `unit` (bytes, chars or utf-16 units)."""
    result = []
    for code in codes:
        line, text = MISTAKES[code]
        start = lines[line].index(text)
        result.append(
            (
                code,
                line,
                _column(lines[line], start, unit),
                _column(lines[line], start + len(text), unit),
            )
        )
    return result


def _column(line: str, index: int, unit: str) -> int:
    if unit == "bytes":
        return len(line[:index].encode("utf-8"))
    if unit == "utf-16":
        return len(line[:index].encode("utf-16-le")) // 2
    return index


def _position(lines: list[str], line: int, text: str, inside: int = 1) -> dict[str, int]:
    """LSP position (UTF-16) `inside` characters into `text` on a line."""
    index = lines[line].index(text) + inside
    return {"line": line, "character": _column(lines[line], index, "utf-16")}


def _edit(name: str, before: list[str], line: int, old: str, new: str, unit: str) -> dict:
    start = before[line].index(old)
    return {
        "name": name,
        "line": line,
        "start": _column(before[line], start, unit),
        "end": _column(before[line], start + len(old), unit),
        "text": new,
    }


ATTACH_SECONDS = 60
# The cache is warm (plain_catalog), so "ready" takes well under a second; a cold cache would
# have the server build the catalog in its worker: seconds when idle, far longer under load.
READY_SECONDS = 240
DIAGNOSTICS_SECONDS = 60
REQUEST_SECONDS = 30
# The whole editor run: more than the waits that a healthy run can reach.
RUN_SECONDS = 480


@dataclass
class Observed:
    seen: dict[str, Any]
    transcript: str

    def explain(self) -> str:
        shown = {k: v for k, v in self.seen.items() if not k.startswith("completion")}
        return f"{json.dumps(shown, indent=1, ensure_ascii=False)[-8000:]}\n{self.transcript}"

    def phase(self, name: str) -> None:
        assert "error" not in self.seen, self.explain()
        done = {p["name"]: p["ok"] for p in self.seen.get("phases", [])}
        assert done.get(name) is True, f"the editor never got past {name!r}\n{self.explain()}"

    def edit(self, name: str) -> dict[str, Any]:
        self.phase("edits")
        (result,) = [e for e in self.seen.get("edits", []) if e["name"] == name]
        assert result["ok"] is True, f"the diagnostics did not follow {name!r}\n{self.explain()}"
        return result


def _project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "configs").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n", encoding="utf-8")
    (root / "configs" / "dense.layercfg.json").write_text(SAMPLE, encoding="utf-8")
    return root


def _editor_env(home: Path) -> dict[str, str]:
    """This test's environment (the session's catalog cache included), with editor state of
    its own."""
    env = dict(os.environ)
    assert env.get("LAYERCFG_CACHE_DIR"), "tests/conftest.py sets the session catalog cache"
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(home / name.lower())
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def _run_editor(command: list[str], env: dict[str, str], cwd: Path, out: Path) -> Observed:
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
        transcript = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    except subprocess.TimeoutExpired as exc:
        transcript = f"the editor did not finish in {RUN_SECONDS} s\n{exc.stdout!r}\n{exc.stderr!r}"
    if not out.exists():
        pytest.fail(f"the editor's driver wrote no observations\n{transcript}")
    return Observed(json.loads(out.read_text(encoding="utf-8")), transcript[-4000:])


def _items(result: Any) -> list[dict[str, Any]]:
    if isinstance(result, dict):
        return list(result.get("items", []))
    return list(result or [])


def _layercfg(diagnostics: list[dict[str, Any]], line: str, col: str, end: str) -> list[Diagnostic]:
    return [(d["code"], d[line], d[col], d[end]) for d in diagnostics if d["source"] == "layercfg"]


# --- Neovim -----------------------------------------------------------------------------

NVIM = shutil.which("nvim")


@pytest.fixture(scope="module")
def neovim(tmp_path_factory: pytest.TempPathFactory, plain_catalog: dict) -> Observed:
    """Neovim with editors/neovim/init-example.lua, its own LSP client and the real server."""
    if NVIM is None:
        pytest.skip("nvim is not installed (Debian: apt-get install neovim)")
    project = _project(tmp_path_factory)
    home = tmp_path_factory.mktemp("nvim-home")
    out = home / "observed.json"
    params = {
        "file": str(project / "configs" / "dense.layercfg.json"),
        "out": str(out),
        "attach_ms": ATTACH_SECONDS * 1000,
        "ready_ms": READY_SECONDS * 1000,
        "diagnostics_ms": DIAGNOSTICS_SECONDS * 1000,
        "request_ms": REQUEST_SECONDS * 1000,
        "stop_ms": 5000,
        "codes_before": sorted(MISTAKES),
        "requests": {
            # Inside the key "unitz": the keys of Dense not written yet.
            "completion_key": {
                "method": "textDocument/completion",
                **_position(BEFORE, 4, '"unitz"'),
            },
            # Right after the `{` of the config object, where a new member goes.
            "completion_object": {
                "method": "textDocument/completion",
                **_position(BEFORE, 3, "{"),
            },
            # Inside the value "rleu": the activations.
            "completion_value": {
                "method": "textDocument/completion",
                **_position(BEFORE, 5, '"rleu"'),
            },
            "hover": {"method": "textDocument/hover", **_position(BEFORE, 5, '"activation"', 2)},
        },
        "edits": [
            {
                **_edit("fix the key", BEFORE, 4, "unitz", "units", "bytes"),
                "codes_after": ["LCF104", "LCF105"],
            },
            {
                **_edit("non-ASCII name", FIXED_KEY, 6, '"use_bias"', NAME + '"use_bias"', "bytes"),
                "hover": _position(NON_ASCII, 6, '"use_bias"', 2),
            },
            {
                **_edit("fix the value", NON_ASCII, 6, '"yes"', "true", "bytes"),
                "codes_after": ["LCF105"],
            },
        ],
    }
    for edit in params["edits"]:
        edit["start_col"], edit["end_col"] = edit.pop("start"), edit.pop("end")
    (home / "params.json").write_text(json.dumps(params, ensure_ascii=False), encoding="utf-8")
    env = _editor_env(home)
    env["LAYERCFG_PYTHON"] = sys.executable  # the example config's interpreter
    env["LAYERCFG_DRIVER_PARAMS"] = str(home / "params.json")
    command = [
        NVIM,
        "--headless",
        "-i",
        "NONE",
        "-u",
        str(EDITORS / "neovim" / "init-example.lua"),
        "-c",
        # The driver quits Neovim; should it fail to, this line does, so nothing hangs.
        f"lua local ok, err = pcall(dofile, {json.dumps(str(HERE / 'drive_neovim.lua'))}) "
        "io.stderr:write('the driver returned: ' .. tostring(err) .. '\\n') vim.cmd('cquit 3')",
    ]
    observed = _run_editor(command, env, project, out)
    lsp_log = Path(env["XDG_CACHE_HOME"]) / "nvim" / "lsp.log"
    if lsp_log.exists():
        observed.transcript += "\nlsp.log:\n" + lsp_log.read_text(errors="replace")[-3000:]
    return observed


def test_neovim_starts_the_server_from_the_example_config(neovim: Observed) -> None:
    neovim.phase("catalog ready")
    seen = neovim.seen
    assert seen["filetype"] == "json.layercfg"
    assert seen["omnifunc"] == "v:lua.vim.lsp.omnifunc", "init-example.lua's on_attach ran"
    assert seen["offset_encoding"] == "utf-16"
    assert seen["status"].startswith("Keras ")
    assert "building" not in seen["statuses"], "the server loads the session's cached catalog"


def test_neovim_diagnostics(neovim: Observed) -> None:
    neovim.phase("diagnostics")
    before = neovim.seen["diagnostics_before"]
    # Neovim keeps byte columns; it converted the server's UTF-16 ranges.
    assert _layercfg(before, "lnum", "col", "end_col") == _expected(
        BEFORE, ["LCF102", "LCF105", "LCF104"], "bytes"
    ), neovim.explain()
    assert all(d["end_lnum"] == d["lnum"] and d["severity"] == 1 for d in before)
    assert "Did you mean 'units'" in before[0]["message"]


def test_neovim_completion_of_keys(neovim: Observed) -> None:
    neovim.phase("requests")
    completion = neovim.seen["completion_key"]
    assert "error" not in completion, completion
    items = _items(completion["result"])
    labels = {item["label"] for item in items}
    assert {"units", "kernel_initializer", "bias_initializer", "kernel_regularizer"} <= labels
    assert not labels & {"activation", "use_bias"}, "keys already written are not offered"
    units = next(item for item in items if item["label"] == "units")
    (_, line, start, end) = _expected(BEFORE, ["LCF102"], "utf-16")[0]
    # The edit replaces the whole key being typed, quotes included.
    assert units["textEdit"] == {
        "range": {
            "start": {"line": line, "character": start},
            "end": {"line": line, "character": end},
        },
        "newText": '"units"',
    }
    assert "dimensionality of the output space" in json.dumps(units.get("documentation"))

    # After `{`: whole `"key": value` members, as plain text (Neovim 0.7 takes no snippets).
    members = {item["label"]: item for item in _items(neovim.seen["completion_object"]["result"])}
    assert {"units", "kernel_initializer"} <= set(members)
    assert members["units"]["insertText"].startswith('"units":')
    assert all(item.get("insertTextFormat", 1) == 1 for item in members.values())


def test_neovim_completion_of_values(neovim: Observed) -> None:
    neovim.phase("requests")
    values = {item["label"] for item in _items(neovim.seen["completion_value"]["result"])}
    assert {"relu", "relu6", "gelu", "softmax"} <= values, sorted(values)


def test_neovim_hover(neovim: Observed) -> None:
    neovim.phase("requests")
    hover = neovim.seen["hover"]["result"]
    assert hover["contents"]["kind"] == "markdown", "Neovim asks for markdown"
    assert "Activation function to use" in hover["contents"]["value"]
    start = BEFORE[5].index('"activation"')
    assert hover["range"] == {
        "start": {"line": 5, "character": start},
        "end": {"line": 5, "character": start + len('"activation"')},
    }


def test_neovim_diagnostics_follow_edits(neovim: Observed) -> None:
    fixed_key = neovim.edit("fix the key")
    assert fixed_key["line"] == FIXED_KEY[4]
    assert _layercfg(fixed_key["diagnostics"], "lnum", "col", "end_col") == _expected(
        FIXED_KEY, ["LCF105", "LCF104"], "bytes"
    ), neovim.explain()
    # An edit after non-ASCII text on the line: its UTF-16 range lands where it should.
    fixed_value = neovim.edit("fix the value")
    assert fixed_value["line"] == FIXED_VALUE[6]
    assert _layercfg(fixed_value["diagnostics"], "lnum", "col", "end_col") == _expected(
        FIXED_VALUE, ["LCF105"], "bytes"
    ), neovim.explain()


def test_neovim_columns_after_non_ascii_text(neovim: Observed) -> None:
    result = neovim.edit("non-ASCII name")
    assert result["line"] == NON_ASCII[6]
    assert _layercfg(result["diagnostics"], "lnum", "col", "end_col") == _expected(
        NON_ASCII, ["LCF105", "LCF104"], "bytes"
    ), neovim.explain()
    hover = result["hover"]["result"]
    assert hover, 'no hover inside "use_bias" after the non-ASCII name'
    assert hover["range"]["start"] == _position(NON_ASCII, 6, '"use_bias"', 0)


# --- Emacs ------------------------------------------------------------------------------

EMACS = shutil.which("emacs")


def _emacs_has_eglot() -> bool:
    if EMACS is None:
        return False
    result = subprocess.run(
        [EMACS, "--batch", "--eval", "(kill-emacs (if (require 'eglot nil t) 0 1))"],
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return result.returncode == 0


@pytest.fixture(scope="module")
def emacs(tmp_path_factory: pytest.TempPathFactory, plain_catalog: dict) -> Observed:
    """Emacs with editors/emacs/layercfg.el, eglot, flymake, eldoc and the real server."""
    if EMACS is None:
        pytest.skip("emacs is not installed (Debian: apt-get install emacs-nox elpa-eglot)")
    if not _emacs_has_eglot():
        pytest.skip("eglot is not available to emacs (Debian: apt-get install elpa-eglot)")
    project = _project(tmp_path_factory)
    home = tmp_path_factory.mktemp("emacs-home")
    out = home / "observed.json"
    key_start = BEFORE[4].index("unitz")
    params = {
        "layercfg_el": str(EDITORS / "emacs" / "layercfg.el"),
        "python": sys.executable,
        "file": str(project / "configs" / "dense.layercfg.json"),
        "out": str(out),
        "attach_seconds": ATTACH_SECONDS,
        "ready_seconds": READY_SECONDS,
        "diagnostics_seconds": DIAGNOSTICS_SECONDS,
        "request_seconds": REQUEST_SECONDS,
        "codes_before": sorted(MISTAKES),
        # Emacs positions count characters.
        "hover": {"line": 5, "character": BEFORE[5].index('"activation"') + 2},
        # Delete the wrong key's name, complete inside the empty "", take "units".
        "key": {
            "line": 4,
            "start": key_start,
            "end": key_start + len("unitz"),
            "accept": "units",
            "codes_after": ["LCF104", "LCF105"],
        },
        "edits": [
            {
                **_edit("non-ASCII name", FIXED_KEY, 6, '"use_bias"', NAME + '"use_bias"', "chars"),
                "hover": {"line": 6, "character": NON_ASCII[6].index('"use_bias"') + 2},
            },
            {
                **_edit("fix the value", NON_ASCII, 6, '"yes"', "true", "chars"),
                "codes_after": ["LCF105"],
            },
        ],
    }
    (home / "params.json").write_text(json.dumps(params, ensure_ascii=False), encoding="utf-8")
    env = _editor_env(home)
    env["LAYERCFG_DRIVER_PARAMS"] = str(home / "params.json")
    # Emacs keeps its state in HOME; the catalog's key reads ~/.keras, so HOME stays.
    command = [EMACS, "--batch", "-l", str(HERE / "drive_emacs.el")]
    return _run_editor(command, env, project, out)


def test_emacs_starts_the_server_through_eglot(emacs: Observed) -> None:
    emacs.phase("catalog ready")
    seen = emacs.seen
    assert seen["mode"] == "layercfg-json-mode"
    assert seen["server_class"] == "layercfg-eglot-server"
    assert seen["modeline"].startswith("layercfg[Keras "), seen["modeline"]
    assert "building" not in seen["statuses"], "the server loads the session's cached catalog"


def test_emacs_flymake_diagnostics(emacs: Observed) -> None:
    emacs.phase("diagnostics")
    before = emacs.seen["diagnostics_before"]
    assert _layercfg(before, "line", "col", "end_col") == _expected(
        BEFORE, ["LCF102", "LCF105", "LCF104"], "chars"
    ), emacs.explain()
    assert all(d["type"] == "eglot-error" for d in before)
    assert before[0]["text"].startswith("layercfg [LCF102]: Unknown key 'unitz'")


def test_emacs_completion_at_point(emacs: Observed) -> None:
    emacs.phase("completion")
    candidates = set(emacs.seen["key_candidates"])
    assert {"units", "kernel_initializer", "bias_initializer", "kernel_regularizer"} <= candidates
    assert not candidates & {"activation", "use_bias"}, "keys already written are not offered"
    # eglot applied the item's textEdit: the key is whole, quoted once.
    assert emacs.seen["accepted"] is True
    assert emacs.seen["key_line"] == FIXED_KEY[4]
    emacs.phase("diagnostics after completion")
    after = emacs.seen["diagnostics_after_completion"]
    assert _layercfg(after, "line", "col", "end_col") == _expected(
        FIXED_KEY, ["LCF105", "LCF104"], "chars"
    ), emacs.explain()


def test_emacs_hover(emacs: Observed) -> None:
    emacs.phase("diagnostics")
    hover = emacs.seen["hover"]
    assert hover, f"eldoc got no hover\n{emacs.explain()}"
    assert "Activation function to use" in hover
    if not emacs.seen["markdown_mode"]:
        assert "**" not in hover, "eglot without markdown-mode asks for plain text"


def test_emacs_diagnostics_follow_edits(emacs: Observed) -> None:
    result = emacs.edit("fix the value")
    assert result["line"] == FIXED_VALUE[6]
    assert _layercfg(result["diagnostics"], "line", "col", "end_col") == _expected(
        FIXED_VALUE, ["LCF105"], "chars"
    ), emacs.explain()


def test_emacs_columns_after_non_ascii_text(emacs: Observed) -> None:
    result = emacs.edit("non-ASCII name")
    assert result["line"] == NON_ASCII[6]
    assert _layercfg(result["diagnostics"], "line", "col", "end_col") == _expected(
        NON_ASCII, ["LCF105", "LCF104"], "chars"
    ), emacs.explain()
    assert result["hover_range"], 'no hover inside "use_bias" after the non-ASCII name'
    assert result["hover_range"]["start"] == _position(NON_ASCII, 6, '"use_bias"', 0)
