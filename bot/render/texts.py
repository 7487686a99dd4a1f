"""Short texts users read while they wait. Pure: no discord, no torch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.lineage import Link, LinkKind
from bot.domain.recipe import Mode, Recipe

DISCORD_MESSAGE_LIMIT = 2000


def ordinal(n: int) -> str:
    """1 → 1st, 2 → 2nd, 11 → 11th, 23 → 23rd."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def duration(seconds: float) -> str:
    """A rough, friendly duration: 8 s, 40 s, 2 min, 1 h 5 min."""
    if seconds < 60:
        return f"{max(1, math.ceil(seconds))} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def position_text(position: int, eta_seconds: float | None) -> str:
    """"3rd in queue, about 40 s" (or "next in queue" for the first)."""
    place = "next in queue" if position == 1 else f"{ordinal(position)} in queue"
    if eta_seconds is None:
        return place
    return f"{place}, about {duration(eta_seconds)}"


def progress_text(step: int, total: int) -> str:
    """"step 7/25" with a small bar."""
    filled = round(10 * step / total) if total else 0
    return f"`{'█' * filled}{'░' * (10 - filled)}` step {step}/{total}"


def clip(text: str, limit: int = DISCORD_MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote_option(value: str) -> str:
    return " ".join(value.split())


def recipe_command(recipe: Recipe) -> str:
    """The ``/dream`` invocation that reproduces ``recipe``, ready to copy."""
    parts = [f"/dream prompt:{_quote_option(_own_words(recipe))}"]
    if recipe.negative:
        parts.append(f"negative:{_quote_option(recipe.negative)}")
    parts += [f"width:{recipe.width}", f"height:{recipe.height}"]
    return " ".join(parts + _settings(recipe))


def _own_words(recipe: Recipe) -> str:
    """The prompt to paste: a channel theme's words are left out, since the theme adds them
    again where the command is pasted (the merged negative is kept: merging is idempotent)."""
    return recipe.prompt if recipe.user_prompt is None else recipe.user_prompt


def _theme_note(recipe: Recipe) -> str:
    return (f"🎨 The theme {clip_escaped(recipe.theme or 'of its channel', 100)} added its words "
            "to this prompt: the command gives this image in a channel with that theme.")


def _settings(recipe: Recipe) -> list[str]:
    parts = [f"steps:{recipe.steps}", f"guidance:{recipe.guidance:g}"]
    if recipe.seed is not None:
        parts.append(f"seed:{recipe.seed}")
    parts.append(f"scheduler:{recipe.scheduler}")
    return parts


SOURCE_FILE = "source"  # the names the Recipe reply gives a job's input images (plus suffix)
MASK_FILE = "mask"


@dataclass(frozen=True, slots=True)
class RecipeText:
    """What reproduces a job: a command to copy (None when no command renders the job on its
    own) and notes in the bot's own words (what to attach, where the job came from)."""

    command: str | None
    notes: tuple[str, ...] = ()


def recipe_text(recipe: Recipe, parents: Sequence[Link] = (), *,
                files: Sequence[str] = ()) -> RecipeText:
    """The command that reproduces a job with ``recipe``, made from ``parents`` (its lineage
    links, first parent first): ``/dream`` for a prompt, ``/sketch``/``/inpaint`` for a job
    that starts from an image (which must be attached: ``files`` names the input images sent
    along, ``source``/``mask`` files), ``/vary`` for a variation; an upscale or a morph frame
    has no command of its own, and the notes say what makes it."""
    origin = parents[0] if parents else None
    if recipe.is_morph_frame:
        return RecipeText(None, (_morph_note(recipe, parents),))
    if recipe.mode is Mode.UPSCALE:
        return RecipeText(None, (_upscale_note(recipe, origin),))
    if (origin is not None and origin.kind is LinkKind.VARIATION
            and recipe.variation_seed is not None):
        command = (f"/vary job:{origin.parent_id} strength:{recipe.variation_strength:g} "
                   f"seed:{recipe.variation_seed}")
        return RecipeText(command, (f"A variation of job {origin.parent_id}: /vary renders it "
                                    "again from that job's recipe.",))
    notes: list[str] = []
    if recipe.mode is Mode.TXT2IMG:
        command = recipe_command(recipe)
    else:
        command, note = _image_command(recipe, files)
        notes.append(note)
        if origin is not None and origin.kind is LinkKind.ZOOM:
            notes.append(f"🔍 The zoom-out of job {origin.parent_id} (its image shrunk into a "
                         "canvas, the border masked); 🔍 Zoom out under that image makes "
                         "another.")
    if recipe.user_prompt is not None:
        notes.append(_theme_note(recipe))
    if recipe.variation_seed is not None:
        notes.append(f"⚠ {command.split()[0]} has no variation seed: this image's (seed "
                     f"{recipe.variation_seed}, strength {recipe.variation_strength:g}) comes "
                     "from the variation it was made from, and the command gives the image "
                     "without it.")
    return RecipeText(command, tuple(notes))


def _image_command(recipe: Recipe, files: Sequence[str]) -> tuple[str, str]:
    """``/sketch`` or ``/inpaint`` with the source image (and mask) to attach, and the note
    that says where those files are."""
    inpaint = recipe.mode is Mode.INPAINT
    source = next((name for name in files if name.startswith(SOURCE_FILE)), None)
    mask = next((name for name in files if name.startswith(MASK_FILE)), None)
    parts = ["/inpaint" if inpaint else "/sketch",
             f"image:<attach {source or 'the source image'}>"]
    if inpaint:
        parts.append(f"mask:<attach {mask or 'the mask'}>")
    parts.append(f"prompt:{_quote_option(_own_words(recipe))}")
    if recipe.strength is not None:
        parts.append(f"strength:{recipe.strength:g}")
    if recipe.negative:
        parts.append(f"negative:{_quote_option(recipe.negative)}")
    if not inpaint:  # /inpaint has no size: the result is the attached image's size
        parts += [f"width:{recipe.width}", f"height:{recipe.height}"]
    command = " ".join(parts + _settings(recipe))
    name = parts[0]
    if source and (mask or not inpaint):
        wanted = f"{source} as image: and {mask} as mask:" if inpaint else f"{source} as image:"
        note = (f"📎 {name} needs its files: attach {wanted} (attached here: what this job "
                "started from).")
    else:
        what = "the image and the mask" if inpaint else "the image"
        note = (f"📎 {name} needs {what} this job started from, attached; they could not be "
                "sent with this message.")
    return command, note


def _upscale_note(recipe: Recipe, origin: Link | None) -> str:
    if origin is None or origin.kind is not LinkKind.UPSCALE:
        return ("⬆ An upscale: no command renders it on its own; ⬆ Upscale under the image it "
                "was made from makes another.")
    job = origin.parent_id
    return (f"⬆ An upscale of job {job} (seed {recipe.seed}, strength {recipe.strength or 0:g}): "
            f"⬆ Upscale under job {job}'s image renders it again, as does `neurostream "
            f"upscale {job}` offline.")


def _morph_note(recipe: Recipe, parents: Sequence[Link]) -> str:
    ends = {link.position: link.parent_id for link in parents if link.kind is LinkKind.MORPH}
    where = f"{recipe.blend:.3g} of the way"
    if 0 in ends and 1 in ends:
        return (f"A frame of the morph from job {ends[0]} to job {ends[1]} ({where}): "
                f"/morph from:{ends[0]} to:{ends[1]} renders the whole morph again.")
    return f"A frame of a morph ({where}): /morph renders the whole morph again."


# -- showing user text safely ------------------------------------------------------------------
# Discord renders message content and embed text as markdown and parses mentions in content.
# User text (prompts, themes, names, pool entries) is escaped before it is shown, so it reads as
# typed: a backslash before each markdown character, a zero-width space after "@" (so no
# "@everyone", "@here" or "<@id>" is ever formed), and URLs kept from turning into links or
# previews. Every character escapes on its own (a "chunk"), so a clipped prefix of the chunks is
# still well escaped.

ELLIPSIS = "…"
ZERO_WIDTH_SPACE = "\u200b"
# Markdown anywhere in a line: emphasis, code, strike, spoiler, masked links, mentions/emoji/
# timestamps (all start with "<"), and the backslash itself.
_INLINE = frozenset("\\*_~`|[<")
# Markdown only at the start of a line: headers, quotes, lists ("-", "+", "*", "1.").
_LINE_START = frozenset("#>-+")


def escape_chunks(text: str) -> list[str]:
    """How each character of ``text`` is shown in Discord markdown, one entry per character."""
    chunks: list[str] = []
    at_line_start = True  # only spaces (and digits, for "1.") since the line began
    digits = False
    for index, char in enumerate(text):
        if char in _INLINE or (at_line_start and (char in _LINE_START or (digits and char == "."))):
            chunk = "\\" + char
        elif char == "@":
            chunk = "@" + ZERO_WIDTH_SPACE
        elif char == ":" and text.startswith("//", index + 1):
            chunk = "\\:"  # "https\://" is neither a link nor a preview
        else:
            chunk = char
        chunks.append(chunk)
        if char == "\n":
            at_line_start, digits = True, False
        elif char.isdigit() and at_line_start:
            digits = True
        elif not (char in " \t" and not digits):
            at_line_start = digits = False
    return chunks


def escape(text: str) -> str:
    """``text`` escaped for Discord markdown: shown as typed, never a mention or a link."""
    return "".join(escape_chunks(text))


def clip_chunks(chunks: Sequence[str], limit: int) -> str:
    """The longest run of whole ``chunks`` that fits ``limit`` characters, "…" marking a cut."""
    if sum(len(chunk) for chunk in chunks) <= limit:
        return "".join(chunks)
    kept: list[str] = []
    used = len(ELLIPSIS)
    for chunk in chunks:
        if used + len(chunk) > limit:
            break
        kept.append(chunk)
        used += len(chunk)
    return "".join(kept) + ELLIPSIS if limit >= len(ELLIPSIS) else ""


def clip_escaped(text: str, limit: int) -> str:
    """``text`` escaped and cut to ``limit`` characters between escapes."""
    return clip_chunks(escape_chunks(text), limit)


def share(lengths: Sequence[int], budget: int) -> list[int]:
    """How many characters each part keeps when together they may have ``budget``.

    The longest parts are trimmed first, down to a common level, so a short part (a name, a
    negative prompt) survives whole beside a long one. Each share is at most its length; the
    shares add up to ``min(sum(lengths), budget)``.
    """
    budget = max(0, budget)
    if sum(lengths) <= budget:
        return list(lengths)
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    shares = list(lengths)
    left = budget
    for rank, index in enumerate(order):
        rest = len(order) - rank
        if lengths[index] * rest <= left:
            left -= lengths[index]
            continue
        # This part and every longer one get the same level; the remainder goes to the longest.
        level, extra = divmod(left, rest)
        for offset, other in enumerate(order[rank:]):
            shares[other] = level + (1 if offset >= rest - extra else 0)
        break
    return shares


@dataclass(frozen=True, slots=True)
class UserText:
    """Text a user typed, inside a message: escaped, and trimmed first when space is short."""

    text: str
    limit: int | None = None  # the most this part may take, escaped (None: what its text may)


Segment = str | UserText


def fit_all(texts: Sequence[tuple[Sequence[Segment], int]], total: int) -> list[str]:
    """Fit several texts (an embed's description and field values), each within its own limit
    and all together within ``total``. In each, the bot's own words (plain strings, trusted
    markdown) stay whole; user texts are escaped, and the longest trimmed first, across all."""
    users: list[list[tuple[int, list[str]]]] = []
    caps: list[int] = []
    fixed_total = 0
    for segments, limit in texts:
        found = [(i, s, escape_chunks(s.text)) for i, s in enumerate(segments)
                 if isinstance(s, UserText)]
        fixed = sum(len(s) for s in segments if isinstance(s, str))
        wanted = [sum(map(len, chunks)) for _, _, chunks in found]
        caps += share([n if s.limit is None else min(n, s.limit)
                       for n, (_, s, _) in zip(wanted, found, strict=True)], limit - fixed)
        users.append([(i, chunks) for i, _, chunks in found])
        fixed_total += fixed
    allowed = iter(share(caps, total - fixed_total))
    fitted = []
    for (segments, limit), found_here in zip(texts, users, strict=True):
        out = [str(s) for s in segments]
        for index, chunks in found_here:
            out[index] = clip_chunks(chunks, next(allowed))
        fitted.append(clip("".join(out), limit))  # cuts only if the bot's own words are too long
    return fitted


def fit(segments: Sequence[Segment], limit: int = DISCORD_MESSAGE_LIMIT) -> str:
    """Join ``segments`` within ``limit`` characters (see ``fit_all``)."""
    return fit_all([(segments, limit)], limit)[0]


def join_lines(lines: Sequence[str], limit: int = DISCORD_MESSAGE_LIMIT, *,
               more: str = "… and {count} more") -> str:
    """Whole lines, as many as fit in ``limit``, and a last line saying how many were left."""
    best, used = "", -1  # "-1": the first line needs no newline before it
    for kept in range(len(lines) + 1):
        if kept == len(lines):
            return "\n".join(lines)
        tail = more.format(count=len(lines) - kept)
        if used + 1 + len(tail) <= limit:
            best = "\n".join([*lines[:kept], tail])
        used += 1 + len(lines[kept])
        if used > limit:
            break
    return best or clip(lines[0], limit)


def code_block(text: str, limit: int = DISCORD_MESSAGE_LIMIT) -> str:
    """``text`` in a code block of at most ``limit`` characters that no backtick inside it can
    close: a zero-width space follows each backtick (invisible, and dropped again when the text
    is pasted back into /dream)."""
    chunks = ["`" + ZERO_WIDTH_SPACE if char == "`" else char for char in text]
    return "```\n" + clip_chunks(chunks, limit - len("```\n\n```")) + "\n```"
