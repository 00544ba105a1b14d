"""The `vscode` marker, each test's outcome kept on its item so that fixtures can save what
the browser showed when a test failed, and the interpreters the extension is tried with."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vscode: drives a real VS Code (code-server) in headless Chromium"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


# -- a Python with Keras and nothing of layercfg ---------------------------------------------

KERAS_VENVS = Path(
    os.environ.get("LAYERCFG_KERAS_VENV_DIR", Path.home() / ".cache" / "layercfg-keras-venv")
)


def _installed(name: str) -> str:
    return importlib.metadata.version(name)


def _imports(python: str, name: str) -> bool:
    done = subprocess.run(
        [
            python,
            "-I",
            "-c",
            f"import importlib.util, sys; sys.exit(not importlib.util.find_spec({name!r}))",
        ],
        capture_output=True,
    )
    return done.returncode == 0


@pytest.fixture(scope="session")
def keras_python() -> str:
    """The interpreter of a venv that has Keras and TensorFlow (the versions this test run
    has, so its catalog matches the session's) and neither layercfg nor pygls: what a user of
    the bundled server has. Made with pip from the package index the first time (about a
    minute), then reused from `$LAYERCFG_KERAS_VENV_DIR`."""
    keras, tensorflow = _installed("keras"), _installed("tensorflow-cpu")
    folder = (
        KERAS_VENVS / f"py{sys.version_info[0]}{sys.version_info[1]}-keras-{keras}-tf-{tensorflow}"
    )
    python = str(folder / "bin" / "python")
    ready = folder / ".layercfg-ready"
    if not ready.exists():
        shutil.rmtree(folder, ignore_errors=True)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        done = subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                f"keras=={keras}",
                f"tensorflow-cpu=={tensorflow}",
            ],
            capture_output=True,
            text=True,
            timeout=1500,
        )
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            pytest.fail(
                f"pip install keras tensorflow-cpu failed:\n{done.stderr[-3000:]}", pytrace=False
            )
        ready.write_text(f"made in {time.monotonic() - started:.0f} s\n")
        print(f"vscode: Keras venv made in {time.monotonic() - started:.1f} s")
    assert _imports(python, "keras"), f"{python} cannot import keras"
    for name in ("layercfg", "pygls", "lsprotocol"):
        assert not _imports(python, name), f"{python} has {name}: not what this test needs"
    return python


@pytest.fixture(scope="session")
def pipless_python(tmp_path_factory) -> str:
    """A venv with the standard library only, not even pip: installing into it fails."""
    folder = tmp_path_factory.mktemp("pipless") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = str(folder / "bin" / "python")
    assert not _imports(python, "pip") and not _imports(python, "keras")
    return python
