"""The flavor of a document: Keras 3 (``keras``) or Keras 2 (``tf_keras``), told from what the
document holds, without Keras. A Keras 2 document is checked against the tf_keras catalog
when there is one (``--flavor``, a setting, or detected); there, being Keras 2 is not a
mistake, and the legacy-format finding is only information.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

FLAVORS = ("keras", "tf_keras", "auto")
# Envelopes looked at, at most: the flavor shows in the first layers of any real document.
_SCAN_LIMIT = 2000
_INFORMATION = 3


def detect(value: Any) -> str:
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
    stack: list[Any] = [value]
    seen = 0
    while stack and seen < _SCAN_LIMIT:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        seen += 1
        if _keras2_envelope(node):
            return "tf_keras"
        stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
    return "keras"


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


def choose(setting: str | None, value: Any, available: bool) -> str:
    """The catalog a document is checked against: the setting when it names one, else the
    detected flavor; tf_keras only when its catalog can be had."""
    flavor = setting if setting in ("keras", "tf_keras") else detect(value)
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
