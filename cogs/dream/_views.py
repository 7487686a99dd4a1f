"""Buttons under a result and under a grid. State lives in the database; a custom_id holds only
the job id (``ns:<action>:<job id>``, far under Discord's 100 characters), so every button is
a persistent dynamic item that works the same after a restart.

Under a result (two rows): 🔁 Reroll · 🎲 Vary (Subtle) · 🎲 Vary (Strong) · ⬆ Upscale ·
🔍 Zoom out / ✏ Remix · 🗑 Delete · 📋 Recipe. Under a grid: U1–U4 (that cell at full size,
with these buttons) and V1–V4 (a subtle variation of that cell). Each child job is recorded
with its lineage (the tool service links it to its parent).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import discord

from bot.client.errors import report_error
from bot.client.requester import can_manage_messages, requester_from
from bot.domain.errors import UserError
from bot.domain.jobs import Job
from bot.domain.lineage import Link, LinkKind
from bot.domain.moderation import Action, Actor
from bot.domain.tools import VARY_STRONG, VARY_SUBTLE
from bot.render.texts import DISCORD_MESSAGE_LIMIT, clip, code_block, recipe_text
from bot.services.generation import Acknowledge
from bot.services.intake import Submitted

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot

Handler = Callable[[Any, discord.Interaction], Coroutine[Any, Any, None]]


def _reports_errors(callback: Handler) -> Handler:
    """Route a button's errors through the one error handler (views have their own path)."""
    @functools.wraps(callback)
    async def wrapper(self: Any, interaction: discord.Interaction) -> None:
        try:
            await callback(self, interaction)
        except Exception as error:
            await report_error(interaction, error)
    return wrapper


def _bot(interaction: discord.Interaction) -> NeurostreamBot:
    return interaction.client  # type: ignore[return-value]


async def _job(interaction: discord.Interaction, job_id: int) -> tuple[NeurostreamBot, Job]:
    """The job a button names, if it is this server's (a forged custom_id naming another
    server's job reads as unknown)."""
    bot = _bot(interaction)
    return bot, await bot.services.generation.job_for(job_id, interaction.guild_id)


