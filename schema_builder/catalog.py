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
- ``schema``: the JSON Schema of a ``*.layercfg.json`` document;
- ``build_seconds``.

Beside the catalogs, the cache keeps one "part" per implementation and builder: its own
classes as a build read them, before any configured module was imported, which a build of any
modules then reuses instead of reading them again (``CatalogBuilder``, ``_part_json``).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import os
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypedDict, cast

from . import cache_files, cachekey, docstrings
from .introspect import ClassInfo, Introspector, Param
from .keras_api import KerasAPI
from .protocol import ClassEntry, read_cached, read_catalog
from .schema import ENVELOPE_KEYS, SCHEMA_DIALECT, SchemaEmitter
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
    schema: dict[str, Any]
    build_seconds: float


_FUNCTIONAL_DOCS = {
    "name": "Name of the model.",
    "trainable": "Boolean, whether the model's variables should be trainable.",
    "layers": "The model's layers, each an envelope with its `name` and `inbound_nodes`.",
    "input_layers": "The model's inputs as `[layer_name, node_index, tensor_index]` entries.",
    "output_layers": "The model's outputs as `[layer_name, node_index, tensor_index]` entries.",
}


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
        as ``_part_json`` writes them), used instead of reading those classes again; by
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
            part if part is not None or not cached_part else read_part(implementation)
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
                self.part = self._part_json()
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

    # -- the implementation's part, cached apart from the modules' ---------------------------------
    def _part_json(self) -> dict[str, Any]:
        """The classes read so far (the implementation's own), as JSON: each ClassInfo as it
        is before anything of the whole catalog (borrowed descriptions) touches it."""
        infos = []
        for info in self.infos:
            fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}
            fields["cls"] = [info.cls.__module__, info.cls.__qualname__]
            fields["params"] = {
                name: {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
                for name, p in info.params.items()
            }
            infos.append(fields)
        part = {
            "key": self._part_key(),
            "infos": infos,
            "skipped": list(self.skipped),
            "functional_id": getattr(self, "_functional_id", None),
        }
        # Through JSON now, so that a build using it and the build that made it agree.
        result: dict[str, Any] = json.loads(json.dumps(part))
        return result

    def _part_key(self) -> dict[str, Any]:
        key = cachekey.compute((), self.api.name)
        return {"filename": key.part_filename, "builder": key.builder}

    def _use_part(self, part: dict[str, Any]) -> bool:
        """Take the classes of a cached part; False (nothing taken) when it is not this
        build's (another builder or Keras) or names a class that is not there."""
        if not isinstance(part, dict) or part.get("key") != self._part_key():
            return False
        # tensorflow_hub is imported as a build imports it, before its KerasLayer is looked up.
        self.api.hub_layer_class()
        packages = {self.api.name, "tensorflow_hub"} if self.api.legacy else {self.api.name}
        try:
            infos = []
            for fields in part["infos"]:
                fields = dict(fields)
                fields["cls"] = _resolve(*fields["cls"], packages=packages)
                fields["params"] = {n: Param(**p) for n, p in fields["params"].items()}
                infos.append(ClassInfo(**fields))
            skipped = [Skipped(what=s["what"], reason=s["reason"]) for s in part["skipped"]]
        except (KeyError, TypeError, ValueError, AttributeError, LookupError):
            return False
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
                for name, text in _FUNCTIONAL_DOCS.items()
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
        info.param_schemas = dict(_HUB_PARAM_SCHEMAS)
        handle = info.params.get("handle")
        if handle is not None:
            handle.sample = handle.config_value = None
            handle.in_config = True
            handle.notes.append("a URL or a SavedModel folder; layercfg never downloads it")
        if info.sample_config is not None:
            info.sample_config.pop("handle", None)
        info.minimal_config = {"handle": None}
        info.notes.append("built with a probe SavedModel; no real model was loaded")
        info.constraints = _HUB_CONSTRAINTS

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

    def _family_of(self, cls: type) -> str | None:
        keras = self.api.keras
        bases = [
            (keras.Model, "model"),
            (keras.layers.Layer, "layer"),
            (keras.initializers.Initializer, "initializer"),
            (keras.regularizers.Regularizer, "regularizer"),
            (keras.constraints.Constraint, "constraint"),
        ]
        return next((fam for base, fam in bases if issubclass(cls, base)), None)

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
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            family = self._family_of(cls)
            if family is not None:
                self._add_custom(cls, family, "module")

    def _package(self, package: ModuleType, before: dict[str, Any]) -> None:
        """A package means every class it registers with Keras (``register_keras_serializable``,
        read from Keras's registry before and after its import, and anything registered under
        its own module path when it was imported earlier), plus the classes its imported
        submodules define. Models of a package are read from their signature and docstring:
        building every backbone would take minutes."""
        name = package.__name__
        prefix = name + "."

        def mine(module: Any) -> bool:
            return isinstance(module, str) and (module == name or module.startswith(prefix))

        found: dict[type, str] = {}
        for key, obj in self.api.custom_objects().items():
            if not inspect.isclass(obj) or obj in found:
                continue
            if key not in before or mine(obj.__module__):
                found[obj] = "registered"
        for module_name, module in sorted(sys.modules.items()):
            if not mine(module_name) or module is None:
                continue
            for cls in list(vars(module).values()):
                if inspect.isclass(cls) and cls.__module__ == module_name and cls not in found:
                    found[cls] = "defined"
        counts: Counter[str] = Counter()
        self.progress(f"reading {len(found)} classes of {name}", 86)
        for cls, source in sorted(found.items(), key=lambda item: _qualified(item[0])):
            family = self._family_of(cls)
            if family is None or inspect.isabstract(cls):
                continue
            # Only registered layers are built (and probed); a class only defined in a
            # submodule is an internal part, read from its signature and docstring.
            built = family != "model" and source == "registered"
            self._add_custom(cls, family, source, instantiate=built)
            counts[source] += 1
        self.package_counts[name] = dict(counts)

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
        self.gather()
        self._borrow_descriptions()
        self.progress("emitting the schema", 90)
        names = self.names()
        families = {}
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
        self._functional_schema(defs)
        defs.update(_shared_defs(self.infos, names))
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

    def _functional_schema(self, defs: dict[str, Any]) -> None:
        node_ref = {"type": "array", "items": {"$ref": "#/$defs/layer_reference"}}
        schema = defs.get(getattr(self, "_functional_id", "")) or defs.get("Functional")
        if schema is None:
            return
        props = schema["properties"]
        props["name"] = {"type": ["string", "null"], "description": _FUNCTIONAL_DOCS["name"]}
        props["trainable"] = {
            "type": "boolean",
            "default": True,
            "description": _FUNCTIONAL_DOCS["trainable"],
        }
        props["layers"] = {
            "type": "array",
            "items": {"$ref": "#/$defs/functional_layer"},
            "description": _FUNCTIONAL_DOCS["layers"],
        }
        for key in ("input_layers", "output_layers"):
            props[key] = {
                "anyOf": [{"$ref": "#/$defs/layer_reference"}, node_ref, {"type": "object"}],
                "description": _FUNCTIONAL_DOCS[key],
            }
        props["dtype"] = {"$ref": "#/$defs/dtype"}


_HUB_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    # get_config() refuses a handle that is not a string.
    "handle": {"type": "string", "pattern": "\\S"},
    "arguments": {"type": ["object", "null"]},
    "tags": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {"type": "null"},
        ]
    },
    "signature": {"type": ["string", "null"]},
    "signature_outputs_as_dict": {"type": ["boolean", "null"]},
    "output_key": {"type": ["string", "null"]},
    "output_shape": {"type": ["array", "null"]},
}

