"""A non-editable install ships every module: build the wheel, import each module from it."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
    "layercfg": "layercfg",
    "server": "layercfg/server",
    "schema_builder": "layercfg/schema_builder",
}


def _sources() -> dict[str, str]:
    """Every product module: its path in the wheel -> its dotted name."""
    found = {}
    for folder, inside in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder)
            member = f"{inside}/{rel.as_posix()}"
            dotted = member[: -len(".py")].replace("/", ".").removesuffix(".__init__")
            found[member] = dotted
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("layercfg-*.whl")
    return built


def test_the_wheel_holds_every_module_and_the_command(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        console = archive.read(entry_points).decode()
    missing = sorted(set(_sources()) - names)
    assert not missing, f"modules left out of the wheel: {missing}"
    assert "layercfg = layercfg.cli:main" in console


def test_every_module_imports_from_the_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    # __main__ runs the command line when imported; it is shipped, checked by the first test.
    modules = sorted(name for name in set(_sources().values()) if not name.endswith("__main__"))
    # -S: no site module, so no .pth file (the editable install's finder among them) runs;
    # the dependencies come from the interpreter's site-packages, layercfg from the wheel.
    dependencies = sysconfig.get_paths()["purelib"]
    probe = (
        "import importlib, json, sys\n"
        f"sys.path[:0] = [{str(unpacked)!r}, {dependencies!r}]\n"
        "where = {}\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    where[name] = importlib.import_module(name).__file__\n"
        "print(json.dumps(where))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    where = json.loads(done.stdout.strip().splitlines()[-1])
    outside = {name: path for name, path in where.items() if not path.startswith(str(unpacked))}
    assert not outside, f"imported from outside the wheel: {outside}"


def test_the_vscode_bundle_pins_every_server_dependency() -> None:
    """The .vsix's bundled server has each of the server's dependencies (pyproject.toml)."""
    import re

    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    pinned = {
        line.split("==")[0].strip().lower()
        for line in (ROOT / "editors/vscode/bundled/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not wanted - pinned, f"not in the bundle: {sorted(wanted - pinned)}"
