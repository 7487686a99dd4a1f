"""``/blocklist``, ``/quota``, ``/mod`` and ``/safety``: moderators' commands. Each is hidden from
members without its permission (``default_member_permissions``) and checked again when used,
since a server's admins can open a command to anyone."""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, ClassVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.blocklist import RULE_MAX_CHARS
from bot.domain.errors import UserError
from bot.domain.moderation import (
    REASON_MAX_CHARS,
    Actor,
    check_reason,
    nsfw_setting,
    parse_span,
    quoted,
)
from bot.domain.quotas import QUOTA_MAX
from bot.render.texts import clip_escaped
from cogs.moderation._render import (
    LIST_PREVIEW,
    blocklist_file,
    blocklist_text,
    denial_text,
    log_text,
    quota_text,
    recent_text,
)

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


def require(interaction: discord.Interaction, permission: str) -> None:
    """Refuse (MissingPermissions → an ephemeral reply) a member without ``permission``."""
    permissions = interaction.permissions
    if not (getattr(permissions, permission) or permissions.administrator):
        raise app_commands.MissingPermissions([permission])


def server_of(interaction: discord.Interaction) -> int:
    """The server a moderator command is used in."""
    if interaction.guild_id is None:
        raise UserError("moderation belongs to a server; use this in one")
    return interaction.guild_id


def actor_of(interaction: discord.Interaction) -> Actor:
    """The moderator, as the audit log names them."""
    return Actor(interaction.user.id, interaction.user.display_name)


class ModeratorCog(commands.GroupCog):
    """A command group only members with ``permission`` may use (checked on every use)."""

    permission: ClassVar[str]  # each group names its own

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # type: ignore[override]
        """Every command of the group needs the group's permission."""
        require(interaction, self.permission)
        return True


