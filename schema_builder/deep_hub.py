"""The deep check of ``tensorflow_hub.KerasLayer`` in the tf_keras flavor. Its ``from_config``
loads the SavedModel at its handle, and loading a SavedModel runs its author's graph (its
resource initializers read any file the user can read, and an error shows what they read):
the deep check never loads one. A handle that is here (a local folder, relative to the
document's folder, or a complete copy in the hub cache) is checked offline, from its
``saved_model.pb`` (signatures and outputs, read as data); a URL is never fetched; the rest
of the config is checked by Keras without the layer."""

from __future__ import annotations

import os
from typing import Any

from layercfg.codes import JsonPath

from . import handles
from .deep_common import CheckerBase, DeepFinding

# The largest saved_model.pb whose signatures are read (the protobuf is parsed whole).
_ENDPOINTS_MAX_BYTES = 64 << 20


class HubChecks(CheckerBase):
    def _hub_in_tf_keras(self, envelope: dict[str, Any], path: JsonPath) -> tuple[list, bool]:
        """The findings about a KerasLayer envelope, and whether Keras may load it: only a
        handle that is here, with arguments KerasLayer would accept."""
        from .external import hub_rule_key, hub_rules

        config = envelope.get("config") if isinstance(envelope.get("config"), dict) else {}
        handle = config.get("handle")
        where = (*path, "config", "handle")
        check = handles.check_handle(handle, base=self.base, hub=True)
        if not check.ok:
            message = check.message[:1].upper() + check.message[1:]
            if "handle" not in config:
                return [DeepFinding((*path, "config"), "open", "LCF306", f"{message}.")], False
            return [DeepFinding(where, "value", "LCF306", f"{message}.")], False
        found = (
            handles.endpoints(check.local, _ENDPOINTS_MAX_BYTES)
            if check.local and check.format == "saved_model"
            else None
        )
        out: list[DeepFinding] = []
        problem = hub_rules(config, check.format, found)
        if problem is not None:
            key = hub_rule_key(problem, config)
            out.append(
                DeepFinding(
                    (*path, "config", key) if key else (*path, "class_name"),
                    "value",
                    "LCF301",
                    f"KerasLayer would refuse this: {problem}.",
                    data={"signatures": sorted(n for n, e in found.items() if e.signature)}
                    if found
                    else None,
                )
            )
        if check.local:
            where_from = (
                f"Not downloaded (no network) nor loaded: checked offline against the "
                f"complete cached copy at {check.local}"
                if check.kind == "url"
                else "Not loaded by the deep check: checked offline against its saved_model.pb"
            )
            out.append(
                DeepFinding(
                    where,
                    "value",
                    "LCF306",
                    f"{where_from} (its signatures and outputs). Loading a SavedModel runs "
                    "the graph it holds, so the layers after it are checked without its "
                    "output shape.",
                    severity=3,
                    data={"cached": check.local} if check.kind == "url" else None,
                )
            )
            return out, False
        cache = os.path.dirname(check.cache) if check.cache else handles.hub_cache()[0]
        notes = "".join(f" ({note})" for note in check.notes)
        out.insert(
            0,
            DeepFinding(
                where,
                "value",
                "LCF306",
                f"The handle {handle!r} could not be verified offline: layercfg never downloads "
                f"it, and no complete cached copy was found in {cache}{notes}. The config was "
                "checked without the model: its arguments against KerasLayer's rules, the "
                "other layers by Keras.",
                severity=2,
            ),
        )
        return out, False
