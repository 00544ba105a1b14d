"""Single mistakes made in a layer of a Functional or Sequential model (a keras.applications
model, a tf_keras one), each with the JSON pointer a person would change: a misspelt
argument, a number written as a string, an unknown activation, an unknown initializer.
"""

from __future__ import annotations

import copy
from typing import Any

from kerashub_corpus import Mutation

# The argument of a layer a mistake is made in, by preference.
_NUMBERS = ("filters", "units", "depth_multiplier", "pool_size", "kernel_size")


def _layer(value: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    """The layer nearest the middle of the model whose config has one of ``keys``."""
    layers = value["config"]["layers"]
    middle = len(layers) // 2
    for index in sorted(range(len(layers)), key=lambda i: abs(i - middle)):
        config = layers[index].get("config") or {}
        if any(k in config for k in keys):
            return index
    return None


def mistakes(name: str, value: dict[str, Any]) -> list[Mutation]:
    out: list[Mutation] = []
    index = _layer(value, _NUMBERS)
    if index is not None:
        config = value["config"]["layers"][index]["config"]
        key = next(k for k in _NUMBERS if k in config)
        where = f"/config/layers/{index}/config"
        typo = copy.deepcopy(value)
        inner = typo["config"]["layers"][index]["config"]
        inner[f"{key}z"] = inner.pop(key)
        out.append(Mutation(f"{name}: key {key}z", name, typo, f"{where}/{key}z", "LCF102"))
        wrong = copy.deepcopy(value)
        number = config[key]
        wrong["config"]["layers"][index]["config"][key] = str(
            number[0] if isinstance(number, list) else number
        )
        out.append(Mutation(f"{name}: {key} as a string", name, wrong, f"{where}/{key}", "LCF104"))
    index = _layer(value, ("activation",))
    if index is not None:
        where = f"/config/layers/{index}/config/activation"
        bad = copy.deepcopy(value)
        bad["config"]["layers"][index]["config"]["activation"] = "rleu"
        out.append(Mutation(f"{name}: activation rleu", name, bad, where, "LCF105"))
    index = _layer(value, ("kernel_initializer", "depthwise_initializer"))
    if index is not None:
        config = value["config"]["layers"][index]["config"]
        key = "kernel_initializer" if "kernel_initializer" in config else "depthwise_initializer"
        if isinstance(config[key], dict) and "class_name" in config[key]:
            where = f"/config/layers/{index}/config/{key}/class_name"
            bad = copy.deepcopy(value)
            bad["config"]["layers"][index]["config"][key]["class_name"] = "GlorotUnifrm"
            out.append(Mutation(f"{name}: initializer GlorotUnifrm", name, bad, where, "LCF101"))
    return out
