"""Texts and embeds of parties, the star board, /best and /history (user text escaped, every
message within Discord's limits by construction)."""

from __future__ import annotations

import discord

from bot.domain.party import BoardEntry, Party, PartyRole, PartySummary, VotedImage
from bot.render.embeds import Field, fitted_embed
from bot.render.texts import UserText, duration, escape, fit, join_lines

PREVIEW_CHARS = 120  # a prompt in a list line


def _who(user_id: int | None, name: str) -> str:
    # A mention never pings (the client allows none) and shows the member's current name.
    return f"<@{user_id}>" if user_id else escape(name[:80] or "someone")


def _link(image: VotedImage) -> str:
    url = image.jump_url
    return f" · [open]({url})" if url else ""


def image_line(rank: int, image: VotedImage) -> str:
    """``1. ★ 3 · "two old people" · by @bob · open``, the prompt escaped and shortened."""
    words = fit([UserText(image.words, PREVIEW_CHARS)], PREVIEW_CHARS + 40)
    pick = " 🏅" if image.picked else ""
    return (f"{rank}. ★ {image.votes}{pick} · “{words}” · by "
            f"{_who(image.author_id, image.author_name)}{_link(image)}")


def started_text(party: Party) -> str:
    """What ``/party start`` answers, in public."""
    hours = (f" It ends by itself in {duration(party.ends_at - party.started_at)}."
             if party.ends_at else "")
    theme = " Its theme applies to every image here." if party.theme is not None else ""
    return fit(["🎉 A neurogenerative party starts here: **", UserText(party.topic, 200), "**\n",
                f"Prompt Master: {_who(party.started_by, '')}. Everything /dream makes in this "
                f"channel is part of it.{theme}{hours}\n"
                "Add words, styles and artists with `/party associate`, vote with ⭐ on the "
                "results; `/party end` publishes the gallery."])


def role_text(party: Party, role: PartyRole) -> str:
    """The answer to a role hand-over."""
    return (f"🎭 {_who(party.holder(role), party.role_names.get(role, ''))} is now the "
            f"{role.label} of this party.")


def board_text(party: Party, entries: list[BoardEntry]) -> str:
    """The association board: words grouped and counted, most given first."""
    head = fit(["🧠 Associations for **", UserText(party.topic, 200), "**"])
    if not entries:
        return head + "\nNo words yet: `/party associate words:` adds some."
    lines = [f"**{escape(entry.word)}** ×{entry.count}" + (
        f" ({entry.people} people)" if entry.people > 1 else "") for entry in entries]
    return join_lines([head, *lines])


def summary_embed(summary: PartySummary, note: str) -> discord.Embed:
    """``/party end``'s summary: topic, participants, images, duration, the top three."""
    party = summary.party
    people = ", ".join(summary.participants) or "nobody"
    fields: list[Field] = [
        ("Images", [str(len(summary.images))], True),
        ("Duration", [duration(summary.duration)], True),
        ("Participants", [str(len(summary.participants)), " · ", UserText(people)], False)]
    for rank, image in enumerate(summary.best, 1):
        pick = " 🏅" if image.picked else ""
        fields.append((f"#{rank} · ★ {image.votes}{pick} · job {image.job_id}",
                       ["“", UserText(image.words, 600), "” by ",
                        _who(image.author_id, image.author_name), _link(image)], False))
    if not summary.images:
        fields.append(("No images", ["Nothing was made during this party."], False))
    fields.append(("Gallery", [note], False))
    return fitted_embed(["🎉 **The party is over:** ", UserText(party.topic, 300)], fields,
                        footer=f"neurostream party #{party.id}")


def best_text(images: list[VotedImage], where: str, period: str) -> str:
    """``/best``: the results with the most votes."""
    if not images:
        return f"No voted results {where} ({period}) yet: press ⭐ under the ones you like."
    return join_lines([f"🏆 The best {where} ({period}):",
                       *(image_line(rank, image) for rank, image in enumerate(images, 1))])


def history_text(images: list[VotedImage]) -> str:
    """``/history``: someone's last results with jump links."""
    if not images:
        return "You have no results here yet: `/dream` makes one."
    lines = []
    for image in images:
        words = fit([UserText(image.words, PREVIEW_CHARS)], PREVIEW_CHARS + 40)
        when = f"<t:{int(image.finished_at or image.created_at)}:R>"
        lines.append(f"• job {image.job_id} · {when} · ★ {image.votes} · “{words}”"
                     f"{_link(image)}")
    return join_lines(["🕘 Your last results:", *lines])


def repost_embed(image: VotedImage, votes: int, filename: str | None) -> discord.Embed:
    """A star board repost: the prompt, its author, the votes and a link back."""
    link = f"[Jump to the original]({image.jump_url})" if image.jump_url else "original gone"
    embed = fitted_embed([UserText(image.words)],
                         [("By", [_who(image.author_id, image.author_name)], True),
                          ("Votes", [f"⭐ {votes}"], True), ("Original", [link], True)],
                         footer=f"neurostream star #{image.job_id}")
    if filename:
        embed.set_image(url=f"attachment://{filename}")
    return embed
