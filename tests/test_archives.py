"""``.keras`` archives: ``check`` reads the config.json inside with zip-bomb caps and names the
member, tf.keras 2 archives get the upgrade, and ``upgrade``/``check --fix`` write a new
archive whose other members are byte for byte the original's. Archives saved by Keras in this
session."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from keras_files import built, load_with_keras

from layercfg.server import archives
from layercfg.server.document import Document


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    return built(tmp_path_factory)


@pytest.fixture(autouse=True)
def _catalog_cached(plain_catalog):
    """``check`` without ``--modules`` loads this catalog from the session cache."""


@pytest.fixture
def work(tmp_path, saved) -> Path:
    for path in saved.glob("*.keras"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def run(args, env, cwd=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "layercfg", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def with_config(source: Path, target: Path, edit) -> None:
    """A copy of an archive whose config.json is ``edit(text)``."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                data = edit(data.decode()).encode()
            zout.writestr(info, data)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


# -- the view ---------------------------------------------------------------------------------


def test_pretty_keeps_every_token():
    text = '{"a": [1, {"b": NaN}], "a": {}, "c": [], "d": "x, {y}: \\"z\\""}'
    view = archives.pretty(text)
    assert view.count("\n") > 5
    assert archives.compact(view) == text
    document = Document.parse("layercfg:///m.keras/config.json", view)
    codes = {p.code for p in document.problems}
    assert {"LCF002", "LCF003"} <= codes  # NaN and the duplicate stay the member's


def test_pretty_of_an_unfinished_text_does_not_fail():
    assert archives.pretty('{"a": [1, "unterminated').startswith("{")


def test_view_uri_round_trip(tmp_path):
    path = tmp_path / "my models" / "ünï.keras"
    uri = archives.view_uri(str(path))
    assert uri.startswith("layercfg://") and uri.endswith("/config.json")
    assert archives.parse_view_uri(uri) == (str(path.resolve()), "config.json")
    assert archives.parse_view_uri("file:///a/b.keras/config.json") is None
    assert archives.parse_view_uri("layercfg:///a/b.txt/config.json") is None


# -- check ------------------------------------------------------------------------------------


def test_archives_keras_saved_are_clean(work, subprocess_env):
    done = run(
        ["check", "--format", "json", work / "k3_sequential.keras", work / "k3_functional.keras"],
        subprocess_env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    files = json.loads(done.stdout)["files"]
    assert [(f["path"], f["member"]) for f in files] == [
        (str(work / "k3_sequential.keras"), "config.json"),
        (str(work / "k3_functional.keras"), "config.json"),
    ]
    assert all(d["severity"] != "error" for f in files for d in f["diagnostics"])


def test_a_mistake_is_located_in_the_member(work, subprocess_env):
    with_config(
        work / "k3_functional.keras",
        work / "typo.keras",
        lambda text: text.replace('"units": 5', '"units": "5"'),
    )
    before = snapshot(work)
    done = run(["check", work / "typo.keras"], subprocess_env)
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if "LCF104" in x)
    where = line.split(": LCF104")[0]
    assert where.startswith(f"{work / 'typo.keras'}!config.json:")
    row, column = map(int, where.rsplit(":", 2)[1:])
    view = archives.read(str(work / "typo.keras")).view
    assert view.splitlines()[row - 1][column - 1 :].startswith('"5"')
    assert snapshot(work) == before  # nothing extracted, nothing written
    sarif = json.loads(
        run(["check", "--format", "sarif", work / "typo.keras"], subprocess_env).stdout
    )
    location = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {
        "uri": str(work / "typo.keras"),
        "properties": {"member": "config.json"},
    }


