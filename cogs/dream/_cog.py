"""``/dream``: validate (pure), acknowledge, queue, then the delivery keeps the message current."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.client.errors import report_error
from bot.client.requester import requester_from
from bot.domain.errors import UserError
from bot.domain.lineage import Link
from bot.domain.recipe import SCHEDULERS, Recipe
from bot.domain.requests import DreamRequest, JobRequest
from bot.render.embeds import waiting_text

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot

log = logging.getLogger(__name__)

SCHEDULER_CHOICES = [app_commands.Choice(name=display, value=key)
                     for key, display in SCHEDULERS.items()]


def job_request(interaction: discord.Interaction, what: DreamRequest | Recipe, *,
                links: tuple[Link, ...] = ()) -> JobRequest:
    """The request an interaction makes (who, where, the thread's parent for its theme)."""
    return JobRequest(what, requester_from(interaction), links=links,
                      thread_parent_id=getattr(interaction.channel, "parent_id", None))


async def start_job(bot: NeurostreamBot, interaction: discord.Interaction,
                    request: JobRequest) -> None:
    """Submit through the one door, show the job's place and hand it to the delivery.

    The service acknowledges (defers) only once the request passed validation and every rule,
    so a refusal is ephemeral from the start; after the defer Discord's 3 s no longer count.
    """
    generation = bot.services.generation
    try:
        jobs = await generation.submit(
            request, acknowledge=lambda: interaction.response.defer(thinking=True))
    except UserError as error:
        await report_error(interaction, error)  # nothing acknowledged, nothing queued
        return
    job = jobs[0]
    place, eta = generation.place(job.id)
    assert bot.delivery is not None
    # The delivery's wording (it says "the model is loading" while the model loads).
    text = "🎨 generating…" if place == 0 else bot.delivery.place_text(place or 1, eta)
    try:
        # Public: the theme and the notes (which quote the user's words) are escaped in it, and
        # nothing in it may ping (the client's default, given here too so it is plain to see).
        message = await interaction.edit_original_response(
            content=waiting_text(job.recipe, text),
            allowed_mentions=discord.AllowedMentions.none())
        await generation.record_status_message(job.id, message.id)
    except discord.HTTPException as error:
        # The job is recorded and queued; the delivery finds the message or uses the channel.
        log.warning("could not show job %d's place in the queue: %s", job.id, error)
    finally:
        bot.delivery.follow(job.id)


class DreamCog(commands.Cog):
    """Turn a prompt into an image."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot
        if bot.app is not None:
            _declare_limits(self.dream, bot)

    @app_commands.command(name="dream")
    @app_commands.describe(
        prompt="What to draw",
        negative="What to keep out of the image",
        width="Image width in pixels, a multiple of 8",
        height="Image height in pixels, a multiple of 8",
        steps="Denoising steps: more is slower and often finer",
        guidance="How closely to follow the prompt (CFG scale)",
        seed="Seed for a reproducible image (empty: random, shown with the result)",
        scheduler="Sampler",
    )
    @app_commands.choices(scheduler=SCHEDULER_CHOICES)
    async def dream(self, interaction: discord.Interaction,
                    prompt: app_commands.Range[str, 1, 6000],
                    negative: app_commands.Range[str, 0, 6000] | None = None,
                    width: app_commands.Range[int, 64, 4096] | None = None,
                    height: app_commands.Range[int, 64, 4096] | None = None,
                    steps: app_commands.Range[int, 1, 500] | None = None,
                    guidance: app_commands.Range[float, 0.0, 100.0] | None = None,
                    seed: app_commands.Range[int, 0, 2**32 - 1] | None = None,
                    scheduler: str | None = None) -> None:
        """Turn a prompt into an image."""
        request = DreamRequest(prompt=prompt, negative=negative, width=width, height=height,
                               steps=steps, guidance=guidance, seed=seed, scheduler=scheduler)
        await start_job(self.bot, interaction, job_request(interaction, request))


def _declare_limits(command: app_commands.Command[DreamCog, ..., None],
                    bot: NeurostreamBot) -> None:
    """Put the configured limits into the synced schema so Discord's client enforces them too."""
    model = bot.settings.model
    bounds = {"prompt": (1, model.prompt_max_chars), "negative": (0, model.prompt_max_chars),
              "width": (64, model.width_max), "height": (64, model.height_max),
              "steps": (1, model.steps_max), "guidance": (0.0, model.guidance_max)}
    # discord.py has no public setter for a parameter's range; _params is its own table.
    for name, (low, high) in bounds.items():
        parameter = command._params[name]
        parameter.min_value, parameter.max_value = low, high
