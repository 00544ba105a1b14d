"""Thin LSP glue: one module per LSP area, each with ``register(server)``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..server import LayercfgServer


def register_all(server: LayercfgServer) -> None:
    from . import (
        code_actions,
        commands,
        completion,
        deepcheck,
        diagnostics,
        formatting,
        hover,
        lifecycle,
        navigation,
        rename,
    )

    for module in (lifecycle, diagnostics, completion, hover, navigation, commands, deepcheck):
        module.register(server)
    for module in (code_actions, rename, formatting):
        module.register(server)
