"""Services: the one call a cog or the CLI makes per user action, and the only door to jobs,
the queue and storage."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.generation import GenerationService
from bot.services.streams import StreamService
from bot.services.themes import ThemeService


@dataclass(frozen=True, slots=True)
class Services:
    """What cogs and CLI commands may call: services only (no repository, queue or worker)."""

    generation: GenerationService
    themes: ThemeService
    streams: StreamService


__all__ = ["GenerationService", "Services", "StreamService", "ThemeService"]
