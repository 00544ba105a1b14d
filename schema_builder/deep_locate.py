"""The deep check's locating: when Keras refuses a config, the innermost envelope that fails
and the key in it a person would fix; Keras's warnings and recursion failures placed too."""

from __future__ import annotations

import inspect
import re
import sys
import traceback
from typing import Any

from layercfg.codes import Code, JsonPath, Severity
from layercfg.server import layer_graph

from . import deep_blame as blame
from .deep_cancel import checkpoint
from .deep_common import SPECIAL, DeepFinding, clean_message, envelopes, inside, source_of
from .deep_lint import CustomClassLint, _installed
from .deep_shapes import ShapeReplay, window_too_large

_UNKNOWN_KWARG = re.compile(
    r"(?:unexpected keyword argument|Unrecognized keyword arguments?[^{]*\{)\s*'([^']+)'"
)
_MISSING_ARG = re.compile(r"missing \d+ required (?:positional|keyword-only) arguments?: (.+)")
_IDENTIFIER = re.compile(r"Could not interpret [\w ]*identifier: (.+?)(?:\.|$)", re.M)
_UNKNOWN_CLASS = re.compile(r"(?:Could not locate (?:class|function) |Unknown \w+: )'?([\w.>]+)'?")
_BACKTICK_ARG = re.compile(r"`(\w+)`")
_RECEIVED = re.compile(r"Received:? (\w+)=")


