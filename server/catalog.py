"""The server's read-only view of a catalog JSON (see ``schema_builder/catalog.py`` for its format):
class lookup for envelopes, schemas by ``$ref``, and the names Keras accepts per family."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from layercfg.schema_builder import cache_files
from layercfg.schema_builder.protocol import ClassEntry, read_catalog

# One class of the catalog's ``classes``: the builder's ClassEntry.
Entry = ClassEntry


# Families a layer position accepts: a model is a layer too.
LAYER_FAMILIES: frozenset[str] = frozenset({"layer", "model"})


class Catalog:
    """Lookups over one catalog, built once."""

    def __init__(self, data: Mapping[str, Any]):
        self.data = data
        # Documents checked against it are loaded as Keras 2 documents (tf_keras).
        self.keras2 = data.get("implementation") == "tf_keras"
        self.entries: list[Entry] = list(data.get("classes", []))
        self.names: dict[str, Any] = dict(data.get("names", {}))
        self.schema: dict[str, Any] = dict(data.get("schema", {}))
        self.defs: dict[str, Any] = self.schema.get("$defs", {})
        self.by_id: dict[str, Entry] = {}
        self.families: dict[str, list[Entry]] = {}
        self._by_registered: dict[str, Entry] = {}
        self._by_name_module: dict[tuple[str, str | None], Entry] = {}
        self._by_name: dict[str, list[Entry]] = {}
        for entry in self.entries:
            self.by_id[entry["id"]] = entry
            self.families.setdefault(entry["family"], []).append(entry)
            # Keras resolves registered names among registered (custom) objects only: the
            # "Functional" a built-in model carries does not find the class by itself.
            registered = entry.get("registered_name")
            if registered and entry.get("custom"):
                self._by_registered.setdefault(registered, entry)
            for name in class_names(entry):
                self._by_name_module.setdefault((name, entry.get("module")), entry)
                self._by_name.setdefault(name, []).append(entry)
        # Built-ins first, so that a custom class never shadows Keras's own by its bare name.
        for found in self._by_name.values():
            found.sort(key=lambda e: bool(e.get("custom")))
        self.modules: frozenset[str] = frozenset(
            module for e in self.entries if (module := e.get("module"))
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Catalog:
        return cls(data)

    @classmethod
    def load(cls, path: str | Path) -> Catalog:
        """The catalog cached at ``path``; OSError when it cannot be read, ValueError when it
        is not a catalog (then rebuilt)."""
        data = read_catalog(path)
        cache_files.mark_used(path)
        try:
            return cls(data)
        except (AttributeError, KeyError, TypeError) as exc:  # a class's other keys
            raise ValueError(f"not a catalog: {exc}") from None

    # -- classes -------------------------------------------------------------------------------
    def lookup(
        self, envelope: Mapping[str, Any], families: Collection[str] | None = None
    ) -> Entry | None:
        """The class an envelope names: by ``registered_name``, then ``class_name`` (aliases
        included) with ``module``, then ``class_name`` alone; only among ``families``."""

        def fits(entry: Entry | None) -> bool:
            return entry is not None and (families is None or entry["family"] in families)

        registered = envelope.get("registered_name")
        if isinstance(registered, str) and fits(found := self._by_registered.get(registered)):
            return found
        name = envelope.get("class_name")
        if not isinstance(name, str):
            return None
        module = envelope.get("module")
        if isinstance(module, str) and fits(found := self._by_name_module.get((name, module))):
            return found
        # A document of another package (keras_hub>RMSNormalization) names that package's
        # class, not a Keras built-in of the same class_name.
        package = named_package(envelope)
        return next(
            (
                e
                for e in self._by_name.get(name, ())
                if fits(e) and (package is None or package in _packages(e))
            ),
            None,
        )

    def find(self, class_name: str, families: Collection[str] | None = None) -> list[Entry]:
        """Every class called ``class_name`` (or aliased so) in ``families``."""
        return [
            e
            for e in self._by_name.get(class_name, ())
            if families is None or e["family"] in families
        ]

    def in_families(self, families: Iterable[str]) -> list[Entry]:
        return [e for family in families for e in self.families.get(family, ())]

    # -- schemas -------------------------------------------------------------------------------
    def resolve(self, ref: str) -> dict[str, Any] | None:
        """The schema a local ``#/$defs/...`` reference points at; None when there is none."""
        prefix = "#/$defs/"
        if not ref.startswith(prefix):
            return None
        return self.defs.get(ref[len(prefix) :].replace("~1", "/").replace("~0", "~"))

    def schema_for(self, entry: Entry) -> dict[str, Any]:
        """The config schema of a class ({} when the catalog has none)."""
        return self.resolve(entry.get("schema_ref") or f"#/$defs/{entry['id']}") or {}

    # -- names ---------------------------------------------------------------------------------
    def names_for(self, family: str) -> list[str]:
        """Strings Keras accepts for a family (``initializer``, ``activation``, ``dtype``...)."""
        return list(self.names.get(family, ()))


_KERAS_PACKAGES = frozenset({"keras_hub", "keras_cv", "keras_nlp"})


def _root(module: Any) -> str | None:
    return module.split(".")[0] if isinstance(module, str) and module else None


def _packages(entry: Entry) -> set[str | None]:
    registered = entry.get("registered_name")
    prefix = registered.split(">")[0] if isinstance(registered, str) else None
    return {_root(entry.get("module")), prefix}


def named_package(envelope: Mapping[str, Any]) -> str | None:
    """The package other than Keras an envelope's class is of: the one its
    ``registered_name`` names (``keras_hub>X``), else a Keras-allowlisted package its
    ``module`` is in (Keras imports those by module); None for Keras's own classes."""
    registered = envelope.get("registered_name")
    if isinstance(registered, str) and ">" in registered:
        package = registered.split(">")[0].split(".")[0]
        if package and package != "keras":
            return package
    root = _root(envelope.get("module"))
    return root if root in _KERAS_PACKAGES else None


def class_names(entry: Entry) -> list[str]:
    return [entry["class_name"], *entry.get("aliases", ())]


def store(folder: Path, filename: str, data: dict[str, Any]) -> Path | None:
    """Keep a catalog the worker built in the cache folder, atomically; None when the name is
    not a catalog's (the worker is not trusted to choose where the server writes)."""
    if not cache_files.CACHE_NAME.fullmatch(filename):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".catalog-", suffix=".json", dir=folder)
    try:
        # json.dumps: the C encoder (json.dump streams through the Python one, three times
        # slower on a keras_hub catalog); the text is the same.
        text = json.dumps(data, separators=(",", ":"))
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, folder / filename)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    cache_files.prune(folder, protect=filename)
    return folder / filename
