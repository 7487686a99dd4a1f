"""Services: the one call a cog or the CLI makes per user action, and the only door to jobs,
the queue and storage."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.craft import StyleService
from bot.services.generation import GenerationService
from bot.services.intake import IntakeService
from bot.services.moderation import ModerationService
from bot.services.party import PartyService
from bot.services.streams import StreamService
from bot.services.themes import ThemeService
from bot.services.tools import ToolService
from bot.services.wall import WallService


@dataclass(frozen=True, slots=True)
class Services:
    """What cogs and CLI commands may call: services only (no repository, queue or worker)."""

    generation: GenerationService
    themes: ThemeService
    streams: StreamService
    intake: IntakeService
    craft: StyleService
    moderation: ModerationService
    party: PartyService
    wall: WallService
    # Vary, upscale, zoom out, remix and morph finished images.
    tools: ToolService


__all__ = ["GenerationService", "IntakeService", "ModerationService", "PartyService",
           "Services", "StreamService", "StyleService", "ThemeService", "ToolService",
           "WallService"]
