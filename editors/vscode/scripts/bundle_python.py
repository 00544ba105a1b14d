"""Puts the layercfg language server into the extension, for the .vsix to carry.

- ``bundled/libs``: the server's dependencies (``bundled/requirements.txt``), installed from
  the package index with ``pip install --target --no-deps``, once per supported CPython so
  that the native packages (rpds-py, tree-sitter, jsonschema-rs) have a build for each; the
  pure-Python files are the same in every pass.
- ``bundled/tool``: the ``layercfg`` package alone, from a wheel of this repository. The
  Keras worker gets this folder (and nothing of ``libs``) on its ``sys.path``. The wheel goes
  to ``bundled/wheels``, for users who install layercfg into their interpreter.
- ``schemas/layercfg.schema.json``: ``layercfg schema`` (the generated JSON Schema), which
  VS Code's JSON support applies to ``*.layercfg.json`` when the server is not running.

Run from anywhere: ``python3 editors/vscode/scripts/bundle_python.py``. Needs pip and the
package index; Keras for the schema (skipped with ``--no-schema``, which keeps an existing
schema file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXTENSION = Path(__file__).resolve().parents[1]
ROOT = EXTENSION.parents[1]
BUNDLED = EXTENSION / "bundled"
REQUIREMENTS = BUNDLED / "requirements.txt"
SCHEMA = EXTENSION / "schemas" / "layercfg.schema.json"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64")


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bundle: {' '.join(command)} failed:\n{done.stdout}{done.stderr}")


def merge(source: Path, target: Path) -> None:
    """Copies what `target` does not have yet: a second CPython's native modules, by name."""
    for path in sorted(source.rglob("*")):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif not destination.exists():
            shutil.copy2(path, destination)


def clean(folder: Path) -> None:
    """No scripts (they name the build machine's interpreter), no byte code."""
    shutil.rmtree(folder / "bin", ignore_errors=True)
    for cache in list(folder.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def libs(work: Path, pythons: tuple[str, ...]) -> None:
    target = BUNDLED / "libs"
    stamp = target / ".bundle-stamp"
    wanted = hashlib.sha256(
        REQUIREMENTS.read_bytes() + repr((pythons, PLATFORMS)).encode()
    ).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return  # the same requirements for the same interpreters: nothing to download
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for version in pythons:
        one = work / f"libs-{version}"
        platforms = [arg for name in PLATFORMS for arg in ("--platform", name)]
        pip(
            "install",
            "--no-deps",
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            version,
            *platforms,
            "--target",
            str(one),
            "-r",
            str(REQUIREMENTS),
        )
        merge(one, target)
    clean(target)
    stamp.write_text(wanted)


def tool(work: Path) -> None:
    target = BUNDLED / "tool"
    shutil.rmtree(target, ignore_errors=True)
    wheels = work / "wheel"
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT))
    (wheel,) = wheels.glob("layercfg-*.whl")
    pip("install", "--no-deps", "--no-compile", "--target", str(target), str(wheel))
    clean(target)
    # The wheel itself too: "install layercfg" in the extension installs it from there.
    shipped = BUNDLED / "wheels"
    shutil.rmtree(shipped, ignore_errors=True)
    shipped.mkdir()
    shutil.copy2(wheel, shipped / wheel.name)


def schema() -> None:
    SCHEMA.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-m", "layercfg", "schema"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    if done.returncode != 0:
        sys.exit(f"bundle: layercfg schema failed:\n{done.stderr[-3000:]}")
    schema = json.loads(done.stdout)
    # VS Code's JSON support resolves the schema's own references against its $id, a web
    # address here, which it cannot (and must not) fetch: the file's place is its identity.
    schema.pop("$id", None)
    SCHEMA.write_text(json.dumps(schema, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-schema", action="store_true", help="keep the schema file as is")
    parser.add_argument(
        "--python",
        action="append",
        metavar="X.Y",
        help=f"a CPython to bundle native modules for (default {PYTHONS})",
    )
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="layercfg-bundle-") as work:
        libs(Path(work), tuple(args.python or PYTHONS))
        tool(Path(work))
    if not args.no_schema:
        schema()
    elif not SCHEMA.exists():
        sys.exit(f"bundle: --no-schema, and there is no {SCHEMA.relative_to(EXTENSION)}")
    size = sum(p.stat().st_size for p in BUNDLED.rglob("*") if p.is_file()) / 2**20
    print(
        f"bundle: server and {len(list((BUNDLED / 'libs').glob('*.dist-info')))} libraries "
        f"in bundled/ ({size:.1f} MB), in {time.monotonic() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
