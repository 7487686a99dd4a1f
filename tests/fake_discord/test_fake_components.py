"""Components (update/deferred update/select), resolved options, threads and context menus."""

from __future__ import annotations

import io
from typing import Any

import discord
import pytest
from discord.ext import commands

from tests.fake_discord import FakeDiscord, run_client
from tests.fake_discord.harness import World

pytestmark = pytest.mark.asyncio


class Panel(discord.ui.View):
    """Buttons answering with type 7 (update) and 6 (deferred update); a multi-select."""

    def __init__(self) -> None:
        """Short-lived (message-bound) view."""
        super().__init__(timeout=30)

    @discord.ui.button(label="Update", custom_id="upd")
    async def update(self, inter: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        """Callback type 7."""
        await inter.response.edit_message(content="updated", view=None)

    @discord.ui.button(label="Later", custom_id="later")
    async def later(self, inter: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        """Callback type 6, then PATCH @original (the component's message)."""
        await inter.response.defer()
        await inter.edit_original_response(content="edited later")

    @discord.ui.select(custom_id="pick", max_values=2,
                       options=[discord.SelectOption(label="a"), discord.SelectOption(label="b")])
    async def pick(self, inter: discord.Interaction, select: discord.ui.Select[Any]) -> None:
        """Callback type 4 with a file (multipart callback)."""
        await inter.response.send_message(f"picked {select.values}",
                                          file=discord.File(io.BytesIO(b"hello"), "h.txt"))


def make_bot(guild_id: int) -> commands.Bot:
    """A bot with a slash command taking member/channel/role options and a user context menu."""
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default(),
                       guild_ready_timeout=0.05)
    guild = discord.Object(guild_id)

    @bot.tree.command(name="who", description="Resolved options", guild=guild)
    async def who(inter: discord.Interaction, user: discord.Member, ch: discord.TextChannel,
                  role: discord.Role) -> None:
        where = getattr(inter.channel, "name", None)
        await inter.response.send_message(f"{user.name} {ch.name} {role.name} in {where}",
                                          view=Panel())
        followup = await inter.followup.send("temporary", wait=True)
        await followup.delete()

    @bot.tree.context_menu(name="Inspect", guild=guild)
    async def inspect(inter: discord.Interaction, member: discord.Member) -> None:
        await inter.response.send_message(f"inspect {member.name}", ephemeral=True)

    return bot


async def test_components_and_context_menu(fake: FakeDiscord, world: World) -> None:
    """Each component callback type lands on the right message; user context menu works."""
    role = fake.add_role(world.guild, "artists")
    thread = fake.add_thread(world.channel, "ideas")
    bot = make_bot(world.guild.id)
    async with run_client(fake, bot):
        await bot.tree.sync(guild=discord.Object(world.guild.id))
        cmd = await fake.send_command(world.guild, thread, world.alice, "who",
                                      {"user": world.alice, "ch": world.channel, "role": role})
        panel = await cmd.wait_original()
        assert panel.content == "alice cats artists in ideas"
        assert panel.custom_ids() == ["upd", "later", "pick"]
        (temp,) = await cmd.wait_followups(1)
        await fake.wait_for(lambda: temp.deleted, timeout=3)

        update = await fake.click(panel, "upd", world.alice)
        assert await update.wait_acked() == 7
        assert panel.content == "updated" and panel.components == []

        cmd2 = await fake.send_command(world.guild, world.channel, world.alice, "who",
                                       {"user": world.mod, "ch": world.channel, "role": role})
        panel2 = await cmd2.wait_original()
        later = await fake.click(panel2, "later", world.alice)
        assert await later.wait_acked() == 6
        await fake.wait_for(lambda: panel2.content == "edited later", timeout=3)

        picked = await fake.click(panel2, "pick", world.mod, values=["a", "b"])
        reply = await picked.wait_original()
        assert reply.content == "picked ['a', 'b']"
        assert [(a.filename, a.data) for a in reply.attachments] == [("h.txt", b"hello")]

        ctx = await fake.send_command(world.guild, world.channel, world.alice, "Inspect",
                                      target=world.mod)
        answer = await ctx.wait_original()
        assert (answer.content, answer.is_ephemeral, answer.type) == ("inspect mod", True, 23)