class Locator(ShapeReplay, CustomClassLint):
    def _too_deep(self, value: dict[str, Any], error: BaseException) -> DeepFinding | None:
        """The finding for a model whose graph Keras itself recurses through too deeply."""
        recursion = _recursion_error(error)
        if recursion is None:
            return None
        where = _recursing_function(recursion)
        package = self.keras.__name__
        if where is None or not (where == package or where.startswith(f"{package}.")):
            return None  # a recursion in user code: the locating pass finds its layer
        limit = sys.getrecursionlimit()
        config = value.get("config") if isinstance(value.get("config"), dict) else {}
        entries = config.get("layers")
        count = len(entries) if isinstance(entries, list) else None
        size = f"; it has {count:,} layers" if count is not None else ""
        message = (
            f"Keras cannot load this model: its layer graph is deeper than Python's "
            f"recursion limit ({limit:,}) lets Keras walk (RecursionError in {where}"
            f"{size}). A program that loads it must raise sys.setrecursionlimit first, "
            "or the model must have fewer layers in a chain."
        )
        return DeepFinding(
            ("class_name",),
            "value",
            Code.FROM_CONFIG_FAILED,
            message,
            data={"recursionLimit": limit, "function": where, "layers": count},
        )

    def _warnings(self, value: dict[str, Any], caught: list) -> list[DeepFinding]:
        out = []
        names = layer_graph.layer_paths(value)  # the layers a warning may name
        for item in caught:
            if not issubclass(item.category, UserWarning):
                continue
            message = " ".join(str(item.message).split())
            path: JsonPath = ("class_name",)
            for name, layer_path in names.items():
                if f"'{name}'" in message or f'"{name}"' in message:
                    path = (*layer_path, "class_name")
                    break
            part = "value"
            if "build" in message and "build_config" in value and path == ("class_name",):
                path = ("build_config",)
            else:
                key = _warned_key(value, path[:-1], names, message)
                if key is not None:
                    path, part = key, "key"
            out.append(
                DeepFinding(
                    path,
                    part,
                    Code.KERAS_WARNING,
                    f"Keras warned while loading: {message}",
                    severity=Severity.WARNING,
                )
            )
        return out

    # -- locating a failure, bottom-up -------------------------------------------------------------
    def _locate(
        self,
        value: dict[str, Any],
        unsafe: set[JsonPath],
        error: BaseException | None = None,
        index: int | None = None,
    ) -> list[DeepFinding]:
        """The findings for a document Keras refused (with ``error``, when it was loaded).
        A model's failing layer is the one Keras's error was loading or calling (``index``,
        when the replay knows it): that layer alone is checked, and only when it loads alone
        the graph is replayed once; every layer is tried alone only when the error names
        none of them."""
        compiled = value.get("compile_config")
        if error is not None and isinstance(compiled, dict) and _in_compile(error):
            return self._locate_compile(compiled, error)
        config = value.get("config")
        entries = config.get("layers") if isinstance(config, dict) else None
        if isinstance(entries, list):
            if index is None and error is not None and not unsafe:
                index = blame.failing_layer(error, _layer_names(entries), self.keras.__name__)
            if index is not None and 0 <= index < len(entries):
                found = self._locate_layer(value, entries, index, error)
                if found:
                    return found
            found = []
            for index, entry in enumerate(entries):
                checkpoint()
                path: JsonPath = ("config", "layers", index)
                if not isinstance(entry, dict) or any(p[: len(path)] == path for p in unsafe):
                    continue
                plain = {k: v for k, v in entry.items() if k not in ("name", "inbound_nodes")}
                finding = self._check_envelope(plain, path)
                if finding is not None:
                    found.append(finding)
            if found or unsafe:
                return found
            return self._propagate(value)
        if unsafe:
            return []
        finding = self._check_envelope(value, (), error)
        if finding is not None:
            return [finding]
        return self._build_single(value)

    def _locate_compile(self, compiled: dict[str, Any], error: BaseException) -> list[DeepFinding]:
        """A ``compile_config`` Keras could not compile the model with: the envelope in it
        that fails alone (an optimizer's unknown argument), else the ``compile_config``."""
        for key, item in compiled.items():
            for position, nested in enumerate(item if isinstance(item, list) else [item]):
                if not isinstance(nested, dict) or "class_name" not in nested:
                    continue
                path: JsonPath = ("compile_config", key)
                if isinstance(item, list):
                    path = (*path, position)
                finding = self._check_envelope(nested, path)
                if finding is not None:
                    return [finding]
        return [
            DeepFinding(("compile_config",), "key", Code.FROM_CONFIG_FAILED, clean_message(error))
        ]

    def _locate_layer(self, value, entries, index, error) -> list[DeepFinding]:
        entry = entries[index]
        if not isinstance(entry, dict):
            return []
        path: JsonPath = ("config", "layers", index)
        plain = {k: v for k, v in entry.items() if k not in ("name", "inbound_nodes")}
        finding = self._check_envelope(plain, path)
        if finding is not None:
            return [finding]
        found = self._propagate(value)  # it loads alone: calling it failed, one replay
        if found or error is None:
            return found
        return [self._finding_for(plain, path, error)]

    def _check_envelope(
        self, envelope: dict[str, Any], path: JsonPath, error: BaseException | None = None
    ) -> DeepFinding | None:
        """The innermost failing envelope at or below ``path``, as a finding; None if it loads.
        ``error``: what loading ``envelope`` raised, when that was done already. The envelopes
        inside it are tried alone only when the error came from loading one of them."""
        if error is None:
            _, error, _ = self._deserialize(envelope)
            self._reset()
            if error is None:
                return None
        config = envelope.get("config")
        inner_envelopes = [
            (sub, nested)
            for sub, nested in envelopes(config, (*path, "config"))
            if nested.get("class_name") not in SPECIAL and sub[-1] != "layers"
        ]
        if not blame.nested_load(error) and not _names_one(inner_envelopes, error):
            return self._finding_for(envelope, path, error)
        for sub, nested in inner_envelopes:
            relative = sub[len(path) :]
            if inside(config, relative[1:]) is not nested:
                continue
            inner = self._check_envelope(nested, sub)
            if inner is not None:
                return inner
        return self._finding_for(envelope, path, error)

    def _finding_for(self, envelope: dict[str, Any], path: JsonPath, error: BaseException):
        message = clean_message(error)
        config = envelope.get("config") if isinstance(envelope.get("config"), dict) else {}
        related = self._user_frames(error)
        if "safe mode" in message.lower() or "safe_mode" in message or "lambda" in message.lower():
            code = Code.SAFE_MODE
        elif related and self._custom_class(envelope) is not None:
            code = Code.CUSTOM_CLASS  # the failure is in the user's own serialization code
            message = f"{envelope.get('class_name')}: {message}"
        else:
            code = Code.FROM_CONFIG_FAILED
        # A value Keras quotes ("Could not interpret ... identifier: <the value>") is the
        # document's text: what it says about keys and arguments is not read.
        quoted = _IDENTIFIER.search(message)
        head = message[: quoted.start(1)] if quoted else message
        match = _UNKNOWN_KWARG.search(head)
        if match and match.group(1) in config:
            defect = self._refuses_own_key(error, match.group(1), path, message)
            if defect is not None:
                return defect
            return DeepFinding(
                (*path, "config", match.group(1)), "key", code, message, related=related
            )
        window = window_too_large(message, config)
        if window is not None and code == Code.FROM_CONFIG_FAILED:
            return DeepFinding(
                (*path, "config", window), "value", Code.SHAPE, message, related=related
            )
        match = _MISSING_ARG.search(head)
        missing_key = blame.missing_key(error, config)
        if match or missing_key is not None:
            missing = re.findall(r"'(\w+)'", match.group(1)) if match else [missing_key]
            if not match:
                message = (
                    f"{message}: {blame.failing_class_name(error)}.from_config reads the key "
                    f"{missing_key!r}, which this config does not have."
                )
            typo = blame.misspelt(config, missing, blame.failing_class(error))
            if typo is not None:  # the required argument is there, under another name
                return DeepFinding(
                    (*path, "config", typo),
                    "key",
                    code,
                    message,
                    data={"keys": missing},
                    related=related,
                )
            return DeepFinding(
                (*path, "config"), "open", code, message, data={"keys": missing}, related=related
            )
        match = _IDENTIFIER.search(message)
        if match:
            wanted = match.group(1).strip().strip("'\"")
            for key, item in config.items():
                if item == wanted or (isinstance(item, str) and item in wanted):
                    return DeepFinding(
                        (*path, "config", key), "value", code, message, related=related
                    )
        match = _UNKNOWN_CLASS.search(message)
        if match:
            return DeepFinding((*path, "class_name"), "value", code, message, related=related)
        # The value Keras quotes ("Received: block_type=darkk" of the key stage_type), then
        # the argument it names, then the value the failing expression read.
        key = blame.quoted_value(config, message)
        if key is None:
            named = [*_RECEIVED.findall(message), *_BACKTICK_ARG.findall(message)]
            key = next((name for name in named if name in config), None)
        if key is None:
            key = blame.read_value(config, error, message)
        if key is not None:
            return DeepFinding((*path, "config", key), "value", code, message, related=related)
        for key in sorted(config, key=len, reverse=True):
            if re.search(rf"\b{re.escape(key)}\b", message):
                return DeepFinding((*path, "config", key), "value", code, message, related=related)
        key = self._retried(envelope, error)
        if key is not None:
            return DeepFinding((*path, "config", key), "value", code, message, related=related)
        return DeepFinding((*path, "class_name"), "value", code, message, related=related)

    def _retried(self, envelope: dict[str, Any], error: BaseException) -> str | None:
        """The one key whose value, made what the constructor takes (a number written as a
        string made the number; a value of another type than the argument's default made
        the default), lets the envelope load: a value that fails after the constructor
        changed it (``num_anchors * num_classes`` of a string, in a head's ``build``)."""
        config = envelope.get("config")
        innermost = blame.chain(error)[-1]
        if not isinstance(config, dict) or not isinstance(innermost, (TypeError, ValueError)):
            return None
        trials = _trials(config, blame.loaded_class(error))
        if not trials or len(trials) > _MAX_TRIALS:
            return None
        loaded = []
        # The envelope as it is first: one that loads alone failed elsewhere (when called).
        for key, value in [(None, None), *trials]:
            checkpoint()
            trial = envelope if key is None else {**envelope, "config": {**config, key: value}}
            _, failed, _ = self._deserialize(trial)
            self._reset()
            if failed is None:
                if key is None:
                    return None
                loaded.append(key)
        return loaded[0] if len(loaded) == 1 else None

    def _refuses_own_key(
        self, error: BaseException, key: str, path: JsonPath, message: str
    ) -> DeepFinding | None:
        """LCF401 for a layer whose constructor refuses a key its own ``get_config`` writes:
        ``name``, ``trainable`` and ``dtype`` are written by every layer's ``get_config``, so
        a constructor without ``**kwargs`` cannot load what the class saves (KerasHub's
        RMSNormalization). A warning for an installed package's class, which is its
        maintainers' to fix; an error for the user's own."""
        cls = blame.failing_class(error)
        if key not in _BASE_KEYS or cls is None or not issubclass(cls, self.keras.layers.Layer):
            return None
        try:
            parameters = inspect.signature(cls.__init__).parameters.values()
        except (TypeError, ValueError):
            return None
        if any(p.kind == p.VAR_KEYWORD or p.name == key for p in parameters):
            return None
        related = [
            *source_of(cls.__init__, f"{cls.__name__}.__init__ takes no {key!r} (no **kwargs)"),
            *source_of(cls.get_config, f"{cls.__name__}.get_config writes {key!r}"),
        ]
        return DeepFinding(
            (*path, "config", key),
            "key",
            Code.CUSTOM_CLASS,
            f"{cls.__name__} cannot load the config its own get_config writes: {message} "
            f"(a defect of the class: its constructor does not accept {key!r}).",
            severity=Severity.WARNING if _installed(cls) else Severity.ERROR,
            related=related,
            data={"key": key, "class": f"{cls.__module__}.{cls.__qualname__}"},
        )


