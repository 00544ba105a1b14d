"""The fast checks (source ``layercfg``): a parsed ``*.layercfg.json`` value against the catalog's
schemas, envelope rules, the legacy Keras 2 format and the links between a model's layers."""

from __future__ import annotations

import difflib
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from ..catalog import LAYER_FAMILIES, Catalog, Entry, class_names

JsonPath = tuple[str | int, ...]
Related = tuple[tuple[JsonPath, str, str], ...]

ERROR, WARNING, INFORMATION, HINT = 1, 2, 3, 4
# Deeper values are not checked: Keras configs nest a few dozen levels, and recursion must
# stay far from Python's limit on pathological input.
MAX_DEPTH = 160


@dataclass(frozen=True)
class Finding:
    """One problem, located by the JSON path of the offending key or value."""

    path: JsonPath  # of the key or value; of the object, for a missing key
    part: str  # "key", "value", or "open" (the object's opening brace)
    code: str
    message: str
    severity: int = ERROR
    data: dict[str, Any] | None = None
    related: Related = ()

    def __hash__(self) -> int:  # data is a dict: hash what identifies the finding
        return hash((self.path, self.part, self.code, self.message, self.severity))

    def prefixed(self, prefix: JsonPath) -> Finding:
        """The same finding for a value that sits at ``prefix`` in a larger document."""
        if not prefix:
            return self
        related = tuple((prefix + path, part, text) for path, part, text in self.related)
        return replace(self, path=prefix + self.path, related=related)


class SchemaError(Exception):
    """The catalog's schema uses something this validator does not interpret."""


class Superseded(Exception):
    """Raised inside ``checking(current)`` once ``current()`` is false: the document changed,
    and nobody will see the findings of this version."""


# Did-you-mean lookups one document's check makes, and the candidates they compare in all
# (lookups remembered from before compare none): past either, findings keep their plain
# message, so that the suggestions of a hostile document cost a bounded time.
MAX_SUGGESTIONS = 200
MAX_COMPARED = 50_000
# Longer words get no suggestion: no key, class or value name is that long.
MAX_SUGGESTED_LENGTH = 100
# Strings shown in messages are cut to this many characters.
MAX_SHOWN = 80


@dataclass
class _Scope:
    current: Callable[[], bool] | None
    suggestions: int = MAX_SUGGESTIONS
    compared: int = MAX_COMPARED


_scope: ContextVar[_Scope | None] = ContextVar("layercfg_check", default=None)


@contextmanager
def checking(current: Callable[[], bool] | None = None) -> Iterator[None]:
    """The check of one document: its did-you-mean work is bounded, and with ``current``,
    it ends with ``Superseded`` at the next envelope after ``current()`` turned false."""
    token = _scope.set(_Scope(current))
    try:
        yield
    finally:
        _scope.reset(token)


def checkpoint() -> None:
    """Raise ``Superseded`` when the check in progress is for a version no longer current."""
    scope = _scope.get()
    if scope is not None and scope.current is not None and not scope.current():
        raise Superseded


# Envelopes Keras writes for values that are not classes (serialization_lib.py).
SPECIAL_CLASS_NAMES = frozenset(
    {
        "__keras_tensor__",
        "__numpy__",
        "__tuple__",
        "__bytes__",
        "__ellipsis__",
        "__slice__",
        "__typespec__",
        "__tensor__",
        "__lambda__",
    }
)

# Keras 1/2 config keys and their Keras 3 names, offered as candidates for unknown keys.
KEY_RENAMES: dict[str, tuple[str, ...]] = {
    "batch_input_shape": ("batch_shape", "input_shape"),
    "input_dtype": ("dtype",),
    "init": ("kernel_initializer",),
    "inner_init": ("recurrent_initializer",),
    "beta_init": ("beta_initializer",),
    "gamma_init": ("gamma_initializer",),
    "forget_bias_init": ("unit_forget_bias",),
    "output_dim": ("units",),
    "nb_filter": ("filters",),
    "filter_length": ("kernel_size",),
    "nb_row": ("kernel_size",),
    "nb_col": ("kernel_size",),
    "subsample": ("strides",),
    "subsample_length": ("strides",),
    "stride": ("strides",),
    "pool_length": ("pool_size",),
    "border_mode": ("padding",),
    "dim_ordering": ("data_format",),
    "atrous_rate": ("dilation_rate",),
    "W_regularizer": ("kernel_regularizer",),
    "b_regularizer": ("bias_regularizer",),
    "U_regularizer": ("recurrent_regularizer",),
    "W_constraint": ("kernel_constraint",),
    "b_constraint": ("bias_constraint",),
    "U_constraint": ("recurrent_constraint",),
    "bias": ("use_bias",),
    "p": ("rate",),
    "dropout_W": ("dropout",),
    "dropout_U": ("recurrent_dropout",),
    "sigma": ("stddev",),
}

# Keras 2 class names that Keras 3 renamed or folded into another class.
CLASS_RENAMES: dict[str, str] = {
    "CuDNNLSTM": "LSTM",
    "CuDNNGRU": "GRU",
    "Policy": "DTypePolicy",
    "ThresholdedReLU": "ReLU",
    "AtrousConvolution1D": "Conv1D",
    "AtrousConvolution2D": "Conv2D",
    "Deconvolution2D": "Conv2DTranspose",
    "Deconvolution3D": "Conv3DTranspose",
    "Merge": "Concatenate",
}

# What Keras 3's legacy loader (legacy/saving/saving_utils.py ``model_from_config``) rewrites
# in a layer envelope without ``module`` before building it: such keys are not errors there.
_LEGACY_LAMBDA_KEYS = ("module", "function_type", "output_shape_type", "output_shape_module")
# Keys ``model.to_json()`` of Keras 2 writes next to class_name and config.
_LEGACY_TOP_KEYS = ("keras_version", "backend")

_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "markdownDescription",
        "default",
        "defaultSnippets",
        "enumDescriptions",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",
    }
)

_JSON_TYPES: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
_ARTICLE = {"integer": "an integer", "array": "an array", "object": "an object"}
_MISSING = object()
_PREFIX = "#/$defs/"


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "object")


# -- public API ----------------------------------------------------------------------------------


def validate(value: Any, catalog: Catalog) -> list[Finding]:
    """Every fast-check finding for a whole document.

    Composed of the pieces the server can cache: the top-level envelope without its model's
    layers, each layer on its own (``model_layers``), the cross-layer links, and the folding
    of Keras 2 markers into one LCF108 finding.
    """
    if _scope.get() is None:
        with checking():
            return validate(value, catalog)
    findings = validate_envelope(value, catalog, (), shallow=True)
    for path, layer, kind in model_layers(value, catalog):
        findings.extend(validate_envelope(layer, catalog, path, kind=kind, top_level=False))
    findings.extend(validate_model_links(value, ()))
    return fold_legacy(value, findings)


def validate_envelope(
    value: Any,
    catalog: Catalog,
    path_prefix: JsonPath = (),
    *,
    kind: str | None = None,
    shallow: bool = False,
    top_level: bool | None = None,
) -> list[Finding]:
    """Findings for one envelope (a layer, a model, or the document), nested envelopes included.

    Pure: the result depends on the arguments only (inside ``checking``, findings past its
    did-you-mean budget keep their plain message). A server caches
    ``validate_envelope(layer, catalog, (), kind=kind, top_level=False)`` by the layer's text
    and moves the findings to where the layer is with ``Finding.prefixed(path)``.
    ``kind`` names the ``$defs`` entry it is checked against (default: the document's root,
    ``envelope.layer``; ``functional_layer`` for an entry of a Functional model's ``layers``).
    ``shallow`` leaves out the items of a model's ``layers`` (check them with ``model_layers``).
    ``top_level`` (default: ``path_prefix == ()``) applies the rules of the document's root.
    """
    validator = _validator(catalog)
    node = validator.root if kind is None else validator.ref(_PREFIX + kind)
    out: list[Finding] = []
    at_top = not path_prefix if top_level is None else top_level
    if isinstance(node, _Envelope):
        node.check_envelope(value, path_prefix, out, top_level=at_top, shallow=shallow)
    else:
        node.check(value, path_prefix, out)
    return out