# What hub.KerasLayer.__init__ (and its call) enforce between arguments: with a signature,
# exactly one of output_key and signature_outputs_as_dict=True, and never trainable=True.
_SIGNATURE_GIVEN = {"properties": {"signature": {"type": "string"}}, "required": ["signature"]}
_HUB_CONSTRAINTS: list[dict[str, Any]] = [
    {
        "if": _SIGNATURE_GIVEN,
        "then": {
            "anyOf": [
                {
                    "properties": {
                        "output_key": {"type": "string"},
                        "signature_outputs_as_dict": {"enum": [False, None]},
                    },
                    "required": ["output_key"],
                },
                {
                    "properties": {
                        "signature_outputs_as_dict": {"const": True},
                        "output_key": {"type": "null"},
                    },
                    "required": ["signature_outputs_as_dict"],
                },
            ],
            "description": "With a `signature`, set exactly one of `output_key` and "
            "`signature_outputs_as_dict: true`.",
        },
    },
    {
        "if": _SIGNATURE_GIVEN,
        "then": {
            "properties": {"trainable": {"const": False}},
            "description": "A SavedModel signature cannot be trained: `trainable` must be "
            "false with a `signature`.",
        },
    },
]


def _shared_defs(infos: list[ClassInfo], names: dict[str, Any]) -> dict[str, Any]:
    """Envelopes per family (a class picked as the server picks it), activations, dtypes,
    Functional parts."""
    defs: dict[str, Any] = {}
    by_family: dict[str, list[ClassInfo]] = {}
    for info in infos:
        by_family.setdefault(info.family, []).append(info)
    layer_like = by_family.get("layer", []) + by_family.get("model", [])
    for family, members in (
        ("layer", layer_like),
        ("initializer", by_family.get("initializer", [])),
        ("regularizer", by_family.get("regularizer", [])),
        ("constraint", by_family.get("constraint", [])),
        ("dtype_policy", by_family.get("dtype_policy", [])),
    ):
        class_names = sorted({n for info in members for n in [info.class_name, *info.aliases]})
        defs[f"envelope.{family}"] = _envelope(family, class_names, members)
    functional = dict(defs["envelope.layer"])
    functional["properties"] = {
        **functional["properties"],
        "name": {"type": "string", "description": "The layer's name in this model."},
        "inbound_nodes": {
            "type": "array",
            "items": {"$ref": "#/$defs/node"},
            "description": "Calls of this layer: arguments and keyword arguments.",
        },
    }
    functional["allOf"] = [
        {"$ref": "#/$defs/dispatch.layer"},
        {"$ref": "#/$defs/scan.functional_layer"},
    ]
    functional.pop("defaultSnippets", None)
    functional["required"] = [*functional["required"], "name", "inbound_nodes"]
    defs["functional_layer"] = functional
    defs["layer_reference"] = {
        "type": "array",
        "prefixItems": [
            {"type": "string"},
            {"type": "integer", "minimum": 0},
            {"type": "integer", "minimum": 0},
        ],
        "minItems": 3,
        "maxItems": 3,
        "description": "[layer_name, node_index, tensor_index]",
    }
    defs["node"] = {
        "anyOf": [
            {
                "type": "object",
                "properties": {"args": {"type": "array"}, "kwargs": {"type": "object"}},
                "additionalProperties": False,
            },
            {"type": "array"},
        ]
    }
    activation_names = sorted(names["activation"])
    defs["activation"] = {
        "anyOf": [
            {
                "type": "string",
                "enum": activation_names,
                "enumDescriptions": [names["activation"][n] for n in activation_names],
            },
            {
                "type": "object",
                "required": ["class_name", "config"],
                "properties": {
                    "module": {"type": ["string", "null"]},
                    "class_name": {"const": "function"},
                    "config": {"type": "string"},
                    "registered_name": {"type": ["string", "null"]},
                },
                "additionalProperties": False,
            },
            {"$ref": "#/$defs/envelope.layer"},
            {"type": "null"},
        ]
    }
    modes = "|".join(names["quantization_modes"]) or "int8"
    defs["dtype"] = {
        "anyOf": [
            {"type": "string", "enum": names["dtype"]},
            {"type": "string", "pattern": f"^({modes})_from_[a-z0-9_]+$"},
            {"$ref": "#/$defs/envelope.dtype_policy"},
            {"type": "null"},
        ]
    }
    return defs


