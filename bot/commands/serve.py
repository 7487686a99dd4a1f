"""``neurostream serve``: the Ray Serve renderers on this machine's cluster, for remote bots."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from bot.config import Settings
from bot.services.renderers import serve_renderers


def _stop_on_signals(stop: threading.Event) -> None:
    """Ctrl-C (SIGINT) and SIGTERM (a service manager's stop) set ``stop``: the renderers are
    removed cleanly. A second one while they are being removed interrupts that too."""
    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)


def serve(settings: Settings) -> int:
    """Deploy the renderers and keep them until Ctrl-C or SIGTERM (which delete the
    application)."""
    stop = threading.Event()
    # Started in the background of a script, a process inherits SIGINT ignored: Ctrl-C (and
    # the tests' SIGINT) must still stop a deploy that takes minutes.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def ready(address: str) -> None:
        _stop_on_signals(stop)  # now: ray.init installed a SIGTERM handler of its own
        print(f"neurostream renderers: {settings.backend.replicas} replica(s) of "
              f"{settings.model.id!r} ready at {address}\n"
              f'bots use them with [backend] kind = "ray", address = "{address}" and '
              f"replicas = {settings.backend.replicas}; Ctrl-C stops them", flush=True)

    serve_renderers(settings, ready=ready, stop=stop)
    return 0
