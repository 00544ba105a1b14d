"""Cooperative cancelling of a worker request: the client asks on a pipe of its own, a thread
of the worker notes it, and the check stops at its next safe point.

A safe point (``checkpoint``) raises ``Cancelled`` once a cancel for the request in progress
has arrived; nothing else does, so a cancel never lands in an import, in the middle of a memo
update or while an answer is written. The request is named by its id and nonce: a cancel that
arrives after its request was answered, or before it started, never stops another one.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any


class Cancelled(BaseException):
    """The request was cancelled at a safe point. Not an ``Exception``: no ``except Exception``
    of the check, or of Keras, takes it for Keras refusing the document."""


_asked = threading.Event()  # a cancel for the request in progress has arrived


def checkpoint() -> None:
    """A safe point of a cancellable request: stop here if it was cancelled."""
    if _asked.is_set():
        raise Cancelled


class Cancels:
    """Which request may be cancelled now (one at a time: the worker answers in turn), and
    the cancels that came before their request started."""

    EARLY = 64  # cancels kept for requests not started yet; the client has few in flight

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: tuple[Any, str] | None = None
        self._early: deque[tuple[Any, str]] = deque(maxlen=self.EARLY)

    def cancel(self, ident: Any, nonce: str) -> None:
        """A cancel for (``ident``, ``nonce``): from the listening thread."""
        with self._lock:
            if self._current == (ident, nonce):
                _asked.set()
            elif (ident, nonce) not in self._early:
                # Maybe for a request still waiting on stdin; harmless if it was answered
                # already (no later request has its nonce).
                self._early.append((ident, nonce))

    @contextlib.contextmanager
    def region(self, ident: Any, nonce: str | None) -> Iterator[None]:
        """Where the request (``ident``, ``nonce``) may be cancelled. A cancel that arrived
        while it ran is said even if the work finished after it (raising ``Cancelled`` at the
        end): what was made once it arrived is not trusted."""
        key = (ident, nonce or "")
        with self._lock:
            self._current = key
            if key in self._early:
                self._early.remove(key)
                _asked.set()
            else:
                _asked.clear()
        try:
            yield
            checkpoint()
        except Exception as exc:
            if _asked.is_set():  # Keras took a safe point's Cancelled for an error of its own
                raise Cancelled from exc
            raise
        finally:
            with self._lock:
                self._current = None
                _asked.clear()


def listen(fd: int, cancels: Cancels) -> threading.Thread:
    """Read cancels (``{"id", "nonce"}`` lines) from ``fd`` in a thread of their own, so that
    they arrive while the main thread is busy with the request they cancel."""
    import json

    def run() -> None:
        with open(fd, "rb", buffering=0, closefd=True) as pipe:
            for line in pipe:
                try:
                    message = json.loads(line)
                    ident, nonce = message["id"], message["nonce"]
                except (ValueError, TypeError, KeyError, RecursionError):
                    continue  # only the client writes here; anything else is ignored
                if isinstance(ident, int) and isinstance(nonce, str):
                    cancels.cancel(ident, nonce)

    thread = threading.Thread(target=run, name="layercfg-cancels", daemon=True)
    thread.start()
    return thread


def hook_keras(deserialize: Any) -> None:
    """A safe point in Keras's own loading: every ``deserialize_keras_object`` that Keras calls
    through its module (each layer and each node of a Functional model, each nested object),
    so that a long ``from_config`` stops within a layer of the cancel. ``deserialize``: the
    public function, whose module is patched once."""
    module = sys.modules.get(getattr(deserialize, "__module__", ""))
    name = getattr(deserialize, "__name__", "")
    original = getattr(module, name, None) if module is not None else None
    if original is None or getattr(original, "_layercfg_checkpoint", False):
        return

    @functools.wraps(original)
    def with_checkpoint(*args: Any, **kwargs: Any) -> Any:
        checkpoint()
        return original(*args, **kwargs)

    with_checkpoint._layercfg_checkpoint = True  # type: ignore[attr-defined]
    setattr(module, name, with_checkpoint)
