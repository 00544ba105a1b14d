"""``tensorflow_hub.KerasLayer`` (tf_keras) to ``keras.layers.TFSMLayer`` (Keras 3): the
handle's folder becomes ``filepath``, ``signature`` the ``call_endpoint``, and what has no
equivalent is said, not dropped in silence. Used by ``layercfg convert``, ``layercfg
upgrade`` and the editor's refactoring. Offline and without TensorFlow: the handle is judged
by ``handles`` (local folder, or a complete copy in the hub cache), never downloaded."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from layercfg.codes import JsonPath
from layercfg.schema_builder import handles

if TYPE_CHECKING:
    from ..document import Document

TITLE = "Convert hub.KerasLayer to keras.layers.TFSMLayer (Keras 3)"
KIND = "refactor.rewrite.layercfg.tfsm"  # capabilities.CONVERT_TO_TFSM
# The base Layer's keys TFSMLayer takes as KerasLayer wrote them.
_KEPT = ("name", "trainable", "dtype")


@dataclass
class Converted:
    """One KerasLayer converted: the TFSMLayer envelope, or None and ``reason`` when it cannot
    be; ``notes`` say what changed meaning or has no equivalent."""

    envelope: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    reason: str | None = None


def is_hub_layer(node: Any) -> bool:
    if not isinstance(node, dict) or not isinstance(node.get("config"), dict):
        return False
    registered = node.get("registered_name")
    module = node.get("module")
    return node.get("class_name") == "KerasLayer" and (
        module is None
        or (isinstance(module, str) and module.startswith("tensorflow_hub"))
        or (isinstance(registered, str) and registered.endswith("KerasLayer"))
    )


def hub_layers(value: Any) -> list[JsonPath]:
    """The JSON paths of the KerasLayer envelopes in a document, outer first."""
    found: list[JsonPath] = []
    stack: list[tuple[Any, JsonPath]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            if is_hub_layer(node):
                found.append(path)
                continue
            stack.extend((v, (*path, k)) for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(node))))
    return found


def convert_hub_layer(
    envelope: dict[str, Any], base: str | None = None, read_endpoints: bool = False
) -> Converted:
    """The TFSMLayer for one KerasLayer envelope; ``base`` is the document's folder, against
    which a relative handle resolves (and stays relative in ``filepath``). With
    ``read_endpoints`` the SavedModel's signatures are read from its saved_model.pb (which
    imports TensorFlow's protobuf classes: the CLI does, the language server does not; the
    deep check reads them in the worker)."""
    config = c if isinstance(c := envelope.get("config"), dict) else {}
    handle = config.get("handle")
    check = handles.check_handle(handle, base=base, hub=True)
    if not check.ok:
        return Converted(None, reason=f"not converted: {check.message}")
    if not check.local:
        return Converted(
            None,
            reason=(
                f"not converted: {handle!r} is a URL with no complete copy in the hub cache, "
                "and TFSMLayer needs a local SavedModel folder; download it once "
                "(tensorflow_hub.resolve) or name its folder as the handle, then convert again"
            ),
        )
    if check.format == "tf1_hub":
        return Converted(
            None,
            reason=(
                "not converted: the model is in the TF1 Hub format (tfhub_module.pb), which "
                "TFSMLayer cannot load; use a TF2 SavedModel of it"
            ),
        )
    notes: list[str] = []
    if check.kind == "url":
        filepath = check.local
        notes.append(
            f"filepath is the hub cache's copy of {handle} ({check.local}); copy that folder "
            "next to the document and name it there, for a config that works elsewhere"
        )
    else:
        filepath = check.handle  # the handle itself, a string once the check passed
    found = (handles.endpoints(check.local) if read_endpoints else None) or {}
    signature = config.get("signature")
    if isinstance(signature, str) and signature:
        endpoint = signature
    elif "__call__" in found or not found:
        endpoint = "__call__"
        notes.append(
            "call_endpoint '__call__': KerasLayer without a signature calls the model itself"
        )
    else:
        endpoint = "serving_default" if "serving_default" in found else sorted(found)[0]
        notes.append(f"call_endpoint {endpoint!r}: the model has no __call__ function")
    if found and endpoint not in found:
        return Converted(
            None,
            reason=(
                f"not converted: {endpoint!r} is not an endpoint of the SavedModel at "
                f"{check.local}; it has: {', '.join(sorted(found))}"
            ),
        )
    new_config: dict[str, Any] = {k: config[k] for k in _KEPT if k in config}
    new_config.update({"filepath": filepath, "call_endpoint": endpoint})
    is_signature = isinstance(signature, str) and bool(signature)
    if found.get(endpoint) is not None:
        is_signature = found[endpoint].signature
    if is_signature:
        outputs = found[endpoint].outputs if endpoint in found else []
        listed = f" ({', '.join(outputs)})" if outputs else ""
        key = config.get("output_key")
        if isinstance(key, str):
            notes.append(
                f"output_key {key!r} has no TFSMLayer equivalent: TFSMLayer returns the "
                f"signature's dict of outputs{listed}; the layer that follows must take its "
                f"{key!r} entry"
            )
        elif not config.get("signature_outputs_as_dict"):
            notes.append("TFSMLayer returns the signature's outputs as a dict")
    if config.get("trainable"):
        notes.append(
            "trainable kept, but TFSMLayer calls the model in training only through "
            "call_training_endpoint, which KerasLayer has no counterpart for (not set)"
        )
    if config.get("arguments"):
        notes.append(
            f"arguments {config['arguments']!r} have no TFSMLayer equivalent: the model is "
            "called without them (export a SavedModel whose endpoint has them built in)"
        )
    if config.get("output_shape") is not None:
        notes.append("output_shape dropped: TFSMLayer reads its output from the endpoint")
    new = {
        "module": "keras.layers",
        "class_name": "TFSMLayer",
        "config": new_config,
        "registered_name": None,
    }
    for key in ("name", "inbound_nodes"):  # a Functional model's layer entry
        if key in envelope:
            new[key] = copy.deepcopy(envelope[key])
    return Converted(new, notes)


def convert_document(
    value: Any, base: str | None = None, only: JsonPath | None = None, read_endpoints: bool = False
) -> tuple[Any, list[str], list[str]]:
    """``value`` with its KerasLayers (or the one at ``only``) converted: (new value, notes,
    reasons for those that were not converted), each note prefixed by the layer's path."""
    out = copy.deepcopy(value)
    notes: list[str] = []
    refused: list[str] = []
    for path in hub_layers(value):
        if only is not None and path != only:
            continue
        parent, key = _parent(out, path)
        envelope = parent[key] if parent is not None else out
        converted = convert_hub_layer(envelope, base, read_endpoints)
        where = _where(envelope, path)
        if converted.envelope is None:
            refused.append(f"{where}: {converted.reason}")
            continue
        notes += [f"{where}: {note}" for note in converted.notes]
        if parent is None:
            out = converted.envelope
        else:
            parent[key] = converted.envelope
    return out, notes, refused


