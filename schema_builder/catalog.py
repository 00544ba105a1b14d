"""The catalog: every class layercfg knows, with docs, signatures, sources and the JSON Schema.

Format (version ``cachekey.CATALOG_FORMAT``), one JSON object:

- ``key``: the cache key (implementation, version, backend, modules, modules_hash, builder:
  the hash of the builder's sources);
- ``classes``: list of class entries ``{id, class_name, aliases, module, registered_name,
  family, custom, summary, doc, doc_url, signature, source: {file, line}, params: {name:
  Param.to_json()}, accepts_kwargs, minimal_config, sample_config, instantiated,
  instantiate_error, schema_ref}``;
- ``names``: strings Keras accepts per family (``initializer`` -> {name: class_name},
  ``activation`` -> {name: summary}, ``dtype`` -> [names], ``quantization_modes``);
- ``skipped``: ``[{"what", "reason"}]`` for classes or modules that could not be read;
- ``packages``: per configured package, how many classes it registered and how many more
  its submodules define;
- ``schema``: the JSON Schema of a ``*.layercfg.json`` document;
- ``build_seconds``.

Beside the catalogs, the cache keeps one "part" per implementation and builder: its own
classes as a build read them, before any configured module was imported, which a build of any
modules then reuses instead of reading them again (``catalog_parts``). The schema of the
document beyond each class's config is ``catalog_schema``; the cache's files, ``catalog_cache``.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import logging
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, TypedDict, cast

from . import cache_files, cachekey, catalog_cache, catalog_modules, catalog_parts, docstrings
from .catalog_schema import (
    FUNCTIONAL_DOCS,
    HUB_CONSTRAINTS,
    HUB_PARAM_SCHEMAS,
    functional_schema,
    shared_defs,
)
from .introspect import ClassInfo, Introspector, Param
from .keras_api import KerasAPI
from .protocol import ClassEntry, read_catalog
from .schema import SCHEMA_DIALECT, SchemaEmitter
from .schema_dispatch import exported_checks

Progress = Callable[[str, int], None]


# -- the catalog's JSON, as typed dicts (the keys the module docstring lists) --------------------


# The base Layer's legacy keywords, which its docstring leaves out.
LAYER_KEYWORDS = {
    "input_dim": "Legacy: for a first layer, the size of its input's last axis (the same as "
    "`input_shape=(input_dim,)`). Keras 3 prefers an `InputLayer` before the layer.",
    "input_shape": "Legacy: for a first layer, the shape of its input without the batch axis. "
    "Keras 3 prefers an `InputLayer` before the layer.",
    "batch_input_shape": "Legacy (Keras 2): the shape of a first layer's input, batch axis "
    "included. Keras 3 writes `batch_shape` on an `InputLayer`.",
    "batch_size": "Legacy: the batch size of a first layer's input.",
}


class Skipped(TypedDict):
    """A class or module that could not be read (``skipped``)."""

    what: str
    reason: str


class _ForTheCache(TypedDict, total=False):
    # The implementation's own classes as this build read them, for the cache (never
    # stored in a catalog file; see CatalogBuilder).
    part: dict[str, Any]


class CatalogData(_ForTheCache):
    """The whole catalog, as written to its cache file and sent by the worker."""

    key: dict[str, Any]
    implementation: str
    keras_version: str
    backend: str
    classes: list[ClassEntry]
    names: dict[str, Any]
    skipped: list[Skipped]
    packages: dict[str, dict[str, int]]
    schema: dict[str, Any]
    build_seconds: float


class ModuleImportError(Exception):
    """A module named with --modules does not exist."""


def _class_id(info: ClassInfo) -> str:
    if info.custom and info.registered_name:
        return info.registered_name
    return f"{info.module}.{info.class_name}" if info.module else info.class_name


class CatalogBuilder:
    def __init__(
        self,
        implementation: str = "keras",
        modules: tuple[str, ...] = (),
        progress: Progress | None = None,
        strict_modules: bool = True,
        part: dict[str, Any] | None = None,
        cached_part: bool = True,
    ):
        """``part``: what an earlier build read from the implementation itself (its classes,
        as ``catalog_parts.part_json`` writes them), used instead of reading those classes again; by
        default (``cached_part``) the one in the cache, when there is one for this builder
        and Keras. ``self.part`` is what this build read itself, for the cache."""
        self.started = time.perf_counter()
        self.progress = progress or (lambda message, percent: None)
        self.modules = tuple(modules)
        self.strict_modules = strict_modules
        self.progress(f"importing {implementation}", 0)
        self.api = KerasAPI(implementation)
        self.introspector = Introspector(self.api)
        self.infos: list[ClassInfo] = []
        self.skipped: list[Skipped] = []
        self.package_counts: dict[str, dict[str, int]] = {}
        self._given_part = (
            part if part is not None or not cached_part else catalog_cache.read_part(implementation)
        )
        self.part: dict[str, Any] | None = None
        self.part_reused = False

    # -- gathering -------------------------------------------------------------------------------
    def _add(self, cls: type, family: str, **kwargs: Any) -> ClassInfo | None:
        try:
            info = self.introspector.inspect_class(cls, family, **kwargs)
        except Exception as exc:
            self.skipped.append(
                {
                    "what": f"{cls.__module__}.{cls.__name__}",
                    "reason": f"{type(exc).__name__}: {exc}",
                }
            )
            return None
        if not info.instantiated and info.instantiate_error:
            self.skipped.append(
                {
                    "what": f"{info.module}.{info.class_name}",
                    "reason": f"not instantiated ({info.instantiate_error}); "
                    "schema from the signature and docstring only",
                }
            )
        self.infos.append(info)
        return info

    def _builtin_family(self, family: str, module: str, classes: dict[str, type]) -> None:
        by_class: dict[type, list[str]] = {}
        for name, cls in sorted(classes.items()):
            by_class.setdefault(cls, []).append(name)
        for cls, names in by_class.items():
            info = self._add(cls, family, module=module)
            if info is not None:
                known = set(info.aliases) | set(names)
                info.aliases = sorted(known - {info.class_name})

    def gather(self) -> None:
        """The implementation's own classes first (from the part when one was given), then
        the configured modules, imported only now: what Keras's classes read as cannot
        depend on what the modules did at import."""
        if self._given_part is not None and self._use_part(self._given_part):
            self.part_reused = True
        else:
            self._gather_own()
            # Offered to the cache only when nothing of the configured modules had been
            # imported in this process before the classes were read.
            if not any(name.split(".")[0] in sys.modules for name in self.modules):
                self.part = catalog_parts.part_json(
                    self.api.name, self.infos, self.skipped, getattr(self, "_functional_id", None)
                )
        api = self.api
        imported = []
        for name in self.modules:
            before = dict(api.custom_objects())
            module = self._import_custom(name)
            if module is not None:
                imported.append((module, before))
        self.progress("reading custom modules", 85)
        for module, before in imported:
            if hasattr(module, "__path__"):
                self._package(module, before)
            else:
                self._custom_module(module)

    def _gather_own(self) -> None:
        api = self.api
        layers = api.layer_classes()
        self.progress(f"reading {len(layers)} layer classes", 5)
        self._builtin_family("layer", "keras.layers", layers)
        for cls in api.application_layer_classes().values():
            self._add(cls, "layer", module=cls.__module__)
        self.progress("reading initializers, regularizers, constraints", 70)
        for family, module in (
            ("initializer", "keras.initializers"),
            ("regularizer", "keras.regularizers"),
            ("constraint", "keras.constraints"),
        ):
            self._builtin_family(family, module, api.family_classes(family))
        self._builtin_family("dtype_policy", "keras", api.dtype_policy_classes())
        self.progress("reading model classes", 80)
        self._models()
        hub = api.hub_layer_class()
        if hub is not None:
            self.progress("reading tensorflow_hub.KerasLayer", 83)
            self._hub_layer(hub)
        self.progress("checking minimal configs with from_config", 84)
        self._loadable_minimal_configs()

    def _use_part(self, part: dict[str, Any]) -> bool:
        """Take the classes of a cached part; False (nothing taken) when it is not this
        build's (another builder or Keras) or names a class that is not there."""
        taken = catalog_parts.classes_of_part(part, self.api)
        if taken is None:
            return False
        infos, skipped = taken
        self.infos.extend(infos)
        self.skipped.extend(skipped)
        if part.get("functional_id"):
            self._functional_id = part["functional_id"]
        self.progress(f"{len(infos)} classes of {self.api.name} read from the cache", 80)
        return True

    def _models(self) -> None:
        models = self.api.model_classes()
        sequential = self._add(models["Sequential"], "model", module="keras")
        if sequential is not None:
            sequential.params["build_input_shape"] = Param(
                name="build_input_shape",
                in_config=True,
                has_default=True,
                description="Input shape the model was built with, batch dimension first.",
            )
        functional = self._add(
            models["Functional"],
            "model",
            module=self.api.functional_module(),
            registered_name="Functional",
            probe=False,
        )
        if functional is not None:
            self._functional_id = _class_id(functional)
            functional.aliases = ["Model"]
            functional.params = {
                name: Param(
                    name=name,
                    in_config=True,
                    required=name in ("layers", "input_layers", "output_layers"),
                    description=text,
                )
                for name, text in FUNCTIONAL_DOCS.items()
            }
            functional.params["trainable"].has_default = True
            functional.params["trainable"].default = True
            functional.minimal_config = {"layers": [], "input_layers": [], "output_layers": []}
            functional.instantiate_error = None
            self.skipped = [s for s in self.skipped if not s["what"].endswith(".Functional")]

    def _hub_layer(self, cls: type) -> None:
        """``tensorflow_hub.KerasLayer``, read like any class but instantiated with a tiny
        SavedModel written to a temp dir: no real model is ever loaded, nor downloaded.
        Its handle has no sample (``new`` asks for one), and the rules its constructor
        enforces between arguments join its schema."""
        from . import handles

        # Its arguments are documented under "Attributes:", not "Args:".
        documented = docstrings.parse((cls.__doc__ or "").replace("\n  Attributes:", "\n  Args:"))
        with tempfile.TemporaryDirectory(prefix="layercfg-hub-") as folder:
            try:
                self.introspector.samples_for[cls] = {
                    "handle": handles.write_probe_saved_model(folder)
                }
            except Exception as exc:  # the entry still comes from the signature and docs
                self.skipped.append(
                    {"what": "tensorflow_hub probe SavedModel", "reason": _exception_line(exc)}
                )
            info = self._add(
                cls,
                "layer",
                module="tensorflow_hub.keras_layer",
                registered_name="KerasLayer",
                probe=False,
            )
            self.introspector.samples_for.pop(cls, None)
        if info is None:
            return
        info.external = True
        for name in [n for n in info.params if n.startswith("_") or n == "load_options"]:
            # load_options is a tf.saved_model.LoadOptions object: no JSON stands for it.
            del info.params[name]
        for name, param in info.params.items():
            if name in documented.args:
                param.description, param.description_from = documented.args[name], None
        info.param_schemas = dict(HUB_PARAM_SCHEMAS)
        handle = info.params.get("handle")
        if handle is not None:
            handle.sample = handle.config_value = None
            handle.in_config = True
            handle.notes.append("a URL or a SavedModel folder; layercfg never downloads it")
        if info.sample_config is not None:
            info.sample_config.pop("handle", None)
        info.minimal_config = {"handle": None}
        info.notes.append("built with a probe SavedModel; no real model was loaded")
        info.constraints = HUB_CONSTRAINTS

    def _import_custom(self, name: str) -> ModuleType | None:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if self.strict_modules and exc.name and name.startswith(exc.name):
                raise ModuleImportError(f"no module named {name!r}") from None
            self.skipped.append({"what": f"module {name}", "reason": _exception_line(exc)})
        except Exception as exc:  # a broken custom module must not stop the catalog
            self.skipped.append({"what": f"module {name}", "reason": _exception_line(exc)})
        return None

    def _add_custom(self, cls: type, family: str, source: str, **kwargs: Any) -> None:
        registered = self.api.registered_name(cls)
        info = self._add(
            cls,
            family,
            module=cls.__module__,
            registered_name=registered if registered != cls.__name__ else None,
            custom=True,
            **kwargs,
        )
        if info is not None:
            info.source_of = source

    def _custom_module(self, module: ModuleType) -> None:
        for cls in catalog_modules.module_classes(module):
            family = catalog_modules.family_of(self.api, cls)
            if family is not None:
                self._add_custom(cls, family, "module")

    def _package(self, package: ModuleType, before: dict[str, Any]) -> None:
        """A package means every class it registers with Keras (``register_keras_serializable``,
        read from Keras's registry before and after its import, and anything registered under
        its own module path when it was imported earlier), plus the classes its imported
        submodules define. Models of a package are read from their signature and docstring:
        building every backbone would take minutes."""
        found = catalog_modules.package_classes(self.api, package, before)
        counts: Counter[str] = Counter()
        self.progress(f"reading {len(found)} classes of {package.__name__}", 86)
        for cls, source in found:
            family = catalog_modules.family_of(self.api, cls)
            if family is None or inspect.isabstract(cls):
                continue
            # Only registered layers are built (and probed); a class only defined in a
            # submodule is an internal part, read from its signature and docstring.
            built = family != "model" and source == "registered"
            self._add_custom(cls, family, source, instantiate=built)
            counts[source] += 1
        self.package_counts[package.__name__] = dict(counts)

    # -- emitting --------------------------------------------------------------------------------
    def names(self) -> dict[str, Any]:
        api = self.api
        activations = {}
        for name, fn in sorted(api.activation_functions().items()):
            activations[name] = docstrings.parse(fn.__doc__).summary
        for registered, obj in api.custom_objects().items():
            if inspect.isfunction(obj):
                activations[registered] = docstrings.parse(obj.__doc__).summary
        names: dict[str, Any] = {
            family: api.family_names(family)
            for family in ("initializer", "regularizer", "constraint")
        }
        # Sorted: Keras's tables (and a package's registrations) come in an order that
        # depends on the interpreter's hash seed.
        names = {family: dict(sorted(table.items())) for family, table in names.items()}
        names["activation"] = dict(sorted(activations.items()))
        names["dtype"] = api.dtype_names()
        names["quantization_modes"] = api.quantization_modes()
        return names

    def _borrow_descriptions(self) -> None:
        """Keras leaves some arguments undocumented in one class and documents them in another
        (``data_format``, ``seed``, ``fill_mode``...); borrow the most common description."""
        seen: dict[str, Counter[str]] = {}
        owner: dict[tuple[str, str], str] = {}
        for info in self.infos:
            for name, param in info.params.items():
                if param.description:
                    seen.setdefault(name, Counter())[param.description] += 1
                    owner.setdefault((name, param.description), info.class_name)
        for info in self.infos:
            for name, param in info.params.items():
                if param.description:
                    continue
                if param.inherited:
                    # A keyword the base Layer takes (``input_dim``) means what the base says,
                    # not what a class with an argument of that name means by it (Embedding's
                    # ``input_dim`` is a vocabulary size).
                    param.description = LAYER_KEYWORDS.get(name, param.description)
                    continue
                if name in seen:
                    text = seen[name].most_common(1)[0][0]
                    param.description = text
                    param.description_from = owner[(name, text)]

    def _loadable_minimal_configs(self) -> None:
        """A minimal config must load with ``from_config``; where the signature's required
        arguments are not enough (``Rescaling`` needs ``offset``), take what get_config wrote."""
        for info in self.infos:
            if info.family not in ("layer", "initializer", "regularizer", "constraint"):
                continue
            if info.custom or info.external or not info.instantiated or info.sample_config is None:
                continue
            if self._loads(info, info.minimal_config):
                continue
            base = ("name", "trainable", "dtype")
            fuller = {
                **info.minimal_config,
                **{k: v for k, v in info.sample_config.items() if k not in base},
            }
            if self._loads(info, fuller):
                info.minimal_config = fuller
            else:
                info.notes.append("no minimal config that from_config accepts was found")

    def _loads(self, info: ClassInfo, config: dict[str, Any]) -> bool:
        envelope = {
            "module": info.module,
            "class_name": info.class_name,
            "config": config,
            "registered_name": info.registered_name,
        }
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.api.deserialize(json.loads(json.dumps(envelope)))
        except Exception:
            return False
        return True

    def build(self) -> CatalogData:
        with _python_logs_quiet():
            return self._build()

    def _build(self) -> CatalogData:
        self.gather()
        self._borrow_descriptions()
        self.progress("emitting the schema", 90)
        names = self.names()
        families: dict[str, str] = {}
        for info in self.infos:
            for class_name in [info.class_name, *info.aliases]:
                families.setdefault(class_name, info.family)
        emitter = SchemaEmitter(names, families)
        defs: dict[str, Any] = {}
        classes = []
        for info in self.infos:
            class_id = _class_id(info)
            defs[class_id] = emitter.config_schema(info)
            classes.append(self._entry(info, class_id))
        functional_schema(defs, getattr(self, "_functional_id", ""))
        defs.update(shared_defs(self.infos, names))
        defs.update(exported_checks(defs, self.infos, _class_id))
        schema = {
            "$schema": SCHEMA_DIALECT,
            "$id": "https://layercfg.dev/schema/layercfg.schema.json",
            "title": "Keras layer or model config (*.layercfg.json)",
            "description": f"Generated by layercfg from {self.api.name} {self.api.version} "
            f"({self.api.backend} backend).",
            "$ref": "#/$defs/envelope.layer",
            "$defs": defs,
        }
        key = cachekey.compute(self.modules, self.api.name)
        data: CatalogData = {
            "key": key.to_json(),
            "implementation": self.api.name,
            "keras_version": self.api.version,
            "backend": self.api.backend,
            "classes": classes,
            "names": names,
            "skipped": self.skipped,
            # Per configured package: how many classes it registered with Keras and how many
            # more its submodules define ({"keras_hub": {"registered": 432, "defined": 351}}).
            "packages": self.package_counts,
            "schema": schema,
            "build_seconds": round(time.perf_counter() - self.started, 3),
        }
        if self.part is not None and not self.modules:
            # For the cache (the server stores it apart, from a build without modules only,
            # and drops it from the catalog): the next package build reuses it.
            data["part"] = self.part
        return data

    def _entry(self, info: ClassInfo, class_id: str) -> ClassEntry:
        return {
            "id": class_id,
            "class_name": info.class_name,
            "aliases": info.aliases,
            "module": info.module,
            "registered_name": info.registered_name,
            "family": info.family,
            "custom": info.custom,
            "summary": info.summary,
            "doc": info.doc,
            "doc_url": _doc_url(info),
            "signature": info.signature,
            "source": {"file": info.source_file, "line": info.source_line},
            "params": {name: p.to_json() for name, p in info.params.items()},
            "accepts_kwargs": info.accepts_kwargs,
            "minimal_config": info.minimal_config,
            "sample_config": info.sample_config,
            "instantiated": info.instantiated,
            "instantiate_error": info.instantiate_error,
            "notes": info.notes,
            "schema_ref": f"#/$defs/{class_id}",
        }


