"""Runs the layercfg language server that ships inside the VS Code extension.

The extension starts it as ``<python> -I bundled/launch.py``: isolated, so neither the
current directory, nor ``PYTHONPATH``, nor the user's site-packages come first. The server
and its dependencies are imported from this folder (``tool/`` holds ``layercfg``, ``libs/``
the rest), ahead of whatever the interpreter has installed. The Keras worker runs with the
same interpreter, which needs Keras, and gets ``tool/`` alone: see
``layercfg.server.worker.BUNDLE_PATH``.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "tool")
LIBS = os.path.join(HERE, "libs")

for folder in (TOOL, LIBS):
    if not os.path.isdir(folder):
        sys.exit(f"layercfg: the extension's bundled server is incomplete ({folder} is missing)")
sys.path[0:0] = [TOOL, LIBS]

try:  # the native libraries are bundled for CPython 3.10 to 3.13 (scripts/bundle_python.py)
    import jsonschema_rs  # noqa: F401
    import rpds  # noqa: F401
    import tree_sitter  # noqa: F401
except ImportError as error:
    sys.exit(
        f"layercfg: the bundled server cannot run on Python {sys.version.split()[0]} "
        f"({sys.executable}): {error}. Use CPython 3.10 to 3.13, or set "
        "layercfg.serverSource to 'environment' and install layercfg in that Python."
    )

from layercfg.server import worker  # noqa: E402

worker.BUNDLE_PATH = TOOL

from layercfg.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["lsp", *sys.argv[1:]]))
