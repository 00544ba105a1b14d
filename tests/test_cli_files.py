"""``layercfg check`` and ``upgrade`` on hostile trees: FIFOs, devices, symbolic links that
leave the tree or loop, files over the size cap, and writes that must not go through a link."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from layercfg import files
from layercfg.cli import main

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX file types")

GOOD = (
    '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 4},'
    ' "registered_name": null}\n'
)
# "unitz" has exactly one safe fix; the outside copies must never receive it.
FIXABLE = (
    '{\n  "module": "keras.layers",\n  "class_name": "Dense",\n'
    '  "config": {\n    "unitz": 4\n  },\n  "registered_name": null\n}\n'
)
LEGACY = (Path(__file__).parent / "data" / "validation" / "keras2_sequential.json").read_text()


@pytest.fixture(autouse=True)
def _catalog_cached(plain_catalog):
    """``check`` without ``--modules`` loads this catalog from the session cache."""


def run(args, env, timeout=120):
    """The command in a child process, so that a hang fails the test instead of blocking it."""
    return subprocess.run(
        [sys.executable, "-m", "layercfg", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("layercfg: error:")]


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("layercfg: note:")]


@pytest.fixture
def outside(tmp_path):
    """A folder next to the tree, with files a hostile tree links to."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.layercfg.json").write_text(FIXABLE)
    (folder / "legacy.layercfg.json").write_text(LEGACY)
    (folder / "broken.layercfg.json").write_text('{"class_name": ')
    return folder


@pytest.fixture
def tree(tmp_path):
    folder = tmp_path / "tree"
    folder.mkdir()
    (folder / "good.layercfg.json").write_text(GOOD)
    return folder


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


# -- what a walk reads -----------------------------------------------------------------------