def model_layers(value: Any, catalog: Catalog) -> Iterator[tuple[JsonPath, Any, str]]:
    """(path, layer envelope, kind) for each item of the top-level model's ``layers``: what
    ``validate_envelope(..., shallow=True)`` leaves out."""
    if not isinstance(value, dict) or not isinstance(value.get("config"), dict):
        return
    layers = value["config"].get("layers")
    if not isinstance(layers, list):
        return
    kind = _validator(catalog).layers_kind(value)
    if kind is None:
        return
    for index, layer in enumerate(layers):
        yield ("config", "layers", index), layer, kind


def validate_model_links(value: Any, path_prefix: JsonPath = ()) -> list[Finding]:
    """LCF201 (duplicate layer names) and LCF202 (references to layers that do not exist) in
    the model at ``value`` and the models nested in its layers."""
    out: list[Finding] = []
    _model_links(value, path_prefix, out, depth=0)
    return out


def fold_legacy(value: Any, findings: list[Finding]) -> list[Finding]:
    """One LCF108 on the top-level ``class_name`` for a Keras 2 document, instead of its markers.

    A document is Keras 2 when its top level has no ``module`` (Keras 3 always writes one, and
    cannot load the document without it) and it carries a Keras 2 marker: ``keras_version`` /
    ``backend`` next to the config, ``batch_input_shape``, list-style ``inbound_nodes``, a
    one-item ``axis`` list, or Keras 2 Lambda keys. The markers, and the LCF102 findings of
    Keras 1/2 names of the class's keys (``KEY_RENAMES``), become its related locations: the upgrade
    fixes them all, so they are not reported once per layer. The missing top-level ``module``
    is not reported twice either. String dtypes are no marker: Keras 3 writes them too.
    """
    if not isinstance(value, dict) or "module" in value:
        return findings
    # Keras 1/2 keys (batch_input_shape in a layer that has a module...) are part of the
    # upgrade too: folded rather than reported once per layer.
    markers = [f for f in findings if f.code == "LCF108" or _renamed_key(f)]
    if not any(f.code == "LCF108" for f in markers):
        return findings
    missing_module = [
        f for f in findings if f.code == "LCF107" and f.path == () and _data(f, "key") == "module"
    ]
    folded_away = {id(f) for f in markers + missing_module}
    rest = [f for f in findings if id(f) not in folded_away]
    class_name = value.get("class_name")
    path: JsonPath = ("class_name",) if "class_name" in value else ()
    folded = Finding(
        path=path,
        part="value" if path else "open",
        code="LCF108",
        message=f"Legacy Keras 2 document: Keras 3 cannot load it as it is "
        f"(no 'module' at the top level; {len(markers)} Keras 2 "
        f"marker{'s' if len(markers) != 1 else ''}). Upgrade it to the Keras 3 format.",
        severity=ERROR,
        data={
            "kind": "keras2",
            "class_name": class_name,
            "module": _data(missing_module[0], "module") if missing_module else None,
            "markers": [{"path": list(f.path), "code": f.code, **(f.data or {})} for f in markers],
        },
        related=tuple((f.path, f.part, f.message) for f in markers[:50]),
    )
    return [folded, *rest]


def _renamed_key(finding: Finding) -> bool:
    """An unknown key that is the Keras 1/2 name of one this class has."""
    if finding.code != "LCF102":
        return False
    candidates = _data(finding, "candidates") or []
    return bool(candidates) and candidates[0] in KEY_RENAMES.get(_data(finding, "key"), ())


# -- compiled schemas ----------------------------------------------------------------------------


