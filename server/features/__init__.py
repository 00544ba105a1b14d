"""Thin LSP glue: one module per LSP area, each with ``register(server)``."""
