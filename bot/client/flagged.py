"""Where an image the safety checker flagged may go, and what is said instead.

A flagged image is posted only in an age-restricted channel of a server that allows it
(``/safety nsfw allow``), and then as a spoiler. Anywhere else it is withheld: a notice takes its
place and the requester is told why, privately while the interaction token lives.

The channel's age restriction is read from the client's channel cache when the result is
delivered, not recorded with the request: what counts is the channel as it is when the image
would appear (a moderator may change it while the job waits, and stream jobs and jobs delivered
after a restart have no interaction to read it from). A channel the cache does not know counts
as not age-restricted.
"""

from __future__ import annotations

import discord

from bot.domain.jobs import Job

SPOILER_PREFIX = "SPOILER_"  # Discord blurs an attachment whose file name starts with this
FLAGGED_NOTE = "🔞 flagged by the safety checker: shown as a spoiler"


def age_restricted(client: discord.Client, channel_id: int | None) -> bool:
    """Whether the channel is age-restricted (a thread: its parent), by the client's cache."""
    if channel_id is None:
        return False
    channel = client.get_channel(channel_id)
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


def spoiler_name(filename: str) -> str:
    """``filename`` as a spoiler attachment's name."""
    return filename if filename.startswith(SPOILER_PREFIX) else SPOILER_PREFIX + filename


def withheld_reason(job: Job, *, channel_age_restricted: bool) -> str:
    """Why the requester's image is not shown (sent to them alone when possible)."""
    why = ("this server does not allow flagged images (someone with Manage Server can allow "
           "them in age-restricted channels with `/safety nsfw allow`)"
           if channel_age_restricted else "this channel is not age-restricted")
    return (f"🛡️ The model's safety checker flagged your image (job {job.id}), so it is not "
            f"posted: {why}. The file is kept on the server for its operator.")


def withheld_notice(job: Job, mention: str, *, reason: str | None) -> str:
    """The channel's notice in place of the image; ``reason`` when it could not be told
    privately (None: the requester is told privately)."""
    who = f"{mention} " if mention else ""
    tail = f"\n{reason}" if reason else ""
    return (f"🛡️ {who}job {job.id}: this image is withheld because the safety checker "
            f"flagged it.{tail}")
