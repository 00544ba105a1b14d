"""The lists the static security rules go by: the APIs Keras refuses (and a few more), the
package roots a config may and may not name, Python's gadgets, the keys that hold file paths,
and the messages that depend on the installed Keras version. Nothing here imports Keras."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from ..catalog import Catalog

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
ALL_NON_MODELING = NON_MODELING_APIS | MORE_NON_MODELING_APIS
# By their last name too: ``keras.src.utils.file_utils.get_file`` is the same function, and
# Keras before 3.9 imported any module a config named.
NON_MODELING_NAMES = frozenset(api.rsplit(".", 1)[1] for api in ALL_NON_MODELING)

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
TF_INTERNAL_KERAS = "tensorflow.python.keras"

# Python built-ins that are gadgets when a config can name them: Keras before 3.9 resolved a
# ``builtins`` function envelope it did not know by importing ``builtins``.
BUILTIN_GADGETS = frozenset(
    {
        "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr",
        "globals", "locals", "vars", "input", "breakpoint", "exit", "quit", "help", "memoryview",
        "__build_class__", "__loader__", "__spec__",
    }
)  # fmt: skip

# tf_keras's layers that call a TensorFlow symbol named in their config (``function``) on
# their inbound values while the model is rebuilt, and the namespaces of the symbols that only
# compute: anything else (tf.print to a file, tf.io.write_file, tf.py_function,
# tf.saved_model.save, tf.config...) is a gadget, never called by the deep check.
TF_OP_LAYERS = ("TFOpLambda", "SlicingOpLambda")
TF_MODELING = frozenset(
    {
        "__operators__", "bitwise", "dtypes", "image", "linalg", "math", "nn", "ragged",
        "random", "signal", "sparse", "strings",
    }
)  # fmt: skip
TF_NOT_MODELING = frozenset(
    {
        "Module", "Variable", "case", "cond", "control_dependencies", "custom_gradient",
        "device", "foldl", "foldr", "function", "get_logger", "group", "init_scope",
        "load_library", "load_op_library", "map_fn", "name_scope", "no_gradient",
        "numpy_function", "print", "py_func", "py_function", "random.set_global_generator",
        "random.set_seed", "recompute_grad", "register_tensor_conversion_function", "scan",
        "switch_case", "vectorized_map", "while_loop",
    }
)  # fmt: skip


def tf_modeling_op(name: Any) -> bool:
    """Whether a TFOpLambda's ``function`` names a TensorFlow op that only computes: a
    top-level one (``reshape``, ``concat``) or one of a modeling namespace (``math.add``);
    ``compat.v1.`` only before a modeling namespace. Not a string: nothing to call (tf_keras
    refuses it itself)."""
    if not isinstance(name, str):
        return True
    parts = name.split(".")
    if parts[:1] == ["compat"]:
        parts = parts[2:] if len(parts) > 3 and parts[1] in ("v1", "v2") else []
        if not parts:
            return False
    elif len(parts) == 1:
        return name not in TF_NOT_MODELING
    return ".".join(parts) not in TF_NOT_MODELING and parts[0] in TF_MODELING


# Arguments whose string value Keras and KerasHub read as a file path.
FILE_KEYS = frozenset({"vocabulary", "vocabulary_file", "proto", "spm_proto", "merges", "filepath"})
DRIVE = re.compile(r"[A-Za-z]:[\\/]|\\\\")


@dataclass(frozen=True)
class KerasVersion:
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


def keras_version(catalog: Catalog | None) -> KerasVersion:
    data = catalog.data if catalog is not None else {}
    text = data.get("keras_version")
    implementation = data.get("implementation") or "keras"
    if not isinstance(text, str):
        return KerasVersion("", None, False)
    parts = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    version = tuple(parts) or None
    name = "Keras" if implementation == "keras" else str(implementation)
    keras3 = name == "Keras" and version is not None and version[0] >= 3
    return KerasVersion(f"{name} {text}", version, keras3)


# -- the messages that depend on the version --------------------------------------------------


def lambda_message(keras: KerasVersion) -> str:
    base = "Python bytecode (a serialized lambda): loading this config runs it."
    if keras.version is not None and not keras.keras3:
        return (
            f"{base} {keras.label} runs it unless safe_mode is on, which covers "
            "only the .keras format (Keras 2.13+, CVE-2024-3660). Use a named, "
            "registered function."
        )
    verdict = keras.verdict(
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


def non_modeling_message(keras: KerasVersion, api: str) -> str:
    if api in MORE_NON_MODELING_APIS:
        return (
            f"`{api}` is not a modeling function (it changes global state or writes "
            "files); a model config has no use for it."
        )
    releases: tuple[tuple[int, ...], ...]
    if api in LOADING_APIS:
        cve = "CVE-2025-9906" if api.endswith("enable_unsafe_deserialization") else "CVE-2025-8747"
        since, releases = f"3.11 ({cve})", ((3, 11),)
    elif api in NON_MODELING_APIS:
        since, releases = "3.15 and 3.12.3", ((3, 12, 3), (3, 15))
    else:  # the same function under another module
        since, releases = "3.9, which imports only what Keras exports", ((3, 9),)
    verdict = keras.verdict(*releases, good="refuses it", bad="can call it")
    return (
        f"`{api}` is not a modeling function: Keras refuses it in a config since {since}.{verdict}"
    )


def torch_message(keras: KerasVersion) -> str:
    verdict = keras.verdict(
        (3, 11, 3), good="refuses it in safe mode", bad="unpickles it even in safe mode"
    )
    return (
        "TorchModuleWrapper unpickles its `module` with torch.load(weights_only=False): "
        "loading it runs whatever the pickle holds. Safe mode refuses it since Keras 3.11.3 "
        f"(also when safe_mode is unset since 3.15 and 3.12.3).{verdict}"
    )
