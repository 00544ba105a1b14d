"""The flavor of a document: Keras 3 (``keras``) or Keras 2 (``tf_keras``), told from what the
document holds, without Keras. A Keras 2 document is checked against the tf_keras catalog
when there is one (``--flavor``, a setting, or detected); there, being Keras 2 is not a
mistake, and the legacy-format finding is only information.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .doc_edit import changed_layers

FLAVORS = ("keras", "tf_keras", "auto")
# Envelopes looked at, at most: the flavor shows in the first layers of any real document.
_SCAN_LIMIT = 2000
_INFORMATION = 3


class DetectMemo:
    """What ``detect`` found in one document's last value, and how far its scan went: a next
    version that differs only in layers of its model the scan never reached (a value spliced
    around an edit there) has the same flavor without a scan."""

    __slots__ = ("_state",)

    def __init__(self) -> None:
        # (value, flavor, layers reached: the scan looked into none from this index on)
        self._state: tuple[Any, str, int] | None = None

    def known(self, value: Any) -> str | None:
        state = self._state
        if state is None:
            return None
        last, found, reach = state
        if last is value:
            return found
        changed = changed_layers(last, value)
        if changed is None or any(index < reach for index in changed):
            return None
        self._state = (value, found, reach)
        return found

    def remember(self, value: Any, found: str, reach: int) -> None:
        self._state = (value, found, reach)


def detect(value: Any, memo: DetectMemo | None = None) -> str:
    """``tf_keras`` for a document tf_keras (or Keras 2) wrote, ``keras`` otherwise: a
    top-level ``keras_version`` 2.x, or no ``module`` at the top with Keras 2 markers
    (``backend`` next to the config, list-style ``inbound_nodes``), or a
    ``tensorflow_hub.KerasLayer``, or an ``InputLayer`` with ``batch_input_shape`` (Keras 3
    writes ``batch_shape``)."""
    if not isinstance(value, dict):
        return "keras"
    version = value.get("keras_version")
    if isinstance(version, str):
        return "tf_keras" if version.startswith(("2.", "1.")) else "keras"
    if "module" not in value and "class_name" in value and "backend" in value:
        return "tf_keras"
    if memo is not None:
        known = memo.known(value)
        if known is not None:
            return known
    config = value.get("config")
    layers = config.get("layers") if type(config) is dict else None
    # Which of the model's layers the scan looks into (their ids, for the memo).
    index_of = (
        {id(layer): index for index, layer in enumerate(layers)}
        if memo is not None and type(layers) is list
        else {}
    )
    reach = 0
    found = "keras"
    stack: list[Any] = [value]
    seen = 0
    while stack and seen < _SCAN_LIMIT:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        if index_of:
            index = index_of.get(id(node))
            if index is not None and index >= reach:
                reach = index + 1
        seen += 1
        if _keras2_envelope(node):
            found = "tf_keras"
            break
        stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
    if memo is not None:
        memo.remember(value, found, reach if stack else len(layers or ()))
    return found


def _keras2_envelope(node: dict[str, Any]) -> bool:
    class_name = node.get("class_name")
    module = node.get("module")
    registered = node.get("registered_name")
    if (
        class_name == "KerasLayer"
        or (isinstance(module, str) and module.startswith("tensorflow_hub"))
        or (isinstance(registered, str) and registered.endswith("KerasLayer"))
    ):
        return True
    config = node.get("config")
    if class_name == "InputLayer" and isinstance(config, dict) and "batch_input_shape" in config:
        return True
    nodes = node.get("inbound_nodes")
    # Keras 3 writes each node as {"args": ..., "kwargs": ...}; Keras 2 as a list.
    return isinstance(nodes, list) and bool(nodes) and isinstance(nodes[0], list)


def choose(setting: str | None, value: Any, available: bool, memo: DetectMemo | None = None) -> str:
    """The catalog a document is checked against: the setting when it names one, else the
    detected flavor; tf_keras only when its catalog can be had."""
    flavor = setting if setting in ("keras", "tf_keras") else detect(value, memo)
    return flavor if flavor == "keras" or available else "keras"


def adjust(checked: list[Any], flavor: str) -> list[Any]:
    """Findings as they stand for the flavor: in a tf_keras document the legacy-format
    finding (LCF108) says what Keras 3 would do, which is information, not a mistake."""
    if flavor != "tf_keras":
        return checked
    out = []
    for item in checked:
        problem = item.problem
        if problem.code == "LCF108" and problem.severity < _INFORMATION:
            problem = replace(
                problem,
                severity=_INFORMATION,
                message=f"{problem.message} (Checked as a tf_keras document.)",
            )
            item = replace(item, problem=problem)
        out.append(item)
    return out
