"""The deep check of ``tensorflow_hub.KerasLayer`` in the tf_keras flavor: its ``from_config``
loads the SavedModel at its handle, so a handle that is here (a local folder, relative to the
document's folder, or a complete copy in the hub cache) is loaded for real, and a URL that is
not cached is never fetched: the rest of the config is checked without it."""

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
            if check.kind == "url":
                out.append(
                    DeepFinding(
                        where,
                        "value",
                        "LCF306",
                        f"Not downloaded (no network): checked with the complete cached copy "
                        f"at {check.local}.",
                        severity=3,
                        data={"cached": check.local},
                    )
                )
            return out, problem is None
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
