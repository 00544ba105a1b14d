"""The legacy Keras 2 format in the fast checks: what Keras 3's legacy loader rewrites in a
nested layer without ``module`` (each rewrite a marker), and the folding of a Keras 2
document's markers into one LCF108 on its ``class_name``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...codes import JsonPath
from .findings import _MISSING, ERROR, INFORMATION, Finding, _data, _legacy_marker
from .suggest import KEY_RENAMES

# in a layer envelope without ``module`` before building it: such keys are not errors there.
LEGACY_LAMBDA_KEYS = ("module", "function_type", "output_shape_type", "output_shape_module")
# Keys ``model.to_json()`` of Keras 2 writes next to class_name and config.
LEGACY_TOP_KEYS = ("keras_version", "backend")


def fold_legacy(value: Any, findings: list[Finding], keras2: bool = False) -> list[Finding]:
    """One LCF108 on the top-level ``class_name`` for a Keras 2 document, instead of its markers.

    A document is Keras 2 when its top level has no ``module`` (Keras 3 always writes one, and
    cannot load the document without it) and it carries a Keras 2 marker: ``keras_version`` /
    ``backend`` next to the config, ``batch_input_shape``, list-style ``inbound_nodes``, a
    one-item ``axis`` list, or Keras 2 Lambda keys. The markers, and the LCF102 findings of
    Keras 1/2 names of the class's keys (``KEY_RENAMES``), become its related locations: the upgrade
    fixes them all, so they are not reported once per layer. The missing top-level ``module``
    is not reported twice either. String dtypes are no marker: Keras 3 writes them too.

    With ``keras2`` (the document is checked against the tf_keras catalog, as Keras 2 loads
    it) the finding is information, the offer of the upgrade: tf_keras loads it as it is.
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
        f"marker{'s' if len(markers) != 1 else ''}). Upgrade it to the Keras 3 format: "
        "`layercfg upgrade FILE`, or the quick fix in the editor."
        + (" (Checked as a tf_keras document.)" if keras2 else ""),
        severity=INFORMATION if keras2 else ERROR,
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


def legacy_config(
    config: dict[str, Any],
    class_name: str,
    properties: Mapping[str, Any],
    passes: Callable[[str, Any], bool],
    check: Callable[[str, Any, JsonPath], list[Finding]],
    path: JsonPath,
    out: list[Finding],
) -> dict[str, Any]:
    """Apply what Keras 3's legacy loader rewrites, reporting each rewrite as a marker.

    ``properties`` are the class's config keys; ``passes(key, value)`` tells whether a value
    is valid for a key, and ``check(key, value, path)`` gives its findings.
    """
    converted = None
    shape = config.get("batch_input_shape", _MISSING)
    if shape is not _MISSING:
        target = "batch_shape" if class_name == "InputLayer" else "input_shape"
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
                out.extend(check(target, shape, path + ("batch_input_shape",)))
    axis = config.get("axis")
    if type(axis) is list and len(axis) == 1 and type(axis[0]) is int:
        if "axis" in properties and not passes("axis", axis):
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
    if class_name == "Lambda":
        for key in LEGACY_LAMBDA_KEYS:
            if key in config and key not in properties:
                converted = converted if converted is not None else dict(config)
                del converted[key]
                message = f"Keras 2 Lambda key {key!r}: Keras 3 drops it."
                out.append(_legacy_marker(path + (key,), key, message))
    return config if converted is None else converted
