"""Thin LSP glue: one module per LSP area, each with ``register(server, core)``.

Handlers are closures over the ``Core`` (``core.py``) and never take the server object: they
import the core's interfaces, not ``server.py``, and pygls finds nothing to resolve in their
annotations but lsprotocol types and ``Any``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from ..core import Core


def register_all(server: LanguageServer, core: Core) -> None:
    from . import (
        archives,
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

    for module in (
        lifecycle,
        diagnostics,
        completion,
        hover,
        navigation,
        commands,
        deepcheck,
        code_actions,
        rename,
        formatting,
        archives,
    ):
        module.register(server, core)