async def start_tool(interaction: discord.Interaction,
                     call: Callable[[Acknowledge], Awaitable[list[Job]]]) -> None:
    """One tool-service call for a child job; its result follows like any other job's (a new
    message, answering the click)."""
    from cogs.dream._cog import start_jobs

    async def submit(acknowledge: Acknowledge) -> Submitted:
        return Submitted(await call(acknowledge))

    await start_jobs(_bot(interaction), interaction, submit)


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                template=r"ns:(?P<action>[a-z-]+):(?P<job>\d+)"):
    """The base of every button that acts on one job (its subclasses set their own template)."""

    action: ClassVar[str] = ""
    label: ClassVar[str] = ""
    emoji: ClassVar[str | None] = None
    style: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.secondary

    def __init__(self, job_id: int, *, label: str | None = None, row: int | None = None) -> None:
        super().__init__(discord.ui.Button(label=label or self.label, emoji=self.emoji,
                                           style=self.style, row=row,
                                           custom_id=f"ns:{self.action}:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str]) -> JobButton:
        """Rebuild the button from its custom_id (also after a restart)."""
        return cls(int(match["job"]))

    @_reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        """Act on the job."""
        await self.act(interaction)

    async def act(self, interaction: discord.Interaction) -> None:
        """What the button does."""
        raise NotImplementedError


class RerollButton(JobButton, template=r"ns:reroll:(?P<job>\d+)"):
    """🔁 The same recipe with a new seed, recorded as a child job."""

    action = "reroll"
    label = "Reroll"
    emoji = "🔁"
    style = discord.ButtonStyle.primary

    async def act(self, interaction: discord.Interaction) -> None:
        """Queue the parent's recipe with a fresh seed."""
        from cogs.dream._cog import job_request, start_job

        bot, parent = await _job(interaction, self.job_id)
        # The parent's recipe as it ran (themed already), with a new seed, as a child job.
        recipe = dataclasses.replace(parent.recipe, seed=None)
        await start_job(bot, interaction, job_request(
            interaction, recipe, links=(Link(parent.id, LinkKind.REROLL),)))


class VaryButton(JobButton, template=r"ns:vary-subtle:(?P<job>\d+)"):
    """🎲 A variation in latent space: the seed's noise moved a little towards a new seed's."""

    action = "vary-subtle"
    label = "Vary (Subtle)"
    emoji: ClassVar[str | None] = "🎲"
    strength: ClassVar[float] = VARY_SUBTLE

    async def act(self, interaction: discord.Interaction) -> None:
        """Queue a variation of the job."""
        tools = _bot(interaction).services.tools
        await start_tool(interaction, lambda acknowledge: tools.vary(
            self.job_id, requester_from(interaction), strength=self.strength,
            acknowledge=acknowledge))


class VaryStrongButton(VaryButton, template=r"ns:vary-strong:(?P<job>\d+)"):
    """🎲 A variation that keeps the palette and layout but redraws the subject."""

    action = "vary-strong"
    label = "Vary (Strong)"
    strength = VARY_STRONG


class GridVaryButton(VaryButton, template=r"ns:v:(?P<job>\d+)"):
    """V1–V4 under a grid: a subtle variation of that cell (its parent is the cell)."""

    action = "v"
    label = "V"
    emoji = None


class UpscaleButton(JobButton, template=r"ns:upscale:(?P<job>\d+)"):
    """⬆ Twice the size, with detail added by a low-strength image-to-image pass."""

    action = "upscale"
    label = "Upscale"
    emoji = "⬆️"

    async def act(self, interaction: discord.Interaction) -> None:
        """Queue the upscale."""
        tools = _bot(interaction).services.tools
        await start_tool(interaction, lambda acknowledge: tools.upscale(
            self.job_id, requester_from(interaction), acknowledge=acknowledge))


class ZoomOutButton(JobButton, template=r"ns:zoom:(?P<job>\d+)"):
    """🔍 The image shrunk into a 1.5× canvas whose border is painted in."""

    action = "zoom"
    label = "Zoom out"
    emoji = "🔍"

    async def act(self, interaction: discord.Interaction) -> None:
        """Queue the zoom-out."""
        tools = _bot(interaction).services.tools
        await start_tool(interaction, lambda acknowledge: tools.zoom_out(
            self.job_id, requester_from(interaction), acknowledge=acknowledge))


class RemixButton(JobButton, template=r"ns:remix:(?P<job>\d+)"):
    """✏ Edit the prompt (a form, prefilled) and render it from the same seed and size."""

    action = "remix"
    label = "Remix"
    emoji = "✏️"

    async def act(self, interaction: discord.Interaction) -> None:
        """Open the form; its answer is handled by ``handle_remix`` (also after a restart)."""
        from cogs.dream._remix import RemixModal

        tools = _bot(interaction).services.tools
        job = await tools.job(self.job_id, requester_from(interaction))
        modal = RemixModal(job.id, tools.recipe_of(job))
        await interaction.response.send_modal(modal)
        # Answered by the bot's interaction listener, which knows the form by its custom_id
        # alone: so an answer after a restart is not dropped as an unknown modal.
        modal.stop()


class DeleteButton(JobButton, template=r"ns:delete:(?P<job>\d+)"):
    """🗑 Delete the result: its requester or a member with Manage Messages."""

    action = "delete"
    label = "Delete"
    emoji = "🗑️"

    async def act(self, interaction: discord.Interaction) -> None:
        """Delete the message, or refuse ephemerally."""
        bot, job = await _job(interaction, self.job_id)
        own = interaction.user.id == job.requester.user_id
        if not own and not can_manage_messages(interaction):
            raise UserError("only the person who asked for this image or a member with Manage "
                            "Messages can delete it")
        await interaction.response.defer()
        if interaction.message is not None:
            await interaction.message.delete()
        # Galleries, /best, the star board and the wall leave a deleted image out; a
        # moderator deleting someone else's result is a moderator action, audited.
        await bot.services.party.forget(job.id, user_id=interaction.user.id)
        if not own and interaction.guild_id is not None:
            await bot.services.moderation.record(
                interaction.guild_id, Actor(interaction.user.id, interaction.user.name),
                Action.DELETE_RESULT, target=f"<@{job.requester.user_id}>",
                detail=f"job #{job.id}")


class RecipeButton(JobButton, template=r"ns:recipe:(?P<job>\d+)"):
    """📋 The command that reproduces the job, ready to paste (/dream, /sketch or /inpaint with
    the images to attach sent along, /vary), or what makes it (ephemeral)."""

    action = "recipe"
    label = "Recipe"
    emoji = "📋"

    async def act(self, interaction: discord.Interaction) -> None:
        """Show the recipe to the clicker only."""
        card = await _bot(interaction).services.tools.recipe_card(
            self.job_id, requester_from(interaction), limit=interaction.filesize_limit)
        recipe = card.job.recipe
        text = recipe_text(recipe, card.parents, files=[name for name, _ in card.files])
        files = [discord.File(io.BytesIO(data), filename=name) for name, data in card.files]
        # The notes are the bot's own words (job numbers, file names): no user text.
        tail = "\n".join([*text.notes, f"Model: `{clip(recipe.model, 200)}` · Sampler: "
                                        f"{recipe.sampler}"])
        command = text.command
        # A code block to copy; a backtick in the prompt cannot end it early.
        block = code_block(command, len(command) * 2 + 8) if command else ""
        if command is None or len(block) + len(tail) <= DISCORD_MESSAGE_LIMIT:
            await interaction.response.send_message(block + tail, ephemeral=True, files=files)
            return
        # Too long for a message (a raised prompt limit): the whole recipe comes as a file.
        tail = f"\n(cut: the whole recipe is in recipe.txt)\n{tail}"
        block = code_block(command, DISCORD_MESSAGE_LIMIT - len(tail))
        files.append(discord.File(io.BytesIO(command.encode()), filename="recipe.txt"))
        await interaction.response.send_message(block + tail, ephemeral=True, files=files)


class UpscaleCellButton(JobButton, template=r"ns:u:(?P<job>\d+)"):
    """U1–U4 under a grid: that cell at full size, with its own metadata and buttons."""

    action = "u"
    label = "U"

    async def act(self, interaction: discord.Interaction) -> None:
        """Post the cell as a result of its own."""
        from cogs.craft._views import post_cell

        await post_cell(interaction, self.job_id)


RESULT_ROWS: tuple[tuple[type[JobButton], ...], ...] = (
    (RerollButton, VaryButton, VaryStrongButton, UpscaleButton, ZoomOutButton),
    (RemixButton, DeleteButton, RecipeButton),
)
DYNAMIC_ITEMS: tuple[type[JobButton], ...] = (
    *(button for row in RESULT_ROWS for button in row), GridVaryButton, UpscaleCellButton)


def result_view(job: Job) -> discord.ui.View:
    """The persistent buttons under a result, in rows of at most 5."""
    view = discord.ui.View(timeout=None)
    for row, buttons in enumerate(RESULT_ROWS):
        for button in buttons:
            view.add_item(button(job.id, row=row))
    return view


def grid_view(cells: Sequence[Job | None]) -> discord.ui.View:
    """U1–U4 in the first row, V1–V4 in the second, for the cells that have an image (None:
    a cell that failed; the numbers are the cells' places in the grid)."""
    view = discord.ui.View(timeout=None)
    for place, job in enumerate(cells, 1):
        if job is None:
            continue
        view.add_item(UpscaleCellButton(job.id, label=f"U{place}", row=0))
        view.add_item(GridVaryButton(job.id, label=f"V{place}", row=1))
    return view
