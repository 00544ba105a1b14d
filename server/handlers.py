"""Handler guards shared by the LSP glue."""

from __future__ import annotations

import asyncio
import functools
import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from .services.validation import Superseded

log = logging.getLogger("layercfg")
F = TypeVar("F", bound=Callable[..., Any])


def safe(default: Any = None) -> Callable[[F], F]:
    """A handler that logs its failure with the traceback and answers ``default``. Work given
    up because the document changed meanwhile (``Superseded``) is no failure."""

    def wrap(handler: F) -> F:
        if asyncio.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await handler(*args, **kwargs)
                except Superseded:
                    log.debug("%s: the document changed meanwhile", handler.__name__)
                    return default
                except Exception:
                    log.error("%s failed:\n%s", handler.__name__, traceback.format_exc())
                    return default

            return run_async  # type: ignore[return-value]

        @functools.wraps(handler)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            except Superseded:
                log.debug("%s: the document changed meanwhile", handler.__name__)
                return default
            except Exception:
                log.error("%s failed:\n%s", handler.__name__, traceback.format_exc())
                return default

        return run  # type: ignore[return-value]

    return wrap
