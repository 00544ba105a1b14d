"""``security.scan`` for one document across its versions: typing in one layer of a large
model rescans that layer, not the whole document."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain, repeat
from typing import Any

from ..catalog import Catalog
from ..doc_edit import changed_layers
from .findings import Finding
from .security import MAX_FINDINGS, _Scanner, scan


class Cache:
    """``scan`` for one document across its versions: the findings of each layer of the
    top-level model are kept by the layer's object, which an edit elsewhere leaves the same
    (the document's value is spliced from the previous one), so typing rescans one layer."""

    # Fewer layers than this are scanned again whole: keeping them costs more than it saves.
    FEW = 16

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        # id(layer) -> (layer, its input size, findings at the layer); the layer is kept so
        # that the id stays its own
        self._by_object: dict[int, tuple[Any, int | None, list[Finding]]] = {}
        # the last value scanned by layers: (value, channel sizes, each layer's findings)
        self._last: tuple[Any, dict[int, int], list[list[Finding]]] | None = None

    def scan(
        self, value: Any, catalog: Catalog | None = None, modules: Iterable[str] = ()
    ) -> list[Finding]:
        """What ``scan(value, catalog, modules)`` returns."""
        modules = tuple(modules)
        key = (catalog, modules)
        if key != self._key:
            self._key, self._by_object, self._last = key, {}, None
        config = value.get("config") if isinstance(value, dict) else None
        layers = config.get("layers") if isinstance(config, dict) else None
        if (
            not isinstance(config, dict)
            or not isinstance(layers, list)
            or len(layers) < self.FEW
            or not all(map(isinstance, layers, repeat(dict)))
        ):
            return scan(value, catalog, modules)
        top = _Scanner(catalog, modules)
        top.hide(config, "layers")
        findings = top.run(value)
        last, self._last = self._last, None
        if last is not None and not top.input_sizes and not last[1]:
            # No channel sizes passed from layer to layer: when only a few layers are other
            # objects than last time (an edit inside them), only they are scanned again.
            changed = changed_layers(last[0], value)
            if changed is not None and len(changed) <= self.FEW:
                placed = list(last[2])
                for index in changed:
                    layer = layers[index]
                    self._by_object.pop(id(last[0]["config"]["layers"][index]), None)
                    found = _Scanner(catalog, modules).run(layer)
                    self._by_object[id(layer)] = (layer, None, found)
                    placed[index] = [f.prefixed(("config", "layers", index)) for f in found]
                self._last = (value, {}, placed)
                findings.extend(chain.from_iterable(placed))
                return findings[:MAX_FINDINGS]
        by_object = {}
        placed = []
        for index, layer in enumerate(layers):
            size = top.input_sizes.get(id(layer))
            known = self._by_object.get(id(layer))
            if known is not None and known[0] is layer and known[1] == size:
                found = known[2]
            else:
                one = _Scanner(catalog, modules)
                if size is not None:
                    one.input_sizes[id(layer)] = size
                found = one.run(layer)
            by_object[id(layer)] = (layer, size, found)
            placed.append([f.prefixed(("config", "layers", index)) for f in found])
        self._by_object = by_object
        self._last = (value, top.input_sizes, placed)
        findings.extend(chain.from_iterable(placed))
        return findings[:MAX_FINDINGS]