# The most values of one envelope tried again (each a load of it) to find the one that failed.
_MAX_TRIALS = 8


def _trials(config: dict[str, Any], cls: type | None) -> list[tuple[str, Any]]:
    """(key, the value the constructor would take) for each key whose value is not what its
    argument takes: a number written as a string, a scalar of another type than the
    argument's default."""
    try:
        parameters = inspect.signature(cls.__init__).parameters if cls is not None else {}
    except (TypeError, ValueError):
        parameters = {}
    defaults = {n: p.default for n, p in parameters.items() if p.default is not p.empty}
    out: list[tuple[str, Any]] = []
    for key, value in config.items():
        if isinstance(value, str):
            number = _number(value)
            if number is not None:
                out.append((key, number))
                continue
        default = defaults.get(key)
        if _kind(default) is not None and _kind(value) != _kind(default):
            if not isinstance(value, (dict, type(None))):  # an envelope, or left out
                out.append((key, default))
    return out


def _kind(value: Any) -> str | None:
    """A scalar's kind, an int and a float alike (JSON writes 2.0 as 2)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "str" if isinstance(value, str) else None


def _number(text: str) -> int | float | None:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return None


# Keys every layer's get_config writes (keras.layers.Layer.get_config).
_BASE_KEYS = ("name", "trainable", "dtype")


def _in_compile(error: BaseException) -> bool:
    """Whether Keras failed while compiling the model from its ``compile_config``."""
    names = ("compile_from_config", "compile_without_optimizer_variables")
    return any(
        frame.name in names
        for link in blame.chain(error)
        for frame in traceback.extract_tb(link.__traceback__)
    )


def _warned_key(
    value: dict[str, Any], layer: JsonPath, names: dict[str, JsonPath], message: str
) -> JsonPath | None:
    """The config key a warning names (``Argument `input_length` is deprecated``): in the
    layer it names, else in the one envelope (the document or a layer) whose config has it."""
    places = [layer] if layer else [(), *names.values()]
    for word in _BACKTICK_ARG.findall(message):
        holding = [
            place
            for place in places
            if isinstance(config := inside(value, (*place, "config")), dict) and word in config
        ]
        if len(holding) == 1:
            return (*holding[0], "config", word)
    return None


def _recursion_error(error: BaseException) -> RecursionError | None:
    """The RecursionError behind ``error``: Keras sometimes wraps what it caught."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, RecursionError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _recursing_function(error: BaseException) -> str | None:
    """The dotted name of the function that appears most often in the traceback."""
    counts: dict[str, int] = {}
    tb = error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        function = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)  # 3.11+
        name = f"{frame.f_globals.get('__name__', '?')}.{function}"
        counts[name] = counts.get(name, 0) + 1
        tb = tb.tb_next
    if not counts:
        return None
    name, count = max(counts.items(), key=lambda item: item[1])
    return name if count > 1 else None


def _layer_names(entries: list[Any]) -> dict[str, int]:
    names: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        name = entry.get("name")
        config = entry.get("config")
        if not isinstance(name, str) and isinstance(config, dict):
            name = config.get("name")
        if isinstance(name, str):
            names.setdefault(name, index)
    return names


def _names_one(inner: list[tuple[JsonPath, dict[str, Any]]], error: BaseException) -> bool:
    """Whether Keras's message quotes the class of an envelope inside the one that failed
    ("Could not interpret initializer identifier: {... 'class_name': 'GlorotUnifrm' ...}"):
    the loader that caught that envelope's error raised its own."""
    message = str(blame.chain(error)[-1])  # not a wrapper's, which quotes the whole config
    return any(
        isinstance(nested.get("class_name"), str) and f"'{nested['class_name']}'" in message
        for _, nested in inner
    )
