"""The fast tier's frozen catalogs are what a real build gives today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FROZEN = Path(__file__).parent / "frozen.py"


def test_the_frozen_catalogs_match_a_fresh_build(subprocess_env: dict[str, str]) -> None:
    # Built in a fresh interpreter, as `python tests/frozen.py` builds them: what a test
    # session imported before (other modules' registrations) is no part of a catalog.
    done = subprocess.run(
        [sys.executable, str(FROZEN), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
        env=subprocess_env,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
