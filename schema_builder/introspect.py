"""Introspection of one Keras class: signature, ``get_config()`` of a real instance, docstring,
source location, and the values its constructor refuses (found by probing).

The signature is the truth for names, defaults and required-ness; the docstring adds
descriptions and type words (``param_types``: the types it gives beyond them); probing
(``probing``) adds allowed strings and numeric bounds.
"""

from __future__ import annotations

import bisect
import functools
import inspect
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from . import docstrings, param_types, samples
from .keras_api import KerasAPI
from .probing import Prober

# Keyword names that Keras reads out of **kwargs by hand (``kwargs.pop("input_shape", None)``).
_KWARGS_READ = re.compile(r"kwargs\s*(?:\.pop|\.get|\[)\s*\(?\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']")


@dataclass
class Param:
    """One config key of a class."""

    name: str
    required: bool = False
    has_default: bool = False
    default: Any = None  # the signature default, JSON-safe
    config_default: Any = None  # what get_config() writes for it, when not sampled
    has_config_default: bool = False
    config_value: Any = None  # what get_config() of the sample instance wrote, sampled or not
    built_value: Any = None  # what get_config() wrote once built, where its type differs
    has_built_value: bool = False
    in_signature: bool = False
    in_config: bool = False
    inherited: bool = False  # accepted through **kwargs by a base class
    description: str = ""
    description_from: str | None = None  # another class whose docs described the same argument
    sample: Any = None  # the JSON-safe sample used when the argument is required
    allowed: list[str] | None = None  # allowed strings, probed or read from the docs
    case_insensitive: bool = False  # the constructor lowercases it ("SAME" is "same")
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "required": self.required,
            "in_signature": self.in_signature,
            "in_config": self.in_config,
            "inherited": self.inherited,
            "description": self.description,
        }
        if self.has_default:
            out["default"] = self.default
        if self.has_config_default:
            out["config_default"] = self.config_default
        if self.has_built_value:
            out["built_value"] = self.built_value
        if self.required:
            out["sample"] = self.sample
        for key in ("allowed", "minimum", "exclusive_minimum", "maximum"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.case_insensitive:
            out["case_insensitive"] = True
        if self.description_from:
            out["description_from"] = self.description_from
        if self.notes:
            out["notes"] = self.notes
        return out


@dataclass
class ClassInfo:
    """Everything the builder learnt about one class."""

    cls: type
    family: str
    class_name: str
    module: str | None
    registered_name: str | None
    custom: bool
    aliases: list[str] = field(default_factory=list)
    summary: str = ""
    doc: str = ""
    signature: str = ""
    source_file: str | None = None
    source_line: int | None = None
    params: dict[str, Param] = field(default_factory=dict)
    accepts_kwargs: bool = False
    sample_config: dict[str, Any] | None = None  # get_config() of the sample instance
    minimal_config: dict[str, Any] = field(default_factory=dict)  # required keys only
    instantiated: bool = False
    instantiate_error: str | None = None
    notes: list[str] = field(default_factory=list)
    # Rules between arguments that the constructor enforces (JSON Schema, added to the
    # config schema's allOf).
    constraints: list[dict[str, Any]] = field(default_factory=list)
    external: bool = False  # loads a model its config names (KerasLayer): never from_config'd
    param_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)  # known exactly
    # How a custom class came in: "module" (defined in a configured module), "registered"
    # (registered with Keras by a configured package), "defined" (in one of its submodules).
    source_of: str | None = None


def json_safe(value: Any, api: KerasAPI | None = None) -> tuple[bool, Any]:
    """(ok, value) with tuples as lists; Keras objects through their serializer."""
    if value is None or isinstance(value, (bool, str)):
        return True, value
    if isinstance(value, int):
        return True, value
    if isinstance(value, float):
        return (True, value) if math.isfinite(value) else (False, None)
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            ok, safe = json_safe(item, api)
            if not ok:
                return False, None
            items.append(safe)
        return True, items
    if isinstance(value, (set, frozenset)):
        # A set default (a tokenizer's special tokens) has no order: sorted, it reads the
        # same from one build to the next.
        ok, items = json_safe(list(value), api)
        if not ok or not all(isinstance(item, (str, int)) for item in items):
            return False, None
        try:
            return True, sorted(items)
        except TypeError:  # strings and numbers together
            return False, None
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            ok, safe = json_safe(item, api)
            if not ok or not isinstance(key, str):
                return False, None
            out[key] = safe
        return True, out
    if api is not None:
        try:
            serialized = api.serialize(value)
        except Exception:
            return False, None
        if serialized is not value:
            return json_safe(serialized, None)
    return False, None