def test_a_fifo_in_the_tree_is_skipped_without_blocking(subprocess_env, tree):
    os.mkfifo(tree / "a.layercfg.json")
    result = run(["check", "--format", "json", str(tree)], subprocess_env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [f["path"] for f in json.loads(result.stdout)["files"]] == [
        str(tree / "good.layercfg.json")
    ]
    (note,) = notes(result.stderr)
    fifo = tree / "a.layercfg.json"
    assert note == f"layercfg: note: {fifo}: skipped: a FIFO, not a regular file"


@pytest.mark.parametrize("name", ["fifo", "/dev/null", "/dev/zero"])
def test_a_path_named_that_is_not_a_regular_file_is_one_error_line(subprocess_env, tree, name):
    if name == "fifo":
        name = str(tree / "a.layercfg.json")
        os.mkfifo(name)
        kind = "a FIFO"
    elif not os.path.exists(name):
        pytest.skip(f"no {name}")
    else:
        kind = "a character device"
    for command in (["check"], ["check", "--fix"], ["upgrade"]):
        result = run([*command, str(tree), name], subprocess_env, timeout=60)
        assert result.returncode == 2, result.stderr
        assert errors(result.stderr) == [
            f"layercfg: error: {name} is {kind}, not a regular file or directory"
        ]
        assert result.stdout == ""  # nothing checked: the command line is wrong


def test_a_file_link_leaving_the_tree_is_skipped_and_not_read(tree, outside, capsys):
    (tree / "evil.layercfg.json").symlink_to(outside / "broken.layercfg.json")
    assert main(["check", str(tree)]) == 0  # the broken outside file was not read
    captured = capsys.readouterr()
    assert "broken" not in captured.out and "LCF" not in captured.out
    assert "1 file(s) checked, 0 problem(s)" in captured.out
    assert notes(captured.err) == [
        f"layercfg: note: {tree / 'evil.layercfg.json'}: skipped: symbolic link to a file "
        f"{outside / 'broken.layercfg.json'}, outside {tree}"
    ]


def test_a_directory_link_leaving_the_tree_is_not_entered(tree, outside, capsys):
    (tree / "models").symlink_to(outside, target_is_directory=True)
    assert main(["check", "--format", "json", str(tree)]) == 0
    captured = capsys.readouterr()
    assert [f["path"] for f in json.loads(captured.out)["files"]] == [
        str(tree / "good.layercfg.json")
    ]
    assert notes(captured.err) == [
        f"layercfg: note: {tree / 'models'}: skipped: symbolic link to a directory "
        f"{outside}, outside {tree}"
    ]


def test_links_inside_the_tree_are_fine(tree, capsys):
    sub = tree / "sub"
    sub.mkdir()
    (sub / "bad.layercfg.json").write_text(FIXABLE)
    (tree / "alias.layercfg.json").symlink_to("sub/bad.layercfg.json")
    (tree / "again").symlink_to("sub", target_is_directory=True)
    assert main(["check", str(tree)]) == 1
    captured = capsys.readouterr()
    assert notes(captured.err) == []
    reported = sorted(line.split(":")[0] for line in captured.out.splitlines() if "LCF" in line)
    # The file link is read; the directory link is not entered: its file is found once, at
    # its own path.
    assert reported == [str(tree / "alias.layercfg.json"), str(sub / "bad.layercfg.json")]
    assert "3 file(s) checked" in captured.out


def test_link_loops_end_the_walk(subprocess_env, tree):
    (tree / "self.layercfg.json").symlink_to("self.layercfg.json")
    (tree / "ping.layercfg.json").symlink_to("pong.layercfg.json")
    (tree / "pong.layercfg.json").symlink_to("ping.layercfg.json")
    (tree / "up").symlink_to(".", target_is_directory=True)
    (tree / "gone.layercfg.json").symlink_to("nowhere.layercfg.json")
    result = run(["check", str(tree)], subprocess_env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "1 file(s) checked, 0 problem(s)" in result.stdout
    skipped = {line.split(": ")[2]: line.split(": skipped: ")[1] for line in notes(result.stderr)}
    loop = "symbolic link that does not resolve (Too many levels of symbolic links)"
    assert skipped == {
        str(
            tree / "gone.layercfg.json"
        ): "symbolic link that does not resolve (No such file or directory)",
        str(tree / "ping.layercfg.json"): loop,
        str(tree / "pong.layercfg.json"): loop,
        str(tree / "self.layercfg.json"): loop,
    }


# -- the size cap ----------------------------------------------------------------------------


def test_a_file_over_the_cap_is_an_error_and_the_others_are_still_checked(tree, capsys):
    big = tree / "big.layercfg.json"
    big.write_text(GOOD[:-2] + " " * 3000 + "}\n")
    size = big.stat().st_size
    assert main(["check", "--max-size", "0.002", "--format", "json", str(tree)]) == 2
    captured = capsys.readouterr()
    assert [f["path"] for f in json.loads(captured.out)["files"]] == [
        str(tree / "good.layercfg.json")
    ]
    assert errors(captured.err) == [
        f"layercfg: error: {big}: not read: {size} bytes, larger than the size cap of "
        "2097 bytes (--max-size)"
    ]
    assert main(["check", "--max-size", "0.01", str(big)]) == 0  # under a larger cap


def test_the_cap_holds_for_a_file_larger_than_its_size_says():
    # /proc files say 0 bytes and have more: only a bounded read finds out.
    status = "/proc/self/status"
    if not os.path.isfile(status) or os.stat(status).st_size != 0:
        pytest.skip("no /proc")
    cap = "status: not read: larger than the size cap of 100 bytes"
    with pytest.raises(files.FileError, match=cap):
        files.read_document(status, 100)


def test_max_size_must_be_a_positive_number(tree, capsys):
    for value in ("0", "-1", "lots", "inf"):
        with pytest.raises(SystemExit) as exited:
            main(["check", "--max-size", value, str(tree)])
        assert exited.value.code == 2
        assert f"expects a positive number of MB, got '{value}'" in capsys.readouterr().err


# -- writes ----------------------------------------------------------------------------------


def test_fix_never_writes_through_a_link_leaving_the_tree(tree, outside, capsys):
    link = tree / "evil.layercfg.json"
    link.symlink_to(outside / "victim.layercfg.json")
    before = snapshot(outside)

    assert main(["check", "--fix", str(tree)]) == 0  # the walk does not even read it
    assert "skipped: symbolic link to a file" in capsys.readouterr().err

    # Named on the command line (a shell glob in a hostile tree does that), the link is read
    # and reported, and nothing is written through it.
    assert main(["check", "--fix", str(link)]) == 2
    captured = capsys.readouterr()
    assert errors(captured.err) == [
        f"layercfg: error: {link}: not written: it is a symbolic link, and layercfg never "
        f"writes through one; run it on {outside / 'victim.layercfg.json'}"
    ]
    assert "applied" not in captured.err
    assert f"{link}:5:5: LCF102" in captured.out  # the report is on the file as it is
    assert snapshot(outside) == before and link.is_symlink()


def test_upgrade_never_writes_through_a_link_leaving_the_tree(tree, outside, capsys):
    link = tree / "old.layercfg.json"
    link.symlink_to(outside / "legacy.layercfg.json")
    before = snapshot(outside)

    assert main(["upgrade", str(tree)]) == 0
    assert "skipped: symbolic link to a file" in capsys.readouterr().err

    assert main(["upgrade", str(link)]) == 2
    captured = capsys.readouterr()
    assert errors(captured.err) == [
        f"layercfg: error: {link}: not written: it is a symbolic link, and layercfg never "
        f"writes through one; run it on {outside / 'legacy.layercfg.json'}"
    ]
    assert "upgraded" not in captured.err
    assert snapshot(outside) == before and link.is_symlink()
    assert main(["upgrade", "--diff", str(link)]) == 0  # reading it is fine
    diff = capsys.readouterr().out
    assert f"+++ b/{link}" in diff and '"module": "keras"' in diff


def test_fix_refuses_a_link_inside_the_tree_too(tree, capsys):
    target = tree / "real.layercfg.json"
    target.write_text(FIXABLE)
    link = tree / "alias.layercfg.json"
    link.symlink_to("real.layercfg.json")
    assert main(["check", "--fix", str(link)]) == 2
    assert "it is a symbolic link" in capsys.readouterr().err
    assert target.read_text() == FIXABLE and link.is_symlink()
    # In a walk the target is fixed at its own path; the link then reads the fixed text.
    assert main(["check", "--fix", str(target)]) == 0
    assert '"units": 4' in target.read_text() and link.is_symlink()
    assert main(["check", "--fix", str(tree)]) == 0
    assert errors(capsys.readouterr().err) == []


def test_fix_replaces_the_file_keeping_its_mode_and_no_other_name(tree, outside, capsys):
    path = tree / "a.layercfg.json"
    path.write_text(FIXABLE)
    path.chmod(0o640)
    # A hard link is another name of the same file: replacing the file leaves it alone.
    os.link(path, outside / "hardlink.layercfg.json")
    assert main(["check", "--fix", str(tree)]) == 0
    assert f"layercfg: {path}: applied 1 fix" in capsys.readouterr().err
    assert path.read_text() == FIXABLE.replace("unitz", "units")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert (outside / "hardlink.layercfg.json").read_text() == FIXABLE
    assert sorted(p.name for p in tree.iterdir()) == ["a.layercfg.json", "good.layercfg.json"]


def test_an_interrupted_write_loses_nothing(tree, capsys, monkeypatch):
    path = tree / "a.layercfg.json"
    path.write_text(FIXABLE)

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", fail)
    assert main(["check", "--fix", str(path)]) == 2
    assert errors(capsys.readouterr().err) == [
        f"layercfg: error: cannot write {path}: No space left on device"
    ]
    assert path.read_text() == FIXABLE
    assert sorted(p.name for p in tree.iterdir()) == ["a.layercfg.json", "good.layercfg.json"]


def test_a_file_changed_after_it_was_read_is_not_overwritten(tree, capsys, monkeypatch):
    from layercfg.server.services import fix_safety

    path = tree / "a.layercfg.json"
    path.write_text(FIXABLE)
    apply_fixes = fix_safety.apply_fixes

    def edited_meanwhile(document, catalog, settings, **options):
        path.write_text(FIXABLE + " ")  # an editor saves while the fixes are computed
        return apply_fixes(document, catalog, settings, **options)

    monkeypatch.setattr(fix_safety, "apply_fixes", edited_meanwhile)
    assert main(["check", "--fix", str(path)]) == 2
    assert errors(capsys.readouterr().err) == [
        f"layercfg: error: {path}: not written: it changed after it was read"
    ]
    assert path.read_text() == FIXABLE + " "


@pytest.mark.timeout(20)
def test_a_fifo_put_in_place_of_a_file_is_not_opened_for_long(tree):
    # What the walk saw can change before the file is opened: the open does not block and
    # fstat decides.
    path = tree / "a.layercfg.json"
    os.mkfifo(path)
    with pytest.raises(files.FileError, match="not read: a FIFO, not a regular file"):
        files.read_document(str(path), 1 << 20)


def test_a_link_put_in_place_of_a_file_after_the_walk_is_not_followed(tree, outside):
    path = tree / "a.layercfg.json"
    path.write_text(GOOD)
    links: set[str] = set()
    assert str(path) in files.regular_files([str(tree)], links) and not links
    path.unlink()
    path.symlink_to(outside / "victim.layercfg.json")
    with pytest.raises(files.FileError, match="not read: it became a symbolic link"):
        files.read_document(str(path), 1 << 20, str(path) in links)


def test_an_hdf5_model_named_is_one_error_line_saying_what_it_is(tmp_path, capsys):
    h5 = tmp_path / "model.h5"
    h5.write_bytes(files.HDF5_SIGNATURE + b"\0" * 64)
    (tmp_path / "good.layercfg.json").write_text(GOOD)
    assert main(["check", str(h5), str(tmp_path / "good.layercfg.json")]) == 2
    out, err = capsys.readouterr()
    assert f"{h5}: not read: an HDF5 file (the legacy .h5 model format)" in err
    assert "LCF001" not in out and "1 file(s) checked, 0 problem(s)" in out
