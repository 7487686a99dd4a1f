"""Discord embeds for results and the recipe. The one render module that imports discord."""

from __future__ import annotations

import discord

from bot.domain.jobs import Job
from bot.domain.recipe import Recipe
from bot.render.texts import clip

EMBED_FIELD_LIMIT = 1024


def result_embed(job: Job, *, seconds: float | None, note: str = "") -> discord.Embed:
    """The compact embed under a result: prompt, negative, seed, size, steps and the rest."""
    recipe = job.recipe
    # In a themed channel the description is the user's own words; the theme's part is a field.
    words = recipe.prompt if recipe.user_prompt is None else recipe.user_prompt
    embed = discord.Embed(description=clip(words, 4000), colour=discord.Colour.blurple())
    if recipe.theme is not None:
        embed.add_field(name="Theme", value=clip(theme_text(recipe), EMBED_FIELD_LIMIT),
                        inline=False)
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
    if recipe.notes:
        embed.add_field(name="Theme notes",
                        value=clip("\n".join(f"• {n}" for n in recipe.notes), EMBED_FIELD_LIMIT),
                        inline=False)
    requester = job.requester
    who = f"<@{requester.user_id}>" if requester.user_id else requester.user_name
    took = f" · {seconds:.1f} s" if seconds is not None else ""
    embed.add_field(name="Requested by", value=f"{who}{took}", inline=False)
    if note:
        embed.add_field(name="Note", value=clip(note, EMBED_FIELD_LIMIT), inline=False)
    # The footer marks the message as this job's result: a restart looks for it before posting.
    embed.set_footer(text=f"neurostream job #{job.id}")
    return embed


def theme_text(recipe: Recipe) -> str:
    """"**cats** · a photo of a cat, … , soft light": the theme's part, "…" = the user's words."""
    parts = [part for part in (recipe.theme_prefix, "…", recipe.theme_suffix) if part]
    return f"**{recipe.theme}** · {', '.join(parts)}"


def theme_banner(recipe: Recipe) -> str:
    """The lines a waiting message starts with in a themed channel ("" elsewhere)."""
    if recipe.theme is None and not recipe.notes:
        return ""
    lines = [f"🎨 Theme {theme_text(recipe)}"] if recipe.theme is not None else []
    lines += [f"⚠️ {note}" for note in recipe.notes]
    return "\n".join(lines)


def job_marker(job_id: int) -> str:
    """The footer text that identifies a job's delivered result."""
    return f"neurostream job #{job_id}"
