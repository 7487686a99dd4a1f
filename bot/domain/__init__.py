"""Pure domain: requests, validation, metadata and job states. Imports neither discord nor torch."""

from bot.domain.errors import (
    ConfigError,
    GenerationCancelled,
    GenerationError,
    NeurostreamError,
    OutOfMemory,
    UserError,
    ValidationError,
)
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.recipe import SCHEDULERS, Mode, Recipe, scheduler_display_name, scheduler_key
from bot.domain.validation import Limits, validate_recipe

__all__ = [
    "SCHEDULERS",
    "ConfigError",
    "GenerationCancelled",
    "GenerationError",
    "Job",
    "JobState",
    "Limits",
    "Mode",
    "NeurostreamError",
    "OutOfMemory",
    "Recipe",
    "Requester",
    "UserError",
    "ValidationError",
    "scheduler_display_name",
    "scheduler_key",
    "validate_recipe",
]
