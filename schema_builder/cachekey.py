"""The catalog cache's key and location, computed without importing Keras.

The key is (implementation, its version, backend, layercfg's catalog format, a hash of the
custom modules' sources, a hash of the builder's own sources). The last one keeps a cache from
outliving an edit of the builder: a catalog built by other code is another file. The server
computes the key at start-up to find a cached catalog; it must stay cheap, so module sources
are found on disk rather than imported.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

# 2: "packages" (what each configured package gave); 3: the types of a built tf_keras
# layer's config, the exported schema's dispatch by registered_name and module; 4: by the
# package a registered_name or module names; 5: the exported schema checks nested envelopes
# where a class's schema says nothing (any_value, scan.*) and class names as the server does.
# 6: a null config (Keras reads it as {}) suits a class that requires nothing.
# 7: the same from one build to the next (sample names from a fresh count, sorted name tables
# and set-made token lists, no memory addresses); Keras's classes read before the modules.
# 8: enums from stated sets only; Keras objects, lists of str and keys typed from their docs.
CATALOG_FORMAT = 8


# The builder's sources: what a catalog's content depends on besides Keras and the modules.
_HERE = Path(__file__).resolve().parent
BUILDER_SOURCES = tuple(
    [
        _HERE / f"{name}.py"
        for name in (
            "cachekey",
            "catalog",
            "catalog_cache",
            "catalog_modules",
            "catalog_parts",
            "catalog_schema",
            "docstrings",
            "handles",
            "introspect",
            "keras_api",
            "keras_loading",
            "param_types",
            "probing",
            "protocol",
            "samples",
            "schema",
            "schema_dispatch",
        )
    ]
    + [_HERE.parent / "server" / "services" / f"{name}.py" for name in ("findings", "schema_match")]
)


def builder_hash() -> str:
    """A hash of the builder's sources (a dozen files, read in well under a millisecond)."""
    digest = hashlib.sha256()
    for file in BUILDER_SOURCES:
        try:
            digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
        except OSError:
            digest.update(file.name.encode() + b"\0<unreadable>\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheKey:
    implementation: str
    version: str
    backend: str
    modules: tuple[str, ...]
    modules_hash: str
    builder: str = ""

    @property
    def filename(self) -> str:
        return (
            f"catalog-f{CATALOG_FORMAT}-{self.implementation}-{self.version}-"
            f"{self.backend}-{self.modules_hash[:16]}-b{self.builder[:8]}.json"
        )

    @property
    def part_filename(self) -> str:
        """Where the part of a catalog read from the implementation itself is kept (its
        classes before any configured module is imported; see ``catalog_parts``): the
        same for every set of modules, so a package's build reuses what a build without
        modules (or another package's) read."""
        return (
            f"part-f{CATALOG_FORMAT}-{self.implementation}-{self.version}-"
            f"{self.backend}-b{self.builder[:8]}.json"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "format": CATALOG_FORMAT,
            "implementation": self.implementation,
            "version": self.version,
            "backend": self.backend,
            "modules": list(self.modules),
            "modules_hash": self.modules_hash,
            "builder": self.builder,
        }


def cache_dir() -> Path:
    """Where catalogs are kept: $LAYERCFG_CACHE_DIR, else the user's cache folder."""
    explicit = os.environ.get("LAYERCFG_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "layercfg"


def installed_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def configured_backend() -> str:
    """The backend Keras will pick: $KERAS_BACKEND, else keras.json, else tensorflow."""
    backend = os.environ.get("KERAS_BACKEND")
    if backend:
        return backend
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as handle:
            return str(json.load(handle).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def module_sources(name: str, search_path: list[str]) -> list[Path]:
    """Source files of a module's top-level package (or file), found without importing it."""
    top = name.split(".")[0]
    for entry in search_path:
        base = Path(entry or ".")
        package = base / top
        if (package / "__init__.py").is_file() or (package.is_dir() and name != top):
            return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
        single = base / f"{top}.py"
        if single.is_file():
            return [single]
    return []


def workspace_folders(modules: tuple[str, ...], root: str | None) -> list[str]:
    """The folders of a trusted workspace ``root`` that hold the top-level packages or files of
    ``modules`` (``root`` itself, or its ``src``): the only ones of it the worker puts on
    ``sys.path``, after everything else."""
    if not root or not modules:
        return []
    found: list[str] = []
    for folder in (root, os.path.join(root, "src")):
        for name in modules:
            top = name.split(".")[0]
            if (
                os.path.isfile(os.path.join(folder, top, "__init__.py"))
                or os.path.isfile(os.path.join(folder, f"{top}.py"))
                or (name != top and os.path.isdir(os.path.join(folder, top)))
            ) and folder not in found:
                found.append(folder)
    return found


def isolated_path() -> list[str]:
    """This interpreter's ``sys.path`` as ``python -I`` (the worker) has it: without the
    script's folder or the current directory, ``PYTHONPATH`` and the user's site-packages."""
    import site

    entries = list(sys.path)
    if not sys.flags.safe_path and entries:
        entries = entries[1:]  # the script's folder, or '' / the current directory
    dropped = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    user_site = getattr(site, "USER_SITE", None)
    if user_site:
        dropped.add(os.path.abspath(user_site))
    return [p for p in entries if p and os.path.abspath(p) not in dropped]


def search_path(
    modules: tuple[str, ...], workspace: str | None, base: list[str] | None = None
) -> list[str]:
    """Where the worker finds ``modules``, in its order: its own path first (``base``, by
    default what ``isolated_path`` says for this interpreter), then the workspace's folders.
    The server hashes the sources it finds along this path, the worker imports along it."""
    path = list(isolated_path() if base is None else base)
    path += [folder for folder in workspace_folders(modules, workspace) if folder not in path]
    return path


def hashed_sources(modules: tuple[str, ...], search: list[str]) -> dict[str, list[str]]:
    """Per module, the files ``modules_hash`` reads for it along ``search``."""
    return {name: [str(p.resolve()) for p in module_sources(name, search)] for name in modules}


def modules_hash(modules: tuple[str, ...], search_path: list[str] | None = None) -> str:
    digest = hashlib.sha256()
    path = list(search_path if search_path is not None else sys.path)
    for name in modules:
        digest.update(name.encode() + b"\0")
        files = module_sources(name, path)
        if not files:
            digest.update(b"<not found>\0")
        for file in files:
            try:
                digest.update(str(file.name).encode() + b"\0" + file.read_bytes() + b"\0")
            except OSError:
                digest.update(b"<unreadable>\0")
    return digest.hexdigest()


def compute(
    modules: tuple[str, ...] = (),
    implementation: str = "keras",
    search_path: list[str] | None = None,
) -> CacheKey:
    version = installed_version(implementation.replace("_", "-"))
    backend = configured_backend()
    if implementation == "tf_keras":
        # Its catalog holds tensorflow_hub.KerasLayer too; tf_keras runs on TensorFlow only.
        version = f"{version}+hub-{installed_version('tensorflow-hub')}"
        backend = "tensorflow"
    return CacheKey(
        implementation=implementation,
        version=version,
        backend=backend,
        modules=tuple(modules),
        modules_hash=modules_hash(tuple(modules), search_path),
        builder=builder_hash(),
    )
