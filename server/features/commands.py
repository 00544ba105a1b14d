"""workspace/executeCommand: rebuild the catalog, show the generated schema."""

from __future__ import annotations

import json
from typing import Any

# Imported for real, not only for type checkers: pygls reads a command handler's annotations
# at run time to convert its arguments, and an unresolvable name fails every call.
from ..server import LayercfgServer, safe

REBUILD_CATALOG = "layercfg.rebuildCatalog"
SHOW_SCHEMA = "layercfg.showSchema"


def register(server: LayercfgServer) -> None:
    @server.command(REBUILD_CATALOG)
    @safe(None)
    def rebuild_catalog(ls: LayercfgServer, *args: Any) -> None:
        ls.start_catalog(rebuild=True)

    @server.command(SHOW_SCHEMA)
    @safe(None)
    def show_schema(ls: LayercfgServer, *args: Any) -> str | None:
        if ls.catalog is None:
            return None
        return json.dumps(ls.catalog.schema, indent=2)