def test_tf_keras_213_archive_is_an_error_with_the_upgrade(work, subprocess_env):
    done = run(
        [
            "check",
            "--format",
            "json",
            work / "tf213_functional.keras",
            work / "tf213_sequential.keras",
        ],
        subprocess_env,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    functional, sequential = json.loads(done.stdout)["files"]
    (legacy,) = [d for d in functional["diagnostics"] if d["code"] == "LCF108"]
    assert legacy["severity"] == "error" and legacy["pointer"] == "/module"
    assert "2.13.1" in legacy["message"] and "layercfg upgrade" in legacy["message"]
    # Keras 3 loads the Sequential one: a warning, not an error.
    assert [d["severity"] for d in sequential["diagnostics"] if d["code"] == "LCF108"] == [
        "warning"
    ]
    answers = load_with_keras(work / "tf213_functional.keras")
    assert not answers["tf213_functional.keras"]["loaded"]  # what the error says


def test_upgrade_writes_a_new_archive_keras_3_loads(work, saved, subprocess_env):
    original = work / "tf213_functional.keras"
    before = snapshot(work)
    done = run(["upgrade", original], subprocess_env)
    assert done.returncode == 0, done.stderr
    upgraded = work / "tf213_functional.upgraded.keras"
    assert snapshot(work).items() >= before.items()  # the original untouched
    old, new = members(original), members(upgraded)
    assert list(old) == list(new)
    assert all(old[name] == new[name] for name in old if name != "config.json")
    assert json.loads(new["config.json"])["module"] == "keras.src.models.functional"
    assert b"\n" not in new["config.json"]  # one line, as Keras writes it
    answers = load_with_keras(upgraded)
    assert answers[upgraded.name]["loaded"], answers
    kernel = np.load(saved / "tfk_functional_kernel.npy")
    np.testing.assert_allclose(answers[upgraded.name]["weights"]["dense"][0], kernel)
    again = run(["check", upgraded], subprocess_env)
    assert again.returncode == 0, again.stdout
    # A second run does not overwrite the new archive; --in-place replaces the original.
    refused = run(["upgrade", original], subprocess_env)
    assert refused.returncode == 2 and "exists" in refused.stderr
    assert members(upgraded) == new
    done = run(["upgrade", "--in-place", original], subprocess_env)
    assert done.returncode == 0, done.stderr
    assert members(original) == new


def test_upgrade_output_and_already_keras_3(work, subprocess_env):
    target = work / "out" / "new.keras"
    target.parent.mkdir()
    done = run(["upgrade", "--output", target, work / "tf213_sequential.keras"], subprocess_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(members(target)["config.json"])["config"]["layers"][0]["config"][
        "batch_shape"
    ] == [None, 4]
    before = snapshot(work)
    done = run(["upgrade", work / "k3_sequential.keras"], subprocess_env)
    assert done.returncode == 0 and "already in the Keras 3 format" in done.stderr
    assert snapshot(work) == before


def test_check_fix_writes_a_fixed_archive(work, subprocess_env):
    with_config(
        work / "k3_sequential.keras",
        work / "fixable.keras",
        lambda text: text.replace('"units": 3', '"unitz": 3'),
    )
    before = members(work / "fixable.keras")
    done = run(["check", "--fix", work / "fixable.keras"], subprocess_env)
    assert "fixed archive" in done.stderr, done.stderr
    assert members(work / "fixable.keras") == before
    fixed = members(work / "fixable.fixed.keras")
    assert fixed["model.weights.h5"] == before["model.weights.h5"]
    assert '"units": 3' in fixed["config.json"].decode()


def test_upgrade_never_writes_through_a_link(work, subprocess_env, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "victim.keras"
    shutil.copy(work / "k3_sequential.keras", elsewhere)
    victim = elsewhere.read_bytes()
    os.symlink(elsewhere, work / "tf213_functional.upgraded.keras")
    done = run(["upgrade", work / "tf213_functional.keras"], subprocess_env)
    assert done.returncode == 2
    assert elsewhere.read_bytes() == victim


# -- caps -------------------------------------------------------------------------------------


def _error(done) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    return done.stderr


def test_too_many_members_is_refused_before_the_directory_is_read(tmp_path, subprocess_env):
    path = tmp_path / "many.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        for index in range(archives.MAX_MEMBERS + 1):
            archive.writestr(f"assets/{index}", "")
    assert "more than the cap" in _error(run(["check", path], subprocess_env))


def test_declared_size_over_the_cap(tmp_path, subprocess_env, work):
    with_config(
        work / "k3_sequential.keras", tmp_path / "big.keras", lambda text: text + " " * 4096
    )
    stderr = _error(run(["check", "--max-size", "0.001", tmp_path / "big.keras"], subprocess_env))
    assert "declares" in stderr and "--max-size" in stderr


def test_compression_ratio_bomb(tmp_path, subprocess_env):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", "{" + " " * (8 << 20) + "}")
    assert "zip bomb" in _error(run(["check", path], subprocess_env))


def test_a_member_longer_than_its_header_says_is_cut_at_the_cap(tmp_path):
    path = tmp_path / "liar.keras"
    body = b'{"a": "' + b"x" * 200_000 + b'"}'
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", body)
    data = bytearray(path.read_bytes())
    # The declared uncompressed size, in the local header and the central directory: 100.
    local = data.find(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, 100)
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 100)
    path.write_bytes(bytes(data))
    with pytest.raises(archives.ArchiveError):
        archives.read(str(path), max_bytes=1000)


@pytest.mark.parametrize("name", ["../config.json", "/etc/x", "a\\b", "a/" * 40 + "x"])
def test_unsafe_member_names_are_refused(tmp_path, name):
    path = tmp_path / "names.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr(name, "x")
    with pytest.raises(archives.ArchiveError, match="member"):
        archives.read(str(path))


def test_two_config_members_are_refused(tmp_path):
    path = tmp_path / "twice.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", '{"class_name": "A", "config": {}}')
        with pytest.warns(UserWarning):
            archive.writestr("config.json", '{"class_name": "B", "config": {}}')
    with pytest.raises(archives.ArchiveError, match="twice"):
        archives.read(str(path))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_fifo_and_non_zip_and_no_config(tmp_path, subprocess_env):
    os.mkfifo(tmp_path / "fifo.keras")
    (tmp_path / "text.keras").write_text("not a zip")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as archive:
        archive.writestr("metadata.json", "{}")
    stderr = _error(
        run(
            ["check", tmp_path / "fifo.keras", tmp_path / "text.keras", tmp_path / "empty.keras"],
            subprocess_env,
            timeout=60,
        )
    )
    assert "not a regular file" in stderr
    assert "not a zip archive" in stderr
    assert "no config.json" in stderr


def test_detect_walk_skips_an_archive_link_that_leaves_the_tree(tmp_path, work, subprocess_env):
    tree = tmp_path / "tree"
    tree.mkdir()
    os.symlink(work / "tf213_functional.keras", tree / "outside.keras")
    done = run(["check", "--detect", tree], subprocess_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "outside" in done.stderr and "LCF108" not in done.stdout
