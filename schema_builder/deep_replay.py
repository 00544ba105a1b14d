"""The incremental deep check: a model replayed layer by layer, reusing what an earlier check
of the same layer, on the same inputs, found.

A worker keeps one ``ReplayMemo`` per (implementation, modules, document folder). For each
layer call it holds, keyed by the layer's text and its inputs' shapes and dtypes, what the
call gave: output shapes and dtypes, the layer's size, Keras's warnings. A one-value edit of a
1,000-layer model then loads that one layer with Keras's ``from_config`` and calls it, and
the layers downstream whose inputs changed; every other layer is a look-up.

The replay follows Keras's own loading (``functional_from_config``, ``Sequential``): layers
loaded in order, nodes processed in rounds until all are, inputs and outputs looked up by
``[layer, node, tensor]``. It answers only where it is sure to agree with Keras: a model of a
shape it does not cover (nested models, shared layers loaded from the memo, dict inputs,
compile configs, a graph it cannot resolve) goes to the full check. A layer that fails is
located by the same bottom-up search as the full check, whose per-envelope verdicts are kept
in the memo too.
"""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from layercfg.codes import JsonPath

from .deep_cancel import checkpoint
from .deep_common import CheckerBase, DeepFinding, LayerInfo, digest, text_of
from .deep_sequential import plain_sequential
from .deep_shapes import _shape_text, params_of

_FUNCTIONAL = {("keras.src.models.functional", "Functional"), ("keras", "Functional")}
_FUNCTIONAL_KEYS = {"name", "trainable", "layers", "input_layers", "output_layers"}
_MODELS = {"Functional", "Sequential", "Model"}

Spec = tuple[tuple[Any, ...], str]  # a tensor's shape and dtype


@dataclass(frozen=True)
class _Call:
    outputs: tuple[Spec, ...]
    class_name: str
    name: str
    params: int
    caught: tuple[Any, ...]  # the warnings of the call


@dataclass(frozen=True)
class _Load:
    class_name: str
    caught: tuple[Any, ...]  # the warnings of from_config
    outputs: tuple[Spec, ...] | None  # an InputLayer's tensor


class ReplayMemo:
    """What earlier checks found, bounded (least recently used first out)."""

    LIMIT = 50_000

    def __init__(self) -> None:
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Any) -> Any:
        """What is kept under ``key`` (None: nothing), counted as a hit or a miss of what a
        check makes (``misses``: what it made afresh)."""
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return found

    def seen(self, key: Any) -> bool:
        """Whether something is kept under ``key``, not counted: a verdict that takes no
        loading (the safety scan's)."""
        if key not in self._items:
            return False
        self._items.move_to_end(key)
        return True

    def put(self, key: Any, value: Any) -> None:
        checkpoint()  # nothing made after a cancel arrived is kept: it may be half made
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.LIMIT:
            self._items.popitem(last=False)


class Failed(Exception):
    """A layer failed to load or to take its inputs: Keras rejects the model."""

    index: int | None = None  # the layer's entry in the model's layers


def _failed(index: int, exc: BaseException) -> Failed:
    failed = Failed()
    failed.index = index
    failed.__cause__ = exc
    return failed


class _Unsure(Exception):
    """A shape of model the replay does not cover: the full check decides."""


class _Tensor:
    """A tensor of the replay: its shape and dtype, and the KerasTensor made of them once a
    layer that is not in the memo takes it (the same object for every layer that does). A
    layer answered from the memo needs no KerasTensor, whose naming alone costs more than
    the look-up."""

    __slots__ = ("spec", "_made")

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._made: Any = None

    def made(self, keras: Any) -> Any:
        if self._made is None:
            shape, dtype = self.spec
            self._made = keras.KerasTensor(shape, dtype=dtype)
        return self._made


_text, _digest = text_of, digest


