"""Static security rules of the fast checks (LCF5xx): what in a config can run code, load
something from outside it, or exhaust memory when Keras loads it, found at any depth.

Pure: ``scan(value, catalog, modules)`` walks the parsed value once, with an explicit stack,
and returns ``Finding`` objects like the rest of the fast checks. Nothing here imports Keras.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from layercfg.codes import Code, JsonPath, Severity

from ..catalog import LAYER_FAMILIES, Catalog
from .validation import Finding

ERROR, WARNING = Severity.ERROR, Severity.WARNING
LAMBDA_BYTECODE = Code.LAMBDA_BYTECODE
NON_MODELING_API = Code.NON_MODELING_API
FOREIGN_MODULE = Code.FOREIGN_MODULE
TORCH_MODULE = Code.TORCH_MODULE
EXTERNAL_MODEL = Code.EXTERNAL_MODEL
EXTERNAL_FILE = Code.EXTERNAL_FILE
PATH_LIKE_NAME = Code.PATH_LIKE_NAME
PARAMETER_BOMB = Code.PARAMETER_BOMB
CODES = (
    LAMBDA_BYTECODE,
    NON_MODELING_API,
    FOREIGN_MODULE,
    TORCH_MODULE,
    EXTERNAL_MODEL,
    EXTERNAL_FILE,
    PATH_LIKE_NAME,
    PARAMETER_BOMB,
)

# A document with this many security findings is hostile beyond doubt; stopping there bounds
# the cost of materialising paths (each is as long as the finding is deep).
MAX_FINDINGS = 500

# One layer with more parameters than this needs several GB (8 GB as float32) to build.
MAX_PARAMETERS = 2**31

# Copied from Keras 3.15.1, keras/src/saving/serialization_lib.py ``NON_MODELING_APIS``: the
# public APIs ``deserialize_keras_object`` refuses to resolve. The server never imports Keras,
# so the list is carried here; tests/test_security_rules.py compares it with the installed one.
NON_MODELING_APIS = frozenset(
    {
        "keras.backend.clear_session",
        "keras.config.enable_unsafe_deserialization",
        "keras.models.load_model",
        "keras.models.model_from_json",
        "keras.models.save_model",
        "keras.preprocessing.image_dataset_from_directory",
        "keras.preprocessing.image.load_img",
        "keras.preprocessing.image.save_img",
        "keras.preprocessing.text_dataset_from_directory",
        "keras.saving.deserialize_keras_object",
        "keras.saving.load_model",
        "keras.saving.load_weights",
        "keras.saving.register_keras_serializable",
        "keras.saving.save_model",
        "keras.saving.save_weights",
        "keras.saving.serialize_keras_object",
        "keras.utils.audio_dataset_from_directory",
        "keras.utils.clear_session",
        "keras.utils.deserialize_keras_object",
        "keras.utils.get_file",
        "keras.utils.image_dataset_from_directory",
        "keras.utils.load_img",
        "keras.utils.register_keras_serializable",
        "keras.utils.save_img",
        "keras.utils.serialize_keras_object",
        "keras.utils.text_dataset_from_directory",
    }
)
# The first version of that list (``LOADING_APIS``, Keras 3.11.0, the fix of CVE-2025-8747);
# the rest were added in 3.15.0 and 3.12.3.
LOADING_APIS = frozenset(
    {
        "keras.config.enable_unsafe_deserialization",
        "keras.models.load_model",
        "keras.preprocessing.image.load_img",
        "keras.saving.load_model",
        "keras.saving.load_weights",
        "keras.utils.get_file",
        "keras.utils.load_img",
    }
)
# Not modeling functions either, though Keras does not refuse them by name: they change
# global state or write files.
MORE_NON_MODELING_APIS = frozenset(
    {
        "keras.utils.set_random_seed",
        "keras.utils.plot_model",
        "keras.config.set_backend",
        "keras.config.set_floatx",
        "keras.config.set_dtype_policy",
    }
)
_ALL_NON_MODELING = NON_MODELING_APIS | MORE_NON_MODELING_APIS
# By their last name too: ``keras.src.utils.file_utils.get_file`` is the same function, and
# Keras before 3.9 imported any module a config named.
_NON_MODELING_NAMES = frozenset(api.rsplit(".", 1)[1] for api in _ALL_NON_MODELING)

# The packages Keras 3 imports classes from (serialization_lib ``_retrieve_class_or_fn``:
# keras, keras_hub, keras_cv, keras_nlp), and the two whose layers layercfg knows as well.
KERAS_ROOTS = frozenset(
    {"keras", "keras_hub", "keras_cv", "keras_nlp", "tf_keras", "tensorflow_hub"}
)
# No Keras class lives in these; before Keras 3.9 a config could import any of them. Not even
# the `modules` setting lets them through: a workspace could set it.
STDLIB_ROOTS = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(
    {
        "os", "posix", "nt", "subprocess", "builtins", "sys", "importlib", "pickle", "marshal",
        "ctypes", "shutil", "socket", "runpy", "code", "pty",
    }
)  # fmt: skip
PICKLER_ROOTS = frozenset({"dill", "cloudpickle", "joblib"})
DANGEROUS_ROOTS = STDLIB_ROOTS | PICKLER_ROOTS
# TensorFlow's frozen internal copy of Keras 2, which has no safe mode.
_TF_INTERNAL_KERAS = "tensorflow.python.keras"

# Python built-ins that are gadgets when a config can name them: Keras before 3.9 resolved a
# ``builtins`` function envelope it did not know by importing ``builtins``.
BUILTIN_GADGETS = frozenset(
    {
        "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr",
        "globals", "locals", "vars", "input", "breakpoint", "exit", "quit", "help", "memoryview",
        "__build_class__", "__loader__", "__spec__",
    }
)  # fmt: skip

# Arguments whose string value Keras and KerasHub read as a file path.
FILE_KEYS = frozenset({"vocabulary", "vocabulary_file", "proto", "spm_proto", "merges", "filepath"})
_DRIVE = re.compile(r"[A-Za-z]:[\\/]|\\\\")
# Keys whose values name things, not places: module paths, class names, layer names.
_NAME_KEYS = frozenset({"module", "class_name", "registered_name", "name"})
# Lists of layer-name references: [name, node_index, tensor_index], legacy inbound nodes.
_REFERENCE_KEYS = frozenset({"keras_history", "input_layers", "output_layers", "inbound_nodes"})
# Where a layer envelope sits: a value under these keys, an item of lists under the others.
_LAYER_KEYS = frozenset({"layer", "forward_layer", "backward_layer", "cell"})
_LAYER_LIST_KEYS = frozenset({"layers", "cells"})
_SPECIAL = frozenset(
    {"__keras_tensor__", "__numpy__", "__tuple__", "__bytes__", "__ellipsis__", "__slice__",
     "__typespec__", "__tensor__", "__lambda__", "function"}
)  # fmt: skip

# Stack flags of a pushed value.
_REFERENCES = 1  # a list of layer-name references
_LAYER_SLOT = 2  # a layer envelope goes here
_LAYER_LIST = 4  # a list of layer envelopes
_EXIT = object()

# -- parameter counts ----------------------------------------------------------------------------

_RNN_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
_CONV_RANK = {
    "Conv1D": 1, "Conv2D": 2, "Conv3D": 3, "Convolution1D": 1, "Convolution2D": 2,
    "Convolution3D": 3, "Conv1DTranspose": 1, "Conv2DTranspose": 2, "Conv3DTranspose": 3,
}  # fmt: skip
# Layers whose output keeps the last (channel) axis of their input, channels last.
_KEEPS_LAST_AXIS = frozenset(
    {
        "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
        "GaussianDropout", "AlphaDropout", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU",
        "Softmax", "BatchNormalization", "LayerNormalization", "GroupNormalization",
        "UnitNormalization", "ActivityRegularization", "Masking", "Identity", "Rescaling",
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
        "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
        "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
        "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
    }
)  # fmt: skip
_WRAPPERS = frozenset({"TimeDistributed", "Bidirectional"})


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _last_axis(shape: Any, channels_first: bool = False) -> int | None:
    """The channel size of a flat shape list ([null, 28, 28, 3]); None when not given."""
    if not isinstance(shape, list) or len(shape) < 2:
        return None
    if not all(item is None or _int(item) is not None for item in shape):
        return None  # several inputs, or not a shape
    return _int(shape[1] if channels_first else shape[-1])


# -- Keras versions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Keras:
    """The Keras implementation the catalog was built from, for the version notes."""

    label: str  # "Keras 3.15.1", "tf_keras 2.19.0", "" when unknown
    version: tuple[int, ...] | None
    keras3: bool

    def fixed(self, *releases: tuple[int, ...]) -> bool | None:
        """Whether this version has a fix released in ``releases`` (one per release line:
        a version on the line of one of them from it on, or after the last); None: unknown."""
        if self.version is None or not self.keras3:
            return None
        if self.version >= max(releases):
            return True
        return any(self.version[:2] == r[:2] and self.version >= r for r in releases)

    def verdict(self, *releases: tuple[int, ...], good: str, bad: str) -> str:
        fixed = self.fixed(*releases)
        if fixed is None:
            return ""
        return f" The installed {self.label} {good if fixed else bad}."


def _keras(catalog: Catalog | None) -> _Keras:
    data = catalog.data if catalog is not None else {}
    text = data.get("keras_version")
    implementation = data.get("implementation") or "keras"
    if not isinstance(text, str):
        return _Keras("", None, False)
    parts = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    version = tuple(parts) or None
    name = "Keras" if implementation == "keras" else str(implementation)
    keras3 = name == "Keras" and version is not None and version[0] >= 3
    return _Keras(f"{name} {text}", version, keras3)


# -- the walk ------------------------------------------------------------------------------------


def scan(value: Any, catalog: Catalog | None = None, modules: Iterable[str] = ()) -> list[Finding]:
    """Every LCF5xx finding of a document's value. ``modules`` are the configured ones
    (Settings.modules); with a catalog, the modules of its classes count as known too, and
    its Keras version words the notes on which versions are affected."""
    return _Scanner(catalog, tuple(modules)).run(value)


class Cache:
    """``scan`` for one document across its versions: the findings of each layer of the
    top-level model are kept by the layer's object, which an edit elsewhere leaves the same
    (the document's value is spliced from the previous one), so typing rescans one layer."""

    # Fewer layers than this are scanned again whole: keeping them costs more than it saves.
    FEW = 16

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        # id(layer) -> (layer, its input size, findings at the layer); the layer is kept so
        # that the id stays its own
        self._by_object: dict[int, tuple[Any, int | None, list[Finding]]] = {}

    def scan(
        self, value: Any, catalog: Catalog | None = None, modules: Iterable[str] = ()
    ) -> list[Finding]:
        """What ``scan(value, catalog, modules)`` returns."""
        modules = tuple(modules)
        key = (catalog, modules)
        if key != self._key:
            self._key, self._by_object = key, {}
        config = value.get("config") if isinstance(value, dict) else None
        layers = config.get("layers") if isinstance(config, dict) else None
        if (
            not isinstance(layers, list)
            or len(layers) < self.FEW
            or not all(isinstance(layer, dict) for layer in layers)
        ):
            return scan(value, catalog, modules)
        top = _Scanner(catalog, modules)
        top.hide(config, "layers")
        findings = top.run(value)
        by_object = {}
        for index, layer in enumerate(layers):
            size = top.input_sizes.get(id(layer))
            known = self._by_object.get(id(layer))
            if known is not None and known[0] is layer and known[1] == size:
                found = known[2]
            else:
                one = _Scanner(catalog, modules)
                if size is not None:
                    one.input_sizes[id(layer)] = size
                found = one.run(layer)
            by_object[id(layer)] = (layer, size, found)
            findings.extend(f.prefixed(("config", "layers", index)) for f in found)
        self._by_object = by_object
        return findings[:MAX_FINDINGS]


def merged(findings: list[Finding], security: list[Finding]) -> list[Finding]:
    """``findings`` (validation's) with ``security`` added, leaving out the LCF503 warnings on
    envelopes that validation already reports as an unknown class (LCF101 says to configure
    the module as well)."""
    unknown = {
        f.path[:-1]
        for f in findings
        if f.code == Code.UNKNOWN_CLASS and f.path[-1:] == ("class_name",)
    }
    kept = [
        f
        for f in security
        if not (f.code == FOREIGN_MODULE and f.severity == WARNING and f.path[:-1] in unknown)
    ]
    return [*findings, *kept]


class _Scanner:
    """One walk over one value: depth-first with an explicit stack, the current path kept in
    one list (a finding copies it), so that each node costs the same at any depth."""

    def __init__(self, catalog: Catalog | None, modules: tuple[str, ...]):
        self.catalog = catalog
        self.keras = _keras(catalog)
        self.modules = modules
        self.known_modules: Collection[str] = catalog.modules if catalog is not None else ()
        self.path: list[str | int] = []
        self.out: list[Finding] = []
        # id(dict) -> keys whose values are not looked into (bytecode, pickles, handles a
        # rule has already reported). Ids are safe keys: the value walked holds its objects.
        self.opaque: dict[int, frozenset[str]] = {}
        # id(layer envelope) -> the channel size of its input, from the layer before it.
        self.input_sizes: dict[int, int] = {}

    def run(self, value: Any) -> list[Finding]:
        if not isinstance(value, (dict, list)):
            return []
        path = self.path
        stack: list[Any] = [(value, None, _LAYER_SLOT)]
        while stack and len(self.out) < MAX_FINDINGS:
            item = stack.pop()
            if item is _EXIT:
                path.pop()
                continue
            node, step, flags = item
            if step is not None:
                path.append(step)
                stack.append(_EXIT)
            if isinstance(node, dict):
                self._object(node, flags, stack)
            else:
                self._array(node, flags, stack)
        return self.out[:MAX_FINDINGS]

    def _object(self, node: dict[str, Any], flags: int, stack: list[Any]) -> None:
        if isinstance(node.get("class_name"), str):
            self._envelope(node, flags)
        skip = self.opaque.get(id(node), frozenset())
        envelope = "class_name" in node
        for key, child in node.items():
            if key in skip:
                continue
            if isinstance(child, str):
                if not (envelope and key in _NAME_KEYS):
                    self._string(child, key)
            elif isinstance(child, dict):
                stack.append((child, key, _LAYER_SLOT if key in _LAYER_KEYS else 0))
            elif isinstance(child, list):
                if key in _REFERENCE_KEYS:
                    child_flags = _REFERENCES
                elif key in _LAYER_LIST_KEYS:
                    child_flags = _LAYER_LIST
                else:
                    child_flags = 0
                stack.append((child, key, child_flags))

    def _array(self, node: list[Any], flags: int, stack: list[Any]) -> None:
        references = flags & _REFERENCES
        slot = _LAYER_SLOT if flags & _LAYER_LIST else 0
        for index, child in enumerate(node):
            if isinstance(child, str):
                # [name, node_index, tensor_index]: the name is a layer's (LCF507 is on it).
                if not (references and index == 0):
                    self._string(child, index)
            elif isinstance(child, dict):
                stack.append((child, index, slot))
            elif isinstance(child, list):
                stack.append((child, index, references))

    # -- findings --------------------------------------------------------------------------------

    def _add(
        self,
        where: JsonPath,
        part: str,
        code: str,
        message: str,
        severity: int,
        data: dict[str, Any] | None = None,
    ) -> None:
        path = (*self.path, *where)
        self.out.append(Finding(path, part, code, message, severity, data))

    def hide(self, node: dict[str, Any], *keys: str) -> None:
        """Leave the values of ``keys`` in ``node`` out of the walk."""
        self.opaque[id(node)] = self.opaque.get(id(node), frozenset()) | frozenset(keys)

    # -- strings ---------------------------------------------------------------------------------

    def _string(self, text: str, key: str | int) -> None:
        if text in _ALL_NON_MODELING:
            self._add(
                (key,),
                "value",
                NON_MODELING_API,
                self._non_modeling_message(text),
                ERROR,
                {"api": text},
            )
            return
        if isinstance(key, str) and key in _NAME_KEYS:
            return
        if key in FILE_KEYS and text:
            self._add(
                (key,),
                "value",
                EXTERNAL_FILE,
                f"`{key}` is read as a file: {_shown(text)} is opened on the machine that loads "
                "this config (layercfg never opens it). Keep such files next to the model, "
                "or give the values inline.",
                WARNING,
                {"value": text},
            )
            return
        why = _external(text)
        if why is not None:
            self._add(
                (key,),
                "value",
                EXTERNAL_FILE,
                f"{_shown(text)} is {why} outside the config: whatever reads it at load time "
                "reads from there (layercfg never does).",
                WARNING,
                {"value": text},
            )

    # -- envelopes -------------------------------------------------------------------------------

    def _envelope(self, node: dict[str, Any], flags: int) -> None:
        class_name: str = node["class_name"]
        module = node.get("module")
        config = node.get("config")
        if class_name == "__lambda__":
            self._add(("class_name",), "value", LAMBDA_BYTECODE, self._lambda_message(), ERROR)
            self.hide(node, "config")
            return
        if class_name == "function":
            self._function(node, module, config)
            return
        if isinstance(module, str) and f"{module}.{class_name}" in _ALL_NON_MODELING:
            api = f"{module}.{class_name}"
            self._add(
                ("class_name",),
                "value",
                NON_MODELING_API,
                self._non_modeling_message(api),
                ERROR,
                {"api": api},
            )
            return
        if isinstance(module, str) and self._module(module, class_name, ()):
            return
        keras_class = module is None or (isinstance(module, str) and _root(module) in KERAS_ROOTS)
        if class_name == "Lambda" and isinstance(config, dict):
            self._keras2_lambda(config)
        elif class_name == "TorchModuleWrapper" and keras_class:
            self._add(("class_name",), "value", TORCH_MODULE, self._torch_message(), ERROR)
            if isinstance(config, dict):
                self.hide(config, "module")
        elif class_name == "TFSMLayer" and keras_class:
            self._external_model(node, config, "filepath", hub=False)
        elif class_name == "KerasLayer" and (
            (isinstance(module, str) and _root(module) == "tensorflow_hub")
            or str(node.get("registered_name") or "").endswith(">KerasLayer")
        ):
            self._external_model(node, config, "handle", hub=True)
        if class_name in _SPECIAL or not isinstance(config, dict):
            return
        if flags & _LAYER_SLOT or (
            self.catalog is not None and self.catalog.lookup(node, LAYER_FAMILIES) is not None
        ):
            self._layer(node, config)
        if keras_class:
            self._parameters(node, class_name, config)
            if class_name == "Sequential":
                self._sequential(node, config)
            elif class_name in _WRAPPERS:
                self._wrapper(node, config)

    def _function(self, node: dict[str, Any], module: Any, config: Any) -> None:
        """``{"class_name": "function", "module": ..., "config": "name"}``."""
        if not isinstance(module, str) or not isinstance(config, str):
            return
        if module == "builtins":
            # What Keras writes for its own functions (relu, mse...): resolved among Keras's
            # built-in modules only, since 3.9.
            if config in BUILTIN_GADGETS or config.startswith("__"):
                fixed = self.keras.verdict(
                    (3, 9), good="does not resolve it", bad="resolves it: this config can call it"
                )
                self._add(
                    ("config",),
                    "value",
                    NON_MODELING_API,
                    f"`builtins.{config}` is Python's built-in, not a Keras function: Keras "
                    f"before 3.9 resolved it (CVE-2025-1550).{fixed}",
                    ERROR,
                    {"api": f"builtins.{config}"},
                )
            return
        if self._module(module, "function", (config,)):
            return
        api = f"{module}.{config}"
        if api in _ALL_NON_MODELING or (
            _root(module) in KERAS_ROOTS and config in _NON_MODELING_NAMES
        ):
            self._add(
                ("config",),
                "value",
                NON_MODELING_API,
                self._non_modeling_message(api),
                ERROR,
                {"api": api},
            )

    def _module(self, module: str, class_name: str, names: tuple[str, ...]) -> bool:
        """LCF503 on a ``module`` outside Keras and the configured modules; True if reported."""
        root = _root(module)
        if root in KERAS_ROOTS or not module:
            return False
        if class_name == "__typespec__" and root == "tensorflow":
            return False  # Keras writes the module of a tf.TypeSpec class
        if module == "builtins" and class_name == "builtin_function_or_method":
            return False  # what Keras writes for a Python built-in (Lambda(abs)); never resolved
        what = f"`{module}.{names[0]}`" if names else f"Module '{module}'"
        if module == _TF_INTERNAL_KERAS or module.startswith(_TF_INTERNAL_KERAS + "."):
            self._add(
                ("module",),
                "value",
                FOREIGN_MODULE,
                f"{what} is TensorFlow's internal Keras 2 copy, which has no safe mode; Keras 3 "
                "cannot load it. Use the `keras` module names.",
                ERROR,
                {"module": module},
            )
            return True
        if root in DANGEROUS_ROOTS:
            library = (
                "a pickling library" if root in PICKLER_ROOTS else "the Python standard library"
            )
            verdict = self.keras.verdict(
                (3, 9),
                good="imports only from Keras packages",
                bad="imports it: loading this config can run it",
            )
            self._add(
                ("module",),
                "value",
                FOREIGN_MODULE,
                f"{what} is from {library}, not Keras: Keras before 3.9 "
                f"imported any module a config named (CVE-2025-1550).{verdict}",
                ERROR,
                {"module": module},
            )
            return True
        if self._configured(module):
            return False
        self._add(
            ("module",),
            "value",
            FOREIGN_MODULE,
            f"Module '{module}' is neither a Keras package nor a configured module: if the "
            f"class is yours, add '{module}' to the `modules` setting.",
            WARNING,
            {"module": module},
        )
        return True

    def _configured(self, module: str) -> bool:
        if module in self.known_modules:
            return True
        return any(module == m or module.startswith(m + ".") for m in self.modules)

    def _keras2_lambda(self, config: dict[str, Any]) -> None:
        """Keras 2 writes a Lambda's function as marshalled bytecode (``function_type``
        "lambda"), or as a name looked up in ``module`` ("function")."""
        for key, type_key, module_key in (
            ("function", "function_type", "module"),
            ("output_shape", "output_shape_type", "output_shape_module"),
        ):
            function = config.get(key)
            kind = config.get(type_key)
            code = function[0] if isinstance(function, list) and function else function
            if isinstance(code, str) and (kind == "lambda" or (kind is None and _bytecode(code))):
                self._add(("config", key), "value", LAMBDA_BYTECODE, self._lambda_message(), ERROR)
                self.hide(config, key)
            elif kind == "function" and isinstance(function, str):
                module = config.get(module_key)
                # Keras 2 looks the name up among the module's globals when it is imported.
                if isinstance(module, str) and _root(module) in DANGEROUS_ROOTS:
                    self._add(
                        ("config", key),
                        "value",
                        NON_MODELING_API,
                        f"`{module}.{function}` is not a modeling function: Keras 2 resolves a "
                        "Lambda's function among the globals of the module it names.",
                        ERROR,
                        {"api": f"{module}.{function}"},
                    )

    def _external_model(self, node: dict[str, Any], config: Any, key: str, *, hub: bool) -> None:
        handle = config.get(key) if isinstance(config, dict) else None
        if hub:
            model = (
                f"the external model {_shown(handle)}"
                if isinstance(handle, str)
                else "an external model"
            )
            message = (
                f"tensorflow_hub.KerasLayer loads {model} "
                "(downloaded, for a URL) and runs its TensorFlow graph; no safe mode covers it."
            )
        else:
            verdict = self.keras.verdict(
                (3, 12, 1),
                (3, 13, 2),
                good="refuses it in safe mode",
                bad="loads it even in safe mode",
            )
            model = (
                f"the external SavedModel {_shown(handle)}"
                if isinstance(handle, str)
                else "an external SavedModel"
            )
            message = (
                f"TFSMLayer loads {model} and runs its graph. "
                f"Safe mode refuses it since Keras 3.13.2 and 3.12.1 (CVE-2026-1462).{verdict}"
            )
        if isinstance(handle, str):
            self._add(
                ("config", key), "value", EXTERNAL_MODEL, message, WARNING, {"handle": handle}
            )
            self.hide(config, key)
        else:
            self._add(("class_name",), "value", EXTERNAL_MODEL, message, WARNING)

    # -- layers ----------------------------------------------------------------------------------

    def _layer(self, node: dict[str, Any], config: dict[str, Any]) -> None:
        """LCF507 on a layer name that is a path."""
        seen = set()
        for where, name in (
            (("config", "name"), config.get("name")),
            (("name",), node.get("name")),
        ):
            if not isinstance(name, str) or name in seen:
                continue
            seen.add(name)
            bad = [
                shown
                for part, shown in (("/", "'/'"), ("\\", "'\\'"), ("..", "'..'"), ("\x00", "NUL"))
                if part in name
            ]
            if bad:
                self._add(
                    where,
                    "value",
                    PATH_LIKE_NAME,
                    f"Layer name {name!r} contains {' and '.join(bad)}: layer names are used "
                    "as paths (HDF5 weight files group weights by layer name, '/' nesting the "
                    "groups), so a path-like name can reach weights or files that are not its "
                    "own. Keras 3 refuses '/' in names.",
                    ERROR,
                    {"name": name},
                )

    def _parameters(self, node: dict[str, Any], class_name: str, config: dict[str, Any]) -> None:
        """LCF508: the weights one layer would allocate, from the numbers in the config."""
        channels_first = config.get("data_format") == "channels_first"
        size = self._input_size(node, channels_first)
        count: int | None = None
        key = ""
        formula = ""
        if class_name == "Dense":
            units = _int(config.get("units"))
            if units is not None:
                count = units * (size or 1) + (units if config.get("use_bias", True) else 0)
                key = "units"
                formula = f"units {units:,} x input {size:,}" if size else f"units {units:,}"
        elif class_name == "Embedding":
            rows, columns = _int(config.get("input_dim")), _int(config.get("output_dim"))
            if rows is not None and columns is not None:
                count = rows * columns
                key = "input_dim" if rows >= columns else "output_dim"
                formula = f"input_dim {rows:,} x output_dim {columns:,}"
        elif class_name in _CONV_RANK:
            filters = _int(config.get("filters"))
            kernel = _kernel(config.get("kernel_size"), _CONV_RANK[class_name])
            if filters is not None and kernel is not None:
                groups = _int(config.get("groups")) or 1
                per_filter = kernel * max((size or 1) // groups, 1)
                count = per_filter * filters + (filters if config.get("use_bias", True) else 0)
                key = "filters"
                formula = (
                    f"kernel {kernel:,} x channels {size:,} x filters {filters:,}"
                    if size
                    else f"kernel {kernel:,} x filters {filters:,}"
                )
        elif class_name in _RNN_GATES:
            units = _int(config.get("units"))
            if units is not None:
                gates = _RNN_GATES[class_name]
                count = gates * units * (units + (size or 1) + 1)
                key = "units"
                shown = f"input {size:,}" if size else "input"
                formula = f"{gates} gates x units {units:,} x (units + {shown} + 1)"
        if count is None or count <= MAX_PARAMETERS:
            return
        gigabytes = count * 4 / 1e9
        self._add(
            ("config", key),
            "value",
            PARAMETER_BOMB,
            f"{class_name} {config.get('name', '')!r} needs {count:,} parameters ({formula}): "
            f"{gigabytes:,.1f} GB as float32, allocated when the layer is built.",
            ERROR,
            {"parameters": count},
        )

    def _input_size(self, node: dict[str, Any], channels_first: bool) -> int | None:
        """The channel size of a layer's input when the config gives it: its build_config,
        the layer before it in a Sequential model, or the tensor a Functional node passes."""
        build = node.get("build_config")
        if isinstance(build, dict):
            size = _last_axis(build.get("input_shape"), channels_first)
            if size is not None:
                return size
        size = self.input_sizes.get(id(node))
        if size is not None and not channels_first:
            return size
        nodes = node.get("inbound_nodes")
        if isinstance(nodes, list) and nodes and isinstance(nodes[0], dict):
            args = nodes[0].get("args")
            tensor = args[0] if isinstance(args, list) and args else None
            if isinstance(tensor, dict) and tensor.get("class_name") == "__keras_tensor__":
                inner = tensor.get("config")
                if isinstance(inner, dict):
                    return _last_axis(inner.get("shape"), channels_first)
        return None

    def _sequential(self, node: dict[str, Any], config: dict[str, Any]) -> None:
        """Channel sizes along a Sequential model's layers, for ``_parameters``: one pass."""
        layers = config.get("layers")
        if not isinstance(layers, list):
            return
        build = node.get("build_config")
        size = _last_axis(build.get("input_shape")) if isinstance(build, dict) else None
        for layer in layers:
            if not isinstance(layer, dict):
                size = None
                continue
            if size is not None:
                self.input_sizes[id(layer)] = size
            size = _output_size(layer, size)

    def _wrapper(self, node: dict[str, Any], config: dict[str, Any]) -> None:
        """A wrapped layer sees the wrapper's channel size (TimeDistributed adds an axis in
        front, Bidirectional runs the same layer twice)."""
        size = self._input_size(node, False)
        for key in ("layer", "backward_layer"):
            inner = config.get(key)
            if size is not None and isinstance(inner, dict):
                self.input_sizes[id(inner)] = size

    # -- messages --------------------------------------------------------------------------------

    def _lambda_message(self) -> str:
        base = "Python bytecode (a serialized lambda): loading this config runs it."
        if self.keras.version is not None and not self.keras.keras3:
            return (
                f"{base} {self.keras.label} runs it unless safe_mode is on, which covers "
                "only the .keras format (Keras 2.13+, CVE-2024-3660). Use a named, "
                "registered function."
            )
        verdict = self.keras.verdict(
            (3, 12, 3),
            (3, 15),
            good="refuses it unless safe_mode=False",
            bad="lacks some of these fixes",
        )
        return (
            f"{base} Keras 3 refuses it in safe mode, but a config could turn safe mode off "
            "before 3.11 (CVE-2025-9906), .h5 files ignored it before 3.11.3 (CVE-2025-9905) "
            f"and a direct from_config ran it before 3.15 and 3.12.3.{verdict} Use a named, "
            "registered function."
        )

    def _non_modeling_message(self, api: str) -> str:
        if api in MORE_NON_MODELING_APIS:
            return (
                f"`{api}` is not a modeling function (it changes global state or writes "
                "files); a model config has no use for it."
            )
        if api in LOADING_APIS:
            cve = (
                "CVE-2025-9906"
                if api.endswith("enable_unsafe_deserialization")
                else "CVE-2025-8747"
            )
            since, releases = f"3.11 ({cve})", ((3, 11),)
        elif api in NON_MODELING_APIS:
            since, releases = "3.15 and 3.12.3", ((3, 12, 3), (3, 15))
        else:  # the same function under another module
            since, releases = "3.9, which imports only what Keras exports", ((3, 9),)
        verdict = self.keras.verdict(*releases, good="refuses it", bad="can call it")
        return (
            f"`{api}` is not a modeling function: Keras refuses it in a config since "
            f"{since}.{verdict}"
        )

    def _torch_message(self) -> str:
        verdict = self.keras.verdict(
            (3, 11, 3), good="refuses it in safe mode", bad="unpickles it even in safe mode"
        )
        return (
            "TorchModuleWrapper unpickles its `module` with torch.load(weights_only=False): "
            "loading it runs whatever the pickle holds. Safe mode refuses it since Keras 3.11.3 "
            f"(also when safe_mode is unset since 3.15 and 3.12.3).{verdict}"
        )


def _root(module: str) -> str:
    return module.split(".", 1)[0]


def _kernel(size: Any, rank: int) -> int | None:
    if _int(size) is not None:
        return size**rank
    if isinstance(size, list) and size and all(_int(s) is not None for s in size):
        total = 1
        for s in size:
            total *= s
        return total
    return None


def _output_size(layer: dict[str, Any], size: int | None) -> int | None:
    """The channel size after ``layer`` in a Sequential model; None when not known."""
    class_name = layer.get("class_name")
    config = layer.get("config")
    if not isinstance(config, dict):
        return None
    if config.get("data_format") == "channels_first":
        return None
    if class_name == "InputLayer":
        return _last_axis(config.get("batch_shape", config.get("batch_input_shape")))
    if class_name in ("Dense", "LSTM", "GRU", "SimpleRNN"):
        return _int(config.get("units"))
    if class_name == "Embedding":
        return _int(config.get("output_dim"))
    if class_name in _CONV_RANK:
        return _int(config.get("filters"))
    if class_name in _KEEPS_LAST_AXIS:
        return size
    return None


def _bytecode(text: str) -> bool:
    """A base64 string of a marshalled code object (what Keras 2 wrote for a lambda)."""
    if len(text) < 16 or " " in text:
        return False
    try:
        head = base64.b64decode(text[:16], validate=False)
    except (binascii.Error, ValueError):
        return False
    return bool(head) and head[0] in (0x63, 0xE3)  # marshal TYPE_CODE, with FLAG_REF or not


def _external(text: str) -> str | None:
    """What kind of place outside the config ``text`` names, if it names one."""
    if not text:
        return None
    lowered = text[:8].lower()
    if lowered.startswith(("http://", "https://", "gs://", "s3://", "hf://")):
        return "a URL"
    if lowered.startswith("file://"):
        return "a file URL"
    if text.startswith(("/", "~")) or _DRIVE.match(text):
        return "a file path"
    if "../" in text or "..\\" in text:
        return "a relative path that climbs"
    return None


def _shown(value: Any) -> str:
    if not isinstance(value, str):
        return "(none given)"
    return repr(value if len(value) <= 80 else value[:77] + "...")
