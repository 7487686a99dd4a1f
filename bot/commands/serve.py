"""``neurostream serve``: the Ray Serve renderers on this machine's cluster, for remote bots."""

from __future__ import annotations

from bot.config import Settings
from bot.services.renderers import serve_renderers


def serve(settings: Settings) -> int:
    """Deploy the renderers and keep them until Ctrl-C (which deletes the application)."""
    def ready(address: str) -> None:
        print(f"neurostream renderers: {settings.backend.replicas} replica(s) of "
              f"{settings.model.id!r} ready at {address}\n"
              f'bots use them with [backend] kind = "ray", address = "{address}" and '
              f"replicas = {settings.backend.replicas}; Ctrl-C stops them", flush=True)

    serve_renderers(settings, ready=ready)
    return 0