class _Node:
    """One compiled schema object; keywords are turned into attributes once."""

    __slots__ = (
        "v",
        "where",
        "title",
        "types",
        "enum",
        "enum_set",
        "enum_label",
        "const",
        "minimum",
        "maximum",
        "exclusive_minimum",
        "exclusive_maximum",
        "pattern",
        "min_items",
        "max_items",
        "items",
        "prefix_items",
        "properties",
        "required",
        "additional",
        "any_of",
        "all_of",
        "ref",
        "if_",
        "then",
        "else_",
        "class_const",
        "_possible",
        "_keys",
    )

    def __init__(self, validator: _Validator, where: str):
        self.v = validator
        self.where = where
        self.title: str | None = None
        self.types: frozenset[str] | None = None
        self.enum: list[Any] | None = None
        self.enum_set: frozenset[Any] | None = None
        self.enum_label: str | None = None
        self.const: Any = _MISSING
        self.minimum: float | None = None
        self.maximum: float | None = None
        self.exclusive_minimum: float | None = None
        self.exclusive_maximum: float | None = None
        self.pattern: re.Pattern[str] | None = None
        self.min_items: int | None = None
        self.max_items: int | None = None
        self.items: _Node | None = None
        self.prefix_items: list[_Node] | None = None
        self.properties: dict[str, _Node] | None = None
        self.required: tuple[str, ...] = ()
        self.additional: bool | _Node = True
        self.any_of: list[_Node] | None = None
        self.all_of: list[_Node] = []
        self.ref: _Ref | None = None
        self.if_: _Node | None = None
        self.then: _Node | None = None
        self.else_: _Node | None = None
        self.class_const: frozenset[str] | None = None  # class_name values an object branch takes
        self._possible: frozenset[str] | None | object = _MISSING
        self._keys: _Keys | None = None

    def keys(self) -> _Keys:
        """The names of ``properties``, for did-you-mean."""
        keys = self._keys
        if keys is None:
            keys = self._keys = _Keys(tuple(self.properties or ()))
        return keys

    # What JSON types can pass at all: lets anyOf pick its branch by the value's type.
    def possible_types(self, visiting: frozenset[int] = frozenset()) -> frozenset[str] | None:
        if self._possible is not _MISSING:
            return self._possible  # type: ignore[return-value]
        if id(self) in visiting:
            return None  # a recursive $ref: "anything" while it is being worked out
        visiting = visiting | {id(self)}
        found: frozenset[str] | None = self.types
        if self.const is not _MISSING:
            found = _meet(found, frozenset({json_type(self.const)}))
        if self.enum is not None:
            found = _meet(found, frozenset(json_type(v) for v in self.enum))
        if self.ref is not None:
            found = _meet(found, self.ref.node.possible_types(visiting))
        if self.any_of is not None:
            union: set[str] = set()
            for branch in self.any_of:
                types = branch.possible_types(visiting)
                if types is None:
                    union = set(_ALL_TYPES)
                    break
                union |= types
            found = _meet(found, frozenset(union))
        for part in self.all_of:
            found = _meet(found, part.possible_types(visiting))
        if found is not None and "number" in found:
            found = found | {"integer"}
        if not visiting - {id(self)}:
            self._possible = found  # only a complete answer is kept (threads share nodes)
        return found

    def passes(self, value: Any) -> bool:
        scratch: list[Finding] = []
        self.check(value, (), scratch)
        return not any(f.severity == ERROR for f in scratch)

    def check(self, value: Any, path: JsonPath, out: list[Finding]) -> None:
        if self.ref is not None:
            self.ref.node.check(value, path, out)
        jtype = _JSON_TYPES.get(type(value), "object")
        types = self.types
        if types is not None and jtype not in types:
            if not (jtype == "integer" and "number" in types):
                out.append(_wrong_type(value, path, sorted(types)))
                return
        if self.const is not _MISSING and not _same(value, self.const):
            out.append(_not_allowed(value, path, [self.const], None))
            return
        if self.enum is not None and not self._in_enum(value):
            out.append(_not_allowed(value, path, self.enum, self.enum_label))
            return
        if jtype == "integer" or jtype == "number":
            self._check_number(value, path, out)
        elif jtype == "string":
            if self.pattern is not None and not self.pattern.search(value):
                out.append(
                    Finding(
                        path,
                        "value",
                        "LCF105",
                        f"{_quote(value)} does not match the form {self.pattern.pattern!r}"
                        f"{_of(path)}.",
                        data={"pattern": self.pattern.pattern, "value": value},
                    )
                )
        elif jtype == "array":
            self._check_array(value, path, out)
        elif jtype == "object":
            self._check_object(value, path, out)
        if self.any_of is not None:
            self._check_any_of(value, jtype, path, out)
        for part in self.all_of:
            part.check(value, path, out)
        if self.if_ is not None:
            branch = self.then if self.if_.passes(value) else self.else_
            if branch is not None:
                branch.check(value, path, out)

    def _in_enum(self, value: Any) -> bool:
        # Strings and null hash apart from everything else; numbers and booleans (1 == True)
        # need the type-aware comparison.
        if self.enum_set is not None and (type(value) is str or value is None):
            return value in self.enum_set
        return any(_same(value, option) for option in self.enum or ())

    def _check_number(self, value: float, path: JsonPath, out: list[Finding]) -> None:
        if type(value) is bool:
            return
        low, high = self.minimum, self.maximum
        if low is not None and value < low:
            out.append(_out_of_range(value, path, "minimum", low, "at least"))
        elif self.exclusive_minimum is not None and value <= self.exclusive_minimum:
            out.append(
                _out_of_range(value, path, "exclusiveMinimum", self.exclusive_minimum, "above")
            )
        if high is not None and value > high:
            out.append(_out_of_range(value, path, "maximum", high, "at most"))
        elif self.exclusive_maximum is not None and value >= self.exclusive_maximum:
            out.append(
                _out_of_range(value, path, "exclusiveMaximum", self.exclusive_maximum, "below")
            )

    def _check_array(self, value: list[Any], path: JsonPath, out: list[Finding]) -> None:
        if len(path) > MAX_DEPTH:
            return
        count = len(value)
        if (self.min_items is not None and count < self.min_items) or (
            self.max_items is not None and count > self.max_items
        ):
            out.append(_bad_length(count, path, self.min_items, self.max_items))
        prefix = self.prefix_items
        start = 0
        if prefix is not None:
            for index, item in enumerate(value[: len(prefix)]):
                prefix[index].check(item, path + (index,), out)
            start = len(prefix)
        items = self.items
        if items is not None:
            for index in range(start, count):
                items.check(value[index], path + (index,), out)
        elif prefix is None and self.ref is None and self.any_of is None and not self.all_of:
            self.v.scan(value, path, out)

    def _check_object(self, value: dict[str, Any], path: JsonPath, out: list[Finding]) -> None:
        if len(path) > MAX_DEPTH:
            return
        properties = self.properties
        additional = self.additional
        # A misspelt required key is one mistake: reported on the key, not again as missing.
        meant: set[str] = set()
        if properties is None and additional is True:
            if self.ref is None and self.any_of is None and not self.all_of:
                self.v.scan(value, path, out)
        else:
            for key, item in value.items():
                sub = properties.get(key) if properties is not None else None
                if sub is not None:
                    sub.check(item, path + (key,), out)
                elif additional is False:
                    finding = self._unknown_key(key, path)
                    out.append(finding)
                    if len(out) % 256 == 0:
                        checkpoint()  # thousands of unknown keys in one object
                    candidates = _data(finding, "candidates")
                    if candidates and candidates[0] not in value:
                        meant.add(candidates[0])
                elif additional is True:
                    self.v.scan(item, path + (key,), out)
                else:
                    additional.check(item, path + (key,), out)
        for key in self.required:
            if key not in value and key not in meant:
                out.append(
                    Finding(
                        path,
                        "open",
                        "LCF103",
                        f"Missing required key {_quote(key)}{self._in_title()}.",
                        data={"key": key},
                    )
                )

    def _in_title(self) -> str:
        return f" in the config of {self.title}" if self.title else ""

    def _unknown_key(self, key: str, path: JsonPath) -> Finding:
        candidates = _closest_keys(key, self.keys())
        hint = f" Did you mean {_or_list(candidates)}?" if candidates else ""
        return Finding(
            path + (key,),
            "key",
            "LCF102",
            f"Unknown key {_quote(key)}{self._in_title()}.{hint}",
            data={"key": key, "candidates": candidates},
        )

    def _check_any_of(self, value: Any, jtype: str, path: JsonPath, out: list[Finding]) -> None:
        assert self.any_of is not None
        branches = [b for b in self.any_of if _takes_type(b.possible_types(), jtype)]
        if not branches:
            accepted: set[str] = set()
            for branch in self.any_of:
                accepted |= branch.possible_types() or set(_ALL_TYPES)
            out.append(_wrong_type(value, path, sorted(accepted)))
            return
        if jtype == "object" and len(branches) > 1:
            # An object naming its class_name picks the branch made for that class_name.
            name = value.get("class_name")
            if not isinstance(name, str):
                name = None  # a list or an object: no branch names it (and it is unhashable)
            exact = [b for b in branches if b.class_const is not None and name in b.class_const]
            branches = exact or [b for b in branches if b.class_const is None] or branches
        if len(branches) == 1:
            branches[0].check(value, path, out)
            return
        best: list[Finding] | None = None
        best_score: tuple[int, int] | None = None
        for branch in branches:
            scratch: list[Finding] = []
            branch.check(value, path, scratch)
            errors = [f for f in scratch if f.severity == ERROR]
            if not errors:
                out.extend(scratch)
                return
            # Blame the branch that got furthest into the value, then the earliest one.
            score = (-max(len(f.path) for f in errors), len(errors))
            if best_score is None or score < best_score:
                best, best_score = scratch, score
        assert best is not None
        out.extend(best)


class _Ref:
    """A ``$ref``, compiled when first used (definitions refer to each other)."""

    __slots__ = ("validator", "target", "_node")

    def __init__(self, validator: _Validator, target: str):
        self.validator = validator
        self.target = target
        self._node: _Node | None = None

    @property
    def node(self) -> _Node:
        if self._node is None:
            self._node = self.validator.ref(self.target)
        return self._node


