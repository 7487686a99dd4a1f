"""Discord embeds for results and the recipe. The one render module that imports discord.

Every embed is built to fit Discord's limits (a message over them is refused with 400/50035):
the bot's own words stay whole, user text is escaped and the longest parts trimmed first, and
the footer marker (``neurostream job #N``, how a restart finds a delivered result) always stays.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.domain.jobs import Job
from bot.domain.lineage import JobGroup
from bot.domain.recipe import Recipe
from bot.render.texts import DISCORD_MESSAGE_LIMIT, Segment, UserText, fit, fit_all

# Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-limits).
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELD_COUNT_LIMIT = 25
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
EMBED_FIELD_LIMIT = FIELD_VALUE_LIMIT  # the older name

Field = tuple[str, list[Segment], bool]  # name (the bot's own words), value, inline


def result_embed(job: Job, *, seconds: float | None, note: str = "") -> discord.Embed:
    """The compact embed under a result: prompt, negative, seed, size, steps and the rest."""
    recipe = job.recipe
    # In a themed channel the description is the user's own words; the theme's part is a field.
    words = recipe.prompt if recipe.user_prompt is None else recipe.user_prompt
    fields: list[Field] = []
    if recipe.theme is not None:
        fields.append(("Theme", theme_segments(recipe), False))
    if recipe.negative:
        fields.append(("Negative", [UserText(recipe.negative)], False))
    fields += [("Seed", [str(recipe.seed)], True),
               ("Size", ["{}×{}".format(*recipe.output_size)], True),  # an inpaint's own
               ("Steps", [str(recipe.steps)], True),
               ("Guidance", [f"{recipe.guidance:g}"], True),
               ("Sampler", [recipe.sampler], True),
               ("Model", [UserText(recipe.model, 200)], True)]
    if recipe.strength is not None and recipe.mode.value != "txt2img":
        fields.append(("Strength", [f"{recipe.strength:g}"], True))
    if recipe.notes:
        fields.append(("Theme notes", _note_segments(recipe.notes, "• "), False))
    requester = job.requester
    # A mention in an embed never pings; it shows who asked.
    who: Segment = (f"<@{requester.user_id}>" if requester.user_id
                    else UserText(requester.user_name or "someone", 100))
    took = f" · {seconds:.1f} s" if seconds is not None else ""
    fields.append(("Requested by", [who, took], False))
    if note:
        fields.append(("Note", [note], False))
    return fitted_embed([UserText(words)], fields, footer=job_marker(job.id))


def grid_embed(jobs: Sequence[Job], group_id: int, *, done: Sequence[int]) -> discord.Embed:
    """The embed under a ``/dream count:`` grid: the shared recipe, each cell's seed, and what
    the U and V buttons do. ``done`` are the cells that have an image."""
    first = jobs[0]
    recipe = first.recipe
    words = recipe.prompt if recipe.user_prompt is None else recipe.user_prompt
    fields: list[Field] = []
    if recipe.theme is not None:
        fields.append(("Theme", theme_segments(recipe), False))
    if recipe.negative:
        fields.append(("Negative", [UserText(recipe.negative)], False))
    seeds = " · ".join(f"{index}: {job.recipe.seed}" for index, job in enumerate(jobs, 1))
    fields += [("Seeds", [seeds], False),
               ("Size", [f"{recipe.width}×{recipe.height}"], True),
               ("Steps", [str(recipe.steps)], True),
               ("Guidance", [f"{recipe.guidance:g}"], True),
               ("Sampler", [recipe.sampler], True),
               ("Model", [UserText(recipe.model, 200)], True)]
    failed = [(index, job) for index, job in enumerate(jobs, 1) if job.id not in done]
    for index, job in failed:
        if job.flagged:  # its file is kept; the grid shows a placeholder
            fields.append((f"Image {index} withheld", ["the safety checker flagged it"], False))
            continue
        fields.append((f"Image {index} failed", [UserText(job.error or job.state.value, 300)],
                       False))
    requester = first.requester
    who: Segment = (f"<@{requester.user_id}>" if requester.user_id
                    else UserText(requester.user_name or "someone", 100))
    fields.append(("Requested by", [who], False))
    fields.append(("Buttons", ["U: that image at full size, with its recipe · "
                               "V: a subtle variation of it"], False))
    return fitted_embed([UserText(words)], fields, footer=group_marker(group_id, "grid"))


def morph_embed(jobs: Sequence[Job], group: JobGroup, *, done: Sequence[int]) -> discord.Embed:
    """The embed under a ``/morph``: its two ends, the frames, and where each frame's recipe
    is (every frame is a job of its own, so any one can be rendered again)."""
    first, last = jobs[0], jobs[-1]
    recipe = first.recipe
    ends = [f"job {group.data.get('from', '?')} → job {group.data.get('to', '?')}"]
    fields: list[Field] = [
        ("From", [UserText(first.recipe.prompt)], False),
        ("To", [UserText(last.recipe.blend_prompt or last.recipe.prompt)], False),
        ("Frames", [f"{len(done)} of {len(jobs)} · jobs {first.id}–{last.id}"], True),
        ("Size", [f"{recipe.width}×{recipe.height}"], True),
        ("Steps", [str(recipe.steps)], True),
        ("Model", [UserText(recipe.model, 200)], True)]
    failed = [(index, job) for index, job in enumerate(jobs, 1) if job.id not in done]
    for index, job in failed[:5]:
        fields.append((f"Frame {index} failed", [UserText(job.error or job.state.value, 300)],
                       False))
    requester = first.requester
    who: Segment = (f"<@{requester.user_id}>" if requester.user_id
                    else UserText(requester.user_name or "someone", 100))
    fields.append(("Requested by", [who], False))
    return fitted_embed(["🎞️ Morph · ", *ends], fields, footer=group_marker(group.id, "morph"))


def minimal_group_embed(group_id: int, kind: str) -> discord.Embed:
    """The smallest embed that still marks a grid or a morph (what a refused one falls back
    to)."""
    return fitted_embed(["Each image's recipe is kept with its own job."], [],
                        footer=group_marker(group_id, kind))


def minimal_embed(job: Job) -> discord.Embed:
    """The smallest embed that still marks a result: what a refused result falls back to."""
    return fitted_embed(["The full recipe is in the image's metadata."], [],
                        footer=job_marker(job.id))


def fitted_embed(description: list[Segment], fields: list[Field], *,
                 footer: str) -> discord.Embed:
    """An embed within every Discord limit whatever the user texts hold (see module doc)."""
    fields = fields[:FIELD_COUNT_LIMIT]
    names = [name[:FIELD_NAME_LIMIT] for name, _, _ in fields]
    footer = footer[:FOOTER_LIMIT]
    budget = EMBED_TOTAL_LIMIT - len(footer) - sum(map(len, names))
    description_text, *values = fit_all(
        [(description, DESCRIPTION_LIMIT), *((value, FIELD_VALUE_LIMIT) for _, value, _ in fields)],
        budget)
    embed = discord.Embed(description=description_text or None, colour=discord.Colour.blurple())
    for name, value, (_, _, inline) in zip(names, values, fields, strict=True):
        # Discord refuses an empty value; only a budget smaller than the fields could empty one.
        embed.add_field(name=name, value=value or "…", inline=inline)
    embed.set_footer(text=footer)
    return embed


def theme_segments(recipe: Recipe) -> list[Segment]:
    """"**cats** · a photo of a cat, …, soft light": the theme's part, "…" = the user's words."""
    parts: list[Segment] = [UserText(part) if part != "…" else part
                            for part in (recipe.theme_prefix, "…", recipe.theme_suffix) if part]
    joined: list[Segment] = []
    for index, part in enumerate(parts):
        joined += [", ", part] if index else [part]
    return ["**", UserText(recipe.theme or "", 100), "** · ", *joined]


def _note_segments(notes: tuple[str, ...], bullet: str) -> list[Segment]:
    # Notes can quote the user's words (the part of a prompt past the 77-token window).
    segments: list[Segment] = []
    for index, note in enumerate(notes):
        segments += [("\n" if index else "") + bullet, UserText(note)]
    return segments


def waiting_text(recipe: Recipe, status: str) -> str:
    """The waiting message: the channel's theme and the notes (if any) above ``status``.

    It is public message content, so user text in it is escaped and the whole fits a message;
    the status line always stays whole.
    """
    segments: list[Segment] = []
    if recipe.theme is not None:
        segments += ["🎨 Theme ", *theme_segments(recipe), "\n"]
    if recipe.notes:
        segments += [*_note_segments(recipe.notes, "⚠️ "), "\n"]
    return fit([*segments, status], DISCORD_MESSAGE_LIMIT)


def job_marker(job_id: int) -> str:
    """The footer text that identifies a job's delivered result."""
    return f"neurostream job #{job_id}"


def group_marker(group_id: int, kind: str) -> str:
    """The footer text that identifies a delivered group message (``grid``, ``morph``)."""
    return f"neurostream {kind} #{group_id}"
