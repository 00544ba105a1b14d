"""Everything that imports Keras: introspection into a catalog and JSON Schema, deep checks,
and the Keras worker's main loop.

Importing this package does not import Keras; the modules that need it import it themselves.
"""
