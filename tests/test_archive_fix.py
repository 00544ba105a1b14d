"""``check --fix`` and ``--diff``, and ``upgrade --diff``, on ``.keras`` archives as on plain
files: what was fixed and left is said on stderr, the findings name the archive written, and
``--diff`` prints the changes without writing anything."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from keras_files import built


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    return built(tmp_path_factory)


@pytest.fixture(autouse=True)
def _catalog_cached(plain_catalog):
    """``check`` without ``--modules`` loads this catalog from the session cache."""


def run(args, env):
    return subprocess.run(
        [sys.executable, "-m", "layercfg", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _with_typos(source: Path, target: Path) -> None:
    """A copy whose config has an unknown key with one safe fix and an ambiguous activation."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                text = data.decode().replace('"units": 3', '"unitz": 3')
                data = text.replace('"activation": "linear"', '"activation": "relux"').encode()
            zout.writestr(info, data)


def _folder(tmp_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir())}


def test_check_diff_shows_the_archives_fixes_and_writes_nothing(tmp_path, saved, subprocess_env):
    archive = tmp_path / "typo.keras"
    _with_typos(saved / "k3_sequential.keras", archive)
    before = _folder(tmp_path)
    done = run(["check", "--diff", archive], subprocess_env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"--- a/{archive}!config.json\n+++ b/{archive}!config.json\n")
    assert '-          "unitz": 3,' in done.stdout and '+          "units": 3,' in done.stdout
    assert "Traceback" not in done.stderr
    assert _folder(tmp_path) == before


def test_check_fix_on_an_archive_says_what_it_fixed_and_left(tmp_path, saved, subprocess_env):
    archive = tmp_path / "typo.keras"
    _with_typos(saved / "k3_sequential.keras", archive)
    done = run(["check", "--fix", archive], subprocess_env)
    assert done.returncode == 1, done.stdout + done.stderr
    member = f"{archive}!config.json"
    assert f"layercfg: {member}: fixed LCF102 (safe): Change to 'units'" in done.stderr
    assert ": not fixed LCF105: unsafe fix: 'relux' is as close to" in done.stderr
    assert f"layercfg: {member}: applied 1 fix, 1 problem(s) left" in done.stderr
    # What is left is in the archive written, where the user fixes it.
    fixed = tmp_path / "typo.fixed.keras"
    (line,) = [x for x in done.stdout.splitlines() if ": LCF105 " in x]
    assert line.startswith(f"{fixed}!config.json:")
    config = json.loads(zipfile.ZipFile(fixed).read("config.json"))
    assert config["config"]["layers"][-1]["config"]["units"] == 3
    # --unsafe-fixes applies the best candidate of the ambiguous one too.
    done = run(
        ["check", "--fix", "--unsafe-fixes", "--output", tmp_path / "all.keras", archive],
        subprocess_env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "applied 2 fixes, 0 problem(s) left" in done.stderr


def test_upgrade_diff_of_an_archive_prints_the_upgrade(tmp_path, saved, subprocess_env):
    archive = tmp_path / "tf213_functional.keras"
    shutil.copy(saved / "tf213_functional.keras", archive)
    before = _folder(tmp_path)
    done = run(["upgrade", "--diff", archive], subprocess_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"--- a/{archive}!config.json\n")
    assert '+  "module": "keras.src.models.functional",' in done.stdout
    assert _folder(tmp_path) == before
