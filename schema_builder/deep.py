"""The deep check: Keras's own ``deserialize_keras_object`` (safe mode, always) run on a config,
with errors located at the key a person would fix, shapes propagated without allocating
weights, and the classic serialization defects of custom classes found.

Runs in the Keras worker. Findings carry JSON paths; the server turns them into ranges.
The parts live beside this module: ``deep_scan`` (what is never loaded), ``deep_locate``
(which key failed), ``deep_shapes`` (shape replay, layer sizes), ``deep_lint`` (custom classes)
and ``deep_common`` (finding types, loading without weights).
"""

from __future__ import annotations

import gc
import os
import sys
from dataclasses import asdict
from typing import Any

from layercfg.codes import Code, Severity

from .deep_cancel import checkpoint
from .deep_common import DeepFinding, LayerInfo, clean_message
from .deep_hub import HubChecks
from .deep_locate import Locator
from .deep_replay import Failed, IncrementalReplay, ReplayMemo
from .deep_scan import SafetyScan
from .deep_sequential import SequentialLoader
from .deep_shapes import params_of
from .handles import hub_cache  # noqa: F401  (where callers have found it)
from .keras_api import KerasAPI

__all__ = ["DeepChecker", "DeepFinding", "LayerInfo", "clean_message", "hub_cache"]


class DeepChecker(IncrementalReplay, SequentialLoader, Locator, SafetyScan, HubChecks):
    """One checker per worker and (modules, memory cap, folder); ``check`` takes a document's
    value and answers its findings, layers and parameter count."""

    def __init__(
        self,
        api: KerasAPI,
        custom_objects: dict[str, Any] | None = None,
        memory_bytes: int = 2048 * 2**20,
        modules: tuple[str, ...] = (),
        base: str | None = None,
        memo: ReplayMemo | None = None,
    ):
        self.api = api
        # What earlier checks of this worker found, layer by layer (None: check all afresh).
        self.memo = memo
        self.memory_bytes = memory_bytes
        # The document's folder: relative handles and filepaths resolve against it.
        self.base = base if isinstance(base, str) and os.path.isabs(base) else None
        self.keras = api.keras
        self.custom_objects = custom_objects or {}
        # The configured (and trusted) modules: the only ones custom classes come from.
        self.modules = tuple(modules)
        # What tf_keras may import, and where KerasLayer handles resolve (see keras_api).
        api.modules, api.document_folder = self.modules, self.base
        self._stateless = lambda **_: api.stateless_scope()
        self._non_modeling = api.non_modeling_apis()
        self._buildable = api.buildable_bases()

    FEW_MISSES = 50

    # -- entry point -----------------------------------------------------------------------------
    def check(self, value: Any) -> dict[str, Any]:
        self._reset()  # whatever the last document did to Keras's global state is undone
        misses_before = self.memo.misses if self.memo is not None else 0
        self._layer_texts = {}  # this check's own: its layers' texts, for the scan and replay
        try:
            with self.api.safe_mode():
                return self._check(value)
        finally:
            self._layer_texts = None
            # The next check starts from a clean Keras, and this one's objects are freed,
            # unless it made hardly any (a check answered from the memo): collecting the
            # garbage takes longer than such a check.
            misses = self.memo.misses - misses_before if self.memo is not None else None
            free = misses is None or misses > self.FEW_MISSES
            self._reset(free_memory=free)
            if free:
                _freeze_modules()

    def _check(self, value: Any) -> dict[str, Any]:
        findings: list[DeepFinding] = []
        layers: list[LayerInfo] = []
        unsafe = self._scan(value, findings)
        checkpoint()
        self._reset()
        if not isinstance(value, dict) or "class_name" not in value:
            return self._result(findings, layers, None)
        replayed: list[LayerInfo] | None = None
        refused: Failed | None = None
        caught: list[Any] = []
        if not unsafe:
            try:
                replayed = self._replay(value, caught)  # from earlier checks' layers, or None
            except Failed as exc:
                refused = exc
        if replayed is not None and not self.model_known(value):
            # A graph not seen before: Keras's own load decides on the model as a whole (the
            # replay has filled the memo for the next check of it).
            replayed, caught = None, []
        if replayed is not None:
            findings += self._warnings(value, caught)
            findings += self._too_big(replayed)
            findings += self._custom_defects(value, unsafe=unsafe)
            return self._result(findings, replayed, sum(info.params for info in replayed))
        if refused is not None:
            # A layer Keras cannot load or call: what the full load would find, without it.
            findings += self._warnings(value, caught)
            error = refused.__cause__
        elif not unsafe:
            model, error, caught = self._load(value)
            findings += self._warnings(value, caught)
            if error is None:
                self.remember_model(value)
                layers = self._layers(value, model)
                findings += self._too_big(layers)
                findings += self._custom_defects(value, unsafe=unsafe)
                total = sum(info.params for info in layers) if layers else params_of(model)
                return self._result(findings, layers, total)
            too_deep = self._too_deep(value, error)
            if too_deep is not None:
                # Loading each layer alone would not fail, and would take minutes on a model
                # this deep: the reason is known, so say it now.
                error = None
                findings.append(too_deep)
                findings += self._custom_defects(value, unsafe=unsafe)
                return self._result(findings, layers, None)
        else:
            error = None
        index = refused.index if refused is not None else None
        located = self._locate(value, unsafe, error, index)
        if not located and error is not None:
            located = [self._finding_for(value, (), error)]
        findings += located
        # Once per mistake: no envelope around a located finding is linted (its from_config
        # fails on the same mistake, which is not a defect of its class).
        failed = {f.path[:i] for f in located for i in range(len(f.path) + 1)}
        findings += self._custom_defects(value, failed, unsafe)
        return self._result(findings, layers, None)

    def _result(self, findings, layers, total) -> dict[str, Any]:
        self._reset()
        # Once per mistake: one error at a key (what Keras said first of it), and no warning
        # of Keras's about a layer an error is located in (the same mistake, seen earlier).
        failed_layers = {
            f.path[:3]
            for f in findings
            if f.severity == Severity.ERROR and f.path[:2] == ("config", "layers")
        }
        unique: dict[tuple, DeepFinding] = {}
        for finding in findings:
            if finding.code == Code.KERAS_WARNING and finding.path[:3] in failed_layers:
                continue
            if finding.severity == Severity.ERROR:
                unique.setdefault(("error", finding.path), finding)
            else:
                unique.setdefault((finding.path, finding.code, finding.message), finding)
        return {
            "findings": [asdict(f) for f in unique.values()],
            "layers": [_layer(info) for info in layers],
            "total_params": total,
        }


def _layer(info: LayerInfo) -> dict[str, Any]:
    """``asdict(info)``, without its deep copies: a thousand layers take a millisecond."""
    return {
        "path": info.path,
        "name": info.name,
        "class_name": info.class_name,
        "output_shape": info.output_shape,
        "params": info.params,
    }


_frozen_modules = 0


def _freeze_modules() -> None:
    """Move what lives once the garbage is collected (Keras, TensorFlow, the modules a check
    imported) out of the collector's sight: a full collection then visits only what later
    checks make (a few milliseconds), not the 400,000 objects of the imported packages (a
    third of a second). Done again only when a check has imported more modules."""
    global _frozen_modules
    if len(sys.modules) != _frozen_modules:
        _frozen_modules = len(sys.modules)
        gc.freeze()