_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+(?=>)")
# Config keys whose list Keras makes from a set (KerasHub's tokenizers write
# ``list(set(...))``): the order changes from one interpreter to the next.
UNORDERED_KEYS = frozenset({"unsplittable_tokens"})


def stable_repr(value: Any) -> str:
    """``repr`` without memory addresses (``<function gelu at 0x7f...>`` is
    ``<function gelu>``), so that what a build writes is the same in every interpreter."""
    return _ADDRESS.sub("", repr(value))


def stable_text(text: str) -> str:
    return _ADDRESS.sub("", text)


def _unordered_sorted(config: dict[str, Any]) -> None:
    for key in UNORDERED_KEYS & config.keys():
        value = config[key]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            config[key] = sorted(value)


_CLASS_LINE = re.compile(r"^[ \t]*class[ \t]+([A-Za-z_][A-Za-z0-9_]*)", re.M)
_TRIPLE = re.compile(r'"""|\'\'\'')


@functools.cache
def _class_lines(path: str) -> dict[str, int]:
    """Class name -> line number, for every class defined at any depth in a file: a line
    scan that skips triple-quoted text (parsing the hundreds of modules of a package with
    ``ast`` took seconds)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, ValueError):
        return {}
    quotes = [m.start() for m in _TRIPLE.finditer(text)]
    lines: dict[str, int] = {}
    for match in _CLASS_LINE.finditer(text):
        if bisect.bisect_left(quotes, match.start()) % 2 == 1:
            continue  # inside a docstring (an example)
        lines.setdefault(match.group(1), text.count("\n", 0, match.start()) + 1)
    return lines


def source_location(cls: type) -> tuple[str | None, int | None]:
    try:
        path = inspect.getsourcefile(cls)
    except TypeError:
        return None, None
    if not path:
        return None, None
    return path, _class_lines(path).get(cls.__name__)


def _mro_with_init(cls: type) -> list[type]:
    """The classes of ``cls``'s MRO that define ``__init__``. Outside Keras's own classes,
    Functional and Function are left out: Keras puts Functional in place of Model among a
    Model subclass's bases the first time the class is built from inputs and outputs, and
    what is read must not depend on whether something built it before (Functional takes and
    ignores any keyword, so reading past it to Model's keywords loses nothing)."""
    foreign = not cls.__module__.startswith("keras.")
    return [
        klass
        for klass in cls.__mro__
        if "__init__" in vars(klass)
        and klass is not object
        and not (foreign and klass is not cls and _is_functional(klass))
    ]


def _is_functional(klass: type) -> bool:
    return (klass.__module__, klass.__qualname__) in {
        ("keras.src.models.functional", "Functional"),
        ("keras.src.ops.function", "Function"),
    }


@functools.cache
def _init_source(klass: type) -> str:
    try:
        return inspect.getsource(vars(klass)["__init__"])
    except (OSError, TypeError):
        return ""


@functools.cache
def _signature(cls: type) -> inspect.Signature | None:
    try:
        return inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return None


def _descriptions(cls: type) -> tuple[docstrings.Docstring, dict[str, str]]:
    """The class docstring, and Args descriptions from the class and its bases (class first)."""
    own = docstrings.parse(inspect.getdoc(cls) if cls.__doc__ is None else cls.__doc__)
    merged: dict[str, str] = {}
    for klass in cls.__mro__:
        if klass is object:
            continue
        for source in (klass.__doc__, getattr(vars(klass).get("__init__"), "__doc__", None)):
            for name, text in docstrings.parse(source).args.items():
                merged.setdefault(name, text)
    return own, merged


def accepted_keywords(cls: type) -> tuple[dict[str, inspect.Parameter], set[str]]:
    """Keyword names the constructor accepts: its own, and those its bases take via **kwargs."""
    own: dict[str, inspect.Parameter] = {}
    inherited: set[str] = set()
    for depth, klass in enumerate(_mro_with_init(cls)):
        sig = _signature(klass)
        if sig is None:
            break
        params = list(sig.parameters.values())[1:]
        if depth > 0 and not params:
            # A mixin's ``__init__(self)`` that the class calls itself (Keras's Trainer under
            # Model): the keywords still reach the Layer further up.
            continue
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
                continue
            if depth == 0:
                own[p.name] = p
            elif p.name not in own:
                inherited.add(p.name)
        inherited.update(set(_KWARGS_READ.findall(_init_source(klass))) - set(own))
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return own, inherited


class Introspector(Prober):
    """Reads classes of one Keras implementation into ClassInfo records."""

    def __init__(self, api: KerasAPI):
        self.api = api
        self.keras = api.keras
        # Sample values for required arguments of particular classes, before the generic ones.
        self.samples_for: dict[type, dict[str, Any]] = {}
        self._refusals: dict[tuple[Any, ...], str | None] = {}

    # -- instances ---------------------------------------------------------------------------
    def _sample_kwargs(self, info: ClassInfo, attempt: int) -> dict[str, Any] | None:
        kwargs: dict[str, Any] = {}
        special = self.samples_for.get(info.cls, {})
        for param in info.params.values():
            if not param.required:
                continue
            if param.name in special:
                kwargs[param.name] = special[param.name]
                continue
            options = samples.candidates(param.name, param.description)
            if not options:
                return None
            kwargs[param.name] = options[min(attempt, len(options) - 1)](self.keras)
        for name, value in samples.BY_CLASS.get(info.cls.__name__, {}).items():
            if name in info.params:
                kwargs.setdefault(name, value)
        return kwargs

    def _attempts(self, info: ClassInfo) -> int:
        counts = [
            len(samples.candidates(p.name, p.description))
            for p in info.params.values()
            if p.required
        ]
        return max([*counts, 1])

    def construct(self, info: ClassInfo, **overrides: Any) -> Any:
        """An instance from the sample values and overrides; raises what the constructor raises."""
        kwargs = self._sample_kwargs(info, info.__dict__.get("_attempt", 0)) or {}
        kwargs.update(overrides)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return info.cls(**kwargs)

    def _instantiate(self, info: ClassInfo) -> Any | None:
        errors = []
        for attempt in range(self._attempts(info)):
            # Names Keras gives (``dense_1``) count the instances made before: each sample
            # starts from none, so that a class reads the same whatever was read before it.
            self.api.reset_names()
            kwargs = self._sample_kwargs(info, attempt)
            if kwargs is None:
                special = self.samples_for.get(info.cls, {})
                missing = [
                    p.name
                    for p in info.params.values()
                    if p.required
                    and p.name not in special
                    and not samples.candidates(p.name, p.description)
                ]
                info.instantiate_error = "no sample value for required argument(s): " + ", ".join(
                    missing
                )
                return None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    instance = info.cls(**kwargs)
            except Exception as exc:  # the constructor's own refusal, recorded
                errors.append(f"{type(exc).__name__}: {_first_line(exc)}")
                continue
            info.__dict__["_attempt"] = attempt
            for name, value in kwargs.items():
                ok, safe = json_safe(value, self.api)
                if info.params[name].required:
                    info.params[name].sample = safe if ok else None
            return instance
        info.instantiate_error = errors[-1] if errors else "could not be instantiated"
        return None

    # -- the record --------------------------------------------------------------------------
    def inspect_class(
        self,
        cls: type,
        family: str,
        *,
        class_name: str | None = None,
        module: str | None = None,
        registered_name: str | None = None,
        custom: bool = False,
        probe: bool = True,
        instantiate: bool = True,
    ) -> ClassInfo:
        doc, descriptions = _descriptions(cls)
        path, line = source_location(cls)
        info = ClassInfo(
            cls=cls,
            family=family,
            class_name=class_name or cls.__name__,
            module=module,
            registered_name=registered_name,
            custom=custom,
            summary=doc.summary,
            doc=doc.body,
            source_file=path,
            source_line=line,
        )
        sig = _signature(cls)
        own, inherited = accepted_keywords(cls)
        info.accepts_kwargs = bool(
            sig and any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        )
        if sig is not None:
            shown = [p for p in list(sig.parameters.values())[1:]]
            text = ", ".join(str(p) for p in shown)
            info.signature = stable_text(f"{info.class_name}({text})")
        for name, p in own.items():
            param = Param(name=name, in_signature=True, description=descriptions.get(name, ""))
            if p.default is inspect.Parameter.empty:
                param.required = True
            else:
                ok, safe = json_safe(p.default, self.api)
                param.has_default = ok
                param.default = safe
                if not ok:
                    param.notes.append(
                        f"default not representable in JSON: {stable_repr(p.default)}"
                    )
            info.params[name] = param
        if info.accepts_kwargs:
            for name in sorted(inherited):
                if name not in info.params:
                    info.params[name] = Param(
                        name=name, inherited=True, description=descriptions.get(name, "")
                    )
        for param in info.params.values():
            if param.inherited:
                self._inherited_default(cls, param)

        instance = self._instantiate(info) if instantiate else None
        if instance is not None:
            self._drop_refused_inherited(info)
            self._identity(info, instance)
        if instance is not None:
            self._read_config(info, instance)
            info.instantiated = True
        if probe:
            self._probe(info, instance)
        if instance is None and custom:
            self._documented_enums(info)
        info.param_schemas.update(
            param_types.documented_schemas(
                cls, info.params.values(), self.keras.layers.Layer, package=custom
            )
        )
        info.minimal_config = self._minimal_config(info)
        return info

    def _identity(self, info: ClassInfo, instance: Any) -> None:
        """Take class_name and module from what Keras writes: it can differ from the Python
        class (``GroupQueryAttention`` is written for the class ``GroupedQueryAttention``)."""
        try:
            written = self.api.serialize(instance)
        except Exception:
            return
        if not isinstance(written, dict) or not isinstance(written.get("class_name"), str):
            return
        if written["class_name"] != info.class_name:
            info.aliases.append(info.class_name)
            info.class_name = written["class_name"]
        if not info.custom and isinstance(written.get("module"), str):
            info.module = written["module"]

    def _drop_refused_inherited(self, info: ClassInfo) -> None:
        """A base class argument that the subclass passes itself cannot be given again."""
        inherited = {
            n: p.default if p.has_default else None for n, p in info.params.items() if p.inherited
        }
        try:
            self.construct(info, **inherited)
            return  # all of them accepted at once: one construction instead of one each
        except Exception:
            pass
        for name in inherited:
            param = info.params[name]
            value = param.default if param.has_default else None
            try:
                self.construct(info, **{name: value})
            except TypeError as exc:
                # Python's own words for a keyword passed twice or not taken; a TypeError that
                # only mentions the name (an unrelated dtype check) is not a refusal.
                refused = rf"(multiple values for (keyword )?|unexpected keyword )argument '{name}'"
                if re.search(refused, str(exc)):
                    del info.params[name]
            except Exception:
                pass

    def _inherited_default(self, cls: type, param: Param) -> None:
        for klass in _mro_with_init(cls)[1:]:
            sig = _signature(klass)
            if sig is None or param.name not in sig.parameters:
                continue
            default = sig.parameters[param.name].default
            if default is not inspect.Parameter.empty:
                ok, safe = json_safe(default, self.api)
                param.has_default, param.default = ok, safe
            return

    def _read_config(self, info: ClassInfo, instance: Any) -> None:
        try:
            config = instance.get_config()
        except Exception as exc:
            info.notes.append(f"get_config() failed: {type(exc).__name__}: {_first_line(exc)}")
            return
        ok, safe = json_safe(self.api.serialize(config) if config else config, self.api)
        if not ok or not isinstance(safe, dict):
            info.notes.append("get_config() returned values that are not JSON")
            return
        # A seed drawn at construction (``seed=None``) is no default: the catalog says None,
        # and stays the same from one build to the next.
        seed = info.params.get("seed")
        if isinstance(safe.get("seed"), int) and seed is not None and seed.has_default:
            if seed.default is None:
                safe["seed"] = None
        _unordered_sorted(safe)
        info.sample_config = safe
        for key, value in safe.items():
            param = info.params.get(key)
            if param is None:
                param = info.params[key] = Param(name=key)
                param.notes.append("written by get_config() but not a constructor argument")
            param.in_config = True
            param.config_value = value
            if not param.required:
                param.config_default = value
                param.has_config_default = True
        self._read_built_config(info, safe)

    def _read_built_config(self, info: ClassInfo, config: dict[str, Any]) -> None:
        """tf_keras's normalization layers turn an ``axis`` of -1 into ``[3]`` when built, and
        their models are saved built: a value of another type in a built instance's config is
        evidence too (Keras 3 keeps an int, so only tf_keras is asked)."""
        if not self.api.legacy or not isinstance(config.get("axis"), int):
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                layer = info.cls.from_config(dict(config))
                layer.build((None, 2, 2, 2))
                built = layer.get_config()
        except Exception:
            return
        ok, safe = json_safe(self.api.serialize(built), self.api)
        if not ok or not isinstance(safe, dict):
            return
        for key, value in safe.items():
            param = info.params.get(key)
            if param is None or type(value) is type(config.get(key)):
                continue
            param.built_value = value
            param.has_built_value = True

    def _minimal_config(self, info: ClassInfo) -> dict[str, Any]:
        return {name: p.sample for name, p in info.params.items() if p.required}

    def _own_init(self, cls: type) -> Any:
        """The ``__init__`` that takes ``cls``'s keywords first (shared by its subclasses)."""
        owners = _mro_with_init(cls)
        return vars(owners[0])["__init__"] if owners else None


def _first_line(exc: BaseException) -> str:
    text = stable_text(str(exc)).strip().splitlines()
    return text[0][:300] if text else ""
