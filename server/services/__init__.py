"""Pure functions from (document, position, catalog, settings) to lsprotocol values."""
