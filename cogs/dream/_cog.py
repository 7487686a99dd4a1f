"""``/dream``: validate (pure), acknowledge, queue, then the delivery keeps the message current."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client.errors import report_error
from bot.client.requester import requester_from
from bot.domain.errors import UserError
from bot.domain.jobs import Job
from bot.domain.lineage import GroupKind, Link
from bot.domain.recipe import SCHEDULERS, Recipe
from bot.domain.requests import DreamRequest, JobRequest
from bot.render.embeds import waiting_text
from bot.render.texts import clip
from bot.services.generation import Acknowledge
from bot.services.intake import Submitted
from cogs.craft._autocomplete import style_autocomplete
from cogs.models._autocomplete import model_autocomplete, prompt_autocomplete

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot

log = logging.getLogger(__name__)

GRID_MAX = 4  # a 2×2 grid
SCHEDULER_CHOICES = [app_commands.Choice(name=display, value=key)
                     for key, display in SCHEDULERS.items()]


def job_request(interaction: discord.Interaction, what: DreamRequest | Recipe, *,
                links: tuple[Link, ...] = ()) -> JobRequest:
    """The request an interaction makes (who, where, the thread's parent for its theme)."""
    return JobRequest(what, requester_from(interaction), links=links,
                      thread_parent_id=getattr(interaction.channel, "parent_id", None))


async def start_job(bot: NeurostreamBot, interaction: discord.Interaction,
                    request: JobRequest) -> None:
    """Submit ``request`` through the one door and follow its jobs (see ``start_jobs``)."""
    generation = bot.services.generation

    async def submit(acknowledge: Acknowledge) -> Submitted:
        return Submitted(await generation.submit(request, acknowledge=acknowledge))

    await start_jobs(bot, interaction, submit)


async def start_jobs(bot: NeurostreamBot, interaction: discord.Interaction,
                     submit: Callable[[Acknowledge], Awaitable[Submitted]]) -> list[Job]:
    """Make the one service call ``submit``, show the jobs' place and hand them to the delivery.

    The service acknowledges (defers) only once the request passed validation and every rule,
    so a refusal is ephemeral from the start; after the defer Discord's 3 s no longer count.
    Several jobs of one request (``/dream count:``) are one grid message.
    """
    generation = bot.services.generation
    try:
        submitted = await submit(lambda: interaction.response.defer(thinking=True))
    except UserError as error:
        await report_error(interaction, error)  # nothing acknowledged, nothing queued
        return []
    jobs = submitted.jobs
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
        for each in jobs:
            await generation.record_status_message(each.id, message.id)
    except discord.HTTPException as error:
        # The job is recorded and queued; the delivery finds the message or uses the channel.
        log.warning("could not show job %d's place in the queue: %s", job.id, error)
    finally:
        if len(jobs) > 1:
            bot.delivery.follow_grid([each.id for each in jobs])
        else:
            bot.delivery.follow(job.id)
    if submitted.notes:
        # What was changed about the user's files (cropped, scaled, a resized mask): for them
        # alone. The notes are the bot's own words (sizes), no user text.
        try:
            await interaction.followup.send(
                clip("\n".join(f"ℹ️ {note}" for note in submitted.notes)), ephemeral=True)
        except discord.HTTPException as error:
            log.warning("could not send job %d's notes: %s", job.id, error)
    return jobs


class DreamCog(commands.Cog):
    """Turn a prompt into an image."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot
        if bot.app is not None:
            declare_limits(self.dream, bot)

    @app_commands.command(name="dream")
    @app_commands.describe(
        prompt="What to draw; <lora:name:0.8> adds a LoRA (suggested as you type <lora:)",
        negative="What to keep out of the image",
        width="Image width in pixels, a multiple of 8",
        height="Image height in pixels, a multiple of 8",
        steps="Denoising steps: more is slower and often finer",
        guidance="How closely to follow the prompt (CFG scale)",
        seed="Seed for a reproducible image (empty: random, shown with the result)",
        scheduler="Sampler",
        count="How many images (seeds seed, seed+1, …), shown as one grid with U and V buttons",
        style="Style presets after your words, chained with commas (suggested as you type)",
        model="Which model (/models lists them); empty: the channel's, else the default",
        refines="During a party: the job number this prompt refines (Prompt Master)",
    )
    @app_commands.choices(scheduler=SCHEDULER_CHOICES)
    @app_commands.autocomplete(style=style_autocomplete, model=model_autocomplete,
                               prompt=prompt_autocomplete)
    async def dream(self, interaction: discord.Interaction,
                    prompt: app_commands.Range[str, 1, 6000],
                    negative: app_commands.Range[str, 0, 6000] | None = None,
                    width: app_commands.Range[int, 64, 4096] | None = None,
                    height: app_commands.Range[int, 64, 4096] | None = None,
                    steps: app_commands.Range[int, 1, 500] | None = None,
                    guidance: app_commands.Range[float, 0.0, 100.0] | None = None,
                    seed: app_commands.Range[int, 0, 2**32 - 1] | None = None,
                    scheduler: str | None = None,
                    count: app_commands.Range[int, 1, GRID_MAX] | None = None,
                    style: app_commands.Range[str, 1, 300] | None = None,
                    model: app_commands.Range[str, 1, 100] | None = None,
                    refines: app_commands.Range[int, 1, 2**63 - 1] | None = None) -> None:
        """Turn a prompt into an image."""
        request = DreamRequest(prompt=prompt, negative=negative, width=width, height=height,
                               steps=steps, guidance=guidance, seed=seed, scheduler=scheduler,
                               style=style, model=model)
        links: tuple[Link, ...] = ()
        if refines is not None:
            try:  # a refinement step of the party's tree (only its Prompt Master marks one)
                links = await self.bot.services.party.refine_links(
                    interaction.channel_id, interaction.user.id, refines)
            except UserError as error:
                await report_error(interaction, error)
                return
        made = job_request(interaction, request, links=links)
        if count is not None and count > 1:
            # One group: seeds seed, seed+1, … (batch_recipes), one grid message.
            made = dataclasses.replace(made, count=count, group=GroupKind.GRID)
        await start_job(self.bot, interaction, made)


def declare_limits(command: app_commands.Command[Any, ..., None], bot: NeurostreamBot) -> None:
    """Put the configured limits into the synced schema so Discord's client enforces them too
    (for whichever of the request options the command has)."""
    model = bot.settings.model
    bounds = {"prompt": (1, model.prompt_max_chars), "negative": (0, model.prompt_max_chars),
              "width": (64, model.width_max), "height": (64, model.height_max),
              "steps": (1, model.steps_max), "guidance": (0.0, model.guidance_max)}
    # discord.py has no public setter for a parameter's range; _params is its own table.
    for name, (low, high) in bounds.items():
        parameter = command._params.get(name)
        if parameter is not None:
            parameter.min_value, parameter.max_value = low, high