class _Envelope(_Node):
    """``{"module", "class_name", "config", ...}``: checked against the class it names."""

    __slots__ = ("families", "family_label")

    def __init__(self, validator: _Validator, where: str, families: frozenset[str]):
        super().__init__(validator, where)
        self.families = families
        self.family_label = "layer" if families == LAYER_FAMILIES else _words(min(families))

    def possible_types(self, visiting: frozenset[int] = frozenset()) -> frozenset[str] | None:
        return frozenset({"object"})

    def check(self, value: Any, path: JsonPath, out: list[Finding]) -> None:
        self.check_envelope(value, path, out)

    def check_envelope(
        self,
        value: Any,
        path: JsonPath,
        out: list[Finding],
        *,
        top_level: bool = False,
        shallow: bool = False,
    ) -> None:
        if type(value) is not dict:
            out.append(_wrong_type(value, path, ["object"]))
            return
        if len(path) > MAX_DEPTH:
            return
        checkpoint()
        properties = self.properties or {}
        for key, item in value.items():
            if key == "class_name" or key == "config":
                continue
            sub = properties.get(key)
            if sub is not None:
                sub.check(item, path + (key,), out)
            elif top_level and key in _LEGACY_TOP_KEYS:
                message = f"{key!r} is written by Keras 2's to_json(); Keras 3 ignores it."
                out.append(_legacy_marker(path + (key,), key, message))
            else:
                candidates = _closest_keys(key, self.keys())
                hint = f" Did you mean {_or_list(candidates)}?" if candidates else ""
                out.append(
                    Finding(
                        path + (key,),
                        "key",
                        "LCF107",
                        f"Unknown envelope key {_quote(key)}: Keras ignores it.{hint}",
                        severity=WARNING,
                        data={"key": key, "candidates": candidates},
                    )
                )
        nodes = value.get("inbound_nodes")
        if type(nodes) is list and any(type(node) is list for node in nodes):
            # Keras 3 still reads these [[name, node_index, tensor_index, kwargs], ...] lists.
            out.append(
                _legacy_marker(
                    path + ("inbound_nodes",),
                    "inbound_nodes",
                    "Keras 2 inbound_nodes lists: Keras 3 still reads them, "
                    'but writes {"args": [...], "kwargs": {...}} nodes.',
                )
            )
        class_name = value.get("class_name", _MISSING)
        config = value.get("config", _MISSING)
        if class_name is _MISSING:
            out.append(_missing(path, "class_name", "envelope"))
            if config is not _MISSING:
                self.v.scan(config, path + ("config",), out)
            return
        if type(class_name) is not str:
            out.append(_wrong_type(class_name, path + ("class_name",), ["string"]))
            return
        if class_name in SPECIAL_CLASS_NAMES:
            return
        if class_name == "function":
            self._function(value, path, out)
            return
        if config is _MISSING:
            out.append(_missing(path, "config", "envelope"))
        entry = self.v.catalog.lookup(value, self.families)
        if entry is not None and not self.v.module_fits(value, entry):
            entry = None  # same class_name, but Keras would import another module's class
        if entry is None:
            if not self.v.outside_catalog(value.get("module")):
                out.append(self.v.unknown_class(value, path, self.families, self.family_label))
            if config is not _MISSING:
                self.v.scan(config, path + ("config",), out)
            return
        self.v.check_identity(value, entry, path, out, top_level)
        if config is _MISSING:
            return
        if config is None:
            config = {}  # Keras reads a null config as {}
        elif type(config) is not dict:
            out.append(
                Finding(
                    path + ("config",),
                    "value",
                    "LCF107",
                    f"The config of {entry['class_name']} must be an object, "
                    f"not {_a(json_type(config))}.",
                    data={"expected": ["object"], "value": _scalar(config)},
                )
            )
            return
        if shallow and isinstance(config.get("layers"), list) and self.v.layers_kind(value):
            config = {**config, "layers": []}  # model_layers() hands them out one by one
        if "module" not in value and not top_level and entry["family"] in LAYER_FAMILIES:
            config = self.v.legacy_config(config, entry, path + ("config",), out)
        self.v.config_node(entry).check(config, path + ("config",), out)

    def _function(self, value: dict[str, Any], path: JsonPath, out: list[Finding]) -> None:
        config = value.get("config", _MISSING)
        if config is _MISSING:
            out.append(_missing(path, "config", "function envelope"))
        elif type(config) is not str:
            out.append(
                Finding(
                    path + ("config",),
                    "value",
                    "LCF107",
                    "The config of a function envelope is the function's name, a string.",
                    data={"expected": ["string"], "value": _scalar(config)},
                )
            )


_ALL_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})


