"""A real discord.py commands.Bot against FakeDiscord: slash commands, components, modals."""

from __future__ import annotations

import asyncio
import hashlib
import io
import struct
import zlib
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fake_discord import FakeDiscord, Upload, run_client
from tests.fake_discord.harness import World

pytestmark = pytest.mark.asyncio


def make_png(width: int, height: int) -> bytes:
    """A valid RGB PNG."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\x80\x20\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


class PersistentView(discord.ui.View):
    """A view that survives restarts (timeout=None, fixed custom_id)."""

    def __init__(self) -> None:
        """No timeout, so it can be registered with add_view()."""
        super().__init__(timeout=None)

    @discord.ui.button(label="OK", custom_id="persist:ok")
    async def ok(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        """Answer ephemerally with the clicker's name."""
        await interaction.response.send_message(f"clicked by {interaction.user.name}",
                                                ephemeral=True)


class NameModal(discord.ui.Modal, title="Name it"):
    """A one-field modal."""

    name: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Name", custom_id="name")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Echo the submitted value."""
        await interaction.response.send_message(f"named {self.name.value}")


class SampleBot(commands.Bot):
    """A bot with a handful of guild commands; handler outcomes land in ``results``."""

    def __init__(self, guild_id: int, *, persistent: bool = False) -> None:
        """Register commands for one guild."""
        super().__init__(command_prefix="!", intents=discord.Intents.default(),
                         guild_ready_timeout=0.05)
        self.guild_obj = discord.Object(guild_id)
        self.persistent = persistent
        self.results: dict[str, Any] = {}
        self.release = asyncio.Event()
        self.resumed = asyncio.Event()
        self._add_commands()

    async def setup_hook(self) -> None:
        """Re-register the persistent view on start, like a real bot after a restart."""
        if self.persistent:
            self.add_view(PersistentView())

    async def on_resumed(self) -> None:
        """Remember that the gateway session was resumed."""
        self.resumed.set()

    def _add_commands(self) -> None:
        """Define the app commands."""
        tree, guild = self.tree, self.guild_obj

        @tree.command(name="dream", description="Render a prompt", guild=guild)
        async def dream(inter: discord.Interaction, prompt: str, width: int = 512) -> None:
            self.results["dream"] = (prompt, width, inter.filesize_limit)
            await inter.response.defer(thinking=True)
            png = make_png(4, 3)
            out = discord.File(io.BytesIO(png), "out.png")
            await inter.edit_original_response(content=f"done: {prompt}", attachments=[out])

        @tree.command(name="slow", description="Answers too late", guild=guild)
        async def slow(inter: discord.Interaction) -> None:
            await asyncio.sleep(3.2)
            try:
                await inter.response.send_message("late")
            except discord.HTTPException as exc:
                self.results["slow"] = exc

        @tree.command(name="twice", description="Acks twice", guild=guild)
        async def twice(inter: discord.Interaction) -> None:
            await inter.response.send_message("one", ephemeral=True)
            try:
                await inter.response.defer()
            except discord.InteractionResponded:
                self.results["twice.lib"] = True
            route = f"/interactions/{inter.id}/{inter.token}/callback"
            async with aiohttp.ClientSession() as session:
                url = discord.http.Route.BASE + route
                async with session.post(url, json={"type": 5}) as resp:
                    self.results["twice"] = (resp.status, await resp.json())

        @tree.command(name="later", description="Edits after a signal", guild=guild)
        async def later(inter: discord.Interaction) -> None:
            await inter.response.defer()
            await self.release.wait()
            try:
                await inter.edit_original_response(content="too late")
            except discord.HTTPException as exc:
                self.results["later"] = exc

        @tree.command(name="upload", description="Hash an image", guild=guild)
        async def upload(inter: discord.Interaction, image: discord.Attachment) -> None:
            data = await image.read()
            await inter.response.send_message(
                f"{image.filename} {image.size} {hashlib.sha256(data).hexdigest()[:12]}")

        @tree.command(name="form", description="Opens a modal", guild=guild)
        async def form(inter: discord.Interaction) -> None:
            await inter.response.send_modal(NameModal())

        @tree.command(name="think", description="Defer then follow up", guild=guild)
        async def think(inter: discord.Interaction) -> None:
            await inter.response.defer(ephemeral=True, thinking=True)
            await inter.followup.send("first")
            await inter.followup.send("second", ephemeral=True)

        theme = app_commands.Group(name="theme", description="Themes", guild_ids=[guild.id])

        @theme.command(name="set", description="Pick a theme")
        async def theme_set(inter: discord.Interaction, name: str, strength: float = 0.5) -> None:
            await inter.response.send_message(f"theme={name} strength={strength}")

        @theme_set.autocomplete("name")
        async def theme_complete(inter: discord.Interaction, current: str) -> list[Any]:
            names = ["cats", "castles", "dogs"]
            return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]

        tree.add_command(theme)


def make_bot(world: World, *, persistent: bool = False) -> SampleBot:
    """Build the sample bot for the world's guild (run it with run_client)."""
    return SampleBot(world.guild.id, persistent=persistent)