@app_commands.guild_only()
@app_commands.default_permissions(manage_messages=True)
class BlocklistCog(ModeratorCog, group_name="blocklist",
                   group_description="Words, phrases and patterns this server's prompts may "
                                     "not contain"):
    """A server's blocklist (Manage Messages)."""

    permission = "manage_messages"

    @app_commands.command(name="add")
    @app_commands.describe(rule="A word or phrase (whole words, tricks like c.a.t or c4t "
                                "caught), or re:pattern for a regular expression")
    async def add(self, interaction: discord.Interaction,
                  rule: app_commands.Range[str, 1, RULE_MAX_CHARS]) -> None:
        """Refuse prompts (and negative prompts) that match a rule."""
        guild_id = server_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)  # a regex is timed
        added = await self.bot.services.moderation.add_rule(guild_id, rule,
                                                            actor_of(interaction))
        kind = "pattern" if added.is_regex else "rule"
        await interaction.followup.send(f"🚫 Added the {kind} {quoted(added.text)}.",
                                        ephemeral=True)

    @app_commands.command(name="remove")
    @app_commands.describe(rule="The rule as listed by /blocklist list")
    async def remove(self, interaction: discord.Interaction,
                     rule: app_commands.Range[str, 1, RULE_MAX_CHARS]) -> None:
        """Remove a rule from this server's blocklist."""
        guild_id = server_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self.bot.services.moderation.remove_rule(guild_id, rule,
                                                                 actor_of(interaction))
        await interaction.followup.send(f"Removed {quoted(removed.text)}.", ephemeral=True)

    @app_commands.command(name="list")
    async def list_(self, interaction: discord.Interaction) -> None:
        """Show this server's blocklist."""
        guild_id = server_of(interaction)
        moderation = self.bot.services.moderation
        rules = moderation.blocklist(guild_id)
        text = blocklist_text(rules, moderation.default_blocklist(guild_id))
        if sum(len(quoted(rule.text)) + 1 for rule in rules) <= LIST_PREVIEW:
            await interaction.response.send_message(text, ephemeral=True)
            return
        await interaction.response.send_message(
            text, ephemeral=True,
            file=discord.File(io.BytesIO(blocklist_file(rules).encode()), "blocklist.txt"))

    @app_commands.command(name="defaults")
    @app_commands.describe(enabled="Whether the bot operator's default list applies here "
                                   "(Manage Server)")
    async def defaults(self, interaction: discord.Interaction, enabled: bool) -> None:
        """Turn the operator's default blocklist on or off for this server."""
        require(interaction, "manage_guild")
        guild_id = server_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.services.moderation.set_default_blocklist(guild_id, enabled,
                                                                 actor_of(interaction))
        await interaction.followup.send(
            f"The operator's default blocklist is now {'on' if enabled else 'off'} here.",
            ephemeral=True)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class QuotaCog(ModeratorCog, group_name="quota",
               group_description="How many images one person may ask for"):
    """A server's quotas (Manage Server)."""

    permission = "manage_guild"

    @app_commands.command(name="set")
    @app_commands.describe(per_minute="Images per person per minute (0: no limit)",
                           per_hour="Images per person per hour (0: no limit)",
                           per_day="Images per person per day (0: no limit)")
    async def set_(self, interaction: discord.Interaction,
                   per_minute: app_commands.Range[int, 0, QUOTA_MAX] | None = None,
                   per_hour: app_commands.Range[int, 0, QUOTA_MAX] | None = None,
                   per_day: app_commands.Range[int, 0, QUOTA_MAX] | None = None) -> None:
        """Set how many images one person may ask for here."""
        guild_id = server_of(interaction)
        if per_minute is None and per_hour is None and per_day is None:
            limits = self.bot.services.moderation.quotas(guild_id)
            await interaction.response.send_message(quota_text(limits, changed=False),
                                                    ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        limits = await self.bot.services.moderation.set_quotas(
            guild_id, actor_of(interaction), per_minute=per_minute, per_hour=per_hour,
            per_day=per_day)
        await interaction.followup.send(quota_text(limits), ephemeral=True)

    @app_commands.command(name="exempt")
    @app_commands.describe(role="Members with this role are not limited",
                           exempt="False: the role is limited again")
    async def exempt(self, interaction: discord.Interaction, role: discord.Role,
                     exempt: bool = True) -> None:
        """Exempt a role from the quotas (or end the exemption)."""
        guild_id = server_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        changed = await self.bot.services.moderation.set_exempt(
            guild_id, role.id, role.name, actor_of(interaction), exempt=exempt)
        name = clip_escaped(role.name, 100)
        if exempt:
            text = f"Members with {name} are not limited by quotas" + ("." if changed else
                                                                        " (already so).")
        else:
            text = f"Members with {name} are limited again" + ("." if changed else
                                                               " (they were not exempt).")
        await interaction.followup.send(text, ephemeral=True)


@app_commands.guild_only()
@app_commands.default_permissions(manage_messages=True)
class ModCog(ModeratorCog, group_name="mod",
             group_description="Moderators: who may make images, and what they made"):
    """Moderator tools (Manage Messages)."""

    permission = "manage_messages"

    @app_commands.command(name="deny")
    @app_commands.describe(member="Who may not make images here",
                           reason="Why (shown to them when they try)",
                           duration="How long: 30m, 2h, 7d, 1w (empty: until /mod allow)")
    async def deny(self, interaction: discord.Interaction, member: discord.User,
                   reason: app_commands.Range[str, 0, REASON_MAX_CHARS] | None = None,
                   duration: app_commands.Range[str, 1, 20] | None = None) -> None:
        """Stop a member from making images in this server."""
        guild_id = server_of(interaction)
        check_reason(reason)  # bad options are refused before acknowledging
        if duration:
            parse_span(duration)
        await interaction.response.defer(ephemeral=True, thinking=True)
        denial = await self.bot.services.moderation.deny(
            guild_id, member.id, member.display_name, actor_of(interaction), reason=reason,
            duration=duration)
        await interaction.followup.send(denial_text(member.display_name, denial, time.time()),
                                        ephemeral=True)

    @app_commands.command(name="allow")
    @app_commands.describe(member="Who may make images here again")
    async def allow(self, interaction: discord.Interaction, member: discord.User) -> None:
        """Let a denied member make images again."""
        guild_id = server_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        was_denied = await self.bot.services.moderation.allow(
            guild_id, member.id, member.display_name, actor_of(interaction))
        name = clip_escaped(member.display_name, 100)
        await interaction.followup.send(
            f"✅ {name} may make images here again." if was_denied
            else f"{name} was not denied here.", ephemeral=True)

    @app_commands.command(name="recent")
    @app_commands.describe(member="Whose latest requests to show")
    async def recent(self, interaction: discord.Interaction, member: discord.User) -> None:
        """A member's latest requests here, with links to them."""
        guild_id = server_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        jobs = await self.bot.services.moderation.recent(guild_id, member.id)
        await interaction.followup.send(recent_text(member.display_name, jobs), ephemeral=True)

    @app_commands.command(name="log")
    async def log(self, interaction: discord.Interaction) -> None:
        """The latest moderator actions in this server."""
        guild_id = server_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        entries = await self.bot.services.moderation.log(guild_id)
        await interaction.followup.send(log_text(entries), ephemeral=True)


NSFW_CHOICES = [app_commands.Choice(name="allow (spoilered, age-restricted channels only)",
                                    value="allow"),
                app_commands.Choice(name="deny (never posted)", value="deny")]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SafetyCog(ModeratorCog, group_name="safety",
                group_description="What happens to images the safety checker flags"):
    """The server's safety setting (Manage Server)."""

    permission = "manage_guild"

    @app_commands.command(name="nsfw")
    @app_commands.describe(setting="allow: a flagged image is posted as a spoiler in "
                                   "age-restricted channels; deny: never")
    @app_commands.choices(setting=NSFW_CHOICES)
    async def nsfw(self, interaction: discord.Interaction, setting: str) -> None:
        """Whether images the safety checker flags may be posted in age-restricted channels."""
        guild_id = server_of(interaction)
        allowed = nsfw_setting(setting)
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.services.moderation.set_nsfw(guild_id, allowed, actor_of(interaction))
        text = ("Flagged images may now be posted as spoilers in age-restricted channels."
                if allowed else "Flagged images are never posted here now.")
        await interaction.followup.send(text, ephemeral=True)
