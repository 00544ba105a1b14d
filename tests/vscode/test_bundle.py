"""The server bundled in the VS Code extension (``editors/vscode/bundled``): it runs with a
Python that has neither layercfg nor pygls, and its Keras worker imports layercfg from the
bundle and from nowhere else: not from PYTHONPATH, the current directory, or a layercfg the
interpreter has installed.

The bundle is made by ``editors/vscode/scripts/bundle_python.py`` (the package index is needed
the first time; later runs reuse what is there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from layercfg.server import worker as worker_module
from layercfg.server.worker import WorkerClient, WorkerError

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "editors" / "vscode"
BUNDLED = EXTENSION / "bundled"


@pytest.fixture(scope="session")
def bundle() -> Path:
    done = subprocess.run(
        [sys.executable, str(EXTENSION / "scripts" / "bundle_python.py"), "--no-schema"]
        if (EXTENSION / "schemas" / "layercfg.schema.json").exists()
        else [sys.executable, str(EXTENSION / "scripts" / "bundle_python.py")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return BUNDLED


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory) -> str:
    """A CPython with the standard library only: no pip, no layercfg, no pygls, no Keras."""
    folder = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = str(folder / "bin" / "python")
    for name in ("layercfg", "pygls", "keras"):
        found = subprocess.run([python, "-I", "-c", f"import {name}"], capture_output=True)
        assert found.returncode != 0, f"{name} is importable by the bare venv"
    return python


def _message(body: dict) -> bytes:
    data = json.dumps(body).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(data), data)


def _read_message(stream) -> dict:
    length = 0
    while True:
        line = stream.readline()
        assert line, "the server closed its output"
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(stream.read(length))


def test_the_bundled_server_runs_with_a_python_that_has_no_layercfg_nor_pygls(
    bundle: Path, bare_python: str, tmp_path: Path
):
    # A current directory and a PYTHONPATH with a layercfg of their own: neither is imported.
    evil = tmp_path / "evil"
    (evil / "layercfg").mkdir(parents=True)
    (evil / "layercfg" / "__init__.py").write_text("raise SystemExit('the wrong layercfg')\n")
    (evil / "pygls").mkdir()
    (evil / "pygls" / "__init__.py").write_text("raise SystemExit('the wrong pygls')\n")
    env = dict(os.environ, PYTHONPATH=str(evil), LAYERCFG_CACHE_DIR=str(tmp_path / "cache"))
    process = subprocess.Popen(
        [bare_python, "-I", str(bundle / "launch.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=evil,
        env=env,
    )
    try:
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"processId": None, "rootUri": None, "capabilities": {}},
        }
        process.stdin.write(_message(initialize))
        process.stdin.flush()
        while True:
            answer = _read_message(process.stdout)
            if answer.get("id") == 1:
                break
        assert answer["result"]["serverInfo"]["name"] == "layercfg", answer
        assert "textDocumentSync" in answer["result"]["capabilities"]
        process.stdin.write(_message({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        process.stdin.write(_message({"jsonrpc": "2.0", "method": "exit"}))
        process.stdin.flush()
        assert process.wait(timeout=30) == 0, process.stderr.read().decode()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_bundled_launcher_names_the_bundle_for_the_worker(bundle: Path, bare_python: str):
    probe = (
        "import runpy, sys; sys.argv = ['launch.py', '--help']; "
        f"ns = runpy.run_path({str(bundle / 'launch.py')!r}, run_name='not_main'); "
        "from layercfg.server import worker; print(worker.BUNDLE_PATH); "
        "import layercfg, pygls; print(layercfg.__file__); print(pygls.__file__)"
    )
    done = subprocess.run([bare_python, "-I", "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    path, layercfg_file, pygls_file = done.stdout.split()
    assert path == str(bundle / "tool")
    assert layercfg_file.startswith(str(bundle / "tool"))
    assert pygls_file.startswith(str(bundle / "libs"))


def test_without_a_bundle_the_worker_command_is_the_installed_module(monkeypatch):
    monkeypatch.setattr(worker_module, "BUNDLE_PATH", None)
    assert worker_module.worker_command("py") == [
        "py",
        "-I",
        "-m",
        "layercfg.schema_builder.worker",
    ]


@pytest.fixture
def marked_bundle(bundle: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the bundle's layercfg that writes a file when it is imported."""
    tool = tmp_path / "tool"
    shutil.copytree(bundle / "tool", tool)
    mark = tmp_path / "imported-from-the-bundle"
    init = tool / "layercfg" / "__init__.py"
    init.write_text(
        init.read_text() + f"\nopen({str(mark)!r}, 'w').close()  # test mark\n",
        encoding="utf-8",
    )
    return tool, mark


async def test_a_worker_of_a_bundled_server_imports_layercfg_from_the_bundle(
    marked_bundle: tuple[Path, Path], monkeypatch, tmp_path: Path
):
    # This interpreter has layercfg installed, and PYTHONPATH names another: the bundle wins.
    tool, mark = marked_bundle
    evil = tmp_path / "evil"
    (evil / "layercfg").mkdir(parents=True)
    (evil / "layercfg" / "__init__.py").write_text("raise SystemExit('the wrong layercfg')\n")
    monkeypatch.setattr(worker_module, "BUNDLE_PATH", str(tool))
    monkeypatch.chdir(evil)
    env = dict(os.environ, PYTHONPATH=str(evil), TF_CPP_MIN_LOG_LEVEL="3")
    client = WorkerClient(sys.executable, env=env)
    try:
        answer = await client.request("ping", timeout=60)
    finally:
        await client.stop()
    assert isinstance(answer["pid"], int)
    assert mark.exists(), "the worker did not import the bundle's layercfg"


async def test_a_worker_whose_python_cannot_import_the_bundle_fails_with_the_reason(
    bare_python: str, monkeypatch, tmp_path: Path
):
    # A folder that is not a bundle: the worker exits, the request fails; nothing hangs.
    monkeypatch.setattr(worker_module, "BUNDLE_PATH", str(tmp_path / "no-such-folder"))
    client = WorkerClient(bare_python, env=dict(os.environ))
    try:
        with pytest.raises(WorkerError) as failure:
            await client.request("ping", timeout=60)
    finally:
        await client.stop()
    assert failure.value.kind in ("died", "protocol"), failure.value
