"""Discord embeds for results and the recipe. The one render module that imports discord."""

from __future__ import annotations

import discord

from bot.domain.jobs import Job
from bot.render.texts import clip

EMBED_FIELD_LIMIT = 1024


def result_embed(job: Job, *, seconds: float | None, note: str = "") -> discord.Embed:
    """The compact embed under a result: prompt, negative, seed, size, steps and the rest."""
    recipe = job.recipe
    embed = discord.Embed(description=clip(recipe.prompt, 4000), colour=discord.Colour.blurple())
    if recipe.negative:
        embed.add_field(name="Negative", value=clip(recipe.negative, EMBED_FIELD_LIMIT),
                        inline=False)
    embed.add_field(name="Seed", value=str(recipe.seed))
    embed.add_field(name="Size", value=f"{recipe.width}×{recipe.height}")
    embed.add_field(name="Steps", value=str(recipe.steps))
    embed.add_field(name="Guidance", value=f"{recipe.guidance:g}")
    embed.add_field(name="Sampler", value=recipe.sampler)
    embed.add_field(name="Model", value=clip(recipe.model, 200))
    if recipe.strength is not None and recipe.mode.value != "txt2img":
        embed.add_field(name="Strength", value=f"{recipe.strength:g}")
    requester = job.requester
    who = f"<@{requester.user_id}>" if requester.user_id else requester.user_name
    took = f" · {seconds:.1f} s" if seconds is not None else ""
    embed.add_field(name="Requested by", value=f"{who}{took}", inline=False)
    if note:
        embed.add_field(name="Note", value=clip(note, EMBED_FIELD_LIMIT), inline=False)
    # The footer marks the message as this job's result: a restart looks for it before posting.
    embed.set_footer(text=f"neurostream job #{job.id}")
    return embed


def job_marker(job_id: int) -> str:
    """The footer text that identifies a job's delivered result."""
    return f"neurostream job #{job_id}"