def _meet(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    if "number" in a:
        a = a | {"integer"}
    if "number" in b:
        b = b | {"integer"}
    return a & b


def _takes_type(types: frozenset[str] | None, jtype: str) -> bool:
    return types is None or jtype in types or (jtype == "integer" and "number" in types)


# -- the validator of one catalog ----------------------------------------------------------------


class _Validator:
    """Compiles the catalog's schemas on first use and holds the catalog-wide lookups."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._lock = threading.RLock()
        self._refs: dict[str, _Node] = {}
        self._configs: dict[str, _Node] = {}
        self._enum_labels: dict[frozenset[Any], str] = {}
        for family, label in (
            ("initializer", "initializer"),
            ("regularizer", "regularizer"),
            ("constraint", "constraint"),
            ("activation", "activation"),
            ("dtype", "dtype"),
        ):
            names = catalog.names.get(family)
            if names:
                self._enum_labels.setdefault(frozenset(names), label)
        root = catalog.schema.get("$ref", _PREFIX + "envelope.layer")
        self.root = self.ref(root)
        self._class_lists: dict[frozenset[str] | None, tuple[_Keys, dict[str, Entry]]] = {}
        self._module_families: dict[str, frozenset[str]] = {}
        self._covered_packages = frozenset(
            package for package in map(_keras_package, catalog.modules) if package is not None
        )

    # -- compiling -------------------------------------------------------------------------
    def ref(self, ref: str) -> _Node:
        node = self._refs.get(ref)
        if node is not None:
            return node
        # Validation may run in several threads: a node is published once it is complete.
        # Filling never compiles another $ref ($ref targets are compiled when first used).
        with self._lock:
            node = self._refs.get(ref)
            if node is None:
                node = self._compile_ref(ref)
                self._refs[ref] = node
        return node

    def _compile_ref(self, ref: str) -> _Node:
        schema = self.catalog.resolve(ref)
        if schema is None:
            raise SchemaError(f"unresolvable $ref {ref!r}")
        families = _envelope_families(schema)
        if families is not None:
            node = _Envelope(self, ref, families)
            # The envelope's own keys (module, registered_name, ...) keep their schemas; the
            # class_name dispatch is done through the catalog instead of if/then.
            self._fill(node, {k: v for k, v in schema.items() if k != "allOf"}, ref)
            return node
        return self.compile(schema, ref)

    def compile(self, schema: Any, where: str) -> _Node:
        node = _Node(self, where)
        self._fill(node, schema, where)
        return node

    def _fill(self, node: _Node, schema: Any, where: str) -> None:
        if schema is True or schema == {}:
            return
        if not isinstance(schema, dict):
            raise SchemaError(f"{where}: a schema must be an object, got {schema!r}")
        for keyword, argument in schema.items():
            if keyword in _ANNOTATIONS:
                continue
            rule = _KEYWORDS.get(keyword)
            if rule is None:
                raise SchemaError(f"{where}: unsupported schema keyword {keyword!r}")
            rule(self, node, argument, f"{where}/{keyword}")
        if isinstance(schema.get("title"), str):
            node.title = schema["title"]

    def config_node(self, entry: Entry) -> _Node:
        node = self._configs.get(entry["id"])
        if node is not None:
            return node
        with self._lock:
            node = self._configs.get(entry["id"])
            if node is not None:
                return node
            schema = self.catalog.schema_for(entry)
            layers = schema.get("properties", {}).get("layers")
            if entry["family"] == "model" and isinstance(layers, dict) and "items" not in layers:
                # A model's layers are layer envelopes even where the schema does not say so.
                schema = {
                    **schema,
                    "properties": {
                        **schema["properties"],
                        "layers": {**layers, "items": {"$ref": _PREFIX + "envelope.layer"}},
                    },
                }
            node = self.compile(schema, entry.get("schema_ref") or entry["id"])
            if node.title is None:
                node.title = entry["class_name"]
            self._configs[entry["id"]] = node
        return node

    def layers_kind(self, value: dict[str, Any]) -> str | None:
        """The ``$defs`` name the items of this model's ``layers`` are checked against."""
        entry = self.catalog.lookup(value, LAYER_FAMILIES)
        if entry is None:
            return None
        layers = self.config_node(entry).properties or {}
        node = layers.get("layers")
        items = _deref_items(node)
        if items is None or items.ref is None:
            return None
        return items.ref.target[len(_PREFIX) :]

    # -- envelopes ----------------------------------------------------------------------------
    def scan(self, value: Any, path: JsonPath, out: list[Finding]) -> None:
        """Where the schema says nothing: envelopes of known classes are still checked."""
        if len(path) > MAX_DEPTH:
            return
        if type(value) is dict:
            if "class_name" in value and "config" in value:
                self._loose_envelope(value, path, out)
                return
            for key, item in value.items():
                if type(item) is dict or type(item) is list:
                    self.scan(item, path + (key,), out)
        elif type(value) is list:
            for index, item in enumerate(value):
                if type(item) is dict or type(item) is list:
                    self.scan(item, path + (index,), out)

    def _loose_envelope(self, value: dict[str, Any], path: JsonPath, out: list[Finding]) -> None:
        class_name = value["class_name"]
        if type(class_name) is not str or class_name in SPECIAL_CLASS_NAMES:
            return
        if class_name == "function":
            return
        entry = self.catalog.lookup(value)
        if entry is not None:
            kind = _envelope_def(entry["family"])
            if kind == "envelope.layer" and "inbound_nodes" in value:
                # An entry of a model's layers whose model the catalog does not know.
                kind = "functional_layer" if "functional_layer" in self.catalog.defs else kind
            self.ref(_PREFIX + kind).check(value, path, out)
            return
        module = value.get("module")
        # Optimizers, losses, metrics... are not in the catalog; only a module the catalog
        # covers tells that the class should have been found.
        if isinstance(module, str) and module in self.catalog.modules:
            families = self._module_families.get(module)
            if families is None:
                families = self._module_families[module] = frozenset(
                    e["family"] for e in self.catalog.entries if e["module"] == module
                )
            label = "layer" if families & LAYER_FAMILIES else _words(min(families))
            out.append(self.unknown_class(value, path, families, label))

    def module_fits(self, value: dict[str, Any], entry: Entry) -> bool:
        """Whether Keras, importing the envelope's ``module``, can find this entry's class.

        Only private ``keras.src.*`` modules are told apart (a Functional model holds
        ``keras.src.ops.numpy.Reshape`` operations, which are not ``keras.layers.Reshape``);
        a public module that differs is a warning of ``check_identity``.
        """
        module = value.get("module")
        if not isinstance(module, str) or module == entry.get("module"):
            return True
        if entry.get("custom") and value.get("registered_name") == entry.get("registered_name"):
            return True
        if not module.startswith("keras.src."):
            return True
        home = _keras_package(entry.get("module"))
        return home is None or home == _keras_package(module)

    def outside_catalog(self, module: Any) -> bool:
        """A private Keras module the catalog does not cover (operations, losses...): Keras
        imports it and finds the class there, so an unknown class_name is not a finding."""
        if not isinstance(module, str) or not module.startswith("keras.src."):
            return False
        return _keras_package(module) not in self._covered_packages

    def unknown_class(
        self, value: dict[str, Any], path: JsonPath, families: frozenset[str], label: str
    ) -> Finding:
        name = value["class_name"]
        candidates = [c for c in self._class_candidates(name, families) if c["class_name"] != name]
        elsewhere = [e for e in self.catalog.find(name) if e["family"] not in families]
        if elsewhere:
            other = _words(elsewhere[0]["family"])
            message = f"{_quote(name)} is {_a(other)}, not {_a(label)}."
        else:
            message = f"Unknown {label} class {_quote(name)}."
        module = value.get("module")
        registered = value.get("registered_name")
        custom = (isinstance(module, str) and module.split(".")[0] != "keras") or (
            isinstance(registered, str) and ">" in registered
        )
        if custom and not elsewhere and module not in self.catalog.modules:
            # A class of a package layercfg was not told about: it may well exist.
            where = f"module {_quote(module)}" if isinstance(module, str) else _quote(registered)
            message = (
                f"{_quote(name)} ({where}) is not in the catalog: add its module to the "
                "'modules' setting to check it."
            )
            severity = WARNING
        else:
            severity = ERROR
            if candidates:
                message += f" Did you mean {_or_list([c['class_name'] for c in candidates[:3]])}?"
        return Finding(
            path + ("class_name",),
            "value",
            "LCF101",
            message,
            severity=severity,
            data={"class_name": name, "candidates": candidates, "module": module},
        )

    def _class_names(self, group: frozenset[str] | None) -> tuple[_Keys, dict[str, Entry]]:
        """The class names (aliases included) of a group of families (None: all), and the
        class of each."""
        found = self._class_lists.get(group)
        if found is None:
            entries = self.catalog.entries if group is None else self.catalog.in_families(group)
            by_name: dict[str, Entry] = {}
            for entry in entries:
                for alias in class_names(entry):
                    by_name.setdefault(alias, entry)
            found = self._class_lists[group] = (_Keys(tuple(by_name)), by_name)
        return found

    def _class_candidates(self, name: str, families: frozenset[str]) -> list[dict[str, Any]]:
        ranked: list[Entry] = []
        renamed = CLASS_RENAMES.get(name)
        if renamed:
            ranked.extend(self.catalog.find(renamed, families) or self.catalog.find(renamed))
        for group in (families, None):
            names, by_name = self._class_names(group)
            same = names.lowered.get(name.lower())
            close = [same] if same is not None else []
            close += _close_matches(name, names.names, 5)
            ranked.extend(by_name[n] for n in close)
        seen: set[str] = set()
        candidates = []
        for entry in ranked:
            if entry["id"] in seen:
                continue
            seen.add(entry["id"])
            candidates.append(
                {
                    "class_name": entry["class_name"],
                    "module": entry.get("module"),
                    "registered_name": entry.get("registered_name"),
                }
            )
        return candidates[:5]

    def check_identity(
        self, value: dict[str, Any], entry: Entry, path: JsonPath, out: list[Finding], top: bool
    ) -> None:
        """``module`` and ``registered_name`` against the class (serialization_lib rules)."""
        name = entry["class_name"]
        expected_module = entry.get("module")
        module = value.get("module", _MISSING)
        fix = {"module": expected_module, "registered_name": entry.get("registered_name")}
        if module is _MISSING:
            # Nested envelopes without module go through Keras's by-name (legacy) loader;
            # the document itself is loaded by module, so Keras 3 cannot locate it.
            if top:
                out.append(
                    Finding(
                        path,
                        "open",
                        "LCF107",
                        f"Missing 'module': Keras 3 cannot locate {name} at the top level "
                        f"without it (expected {_quote(expected_module)}).",
                        data={"key": "module", **fix},
                    )
                )
        elif module is None:
            if not entry.get("custom"):
                out.append(
                    Finding(
                        path + ("module",),
                        "value",
                        "LCF107",
                        f"'module' is null: Keras then takes {name} for an unregistered "
                        f"custom class and cannot load it (expected {_quote(expected_module)}).",
                        data=fix,
                    )
                )
        elif isinstance(module, str) and module != expected_module:
            # keras.src.* paths are importable and Keras finds the class there; a parent
            # package is where Keras also exports many classes (it writes "keras" for Layer).
            expected = expected_module or ""
            plausible = (
                module.startswith("keras.src.")
                or expected.startswith(module + ".")
                or (module.startswith(expected + ".") and expected.startswith("keras"))
            )
            if not (plausible and not entry.get("custom")):
                out.append(
                    Finding(
                        path + ("module",),
                        "value",
                        "LCF107",
                        f"{name} is in module {_quote(expected_module)}, not {_quote(module)}.",
                        severity=WARNING,
                        data=fix,
                    )
                )
        registered = value.get("registered_name")
        if not isinstance(registered, str) or not registered:
            if entry.get("custom") and entry.get("registered_name") and "module" in value:
                out.append(
                    Finding(
                        path + ("registered_name",) if "registered_name" in value else path,
                        "value" if "registered_name" in value else "open",
                        "LCF107",
                        f"{name} is registered as {_quote(entry['registered_name'])}; "
                        "without that registered_name Keras cannot locate it.",
                        data={"key": "registered_name", **fix},
                    )
                )
            return
        if entry.get("custom"):
            if entry.get("registered_name") and registered != entry["registered_name"]:
                out.append(
                    Finding(
                        path + ("registered_name",),
                        "value",
                        "LCF107",
                        f"{name} is registered as {_quote(entry['registered_name'])}, "
                        f"not {_quote(registered)}.",
                        data=fix,
                    )
                )
        elif registered not in (value.get("class_name"), name) and registered != entry.get(
            "registered_name"
        ):
            # Only the loader of layers and models asserts this; initializers, regularizers,
            # constraints and dtype policies are resolved by class_name and ignore it.
            severe = entry["family"] in LAYER_FAMILIES
            out.append(
                Finding(
                    path + ("registered_name",),
                    "value",
                    "LCF107",
                    f"{name} is a Keras built-in and takes no registered_name "
                    f"({_quote(registered)})"
                    + (": Keras refuses to load it." if severe else "; Keras ignores it."),
                    severity=ERROR if severe else WARNING,
                    data=fix,
                )
            )

    def legacy_config(
        self, config: dict[str, Any], entry: Entry, path: JsonPath, out: list[Finding]
    ) -> dict[str, Any]:
        """Apply what Keras 3's legacy loader rewrites, reporting each rewrite as a marker."""
        properties = self.config_node(entry).properties or {}
        converted = None
        shape = config.get("batch_input_shape", _MISSING)
        if shape is not _MISSING:
            target = "batch_shape" if entry["class_name"] == "InputLayer" else "input_shape"
            out.append(
                _legacy_marker(
                    path + ("batch_input_shape",),
                    "batch_input_shape",
                    f"Keras 2 key 'batch_input_shape': Keras 3 reads it as {target!r} here; "
                    f"write {target!r}.",
                    rename=target,
                )
            )
            if "batch_input_shape" not in properties:
                converted = dict(config)
                del converted["batch_input_shape"]
                if target in properties and target not in config and shape is not None:
                    properties[target].check(shape, path + ("batch_input_shape",), out)
        axis = config.get("axis")
        if type(axis) is list and len(axis) == 1 and type(axis[0]) is int:
            axis_node = properties.get("axis")
            if axis_node is not None and not axis_node.passes(axis):
                converted = converted if converted is not None else dict(config)
                converted["axis"] = axis[0]
                out.append(
                    _legacy_marker(
                        path + ("axis",),
                        "axis",
                        f"Keras 2 one-item 'axis' list: Keras 3 reads it as {axis[0]}; "
                        f"write {axis[0]}.",
                        value=axis[0],
                    )
                )
        if entry["class_name"] == "Lambda":
            for key in _LEGACY_LAMBDA_KEYS:
                if key in config and key not in properties:
                    converted = converted if converted is not None else dict(config)
                    del converted[key]
                    message = f"Keras 2 Lambda key {key!r}: Keras 3 drops it."
                    out.append(_legacy_marker(path + (key,), key, message))
        return config if converted is None else converted


def _envelope_families(schema: dict[str, Any]) -> frozenset[str] | None:
    """The class families of an envelope definition: one that dispatches on class_name."""
    properties = schema.get("properties")
    if not isinstance(properties, dict) or "class_name" not in properties:
        return None
    if "config" not in properties:
        return None
    for part in schema.get("allOf", ()):
        ref = part.get("$ref", "") if isinstance(part, dict) else ""
        if ref.startswith(_PREFIX + "dispatch."):
            family = ref[len(_PREFIX + "dispatch.") :]
            return LAYER_FAMILIES if family in LAYER_FAMILIES else frozenset({family})
    return None


def _keras_package(module: str | None) -> str | None:
    """``layers`` for ``keras.layers`` and ``keras.src.layers.core.dense``; None for ``keras``."""
    if not module:
        return None
    parts = module.split(".")
    if parts[0] != "keras" or len(parts) < 2:
        return None
    if parts[1] == "src":
        return parts[2] if len(parts) > 2 else None
    return parts[1]


def _envelope_def(family: str) -> str:
    return "envelope.layer" if family in LAYER_FAMILIES else f"envelope.{family}"


def _deref_items(node: _Node | None) -> _Node | None:
    while node is not None and node.items is None and node.ref is not None:
        node = node.ref.node
    return None if node is None else node.items


_validators: weakref.WeakKeyDictionary[Catalog, _Validator] = weakref.WeakKeyDictionary()
_validators_lock = threading.Lock()


def _validator(catalog: Catalog) -> _Validator:
    validator = _validators.get(catalog)
    if validator is None:
        with _validators_lock:
            validator = _validators.get(catalog)
            if validator is None:
                validator = _validators[catalog] = _Validator(catalog)
    return validator


# -- keywords ------------------------------------------------------------------------------------


def _kw_type(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    types = argument if isinstance(argument, list) else [argument]
    unknown = [t for t in types if t not in _ALL_TYPES]
    if unknown:
        raise SchemaError(f"{where}: unknown type {unknown[0]!r}")
    node.types = frozenset(types)


def _kw_enum(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    if not isinstance(argument, list):
        raise SchemaError(f"{where}: enum must be a list")
    node.enum = list(argument)
    try:
        node.enum_set = frozenset(argument)
    except TypeError:
        node.enum_set = None
    strings = frozenset(a for a in argument if isinstance(a, str))
    node.enum_label = v._enum_labels.get(strings)


def _kw_const(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    node.const = argument


def _kw_number(attribute: str) -> Callable[[_Validator, _Node, Any, str], None]:
    def rule(v: _Validator, node: _Node, argument: Any, where: str) -> None:
        if isinstance(argument, bool) or not isinstance(argument, (int, float)):
            raise SchemaError(f"{where}: expected a number")
        setattr(node, attribute, argument)

    return rule


def _kw_items(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    if isinstance(argument, list):
        raise SchemaError(f"{where}: array-form items is not 2020-12; use prefixItems")
    node.items = v.compile(argument, where)


def _kw_prefix_items(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    node.prefix_items = [v.compile(s, f"{where}/{i}") for i, s in enumerate(argument)]


def _kw_properties(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    node.properties = {k: v.compile(s, f"{where}/{k}") for k, s in argument.items()}


def _kw_required(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    node.required = tuple(argument)


def _kw_additional(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    if argument is True or argument is False:
        node.additional = argument
    else:
        node.additional = v.compile(argument, where)


def _kw_pattern(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    node.pattern = re.compile(argument)


def _kw_any_of(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    node.any_of = [v.compile(s, f"{where}/{i}") for i, s in enumerate(argument)]
    for branch, schema in zip(node.any_of, argument, strict=True):
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        test = properties.get("class_name", {})
        if "const" in test:
            branch.class_const = frozenset([test["const"]])
        elif "enum" in test:
            branch.class_const = frozenset(test["enum"])


def _kw_all_of(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    node.all_of = [*node.all_of, *(v.compile(s, f"{where}/{i}") for i, s in enumerate(argument))]


def _kw_ref(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    if not isinstance(argument, str) or not argument.startswith(_PREFIX):
        raise SchemaError(f"{where}: unsupported $ref {argument!r}")
    node.ref = _Ref(v, argument)


def _kw_if(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    node.if_ = v.compile(argument, where)


def _kw_then(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    node.then = v.compile(argument, where)


def _kw_else(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    node.else_ = v.compile(argument, where)


def _kw_defs(v: _Validator, node: _Node, argument: Any, where: str) -> None:
    """Definitions are compiled when a $ref reaches them."""


_KEYWORDS: dict[str, Callable[[_Validator, _Node, Any, str], None]] = {
    "type": _kw_type,
    "enum": _kw_enum,
    "const": _kw_const,
    "minimum": _kw_number("minimum"),
    "maximum": _kw_number("maximum"),
    "exclusiveMinimum": _kw_number("exclusive_minimum"),
    "exclusiveMaximum": _kw_number("exclusive_maximum"),
    "minItems": _kw_number("min_items"),
    "maxItems": _kw_number("max_items"),
    "pattern": _kw_pattern,
    "items": _kw_items,
    "prefixItems": _kw_prefix_items,
    "properties": _kw_properties,
    "required": _kw_required,
    "additionalProperties": _kw_additional,
    "anyOf": _kw_any_of,
    "allOf": _kw_all_of,
    "$ref": _kw_ref,
    "if": _kw_if,
    "then": _kw_then,
    "else": _kw_else,
    "$defs": _kw_defs,
}


# -- model links ---------------------------------------------------------------------------------


@dataclass
class _Graph:
    """The layers of one model: where each name is defined."""

    paths: dict[str, JsonPath]
    _names: tuple[str, ...] | None = None

    def names(self) -> tuple[str, ...]:
        """The layer names, once the graph is complete."""
        if self._names is None or len(self._names) != len(self.paths):
            self._names = tuple(self.paths)
        return self._names


def _model_links(value: Any, path: JsonPath, out: list[Finding], depth: int) -> None:
    if type(value) is not dict or depth > 64:
        return
    config = value.get("config")
    if type(config) is not dict:
        return
    layers = config.get("layers")
    if type(layers) is not list:
        _wrapped_links(config, path, out, depth)
        return
    functional = (
        "input_layers" in config
        or "output_layers" in config
        or any(type(layer) is dict and "inbound_nodes" in layer for layer in layers)
    )
    if not functional and value.get("class_name") != "Sequential":
        return
    # Links use the entries' names; Keras's uniqueness check is on the layers' own (config)
    # names. Both are checked, one finding per layer.
    graph = _Graph({})
    config_names: dict[str, JsonPath] = {}
    layers_path = path + ("config", "layers")
    for index, layer in enumerate(layers):
        if type(layer) is not dict:
            continue
        layer_path = layers_path + (index,)
        if functional:
            for key in ("name", "inbound_nodes"):
                if key not in layer:
                    message = f"Missing required key {_quote(key)} of a Functional model's layer."
                    out.append(Finding(layer_path, "open", "LCF103", message, data={"key": key}))
        candidates: list[tuple[dict[str, JsonPath], Any, JsonPath]] = []
        if functional and "name" in layer:
            candidates.append((graph.paths, layer["name"], layer_path + ("name",)))
        layer_config = layer.get("config")
        if type(layer_config) is dict and "name" in layer_config:
            seen = graph.paths if not candidates else config_names
            candidates.append((seen, layer_config["name"], layer_path + ("config", "name")))
        reported = False
        for seen, name, name_path in candidates:
            if type(name) is not str:
                continue
            first = seen.get(name)
            if first is None:
                seen[name] = name_path
            elif not reported:
                reported = True
                out.append(
                    Finding(
                        name_path,
                        "value",
                        "LCF201",
                        f"Duplicate layer name {_quote(name)}: layer names in a model are unique.",
                        data={"name": name},
                        related=((first, "value", f"{_quote(name)} is first used here"),),
                    )
                )
        _model_links(layer, layer_path, out, depth + 1)
    if not functional:
        return
    for index, layer in enumerate(layers):
        if type(layer) is dict and type(layer.get("inbound_nodes")) is list:
            nodes_path = layers_path + (index, "inbound_nodes")
            for node_index, node in enumerate(layer["inbound_nodes"]):
                _node_links(node, nodes_path + (node_index,), graph, out, 0)
    for key in ("input_layers", "output_layers"):
        if key in config:
            _reference_links(config[key], path + ("config", key), graph, out, 0)


def _wrapped_links(config: dict[str, Any], path: JsonPath, out: list[Finding], depth: int) -> None:
    """Models inside wrappers (``TimeDistributed(model)``, ``Bidirectional``)."""
    for key in ("layer", "backward_layer"):
        inner = config.get(key)
        if type(inner) is dict:
            _model_links(inner, path + ("config", key), out, depth + 1)


def _node_links(node: Any, path: JsonPath, graph: _Graph, out: list[Finding], depth: int) -> None:
    if depth > 64:
        return
    if type(node) is dict:
        if node.get("class_name") == "__keras_tensor__":
            config = node.get("config")
            history = config.get("keras_history") if type(config) is dict else None
            if type(history) is list and history and type(history[0]) is str:
                _check_reference(history, path + ("config", "keras_history"), graph, out)
            return
        for key, item in node.items():
            _node_links(item, path + (key,), graph, out, depth + 1)
    elif type(node) is list:
        # Keras 2 nodes: [[layer_name, node_index, tensor_index, kwargs], ...]
        if len(node) >= 3 and type(node[0]) is str and type(node[1]) is int:
            _check_reference(node, path, graph, out)
            if len(node) > 3:
                _node_links(node[3], path + (3,), graph, out, depth + 1)
            return
        for index, item in enumerate(node):
            _node_links(item, path + (index,), graph, out, depth + 1)


def _reference_links(
    value: Any, path: JsonPath, graph: _Graph, out: list[Finding], depth: int
) -> None:
    if depth > 64:
        return
    if type(value) is list:
        if len(value) == 3 and type(value[0]) is str and type(value[1]) is int:
            _check_reference(value, path, graph, out)
            return
        for index, item in enumerate(value):
            _reference_links(item, path + (index,), graph, out, depth + 1)
    elif type(value) is dict:
        for key, item in value.items():
            _reference_links(item, path + (key,), graph, out, depth + 1)


def _check_reference(
    reference: list[Any], path: JsonPath, graph: _Graph, out: list[Finding]
) -> None:
    """``[layer_name, node_index, tensor_index]`` names a layer of the model.

    Node indices are not checked: a nested model has a node of its own that its
    ``inbound_nodes`` do not list, so Keras writes indices one past them.
    """
    name = reference[0]
    if name not in graph.paths:
        candidates = _close_matches(name, graph.names(), 3) if type(name) is str else []
        hint = f" Did you mean {_or_list(candidates)}?" if candidates else ""
        out.append(
            Finding(
                path + (0,),
                "value",
                "LCF202",
                f"No layer named {_quote(name)} in this model.{hint}",
                data={"name": name, "candidates": candidates},
            )
        )
        return


# -- findings ------------------------------------------------------------------------------------


def _wrong_type(value: Any, path: JsonPath, expected: list[str]) -> Finding:
    jtype = json_type(value)
    data: dict[str, Any] = {"expected": expected, "value": _scalar(value)}
    suggestion = _coerce(value, expected)
    if suggestion is not _MISSING:
        data["suggestion"] = suggestion
    shown = " or ".join(_a(t) for t in expected if t != "null" or len(expected) == 1)
    if "null" in expected and len(expected) > 1:
        shown += " or null"
    return Finding(
        path,
        "value",
        "LCF104",
        f"{_subject(path)} must be {shown}, not {_a(jtype)}"
        + (f" ({_quote(value)})" if jtype == "string" and len(value) < 40 else "")
        + ".",
        data=data,
    )


def _not_allowed(value: Any, path: JsonPath, allowed: list[Any], label: str | None) -> Finding:
    ordered = _closest_values(value, allowed)
    close = []
    if isinstance(value, str):
        strings = tuple(a for a in allowed if isinstance(a, str))
        close = _close_matches(value, strings, 3)
        for same in _same_but_case(value, strings):
            if same not in close:
                close.insert(0, same)
    hint = f" Did you mean {_or_list(close)}?" if close else ""
    if label:
        message = f"Unknown {label} {_quote(value)}.{hint}"
    else:
        shown = ", ".join(_quote(a) for a in ordered[:8]) + (", ..." if len(ordered) > 8 else "")
        message = f"{_quote(value)} is not allowed for {_subject(path)}.{hint} Allowed: {shown}."
    return Finding(
        path,
        "value",
        "LCF105",
        message,
        data={"allowed": ordered, "value": _scalar(value)},
    )


def _out_of_range(value: float, path: JsonPath, keyword: str, bound: float, words: str) -> Finding:
    return Finding(
        path,
        "value",
        "LCF106",
        f"{_subject(path)} must be {words} {_number(bound)}, not {_number(value)}.",
        data={keyword: bound, "value": value},
    )


def _bad_length(count: int, path: JsonPath, low: int | None, high: int | None) -> Finding:
    if low is not None and low == high:
        expected = f"exactly {low} item{'s' if low != 1 else ''}"
    elif low is not None and count < low:
        expected = f"at least {low} item{'s' if low != 1 else ''}"
    else:
        expected = f"at most {high} item{'s' if high != 1 else ''}"
    data: dict[str, Any] = {"count": count}
    if low is not None:
        data["minItems"] = low
    if high is not None:
        data["maxItems"] = high
    return Finding(
        path,
        "value",
        "LCF106",
        f"{_subject(path)} must have {expected}, not {count}.",
        data=data,
    )


def _missing(path: JsonPath, key: str, what: str) -> Finding:
    return Finding(
        path,
        "open",
        "LCF103",
        f"Missing required key {_quote(key)} of the {what}.",
        data={"key": key},
    )


def _legacy_marker(
    path: JsonPath, key: str, message: str, rename: str | None = None, value: Any = _MISSING
) -> Finding:
    data: dict[str, Any] = {"kind": "keras2", "key": key}
    if rename is not None:
        data["rename"] = rename
    if value is not _MISSING:
        data["value"] = value
    return Finding(path, "key", "LCF108", message, severity=WARNING, data=data)


class _Keys:
    """Names to suggest from (keys of a schema, classes of a family), with their lower-case
    spellings; made once per schema node or family."""

    __slots__ = ("names", "lowered", "known")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.lowered = {name.lower(): name for name in names}
        self.known = frozenset(names)


def _closest_keys(key: str, valid: _Keys) -> list[str]:
    candidates = [r for r in KEY_RENAMES.get(key, ()) if r in valid.known]
    same = valid.lowered.get(key.lower()) if len(key) <= MAX_SUGGESTED_LENGTH else None
    if same is not None:
        candidates.append(same)
    candidates += _close_matches(key, valid.names, 3)
    return list(dict.fromkeys(candidates))[:4]


def _closest_values(value: Any, allowed: list[Any]) -> list[Any]:
    if not isinstance(value, str):
        return list(allowed)
    strings = tuple(a for a in allowed if isinstance(a, str))
    first = _same_but_case(value, strings)
    first += _close_matches(value, strings, len(strings), cutoff=0.0)
    ordered = list(dict.fromkeys(first))
    return ordered + [a for a in allowed if a not in ordered]


def _same_but_case(value: str, strings: tuple[str, ...]) -> list[str]:
    lowered = value.lower() if len(value) <= MAX_SUGGESTED_LENGTH else None
    return [a for a in strings if len(a) == len(value) and a.lower() == lowered]


_memo: dict[tuple[str, tuple[str, ...], int, float], list[str]] = {}
_MEMO_SIZE = 4096
# Candidate sets larger than this (a model's layer names) are not remembered: hashing them
# would cost as much as the lookup.
_MEMO_CANDIDATES = 2048


def _close_matches(
    word: str, candidates: tuple[str, ...], n: int, cutoff: float = 0.6
) -> list[str]:
    """``difflib.get_close_matches``, within the did-you-mean budget of the check in progress
    (see ``checking``), remembered per (word, candidates)."""
    if not candidates or len(word) > MAX_SUGGESTED_LENGTH:
        return []
    scope = _scope.get()
    if scope is not None:
        # Remembered lookups count too, so that which findings get one does not depend on
        # what was checked before.
        if scope.suggestions <= 0:
            return []
        scope.suggestions -= 1
    remembered = len(candidates) <= _MEMO_CANDIDATES
    key = (word, candidates, n, cutoff)
    if remembered:
        found = _memo.get(key)
        if found is not None:
            return list(found)
    if scope is not None:
        if scope.compared < len(candidates):
            return []
        scope.compared -= len(candidates)
    pool: Any = candidates
    if cutoff > 0:
        # difflib's ratio is at most 2 * min(len) / (sum of lengths): a cheap filter first
        # (it is the test difflib starts with, done here without a matcher per candidate).
        low, high = cutoff * len(word) / (2 - cutoff), len(word) * (2 - cutoff) / cutoff
        pool = [c for c in candidates if low <= len(c) <= high]
    found = difflib.get_close_matches(word, pool, n, cutoff) if pool else []
    if remembered:
        if len(_memo) >= _MEMO_SIZE:
            _memo.clear()
        _memo[key] = found
    return list(found)


def _coerce(value: Any, expected: list[str]) -> Any:
    """The value a quick fix can put instead of a string that spells a number or boolean."""
    if not isinstance(value, str):
        return _MISSING
    text = value.strip()
    if "integer" in expected and re.fullmatch(r"[-+]?\d+", text):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts (sys.set_int_max_str_digits)
            return _MISSING
    if "number" in expected and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        return float(text)
    if "boolean" in expected and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if "null" in expected and text.lower() in ("null", "none"):
        return None
    return _MISSING


def _data(finding: Finding, key: str) -> Any:
    return (finding.data or {}).get(key)


def _same(a: Any, b: Any) -> bool:
    return a == b and json_type(a) == json_type(b)


def _scalar(value: Any) -> Any:
    return None if isinstance(value, (dict, list)) else value


def _subject(path: JsonPath) -> str:
    if not path:
        return "The document"
    last = path[-1]
    if isinstance(last, str):
        return _quote(last)
    parent = next((p for p in reversed(path) if isinstance(p, str)), None)
    return f"Item {last} of {_quote(parent)}" if parent else f"Item {last}"


def _of(path: JsonPath) -> str:
    return f" for {_subject(path)}" if path else ""


def _quote(value: Any) -> str:
    if isinstance(value, str):
        if len(value) > MAX_SHOWN:
            value = value[: MAX_SHOWN - 1] + "…"
        return "'" + value.replace("'", "\\'") + "'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)) and len(value) > 8:
        return f"{_a(json_type(value))} of {len(value):,} items"
    shown = repr(value)
    return shown if len(shown) <= MAX_SHOWN else shown[: MAX_SHOWN - 1] + "…"


def _number(value: float) -> str:
    return repr(value)


def _a(jtype: str) -> str:
    if jtype in _ARTICLE:
        return _ARTICLE[jtype]
    if jtype == "null":
        return "null"
    return f"{'an' if jtype[:1] in 'aeiou' else 'a'} {jtype}"


def _words(family: str) -> str:
    return family.replace("_", " ")


def _or_list(options: list[Any]) -> str:
    quoted = [_quote(o) for o in options]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]