def _envelope(family: str, class_names: list[str], members: list[ClassInfo]) -> dict[str, Any]:
    summaries = {}
    for info in members:
        for name in [info.class_name, *info.aliases]:
            summaries.setdefault(name, info.summary)
    properties: dict[str, Any] = {
        "module": {"type": ["string", "null"], "description": "Python module of the class."},
        # Any name: the dispatch tells which ones are unknown, as the server does (a class
        # of a package the catalog was not told about may well exist); the enum is there
        # for completion.
        "class_name": {
            "type": "string",
            "anyOf": [
                {
                    "enum": class_names,
                    "enumDescriptions": [summaries.get(n, "") for n in class_names],
                },
                {"type": "string"},
            ],
            "description": f"The {family.replace('_', ' ')} class.",
        },
        "config": {
            "type": ["object", "null"],  # null is read as {}: the class's schema decides
            "description": "Constructor arguments of the class.",
        },
        "registered_name": {
            "type": ["string", "null"],
            "description": "`package>Name` for registered custom classes.",
        },
        "build_config": {"type": ["object", "null"]},
        "compile_config": {"type": ["object", "null"]},
        "shared_object_id": {"type": "integer"},
    }
    assert set(properties) == set(ENVELOPE_KEYS)
    return {
        "type": "object",
        "required": ["class_name", "config"],
        "properties": properties,
        "additionalProperties": False,
        "allOf": [{"$ref": f"#/$defs/dispatch.{family}"}, {"$ref": "#/$defs/scan.envelope"}],
        "defaultSnippets": [
            {
                "label": info.class_name,
                "description": info.summary,
                "body": {
                    "module": info.module,
                    "class_name": info.class_name,
                    "config": info.minimal_config,
                    "registered_name": info.registered_name,
                },
            }
            for info in members
        ],
    }


