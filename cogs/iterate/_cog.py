"""``/sketch`` (image-to-image), ``/inpaint``, ``/vary`` and ``/morph``: parse the options and
the attachments, make the one service call, and let the delivery show the jobs like any other
(a morph's frames as one message: the animation and the contact sheet).

Every refusal is the first, ephemeral answer: the attachment's declared size and type are
checked before it is read, and reading and checking its bytes ends within the intake's budget
(2 s), so even a file that is not an image is refused before the defer (Discord waits 3 s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.client.requester import requester_from
from bot.domain.images import DeclaredFile
from bot.domain.requests import DreamRequest
from bot.domain.tools import MORPH_FRAMES, MORPH_FRAMES_MAX, MORPH_FRAMES_MIN, VARY_SUBTLE
from bot.services.generation import Acknowledge
from bot.services.intake import Submitted, Upload
from cogs.dream._cog import SCHEDULER_CHOICES, declare_limits, job_request, start_jobs

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


def upload_of(attachment: discord.Attachment) -> Upload:
    """The interaction's own resolved attachment: what Discord declares, and its reader."""
    declared = DeclaredFile(filename=attachment.filename, size=attachment.size,
                            content_type=attachment.content_type, width=attachment.width,
                            height=attachment.height)
    return Upload(declared, attachment.read)


class IterateCog(commands.Cog):
    """Start from an image: redraw a sketch, repaint part of a picture."""

    def __init__(self, bot: NeurostreamBot) -> None:
        self.bot = bot
        if bot.app is not None:
            declare_limits(self.sketch, bot)
            declare_limits(self.inpaint, bot)

    @app_commands.command(name="sketch")
    @app_commands.describe(
        image="Your sketch or picture (PNG, JPEG or WebP)",
        prompt="What it should become",
        strength="How much to change it: 0.05 keeps it nearly as is, 1 redraws it (default 0.6)",
        negative="What to keep out of the image",
        width="Result width (default: the sketch's, a multiple of 8)",
        height="Result height (default: the sketch's, a multiple of 8)",
        steps="Denoising steps: more is slower and often finer",
        guidance="How closely to follow the prompt (CFG scale)",
        seed="Seed for a reproducible image (empty: random, shown with the result)",
        scheduler="Sampler",
    )
    @app_commands.choices(scheduler=SCHEDULER_CHOICES)
    async def sketch(self, interaction: discord.Interaction, image: discord.Attachment,
                     prompt: app_commands.Range[str, 1, 6000],
                     strength: app_commands.Range[float, 0.05, 1.0] | None = None,
                     negative: app_commands.Range[str, 0, 6000] | None = None,
                     width: app_commands.Range[int, 64, 4096] | None = None,
                     height: app_commands.Range[int, 64, 4096] | None = None,
                     steps: app_commands.Range[int, 1, 500] | None = None,
                     guidance: app_commands.Range[float, 0.0, 100.0] | None = None,
                     seed: app_commands.Range[int, 0, 2**32 - 1] | None = None,
                     scheduler: str | None = None) -> None:
        """Turn a sketch or a picture into a new image (image-to-image)."""
        request = job_request(interaction, DreamRequest(
            prompt=prompt, negative=negative, width=width, height=height, steps=steps,
            guidance=guidance, seed=seed, scheduler=scheduler))
        intake = self.bot.services.intake

        async def submit(acknowledge: Acknowledge) -> Submitted:
            return await intake.sketch(request, upload_of(image), strength=strength,
                                       acknowledge=acknowledge)

        await start_jobs(self.bot, interaction, submit)

    @app_commands.command(name="inpaint")
    @app_commands.describe(
        image="The picture; without a mask, its transparent pixels are repainted",
        prompt="What to paint in the masked area",
        mask="White = repaint, black = keep (same size as the image)",
        strength="How much to change the masked area: 1 paints it anew (default)",
        negative="What to keep out of the image",
        steps="Denoising steps: more is slower and often finer",
        guidance="How closely to follow the prompt (CFG scale)",
        seed="Seed for a reproducible image (empty: random, shown with the result)",
        scheduler="Sampler",
    )
    @app_commands.choices(scheduler=SCHEDULER_CHOICES)
    async def inpaint(self, interaction: discord.Interaction, image: discord.Attachment,
                      prompt: app_commands.Range[str, 1, 6000],
                      mask: discord.Attachment | None = None,
                      strength: app_commands.Range[float, 0.05, 1.0] | None = None,
                      negative: app_commands.Range[str, 0, 6000] | None = None,
                      steps: app_commands.Range[int, 1, 500] | None = None,
                      guidance: app_commands.Range[float, 0.0, 100.0] | None = None,
                      seed: app_commands.Range[int, 0, 2**32 - 1] | None = None,
                      scheduler: str | None = None) -> None:
        """Repaint part of a picture: the white of a mask, or its transparent pixels."""
        request = job_request(interaction, DreamRequest(
            prompt=prompt, negative=negative, steps=steps, guidance=guidance, seed=seed,
            scheduler=scheduler))
        intake = self.bot.services.intake

        async def submit(acknowledge: Acknowledge) -> Submitted:
            return await intake.inpaint(request, upload_of(image),
                                        upload_of(mask) if mask is not None else None,
                                        strength=strength, acknowledge=acknowledge)

        await start_jobs(self.bot, interaction, submit)

    @app_commands.command(name="vary")
    @app_commands.describe(
        job="The job number of the image (shown under it, or in /queue)",
        strength="How far from the image: 0 is the image itself, 0.1 subtle, 0.35 strong, 1 "
                 "the variation seed's own image (default 0.1)",
        seed="The variation seed (empty: random, shown with the result)",
    )
    async def vary(self, interaction: discord.Interaction,
                   job: app_commands.Range[int, 1, None],
                   strength: app_commands.Range[float, 0.0, 1.0] = VARY_SUBTLE,
                   seed: app_commands.Range[int, 0, 2**32 - 1] | None = None) -> None:
        """A variation of an image: its starting noise moved towards a new seed's."""
        tools = self.bot.services.tools

        async def submit(acknowledge: Acknowledge) -> Submitted:
            return Submitted(await tools.vary(job, requester_from(interaction),
                                              strength=strength, variation_seed=seed,
                                              acknowledge=acknowledge))

        await start_jobs(self.bot, interaction, submit)

    @app_commands.command(name="morph")
    @app_commands.rename(start="from", end="to")
    @app_commands.describe(
        start="The job number of the first image",
        end="The job number of the last image (same size, steps and sampler)",
        frames=f"How many frames, both ends included ({MORPH_FRAMES_MIN}-{MORPH_FRAMES_MAX}, "
               f"default {MORPH_FRAMES})",
    )
    async def morph(self, interaction: discord.Interaction,
                    start: app_commands.Range[int, 1, None],
                    end: app_commands.Range[int, 1, None],
                    frames: app_commands.Range[int, MORPH_FRAMES_MIN, MORPH_FRAMES_MAX]
                    = MORPH_FRAMES) -> None:
        """Morph one image into another: an animation through latent space, and its frames."""
        tools = self.bot.services.tools

        async def submit(acknowledge: Acknowledge) -> Submitted:
            return Submitted(await tools.morph(start, end, requester_from(interaction),
                                               frames=frames, acknowledge=acknowledge))

        await start_jobs(self.bot, interaction, submit)
