"""workspace/executeCommand: rebuild the catalog, show the generated schema.

The handlers take ``*args: Any`` and no server parameter: pygls reads a command handler's
annotations at run time to convert its arguments, and ``Any`` always resolves.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..capabilities import REBUILD_CATALOG, SHOW_SCHEMA
from ..handlers import safe

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from ..core import Core


def register(server: LanguageServer, core: Core) -> None:
    @server.command(REBUILD_CATALOG)
    @safe(None)
    def rebuild_catalog(*args: Any) -> None:
        core.catalogs.start(rebuild=True)

    @server.command(SHOW_SCHEMA)
    @safe(None)
    def show_schema(*args: Any) -> str | None:
        catalog = core.catalogs.catalog_for()
        if catalog is None:
            return None
        return json.dumps(catalog.schema, indent=2)