def _doc_url(info: ClassInfo) -> str | None:
    if info.custom:
        return None
    return f"https://keras.io/search.html?query={info.class_name}"


def _exception_line(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return lines[-1].strip() if lines else type(exc).__name__


@contextlib.contextmanager
def _python_logs_quiet() -> Iterator[None]:
    """TensorFlow's and absl's Python loggers kept to errors: tf_keras logs a warning, twice,
    for each deprecated argument the builder probes, which is no news to the user."""
    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# -- the catalog, from the cache or built -------------------------------------------------------


def load_or_build(
    modules: tuple[str, ...] = (),
    implementation: str = "keras",
    progress: Progress | None = None,
    rebuild: bool = False,
) -> CatalogData:
    """The cached catalog for this key, built (and cached) when missing or stale. A
    ``rebuild`` reads Keras's own classes again too, instead of taking the cached part."""
    path = catalog_cache.cache_path(modules, implementation)
    if not rebuild and path.is_file():
        try:
            data = cast(CatalogData, read_catalog(path))
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt
        else:
            cache_files.mark_used(path)
            return data
    builder = CatalogBuilder(implementation, modules, progress, cached_part=not rebuild)
    data = builder.build()
    data.pop("part", None)
    if builder.part is not None:
        catalog_cache.write_atomically(catalog_cache.part_path(implementation), builder.part)
    catalog_cache.write_atomically(path, data)
    cache_files.prune(path.parent, protect=path.name)
    return data
