"""``python -m layercfg``: the same as the ``layercfg`` command."""

import os
import sys

# ``-m`` puts the current directory first on the path; a file there (json.py, termcolor.py)
# would then stand in for a module that layercfg, Keras or TensorFlow imports.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from layercfg.cli import main  # noqa: E402

raise SystemExit(main())
