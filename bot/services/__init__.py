"""Services: the one call a cog or the CLI makes per user action."""

from bot.services.generation import GenerationService

__all__ = ["GenerationService"]
