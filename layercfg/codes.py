"""The vocabulary the server, the CLI and the Keras worker share: diagnostic codes (SPEC §6),
severities, and the JSON path type. Dependency-free, so that any side can import it."""

from __future__ import annotations

from enum import Enum, IntEnum

JsonPath = tuple[str | int, ...]
"""Keys and array indices from the document's root value down to one value."""


class Code(str, Enum):
    """A stable diagnostic code. Members are ``str``: they compare equal to the code text and
    go into JSON (diagnostics, the worker's answers, SARIF) as that text."""

    # Syntax (the document parser)
    INVALID_JSON = "LCF001"
    NOT_STRICT_JSON = "LCF002"
    DUPLICATE_KEY = "LCF003"
    # Schema (the fast checks)
    UNKNOWN_CLASS = "LCF101"
    UNKNOWN_KEY = "LCF102"
    MISSING_KEY = "LCF103"
    WRONG_TYPE = "LCF104"
    NOT_ALLOWED = "LCF105"
    OUT_OF_RANGE = "LCF106"
    ENVELOPE = "LCF107"
    LEGACY_FORMAT = "LCF108"
    # Links between layers of a model
    DUPLICATE_LAYER_NAME = "LCF201"
    UNKNOWN_LAYER = "LCF202"
    # The deep check (Keras itself)
    FROM_CONFIG_FAILED = "LCF301"
    SHAPE = "LCF302"
    SAFE_MODE = "LCF303"
    DEEP_CHECK_FAILED = "LCF304"
    KERAS_WARNING = "LCF305"
    UNRESOLVED_HANDLE = "LCF306"
    CUSTOM_CLASS = "LCF401"
    # Static security rules
    LAMBDA_BYTECODE = "LCF501"
    NON_MODELING_API = "LCF502"
    FOREIGN_MODULE = "LCF503"
    TORCH_MODULE = "LCF504"
    EXTERNAL_MODEL = "LCF505"
    EXTERNAL_FILE = "LCF506"
    PATH_LIKE_NAME = "LCF507"
    PARAMETER_BOMB = "LCF508"
    # KerasHub preset folders
    PRESET_DRIFT = "LCF601"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Severity(IntEnum):
    """LSP's diagnostic severities, by the same numbers (``types.DiagnosticSeverity(s)``)."""

    ERROR = 1
    WARNING = 2
    INFORMATION = 3
    HINT = 4

    @property
    def word(self) -> str:
        """The setting's and the CLI's name of the severity: "error", "warning", ..."""
        return self.name.lower()

    @classmethod
    def from_word(cls, word: str) -> Severity | None:
        """The severity a setting names; None for "off" or any other word."""
        member = cls.__members__.get(word.upper()) if isinstance(word, str) else None
        return member


SEVERITY_WORDS: dict[str, Severity | None] = {
    **{severity.word: severity for severity in Severity},
    "off": None,
}
"""The words a ``severity`` setting may use, and what each means (None: not reported)."""

__all__ = ["SEVERITY_WORDS", "Code", "JsonPath", "Severity"]
