"""Neurogenerative parties, votes and the star board.

A party belongs to one channel: while it runs, every generation there joins its job group and
its theme applies (``party_in``, asked by the one door). Votes work on any result (the star
board counts them outside parties too); a result reaching a server's threshold is reposted
exactly once — the database's claim decides, so racing votes cannot post twice. Ending a party
publishes its gallery (``bot.render.gallery``) into the output folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from PIL import Image

from bot.config import Settings
from bot.domain.errors import UserError
from bot.domain.lineage import GroupKind, Link, LinkKind
from bot.domain.party import (
    BoardEntry,
    Party,
    PartyRole,
    PartySummary,
    TreeNode,
    VotedImage,
    board,
    build_tree,
    check_hours,
    check_may_end,
    check_may_hand_on,
    check_may_pick,
    check_may_refine,
    clean_topic,
    participants,
    period_seconds,
    prompt_suggestions,
    split_associations,
    starboard_threshold,
)
from bot.domain.themes import Theme
from bot.render.gallery import build_gallery
from bot.render.tree import tree_png
from bot.services.themes import ThemeService
from bot.storage.database import Database
from bot.storage.lineage import LineageRepository
from bot.storage.party import PartyAlreadyRunning, PartyRepository

log = logging.getLogger(__name__)

_T = TypeVar("_T")
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
LIST_LIMIT = 10


@dataclass(frozen=True, slots=True)
class Vote:
    """After a ⭐ press: whether the presser's vote counts now, and the image's count."""

    voted: bool
    count: int


@dataclass(frozen=True, slots=True)
class Repost:
    """A result to repost on a star board (claimed: it is posted once, by whoever gets this)."""

    image: VotedImage
    channel_id: int
    votes: int
    data: bytes | None  # the result's file (None: gone from disk)
    filename: str


Reposter = Callable[[Repost], Awaitable[int | None]]


@dataclass(frozen=True, slots=True)
class Published:
    """A party's gallery files; ``attach`` is the one under the upload limit (None: neither)."""

    html_path: Path
    zip_path: Path | None
    attach: Path | None


@dataclass(frozen=True, slots=True)
class PartyEnd:
    """What ``/party end`` posts: the summary and where the gallery went."""

    summary: PartySummary
    published: Published


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


