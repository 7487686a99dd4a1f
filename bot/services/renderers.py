"""The Ray Serve renderers of a cluster, run by ``neurostream serve`` for bots elsewhere."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from bot.config import Settings
from bot.queue.ray_backend import require_ray


def serve_renderers(settings: Settings, *, ready: Callable[[str], None],
                    stop: threading.Event | None = None) -> None:
    """Run the application on this machine's Ray cluster (or a new local instance) until
    interrupted (or ``stop`` is set); ``ready`` hears the address bots should use."""
    require_ray()
    from bot.inference import ray_cluster

    config, shape = ray_cluster.from_settings(settings)
    wanted_host, _, wanted_port = settings.backend.listen.rpartition(":")
    host, port = ray_cluster.deploy(config, shape, host=wanted_host, port=int(wanted_port))
    try:
        shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
        ready(f"http://{shown}:{port}")
        stop = stop or threading.Event()  # without one, Ctrl-C (KeyboardInterrupt) ends it
        while not stop.wait(1.0):  # woken now and then: a signal handler may set ``stop``
            pass
    finally:
        ray_cluster.undeploy()
