"""What the message of a labelled grid (``/styles``, ``/xy``) says: what it is, its seed, how
many cells are done, the channel's theme. User text is escaped and everything fits Discord."""

from __future__ import annotations

import discord

from bot.domain.lineage import GroupKind
from bot.render.embeds import fitted_embed, group_marker, waiting_text
from bot.render.texts import DISCORD_MESSAGE_LIMIT, Segment, UserText, fit
from bot.services.craft import Grid, GridImage

KIND_NAMES = {GroupKind.STYLES: "Style grid", GroupKind.XY: "X/Y plot"}


def labelled_text(grid: Grid, image: GridImage | None, detail: str = "") -> str:
    """The grid's words; ``detail`` follows an unfinished grid's count ("step 3/20", the place
    in the queue)."""
    first = grid.jobs[0].recipe
    seeds = {job.recipe.seed for job in grid.jobs}
    seed = f" · seed {first.seed}" if len(seeds) == 1 and first.seed is not None else ""
    done = image.done if image is not None else 0
    total = len(grid.jobs)
    if image is not None and image.finished:
        failed = f" ({image.failed} failed)" if image.failed else ""
        status = f"✅ {total} cells{failed}{seed} · a button posts a cell at full size"
    else:
        status = f"🎨 {done}/{total} cells{seed}" + (f" · {detail}" if detail else "")
    kind = KIND_NAMES.get(grid.kind, "Grid")
    segments: list[Segment] = [f"**{kind}** · ", UserText(grid.title, 300), "\n", status]
    return waiting_text(first, fit(segments, DISCORD_MESSAGE_LIMIT // 2))


def labelled_embed(grid: Grid, image: GridImage) -> discord.Embed:
    """The embed of the finished grid; its footer marks the group's message (so a restart
    finds it in the channel instead of posting it twice)."""
    requester = grid.jobs[0].requester
    who: Segment = (f"<@{requester.user_id}>" if requester.user_id
                    else UserText(requester.user_name or "someone", 100))
    # labelled_text is escaped and fitted already: it goes in as the bot's own words.
    return fitted_embed([labelled_text(grid, image)], [("Requested by", [who], False)],
                        footer=group_marker(grid.group_id or grid.jobs[0].id, grid.kind))
