"""``neurostream serve`` stops cleanly on Ctrl-C and on SIGTERM (no Ray needed here)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from bot.commands.serve import _stop_on_signals


@pytest.fixture
def saved_handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_asks_the_renderers_to_stop_and_a_second_interrupts(
        sig: signal.Signals, saved_handlers: None) -> None:
    stop = threading.Event()
    _stop_on_signals(stop)
    os.kill(os.getpid(), sig)  # the handler runs before the next line
    assert stop.is_set()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), sig)