def _doc_url(info: ClassInfo) -> str | None:
    if info.custom:
        return None
    return f"https://keras.io/search.html?query={info.class_name}"


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _resolve(module: str, qualname: str, packages: set[str]) -> type:
    """The class a part names by its module and qualified name, taken from a module of
    ``packages`` already imported: a cache file is data, and what it names is never
    imported (LookupError when the module is not there, TypeError when it names no class
    defined there)."""
    if not isinstance(module, str) or module.split(".")[0] not in packages:
        raise LookupError(f"{module!r} is not a module of {sorted(packages)}")
    obj: Any = sys.modules.get(module)
    if obj is None:
        raise LookupError(f"{module} is not imported")
    for name in str(qualname).split("."):
        obj = inspect.getattr_static(obj, name)
    if not inspect.isclass(obj) or (obj.__module__, obj.__qualname__) != (module, qualname):
        raise TypeError(f"{module}.{qualname} is not a class defined there")
    return obj


def _exception_line(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return lines[-1].strip() if lines else type(exc).__name__


# -- cache ---------------------------------------------------------------------------------------


def cache_path(modules: tuple[str, ...] = (), implementation: str = "keras") -> Path:
    return cachekey.cache_dir() / cachekey.compute(modules, implementation).filename


def write_atomically(path: Path, data: CatalogData | dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".catalog-", suffix=".json", dir=path.parent)
    try:
        # json.dumps uses the C encoder (json.dump streams through the Python one, three
        # times slower on a keras_hub catalog); the text is the same.
        text = json.dumps(data, separators=(",", ":"))
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_or_build(
    modules: tuple[str, ...] = (),
    implementation: str = "keras",
    progress: Progress | None = None,
    rebuild: bool = False,
) -> CatalogData:
    """The cached catalog for this key, built (and cached) when missing or stale. A
    ``rebuild`` reads Keras's own classes again too, instead of taking the cached part."""
    path = cache_path(modules, implementation)
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
        write_atomically(part_path(implementation), builder.part)
    write_atomically(path, data)
    cache_files.prune(path.parent, protect=path.name)
    return data


def part_path(implementation: str = "keras") -> Path:
    return cachekey.cache_dir() / cachekey.compute((), implementation).part_filename


def read_part(implementation: str = "keras") -> dict[str, Any] | None:
    """The cached part of the implementation's own classes, None when there is none (or it
    cannot be read: it is made again)."""
    path = part_path(implementation)
    try:
        data = read_cached(path)
    except (OSError, ValueError):
        return None
    cache_files.mark_used(path)
    return data if isinstance(data, dict) else None


def module_folders(modules: tuple[str, ...], root: str) -> list[str]:
    """The folders of ``root`` that hold the top-level packages or files of ``modules``: the
    only ones a trusted workspace adds to ``sys.path`` (``root`` itself, or its ``src``)."""
    found: list[str] = []
    for folder in (root, os.path.join(root, "src")):
        for name in modules:
            top = name.split(".")[0]
            if (
                os.path.isfile(os.path.join(folder, top, "__init__.py"))
                or os.path.isfile(os.path.join(folder, f"{top}.py"))
                or (name != top and os.path.isdir(os.path.join(folder, top)))
            ):
                if folder not in found:
                    found.append(folder)
    return found


def add_module_folders(modules: tuple[str, ...], root: str | None) -> None:
    """Let the configured modules of a (trusted) workspace be imported, and nothing else of
    it: their folders go at the end of ``sys.path``, after Python's, Keras's and
    TensorFlow's own, so that no file of the workspace stands in for one of those."""
    if not root or not modules:
        return
    for folder in module_folders(modules, root):
        if folder not in sys.path:
            sys.path.append(folder)