async def test_slash_defer_edit_png(fake: FakeDiscord, world: World) -> None:
    """Sync, slash command, defer (type 5), then PATCH @original with a PNG (multipart)."""
    async with run_client(fake, make_bot(world)) as bot:
        await bot.tree.sync(guild=bot.guild_obj)
        names = {c["name"] for c in fake.commands(world.guild)}
        assert {"dream", "slow", "theme", "upload"} <= names
        conn = fake.gateway.connections[0]  # discord.py's default transport compression
        assert conn.query["compress"] in ("zlib-stream", "zstd-stream") and conn.encoder

        inter = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                        {"prompt": "cat", "width": 256})
        assert await inter.wait_acked(timeout=3) == 5
        msg = await inter.wait_original()
        assert bot.results["dream"] == ("cat", 256, fake.attachment_limit)
        assert msg.content == "done: cat" and not inter.is_ephemeral
        assert msg.history[0]["flags"] == 128  # the deferred "thinking" state
        (att,) = msg.attachments
        assert (att.filename, att.content_type, att.width, att.height) == ("out.png", "image/png",
                                                                           4, 3)
        async with aiohttp.ClientSession() as session, session.get(att.url) as resp:
            assert resp.status == 200 and await resp.read() == att.data
        patch = fake.requests_matching("PATCH", r"/messages/@original$")[-1]
        assert patch.files[0]["filename"] == "out.png" and patch.status == 200
        assert fake.channel_messages(world.channel) == [msg]


async def test_late_ack_gets_10062(fake: FakeDiscord, world: World) -> None:
    """A first response 3.2 s after dispatch is refused with 404 / 10062."""
    async with run_client(fake, make_bot(world)) as bot:
        await bot.tree.sync(guild=bot.guild_obj)
        inter = await fake.send_command(world.guild, world.channel, world.alice, "slow")
        err = await fake.wait_for(lambda: bot.results.get("slow"), timeout=6)
        assert isinstance(err, discord.NotFound) and err.code == 10062
        assert not inter.acked


async def test_double_ack_and_expired_token(fake: FakeDiscord, world: World) -> None:
    """Second callback → 400/40060; webhook use after token expiry → 401/50027."""
    async with run_client(fake, make_bot(world)) as bot:
        await bot.tree.sync(guild=bot.guild_obj)
        inter = await fake.send_command(world.guild, world.channel, world.alice, "twice")
        status, body = await fake.wait_for(lambda: bot.results.get("twice"), timeout=3)
        assert (status, body["code"]) == (400, 40060) and bot.results["twice.lib"]
        assert inter.is_ephemeral and inter.original is not None

        later = await fake.send_command(world.guild, world.channel, world.alice, "later")
        await later.wait_acked()
        fake.advance(15 * 60 + 1)
        bot.release.set()
        err = await fake.wait_for(lambda: bot.results.get("later"), timeout=3)
        assert err.status == 401 and err.code == 50027


async def test_followup_after_defer_fills_loading_message(fake: FakeDiscord, world: World) -> None:
    """The first follow-up after a thinking defer edits it (keeping ephemeral); later ones add."""
    async with run_client(fake, make_bot(world)) as bot:
        await bot.tree.sync(guild=bot.guild_obj)
        inter = await fake.send_command(world.guild, world.channel, world.alice, "think")
        (second,) = await inter.wait_followups(1)
        original = await inter.wait_original()
        assert original.content == "first" and original.is_ephemeral
        assert second.content == "second" and second.is_ephemeral
        assert fake.channel_messages(world.channel) == []


async def test_subcommand_autocomplete_and_attachment(fake: FakeDiscord, world: World) -> None:
    """Subcommand options are typed from the schema; autocomplete; attachment option download."""
    async with run_client(fake, make_bot(world)) as bot:
        await bot.tree.sync(guild=bot.guild_obj)
        choices = await fake.autocomplete(world.guild, world.channel, world.alice,
                                          ("theme", "set"), {"name": "ca"}, focused="name")
        assert [c["value"] for c in choices] == ["cats", "castles"]

        inter = await fake.send_command(world.guild, world.channel, world.alice, "theme set",
                                        {"name": "cats", "strength": 1})
        assert (await inter.wait_original()).content == "theme=cats strength=1.0"
        with pytest.raises(ValueError, match="unknown option"):
            await fake.send_command(world.guild, world.channel, world.alice, "theme set",
                                    {"nope": 1})

        png = make_png(8, 8)
        up = await fake.send_command(world.guild, world.channel, world.alice, "upload",
                                     {"image": Upload("in.png", png)})
        msg = await up.wait_original()
        assert msg.content == f"in.png {len(png)} {hashlib.sha256(png).hexdigest()[:12]}"


async def test_modal_round_trip(fake: FakeDiscord, world: World) -> None:
    """The bot opens a modal (type 9); submitting it reaches the Modal's on_submit."""
    async with run_client(fake, make_bot(world)) as bot:
        await bot.tree.sync(guild=bot.guild_obj)
        opened = await fake.send_command(world.guild, world.channel, world.alice, "form")
        assert await opened.wait_acked() == 9 and opened.modal is not None
        submitted = await fake.submit_modal(opened, {"name": "Whiskers"})
        assert (await submitted.wait_original()).content == "named Whiskers"


async def test_persistent_view_after_restart(fake: FakeDiscord, world: World) -> None:
    """A button posted by one client process works through a freshly started client."""
    async with run_client(fake, make_bot(world)) as bot:
        channel = bot.get_channel(world.channel.id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("press", view=PersistentView())
    # discord.py's Client.close() puts close code 4000 on the wire (see README), so the old
    # session stays resumable; the restarted client IDENTIFYs anew anyway.
    assert not fake.connected and not fake.sessions[0].invalid

    async with run_client(fake, make_bot(world, persistent=True)):
        assert fake.gateway.ready_count == 2
        click = await fake.click(fake.get_message(sent.id), "persist:ok", world.alice)
        assert await click.wait_acked() == 4
        reply = await click.wait_original()
        assert reply.content == "clicked by alice" and reply.is_ephemeral
        assert reply.interaction_meta is not None
        assert reply.interaction_meta["interacted_message_id"] == str(sent.id)