def _triples(value: Any) -> list[tuple[str, int, int]]:
    """``input_layers``/``output_layers``: one [name, node, tensor] or a list of them."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _Unsure
    out = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)):
            raise _Unsure
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in item[1:]):
            raise _Unsure
        out.append((item[0], item[1], item[2]))
    return out


class IncrementalReplay(CheckerBase):
    """The replay; ``memo`` (set by the worker, None: no replay) is the one of CheckerBase."""

    # -- entry point ---------------------------------------------------------------------------
    def _replay(self, value: dict[str, Any], caught: list[Any]) -> list[LayerInfo] | None:
        """The layers of a model Keras loads (its warnings added to ``caught``); raises
        ``Failed`` when Keras would not load it; None when the full check must decide."""
        if self.memo is None or self.api.legacy or value.get("compile_config"):
            return None
        try:
            if plain_sequential(value):
                return self._replay_sequential(value, caught)
            if (value.get("module"), value.get("class_name")) in _FUNCTIONAL:
                return self._replay_functional(value, caught)
        except (_Unsure, RecursionError):  # nested deeper than the replay goes: the full check
            return None
        finally:
            self._reset()
        return None

    # -- the parts -----------------------------------------------------------------------------
    def _entries(self, value: dict[str, Any]) -> tuple[list[dict], list[str], list[str]]:
        entries = value["config"].get("layers")
        if not isinstance(entries, list) or not entries:
            raise _Unsure
        names = []
        for entry in entries:
            if not isinstance(entry, dict) or "module" not in entry:
                raise _Unsure
            config = entry.get("config")
            if not isinstance(config, dict):
                raise _Unsure
            if entry.get("class_name") in _MODELS or "layers" in config:
                raise _Unsure  # nested models: their node numbering is their own
            name = entry.get("name", config.get("name"))
            if not isinstance(name, str) or config.get("name", name) != name:
                raise _Unsure  # the layer made is named otherwise: Keras's names may collide
            names.append(name)
        if len(set(names)) != len(names):
            raise _Unsure  # Keras's own message for it comes from the full check
        texts = [self._layer_text(entry) for entry in entries]
        return entries, names, texts

    def _load_all(self, entries, texts, caught: list) -> tuple[list[_Load], dict[int, Any]]:
        """Every layer as Keras loads it first, in order; the objects made on the way."""
        loads, objects = [], {}
        for index, (entry, text) in enumerate(zip(entries, texts, strict=True)):
            checkpoint()
            key = ("load", _digest(text))
            load = self.memo.get(key)
            if load is None:
                try:
                    layer, found = self._fresh(entry)
                except Failed as exc:
                    raise _failed(index, exc.__cause__) from exc.__cause__
                outputs = None
                if type(layer).__name__ == "InputLayer":
                    outputs = tuple(_spec(t) for t in _flat(self.keras, layer.output))
                load = _Load(type(layer).__name__, tuple(found), outputs)
                self.memo.put(key, load)
                # It loads alone: what locating a failure elsewhere would ask of it.
                alone = {k: v for k, v in entry.items() if k not in ("name", "inbound_nodes")}
                self.memo.put(("envelope", _digest(_text(alone))), (None,))
                objects[index] = layer
            caught += load.caught
            loads.append(load)
        return loads, objects

    def _fresh(self, entry: dict[str, Any]) -> tuple[Any, list]:
        plain = {k: v for k, v in entry.items() if k != "inbound_nodes"}
        with warnings.catch_warnings(record=True) as found:
            warnings.simplefilter("always")
            try:
                with self._stateless(initialize_variables=False):
                    layer = self.api.deserialize(copy.deepcopy(plain), self.custom_objects)
            except Exception as exc:
                raise Failed from exc
        if not hasattr(layer, "_inbound_nodes"):
            raise _Unsure  # not a layer: Keras's own message comes from the full check
        return layer, list(found)

    def _call(self, index, entries, texts, objects, args, kwargs, caught, sig):
        """One layer call, from the memo or made: its output tensors and what it found."""
        checkpoint()
        key = ("call", _digest(texts[index]), sig)
        call = self.memo.get(key)
        if call is None:
            layer = objects.get(index)
            if layer is None:
                try:
                    layer, _ = self._fresh(entries[index])  # its load warnings are counted
                except Failed as exc:
                    raise _failed(index, exc.__cause__) from exc.__cause__
                objects[index] = layer
            with warnings.catch_warnings(record=True) as found:
                warnings.simplefilter("always")
                try:
                    with self._stateless(initialize_variables=False):
                        out = layer(*_made(args, self.keras), **_made(kwargs, self.keras))
                except Exception as exc:
                    raise _failed(index, exc) from exc
            flat = _flat(self.keras, out)
            if not flat or not all(isinstance(t, self.keras.KerasTensor) for t in flat):
                raise _Unsure
            outputs = tuple(_spec(t) for t in flat)
            call = _Call(outputs, type(layer).__name__, layer.name, params_of(layer), tuple(found))
            self.memo.put(key, call)
        caught += call.caught
        return call, [_Tensor(spec) for spec in call.outputs]

    # -- Functional ----------------------------------------------------------------------------
    def _replay_functional(self, value: dict[str, Any], caught: list[Any]) -> list[LayerInfo]:
        config = value["config"]
        if not isinstance(config, dict) or set(config) - _FUNCTIONAL_KEYS:
            raise _Unsure
        entries, names, texts = self._entries(value)
        inputs, outputs = (
            _triples(config.get("input_layers")),
            _triples(config.get("output_layers")),
        )
        index_of = {name: i for i, name in enumerate(names)}
        loads, objects = self._load_all(entries, texts, caught)
        # Each layer's nodes, as Keras queues them; a layer called twice is never replayed
        # from the memo alone (its second call depends on its first).
        queue: dict[int, list[Any]] = {}
        for index, entry in enumerate(entries):
            nodes = entry.get("inbound_nodes")
            if not isinstance(nodes, list):
                raise _Unsure
            if len(nodes) > 1:
                raise _Unsure
            if nodes:
                queue[index] = list(nodes)
        tensors: dict[tuple[str, int], list[_Tensor]] = {}
        for index, load in enumerate(loads):
            if load.outputs is not None:  # an InputLayer's tensor is its node 0
                tensors[(names[index], 0)] = [_Tensor(spec) for spec in load.outputs]
        calls: dict[int, _Call] = {}
        sources: dict[int, set[str]] = {}
        while queue:
            progress = False
            for index in list(queue):
                node = queue[index][0]
                resolved = self._resolve(node, tensors, index_of)
                if resolved is None:
                    continue  # an input is not made yet: next round
                args, kwargs, sig, used = resolved
                call, made = self._call(index, entries, texts, objects, args, kwargs, caught, sig)
                tensors[(names[index], 0)] = made
                calls[index], sources[index] = call, used
                del queue[index]
                progress = True
            if not progress:
                raise _Unsure  # loops or disconnected nodes: Keras's message, from the full check
        # The model's inputs and outputs, as Keras looks them up.
        input_layers = {name for name, _, _ in inputs}
        for name, node, tensor in inputs:
            if (
                name not in index_of
                or loads[index_of[name]].outputs is None
                or (node, tensor) != (0, 0)
            ):
                raise _Unsure
        if any(
            load.outputs is not None and names[i] not in input_layers
            for i, load in enumerate(loads)
        ):
            raise _Unsure  # an input layer the model does not take: maybe disconnected
        for name, node, tensor in outputs:
            made = tensors.get((name, node))
            if made is None or not 0 <= tensor < len(made):
                raise _Unsure
        # The layers of the model: those its outputs depend on.
        reached, todo = set(), [name for name, _, _ in outputs]
        while todo:
            name = todo.pop()
            if name in reached:
                continue
            reached.add(name)
            todo.extend(sources.get(index_of[name], ()))
        layers = []
        for index, name in enumerate(names):
            if name not in reached:
                continue
            path: JsonPath = ("config", "layers", index)
            load = loads[index]
            if load.outputs is not None:
                text = ", ".join(_shape_text(s) or "?" for s, _ in load.outputs)
                layers.append(LayerInfo(path, name, load.class_name, text, 0))
            else:
                call = calls[index]
                text = ", ".join(_shape_text(s) or "?" for s, _ in call.outputs)
                layers.append(LayerInfo(path, call.name, call.class_name, text, call.params))
        return layers

    def _resolve(self, node: Any, tensors, index_of):
        """A node's (args, kwargs) with its tensors, the key of its inputs, the layers it
        reads; None while one of them is not made yet."""
        if not isinstance(node, dict) or set(node) - {"args", "kwargs"}:
            raise _Unsure
        used: set[str] = set()
        missing = False

        def swap(item: Any) -> Any:
            nonlocal missing
            if isinstance(item, dict):
                if item.get("class_name") == "__keras_tensor__":
                    history = (item.get("config") or {}).get("keras_history")
                    if not (isinstance(history, list) and len(history) == 3):
                        raise _Unsure
                    name, node_index, tensor_index = history
                    if not (
                        isinstance(name, str)
                        and name in index_of
                        and all(
                            isinstance(i, int) and not isinstance(i, bool)
                            for i in (node_index, tensor_index)
                        )
                    ):
                        raise _Unsure
                    made = tensors.get((name, node_index))
                    if made is None:
                        missing = True
                        return None
                    if not 0 <= tensor_index < len(made):
                        raise _Unsure
                    used.add(name)
                    return made[tensor_index]
                if "class_name" in item and item.get("class_name") != "__keras_tensor__":
                    raise _Unsure  # other envelopes inside a node: Keras's own deserializer
                return {k: swap(v) for k, v in item.items()}
            if isinstance(item, list):
                return [swap(v) for v in item]
            return item

        args = swap(node.get("args", []))
        kwargs = swap(node.get("kwargs", {}))
        if missing:
            return None
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise _Unsure
        sig = _text(_signature([args, kwargs]))
        return args, kwargs, sig, used

    # -- Sequential ----------------------------------------------------------------------------
    def _replay_sequential(self, value: dict[str, Any], caught: list[Any]) -> list[LayerInfo]:
        entries, names, texts = self._entries(value)
        loads, objects = self._load_all(entries, texts, caught)
        if loads[0].outputs is None or any(load.outputs is not None for load in loads[1:]):
            raise _Unsure  # built from another shape, or a second input layer: Keras decides
        shape = (entries[0].get("config") or {}).get("batch_shape")
        build = value.get("build_config")
        if build and (not isinstance(build, dict) or build.get("input_shape") != shape):
            raise _Unsure
        first = loads[0]
        layers = [LayerInfo(("config", "layers", 0), names[0], "InputLayer", _shape_text(shape), 0)]
        tensor = _Tensor(first.outputs[0])
        for index in range(1, len(entries)):
            sig = _text(_signature([[tensor], {}]))
            try:
                call, made = self._call(index, entries, texts, objects, [tensor], {}, caught, sig)
            except Failed as failed:
                if isinstance(failed.__cause__, (NotImplementedError, TypeError)):
                    raise _Unsure from failed  # Sequential.build has its own ways with these
                raise
            if len(made) != 1:
                raise _Unsure  # Keras: a Sequential's layers have one output
            tensor = made[0]
            text = ", ".join(_shape_text(s) or "?" for s, _ in call.outputs)
            path: JsonPath = ("config", "layers", index)
            layers.append(LayerInfo(path, call.name, call.class_name, text, call.params))
        return layers

    # -- the model's own graph -----------------------------------------------------------------
    def model_known(self, value: dict[str, Any]) -> bool:
        """Keras has loaded a model of this graph before (same layers, same links, same model
        arguments): what it checks of the model as a whole (its depth, its inputs and
        outputs) held then, and holds now."""
        return self.memo is not None and self.memo.get(("model", _topology(value))) is not None

    def remember_model(self, value: dict[str, Any]) -> None:
        if self.memo is not None:
            self.memo.put(("model", _topology(value)), True)

    # -- locating, with the memo ---------------------------------------------------------------
    def _check_envelope(
        self, envelope: dict[str, Any], path: JsonPath, error: BaseException | None = None
    ) -> DeepFinding | None:
        if self.memo is None or error is not None:
            return super()._check_envelope(envelope, path, error)
        key = ("envelope", _digest(_text(envelope)))
        found = self.memo.get(key)
        if found is None:
            finding = super()._check_envelope(envelope, path)
            relative = None if finding is None else replace(finding, path=finding.path[len(path) :])
            found = (relative,)
            self.memo.put(key, found)
        relative = found[0]
        if relative is None:
            return None
        return replace(relative, path=(*path, *relative.path), related=list(relative.related))


def _topology(value: dict[str, Any]) -> bytes:
    """A model's graph without its layers' arguments: names, links, the model's own keys."""

    def links(item: Any) -> Any:
        if isinstance(item, dict):
            if item.get("class_name") == "__keras_tensor__":
                return (item.get("config") or {}).get("keras_history")
            return {k: links(v) for k, v in item.items()}
        if isinstance(item, list):
            return [links(v) for v in item]
        return item

    config = value.get("config") if isinstance(value.get("config"), dict) else {}
    entries = config.get("layers") if isinstance(config.get("layers"), list) else []
    graph = [
        [e.get("name"), e.get("class_name"), links(e.get("inbound_nodes"))]
        if isinstance(e, dict)
        else None
        for e in entries
    ]
    outer = {k: v for k, v in value.items() if k != "config"}
    own = {k: v for k, v in config.items() if k != "layers"}
    return _digest(_text([outer, own, graph]))


def _flat(keras: Any, out: Any) -> list[Any]:
    return list(keras.tree.flatten(out))


def _spec(tensor: Any) -> Spec:
    return tuple(tensor.shape), str(tensor.dtype)


def _signature(value: Any) -> Any:
    """A node's arguments with each tensor as its shape and dtype (the memo's key); the
    replay's tensors are never sparse."""
    if isinstance(value, _Tensor):
        shape, dtype = value.spec
        return {"__tensor__": [list(shape), dtype, False]}
    if isinstance(value, dict):
        return {k: _signature(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_signature(v) for v in value]
    return value


def _made(value: Any, keras: Any) -> Any:
    """A node's arguments as a layer takes them: each tensor a KerasTensor."""
    if isinstance(value, _Tensor):
        return value.made(keras)
    if isinstance(value, dict):
        return {k: _made(v, keras) for k, v in value.items()}
    if isinstance(value, list):
        return [_made(v, keras) for v in value]
    return value
