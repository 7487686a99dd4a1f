"""``/about``: anyone may ask what the bot is, what model it runs under which licence, what this
server's rules are, and where the source is."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.moderation import About, ServerRules
from bot.render.embeds import DESCRIPTION_LIMIT, FIELD_VALUE_LIMIT
from bot.render.texts import clip, clip_escaped

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


def rules_text(rules: ServerRules) -> str:
    """A server's rules in a few lines."""
    lines = [f"Blocklist: {rules.blocklist_rules} rule(s)"
             + (f" + the operator's {rules.default_rules}" if rules.default_rules else ""),
             f"Quotas: {rules.quotas.describe()} per person"
             + (f" ({rules.exempt_roles} role(s) exempt)" if rules.exempt_roles else ""),
             "Flagged images: " + ("spoilered in age-restricted channels" if rules.nsfw_allowed
                                   else "never posted")]
    return "\n".join(lines)


def about_embed(about: About) -> discord.Embed:
    """The ``/about`` embed; every part is bounded, so it fits Discord's limits."""
    licence = about.licence
    embed = discord.Embed(title=f"neurostream {clip(about.version, 40)}",
                          description=clip(licence.summary, DESCRIPTION_LIMIT))
    embed.add_field(name="Model", value=f"`{clip(about.model_id, 200).replace('`', 'ˋ')}`",
                    inline=False)
    name = clip_escaped(licence.name, 200)
    embed.add_field(name="Licence", value=clip(f"[{name}]({licence.url})" if licence.url
                                               else name, FIELD_VALUE_LIMIT), inline=False)
    if about.rules is not None:
        embed.add_field(name="This server's rules", value=rules_text(about.rules),
                        inline=False)
    embed.add_field(name="Source", value=clip(about.source_url, 500), inline=False)
    return embed


class AboutCog(commands.Cog):
    """What this bot is."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="about")
    async def about(self, interaction: discord.Interaction) -> None:
        """The bot's version, its model and licence, this server's rules, the source."""
        about = self.bot.services.moderation.about(interaction.guild_id)
        await interaction.response.send_message(embed=about_embed(about), ephemeral=True)
