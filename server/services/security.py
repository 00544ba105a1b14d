"""Static security rules of the fast checks (LCF5xx): what in a config can run code, load
something from outside it, or exhaust memory when Keras loads it, found at any depth.

Pure: ``scan(value, catalog, modules)`` walks the parsed value once, with an explicit stack,
and returns ``Finding`` objects like the rest of the fast checks (``security_cache`` scans a
document across its versions). Nothing here imports Keras.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Iterable
from typing import Any

from layercfg.codes import Code, JsonPath, Severity

from ..catalog import LAYER_FAMILIES, Catalog
from .findings import Finding
from .security_lists import (
    ALL_NON_MODELING,
    BUILTIN_GADGETS,
    DANGEROUS_ROOTS,
    DRIVE,
    FILE_KEYS,
    KERAS_ROOTS,
    LOADING_APIS,
    MORE_NON_MODELING_APIS,
    NON_MODELING_APIS,
    NON_MODELING_NAMES,
    PICKLER_ROOTS,
    STDLIB_ROOTS,
    TF_INTERNAL_KERAS,
    TF_OP_LAYERS,
    keras_version,
    lambda_message,
    non_modeling_message,
    tf_modeling_op,
    torch_message,
)
from .security_params import (
    MAX_PARAMETERS,
    WRAPPERS,
    input_size,
    parameter_count,
    pass_along_sequential,
    pass_into_wrapped,
)

__all__ = [
    "CODES",
    "KERAS_ROOTS",
    "LOADING_APIS",
    "MAX_FINDINGS",
    "MAX_PARAMETERS",
    "MORE_NON_MODELING_APIS",
    "NON_MODELING_APIS",
    "PICKLER_ROOTS",
    "STDLIB_ROOTS",
    "merged",
    "scan",
]

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


# -- the walk ------------------------------------------------------------------------------------


def scan(value: Any, catalog: Catalog | None = None, modules: Iterable[str] = ()) -> list[Finding]:
    """Every LCF5xx finding of a document's value. ``modules`` are the configured ones
    (Settings.modules); with a catalog, the modules of its classes count as known too, and
    its Keras version words the notes on which versions are affected."""
    return _Scanner(catalog, tuple(modules)).run(value)


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
        self.keras = keras_version(catalog)
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
        if text in ALL_NON_MODELING:
            self._add(
                (key,),
                "value",
                NON_MODELING_API,
                non_modeling_message(self.keras, text),
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
            self._add(("class_name",), "value", LAMBDA_BYTECODE, lambda_message(self.keras), ERROR)
            self.hide(node, "config")
            return
        if class_name == "function":
            self._function(node, module, config)
            return
        if isinstance(module, str) and f"{module}.{class_name}" in ALL_NON_MODELING:
            api = f"{module}.{class_name}"
            self._add(
                ("class_name",),
                "value",
                NON_MODELING_API,
                non_modeling_message(self.keras, api),
                ERROR,
                {"api": api},
            )
            return
        if isinstance(module, str) and self._module(module, class_name, ()):
            return
        keras_class = module is None or (isinstance(module, str) and _root(module) in KERAS_ROOTS)
        if class_name == "Lambda" and isinstance(config, dict):
            self._keras2_lambda(config)
        elif (
            class_name in TF_OP_LAYERS
            and isinstance(config, dict)
            and not tf_modeling_op(config.get("function"))
        ):
            function = config["function"]
            self._add(
                ("config", "function"),
                "value",
                NON_MODELING_API,
                f"`tf.{function}` is not a math or neural-network op: a {class_name} calls it "
                "on its inbound values (constants and keyword arguments of this config "
                "included) when tf_keras rebuilds the model.",
                ERROR,
                {"api": f"tf.{function}"},
            )
        elif class_name == "TorchModuleWrapper" and keras_class:
            self._add(("class_name",), "value", TORCH_MODULE, torch_message(self.keras), ERROR)
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
                pass_along_sequential(config, node.get("build_config"), self.input_sizes)
            elif class_name in WRAPPERS:
                pass_into_wrapped(node, config, self.input_sizes)

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
        if api in ALL_NON_MODELING or (
            _root(module) in KERAS_ROOTS and config in NON_MODELING_NAMES
        ):
            self._add(
                ("config",),
                "value",
                NON_MODELING_API,
                non_modeling_message(self.keras, api),
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
        if module == TF_INTERNAL_KERAS or module.startswith(TF_INTERNAL_KERAS + "."):
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
                self._add(
                    ("config", key), "value", LAMBDA_BYTECODE, lambda_message(self.keras), ERROR
                )
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
        size = input_size(node, channels_first, self.input_sizes)
        counted = parameter_count(class_name, config, size)
        if counted is None:
            return
        count, key, formula = counted
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


def _root(module: str) -> str:
    return module.split(".", 1)[0]


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
    if text.startswith(("/", "~")) or DRIVE.match(text):
        return "a file path"
    if "../" in text or "..\\" in text:
        return "a relative path that climbs"
    return None


def _shown(value: Any) -> str:
    if not isinstance(value, str):
        return "(none given)"
    return repr(value if len(value) <= 80 else value[:77] + "...")
