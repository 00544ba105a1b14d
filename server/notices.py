"""Errors nobody asked about (a message from the client that cannot be read, a notification's
handler failing), shown to the user once in a while and logged always.

pygls shows each of them in a window/showMessage: a client sending 500 bodies the server
cannot decode got 500 popups. Here the first of a kind after a quiet minute is shown; the
ones that follow it while they keep coming go to the log only, and the next one shown says
how many there were."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("layercfg")


class Notices:
    """One popup per kind of error, then the log, until the kind has been quiet for
    ``QUIET_SECONDS``."""

    QUIET_SECONDS = 60.0

    def __init__(
        self, show: Callable[[str], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._show = show
        self._clock = clock
        self._seen: dict[str, float] = {}  # kind -> when the last one came, shown or not
        self._held: dict[str, int] = {}  # kind -> how many were logged only since one shown

    def report(self, kind: str, message: str, logged: bool = False) -> bool:
        """Show ``message`` or only log it; True when shown. ``logged``: the caller has
        logged it already, with more detail than ``message``."""
        now = self._clock()
        last = self._seen.get(kind)
        self._seen[kind] = now
        if not logged:
            log.error("%s", message)
        if last is not None and now - last < self.QUIET_SECONDS:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        held = self._held.pop(kind, 0)
        before = f" ({held} more like it before, in the log)" if held else ""
        try:
            self._show(
                f"{message}{before}. Until a minute passes without one, the next ones "
                "go to the log only."
            )
        except Exception:
            log.debug("message not shown", exc_info=True)
        return True
