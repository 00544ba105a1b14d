"""``python -m layercfg``: the same as the ``layercfg`` command."""

from layercfg.cli import main

raise SystemExit(main())