def _parent(value: Any, path: JsonPath) -> tuple[Any, Any]:
    if not path:
        return None, None
    node = value
    for step in path[:-1]:
        node = node[step]
    return node, path[-1]


def _where(envelope: dict[str, Any], path: JsonPath) -> str:
    config = c if isinstance(c := envelope.get("config"), dict) else {}
    name = envelope.get("name") or config.get("name")
    pointer = "/" + "/".join(str(p) for p in path) if path else "/"
    return f"KerasLayer {name!r} ({pointer})" if isinstance(name, str) else f"KerasLayer {pointer}"


def code_actions(
    document: Document,
    request_range: types.Range,
    encoding: str,
    base: str | None,
    edit_for: Callable[[Any], types.WorkspaceEdit],
    disabled: bool = True,
) -> list[types.CodeAction]:
    """A refactoring per KerasLayer envelope the range touches. ``edit_for(value)`` turns the
    whole new document value into the client's WorkspaceEdit (the code-action service's);
    ``disabled``: the client shows actions that cannot apply, with the reason."""
    if not isinstance(document.value, dict):
        return []
    actions = []
    for path in hub_layers(document.value):
        span = document.locate(path, "value")
        if span is None:
            continue
        start = document.lines.position_at(span[0], encoding)
        end = document.lines.position_at(span[1], encoding)
        if (end.line, end.character) < (request_range.start.line, request_range.start.character):
            continue
        if (start.line, start.character) > (request_range.end.line, request_range.end.character):
            continue
        parent, key = _parent(document.value, path)
        converted = convert_hub_layer(parent[key] if parent is not None else document.value, base)
        if converted.envelope is None:
            if disabled:
                actions.append(
                    types.CodeAction(
                        title=TITLE,
                        kind=KIND,
                        disabled=types.CodeActionDisabled(reason=str(converted.reason)),
                    )
                )
            continue
        value, _, _ = convert_document(document.value, base, only=path)
        action = types.CodeAction(title=TITLE, kind=KIND, edit=edit_for(value))
        if converted.notes:
            # What has no equivalent, where clients show an action's diagnostics.
            action.diagnostics = [
                types.Diagnostic(
                    range=types.Range(start=start, end=start),
                    message="; ".join(converted.notes),
                    severity=types.DiagnosticSeverity.Information,
                    source="layercfg",
                )
            ]
        actions.append(action)
    return actions