class PartyService:
    """Parties, votes, picks, the star board, /best and /history."""

    def __init__(self, parties: PartyRepository, lineage: LineageRepository,
                 themes: ThemeService | None, *, output_dir: Path,
                 default_threshold: int = 3, clock: Callable[[], float] = time.time) -> None:
        self._parties = parties
        self._lineage = lineage
        self._themes = themes
        self.gallery_dir = output_dir / "parties"
        self.default_threshold = default_threshold
        self.clock = clock
        self._running: dict[int, Party] = {}  # by channel
        self._expired: list[Party] = []  # over, replaced by a new party, not yet published
        self._words: dict[int, list[str]] = {}  # a running party's board, by party
        self._starboards: dict[int, tuple[int, int]] = {}
        # Reading results and building galleries and trees, off the loop on one thread.
        self._files = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurostream-party")
        self.reposter: Reposter | None = None  # set by the cog that posts to Discord

    async def load(self) -> None:
        """Read the running parties and the star boards (once, at start)."""
        for party in await self._parties.running():
            self._running[party.channel_id] = party
            self._words[party.id] = [e.word for e in board(await self._parties.associations(
                party.id))]
        self._starboards = await self._parties.starboards()

    def close(self) -> None:
        """Stop the file thread."""
        self._files.shutdown(wait=True)

    async def _off_loop(self, work: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._files, work)

    # -- what the one door and the result buttons ask (in memory) ------------------------------

    def party_in(self, channel_id: int | None) -> Party | None:
        """The party running in a channel, if any."""
        party = self._running.get(channel_id) if channel_id is not None else None
        return party if party is not None and party.running(self.clock()) else None

    def suggestions(self, channel_id: int | None, typed: str) -> list[str]:
        """``/dream`` prompt autocomplete during a party: the board's words."""
        party = self.party_in(channel_id)
        return prompt_suggestions(typed, self._words.get(party.id, [])) if party else []

    def votes_here(self, guild_id: int | None, channel_id: int | None) -> bool:
        """Whether results there get a ⭐ button (a party runs there, or a star board is set)."""
        return self.party_in(channel_id) is not None or guild_id in self._starboards

    # -- a party's life ------------------------------------------------------------------------

    async def start(self, *, guild_id: int | None, channel_id: int, topic: str,
                    hours: float | None, theme: str | None, user_id: int,
                    user_name: str) -> Party:
        """Start a party in a channel; the starter is its Prompt Master."""
        topic = clean_topic(topic)
        hours = check_hours(hours)
        party_theme = self._theme(theme, topic) if theme else None
        if self.party_in(channel_id) is not None:
            raise UserError("a party is already running here; /party end ends it first")
        stale = self._running.pop(channel_id, None)
        if stale is not None:  # past its hours, not yet ended by the timer: it still publishes
            await self._parties.end(stale.id, ended_by=None, at=stale.ends_at or self.clock())
            self._expired.append(stale)
        group = await self._lineage.add_group(GroupKind.PARTY, guild_id=guild_id,
                                              channel_id=channel_id, created_by=user_id,
                                              title=topic, commit=False)
        now = self.clock()
        try:
            party = await self._parties.add(
                guild_id=guild_id, channel_id=channel_id, topic=topic, theme=party_theme,
                group_id=group.id, started_by=user_id, started_by_name=user_name,
                ends_at=now + hours * 3600 if hours else None, started_at=now)
        except PartyAlreadyRunning:
            raise UserError("a party is already running here; /party end ends it first") from None
        await self._lineage.update_group(group.id, data={"party_id": party.id})
        self._running[channel_id] = party
        self._words[party.id] = []
        return party

    def _theme(self, text: str, topic: str) -> Theme:
        # A preset's name takes the preset; any other text is the prefix of a theme of its own.
        if self._themes is not None:
            presets = self._themes.catalog.presets
            if text.strip().lower() in presets:
                return presets[text.strip().lower()].theme
            return self._themes.build(text, name=f"party: {topic}"[:100])
        return Theme(prefix=text, name=f"party: {topic}"[:100])

    def _here(self, channel_id: int | None) -> Party:
        party = self.party_in(channel_id)
        if party is None:
            raise UserError("no party is running here; /party start topic: starts one")
        return party

    async def hand_on(self, channel_id: int | None, *, member_id: int, member_name: str,
                      role: str, actor_id: int, moderator: bool) -> Party:
        """Give a party role to a member (its previous holder loses it)."""
        party = self._here(channel_id)
        try:
            wanted = PartyRole(role)
        except ValueError:
            raise UserError(f"role must be prompt_master or art_expert, got {role!r}") from None
        check_may_hand_on(party, actor_id, wanted, moderator=moderator)
        await self._parties.set_role(party.id, wanted, member_id, member_name,
                                     granted_by=actor_id)
        return await self._refresh(party)

    async def _refresh(self, party: Party) -> Party:
        fresh = await self._parties.get(party.id)
        assert fresh is not None
        if fresh.ended_at is None:
            self._running[fresh.channel_id] = fresh
        return fresh

    async def associate(self, channel_id: int | None, words: str, *, user_id: int,
                        user_name: str) -> list[BoardEntry]:
        """Add associations to the running party; returns the board."""
        party = self._here(channel_id)
        await self._parties.add_associations(party.id, split_associations(words),
                                             user_id=user_id, user_name=user_name)
        entries = board(await self._parties.associations(party.id))
        self._words[party.id] = [entry.word for entry in entries]
        return entries

    async def _party_for_view(self, channel_id: int) -> Party:
        # The running party, else the channel's last one (its board and tree stay viewable).
        party = self.party_in(channel_id) or await self._parties.latest_in(channel_id)
        if party is None:
            raise UserError("there has been no party here; /party start topic: starts one")
        return party

    async def board(self, channel_id: int) -> tuple[Party, list[BoardEntry]]:
        """The association board of the channel's party."""
        party = await self._party_for_view(channel_id)
        return party, board(await self._parties.associations(party.id))

    async def tree(self, channel_id: int) -> tuple[Party, list[TreeNode], bytes]:
        """The channel's party tree: its roots and the picture (PNG)."""
        party = await self._party_for_view(channel_id)
        images = await self._parties.images(party)
        roots = await self._tree(images)
        if not images:
            raise UserError("the party has no images yet: /dream something first")

        def draw() -> bytes:
            thumbs: dict[int, Image.Image | None] = {}
            for image in images:
                data = _read(image.output_path)
                thumbs[image.job_id] = _thumbnail(data) if data else None
            return tree_png(roots, thumbs)

        return party, roots, await self._off_loop(draw)

    async def _tree(self, images: list[VotedImage]) -> list[TreeNode]:
        links = await self._lineage.parents_of([image.job_id for image in images])
        return build_tree([(image.job_id, image.words) for image in images], links)

    async def end(self, channel_id: int | None, *, actor_id: int | None, moderator: bool,
                  upload_limit: int = DEFAULT_UPLOAD_LIMIT,
                  acknowledge: Callable[[], Awaitable[object]] | None = None) -> PartyEnd:
        """End the channel's party: the summary, and the gallery published. A refusal comes
        before ``acknowledge`` (Discord's defer: publishing takes a while)."""
        party = self._running.get(channel_id) if channel_id is not None else None
        if party is None:
            raise UserError("no party is running here")
        if actor_id is not None:
            check_may_end(party, actor_id, moderator=moderator)
        if acknowledge is not None:
            await acknowledge()
        return await self._finish(party, actor_id, upload_limit)

    def due(self) -> list[Party]:
        """Running parties past their hours (the cog's timer ends them)."""
        now = self.clock()
        return [*self._expired, *(p for p in self._running.values()
                                  if p.ends_at is not None and p.ends_at <= now)]

    async def end_due(self, party: Party, upload_limit: int = DEFAULT_UPLOAD_LIMIT) -> PartyEnd:
        """End a party whose hours are over."""
        return await self._finish(party, None, upload_limit)

    async def _finish(self, party: Party, actor_id: int | None, upload_limit: int) -> PartyEnd:
        now = self.clock()
        await self._parties.end(party.id, ended_by=actor_id, at=now)  # no-op if it was
        running = self._running.get(party.channel_id)
        if running is not None and running.id == party.id:
            del self._running[party.channel_id]
        self._expired = [p for p in self._expired if p.id != party.id]
        self._words.pop(party.id, None)
        ended = await self._parties.get(party.id)
        assert ended is not None
        summary, published = await self._publish(ended, self.gallery_dir, upload_limit)
        return PartyEnd(summary, published)

    async def record_summary(self, party_id: int, message_id: int) -> None:
        """Remember the summary's message."""
        await self._parties.set_summary_message(party_id, message_id)

    async def export(self, party_id: int, out_dir: Path,
                     upload_limit: int = DEFAULT_UPLOAD_LIMIT) -> Published:
        """Rebuild a party's gallery from the database into ``out_dir`` (the CLI)."""
        party = await self._parties.get(party_id)
        if party is None:
            raise UserError(f"there is no party #{party_id} in this database")
        return (await self._publish(party, out_dir, upload_limit))[1]

    async def _publish(self, party: Party, out_dir: Path, upload_limit: int
                       ) -> tuple[PartySummary, Published]:
        images = await self._parties.images(party)
        associations = await self._parties.associations(party.id)
        others = [(a.user_id, a.user_name) for a in associations]
        others += [(party.roles[role], party.role_names.get(role, "")) for role in party.roles]
        summary = PartySummary(party, tuple(images), participants(images, others),
                               ended_at=party.ended_at or self.clock())
        roots = await self._tree(images)
        entries = board(associations)

        def write() -> Published:
            gallery = build_gallery(summary, roots, entries, lambda i: _read(i.output_path),
                                    limit=upload_limit)
            out_dir.mkdir(parents=True, exist_ok=True)
            html_path = out_dir / f"party-{party.id}.html"
            html_path.write_bytes(gallery.html)
            zip_path = None
            if gallery.zip is not None:
                zip_path = html_path.with_suffix(".zip")
                zip_path.write_bytes(gallery.zip)
            attach = html_path if gallery.fits else (
                zip_path if gallery.zip is not None and len(gallery.zip) <= upload_limit
                else None)
            return Published(html_path, zip_path, attach)

        return summary, await self._off_loop(write)

    # -- refinements, votes, picks, deletions ---------------------------------------------------

    async def refine_links(self, channel_id: int | None, user_id: int,
                           parent_job_id: int) -> tuple[Link, ...]:
        """The links of a ``/dream … refines:<job>`` (during a party, only its Prompt Master
        may mark one); UserError if the job is not a finished result."""
        check_may_refine(self.party_in(channel_id), user_id)
        if await self._parties.image(parent_job_id) is None:
            raise UserError(f"refines: job {parent_job_id} is not a finished image here")
        return (Link(parent_job_id, LinkKind.REFINE),)

    async def vote(self, job_id: int, user_id: int) -> Vote:
        """⭐: one vote per person per image, pressing again takes it back. Reaching the
        server's star board threshold reposts the image there, once."""
        image = await self._parties.image(job_id)
        if image is None and await self._parties.is_flagged(job_id):
            raise UserError("the safety checker flagged this image, so it takes no votes "
                            "(and never reaches the star board)")
        if image is None:
            raise UserError("this image is gone, so it cannot get votes")
        voted, count = await self._parties.toggle_vote(job_id, user_id)
        board_of = self._starboards.get(image.guild_id) if image.guild_id else None
        if voted and board_of is not None and count >= board_of[1]:
            channel_id = board_of[0]
            if await self._parties.claim_starboard(job_id, guild_id=image.guild_id,
                                                   channel_id=channel_id):
                await self._repost(image, channel_id, count)
        return Vote(voted, count)

    async def _repost(self, image: VotedImage, channel_id: int, count: int) -> None:
        if self.reposter is None:
            return  # claimed; posted at the next start (resume_reposts)
        data = await self._off_loop(lambda: _read(image.output_path))
        name = Path(image.output_path).name if image.output_path else f"{image.job_id}.png"
        try:
            message_id = await self.reposter(Repost(image, channel_id, count, data, name))
        except Exception:
            log.exception("reposting job %d on the star board failed", image.job_id)
            return
        if message_id is not None:
            await self._parties.record_starboard_message(image.job_id, message_id)

    async def resume_reposts(self) -> None:
        """Post claimed reposts that never got their message (a crash in between)."""
        for job_id, channel_id in await self._parties.unposted_starboard():
            image = await self._parties.image(job_id)
            if image is not None:
                await self._repost(image, channel_id, image.votes)

    async def pick(self, job_id: int, user_id: int) -> bool:
        """🏅 The Art Expert picks a party image (pressing again takes it back)."""
        party = check_may_pick(await self._parties.of_job(job_id), user_id)
        return await self._parties.toggle_pick(party.id, job_id, user_id=user_id)

    async def forget(self, job_id: int, *, user_id: int | None) -> None:
        """A result was deleted: galleries, /best and the wall leave it out from now on."""
        await self._parties.mark_deleted(job_id, deleted_by=user_id)

    # -- the star board, /best, /history --------------------------------------------------------

    async def set_starboard(self, guild_id: int, channel_id: int, threshold: int | None, *,
                            user_id: int) -> int:
        """Set a server's star board; returns the threshold in force."""
        value = starboard_threshold(threshold if threshold is not None
                                    else self.default_threshold)
        await self._parties.set_starboard(guild_id, channel_id, value, set_by=user_id)
        self._starboards[guild_id] = (channel_id, value)
        return value

    async def best(self, guild_id: int, *, channel_id: int | None = None,
                   period: str = "week") -> list[VotedImage]:
        """The server's (or a channel's) results with the most votes in a period."""
        seconds = period_seconds(period)
        since = self.clock() - seconds if seconds is not None else None
        return await self._parties.best(guild_id, channel_id=channel_id, since=since,
                                        limit=LIST_LIMIT)

    async def history(self, user_id: int, guild_id: int | None) -> list[VotedImage]:
        """Someone's last results, newest first."""
        return await self._parties.history(user_id, guild_id=guild_id, limit=LIST_LIMIT)


def _thumbnail(data: bytes) -> Image.Image | None:
    with contextlib.suppress(OSError, Image.DecompressionBombError), Image.open(
            io.BytesIO(data)) as image:
        image.thumbnail((128, 128))
        return image.convert("RGB")
    return None


@contextlib.asynccontextmanager
async def open_parties(settings: Settings) -> AsyncIterator[PartyService]:
    """Parties on the configured database without the model or the queue (the CLI's export)."""
    database = await Database.open(settings.database_path)
    service = PartyService(PartyRepository(database), LineageRepository(database), None,
                           output_dir=settings.output_dir,
                           default_threshold=settings.starboard.threshold)
    try:
        yield service
    finally:
        service.close()
        await database.close()
