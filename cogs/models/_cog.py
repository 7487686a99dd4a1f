"""``/models``: every model with its defaults and constraints, and the installed LoRAs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.models import ModelSpec
from bot.domain.recipe import scheduler_display_name
from bot.render.embeds import DESCRIPTION_LIMIT, FIELD_VALUE_LIMIT
from bot.render.texts import clip_escaped, join_lines

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


def model_line(spec: ModelSpec, *, default: bool) -> str:
    """One model in a line or two: name, defaults, the few-step constraints, its description."""
    defaults = spec.defaults
    sampler = scheduler_display_name(defaults.scheduler)
    steps = f"{defaults.steps} step" + ("s" if defaults.steps != 1 else "")
    parts = [f"{defaults.width}×{defaults.height}", steps, f"CFG {defaults.guidance:g}",
             sampler + (" (always)" if spec.fixed_scheduler else "")]
    if spec.turbo:
        parts.append("Turbo: 1-4 steps, no guidance")
    else:
        if spec.step_range is not None:
            parts.append(f"steps {_span(spec.step_range)}")
        if spec.guidance_range is not None:
            parts.append(f"CFG {_span(spec.guidance_range)}")
    name = f"**{clip_escaped(spec.name, 100)}**" + (" (default)" if default else "")
    line = f"{name}: {' · '.join(parts)}"
    if spec.description:
        line += f"\n  {clip_escaped(spec.description, 200)}"
    return line


def _span(pair: tuple[float, float]) -> str:
    low, high = pair
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


def models_embed(specs: Sequence[ModelSpec], loras: Sequence[str]) -> discord.Embed:
    """The ``/models`` embed; every part is bounded, so it fits Discord's limits."""
    lines = [model_line(spec, default=index == 0) for index, spec in enumerate(specs)]
    embed = discord.Embed(title="Models",
                          description=join_lines(lines, DESCRIPTION_LIMIT,
                                                 more="… and {count} more models"))
    if loras:
        tags = [f"`<lora:{name.replace('`', 'ˋ')[:80]}:1>`" for name in loras]
        embed.add_field(name=f"LoRAs ({len(loras)}): put a tag in your prompt",
                        value=join_lines(tags, FIELD_VALUE_LIMIT,
                                         more="… and {count} more (type <lora: in a prompt)"),
                        inline=False)
    else:
        embed.add_field(name="LoRAs", value="none installed", inline=False)
    embed.set_footer(text="Pick one with /dream model:. A channel's theme may choose its own.")
    return embed


class ModelsCog(commands.Cog):
    """What this bot can render with."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="models")
    async def models(self, interaction: discord.Interaction) -> None:
        """The models this bot renders with, their defaults, and the LoRAs for prompts."""
        generation = self.bot.services.generation
        specs = [generation.model(name) for name in generation.model_names()]
        await interaction.response.send_message(
            embed=models_embed(specs, generation.lora_names()), ephemeral=True)
