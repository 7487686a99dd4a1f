"""Neurogenerative parties: roles, associations, votes, ranking and the exploration tree.

Pure: who may do what, how the association board groups and counts, how results rank (best
first), and the tree of a party's images built from their links. No I/O, no Discord.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from bot.domain.a1111 import format_parameters
from bot.domain.errors import UserError, ValidationError
from bot.domain.lineage import Link, LinkKind
from bot.domain.recipe import Recipe
from bot.domain.text import normalise_text
from bot.domain.themes import Theme

TOPIC_MAX = 200
HOURS_MAX = 72.0
ASSOCIATION_MAX = 100  # characters of one association (a word, a style, an artist)
ASSOCIATIONS_PER_CALL = 10
AUTOCOMPLETE_LIMIT = 25
CHOICE_MAX = 100  # Discord's limit on an autocomplete choice's name and value
PERIODS: dict[str, float | None] = {"day": 86400.0, "week": 7 * 86400.0,
                                    "month": 30 * 86400.0, "all": None}


class PartyRole(StrEnum):
    """The two roles of a party (one holder each; everyone else co-creates)."""

    PROMPT_MASTER = "prompt_master"
    ART_EXPERT = "art_expert"

    @property
    def label(self) -> str:
        """How the role is named to people."""
        return "Prompt Master" if self is PartyRole.PROMPT_MASTER else "Art Expert"


@dataclass(frozen=True, slots=True)
class Party:
    """One party in one channel: its topic, optional theme, roles and its job group."""

    id: int
    guild_id: int | None
    channel_id: int
    topic: str
    group_id: int
    started_by: int | None
    started_at: float
    ends_at: float | None = None
    theme: Theme | None = None
    ended_at: float | None = None
    ended_by: int | None = None
    roles: Mapping[PartyRole, int] = field(default_factory=dict)
    role_names: Mapping[PartyRole, str] = field(default_factory=dict)

    def running(self, now: float) -> bool:
        """Whether the party still runs at ``now`` (not ended, not past its hours)."""
        return self.ended_at is None and (self.ends_at is None or now < self.ends_at)

    def holder(self, role: PartyRole) -> int | None:
        """Who holds ``role`` (None: nobody)."""
        return self.roles.get(role)

    def roles_of(self, user_id: int | None) -> frozenset[PartyRole]:
        """The roles a member holds in this party."""
        return frozenset(role for role, holder in self.roles.items() if holder == user_id)


class PartyLookup(Protocol):
    """What the one door asks: the party running in a channel, if any (cheap, in memory)."""

    def party_in(self, channel_id: int | None) -> Party | None:
        """The running party of ``channel_id``."""
        ...


# -- who may do what ----------------------------------------------------------------------------

def check_may_hand_on(party: Party, actor_id: int, role: PartyRole, *, moderator: bool) -> None:
    """The Prompt Master (or a moderator) hands on either role; the Art Expert hands on theirs.

    Raises UserError naming who may.
    """
    held = party.roles_of(actor_id)
    if moderator or PartyRole.PROMPT_MASTER in held or (
            role is PartyRole.ART_EXPERT and PartyRole.ART_EXPERT in held):
        return
    raise UserError(f"only the Prompt Master or a moderator can hand on the {role.label} role")


def check_may_end(party: Party, actor_id: int, *, moderator: bool) -> None:
    """Only the Prompt Master or a moderator ends a party."""
    if not moderator and party.holder(PartyRole.PROMPT_MASTER) != actor_id:
        raise UserError("only the Prompt Master or a moderator (Manage Messages) can end the "
                        "party")


def check_may_refine(party: Party | None, actor_id: int) -> None:
    """During a party only its Prompt Master marks a new prompt as refining an image."""
    if party is not None and party.holder(PartyRole.PROMPT_MASTER) != actor_id:
        raise UserError("during a party only the Prompt Master can mark a prompt as refining an "
                        "image (refines:)")


def check_may_pick(party: Party | None, actor_id: int) -> Party:
    """Only the Art Expert of the image's party gives the 🏅 pick."""
    if party is None:
        raise UserError("🏅 picks belong to party images; this one is not part of a party")
    if party.holder(PartyRole.ART_EXPERT) != actor_id:
        raise UserError("only the party's Art Expert can give the 🏅 pick (the Prompt Master "
                        "hands the role on with /party role)")
    return party


# -- validating what people type -----------------------------------------------------------------

def clean_topic(topic: str) -> str:
    """A topic as stored: normalised, non-empty, at most TOPIC_MAX characters."""
    cleaned = normalise_text(topic).strip()
    if not cleaned:
        raise ValidationError("the topic must not be empty")
    if len(cleaned) > TOPIC_MAX:
        raise ValidationError(f"the topic must be at most {TOPIC_MAX} characters, got "
                              f"{len(cleaned)}")
    return cleaned


def check_hours(hours: float | None) -> float | None:
    """A party's length in hours (None: until /party end)."""
    if hours is not None and not 0 < hours <= HOURS_MAX:
        raise ValidationError(f"hours must be more than 0 and at most {HOURS_MAX:g}, got {hours:g}")
    return hours


_SEPARATORS = re.compile(r"[,;\n]")


def split_associations(text: str) -> list[str]:
    """The associations in one ``/party associate`` (comma-separated), tidied and checked."""
    # Split first: normalising turns line breaks into spaces.
    words = [" ".join(normalise_text(part).split()) for part in _SEPARATORS.split(text)]
    words = [word for word in words if word]
    if not words:
        raise ValidationError("give at least one word (several: separate them with commas)")
    if len(words) > ASSOCIATIONS_PER_CALL:
        raise ValidationError(f"at most {ASSOCIATIONS_PER_CALL} associations at once, got "
                              f"{len(words)}")
    long = next((word for word in words if len(word) > ASSOCIATION_MAX), None)
    if long is not None:
        raise ValidationError(f"an association must be at most {ASSOCIATION_MAX} characters, "
                              f"got {len(long)}")
    return words


def association_key(word: str) -> str:
    """What makes two associations the same: case and spacing do not count."""
    return " ".join(word.casefold().split())


@dataclass(frozen=True, slots=True)
class Association:
    """One association someone added."""

    user_id: int | None
    user_name: str
    text: str
    added_at: float


@dataclass(frozen=True, slots=True)
class BoardEntry:
    """One word on the board: its most used spelling, how often it was given and by how many."""

    word: str
    count: int
    people: int


def board(associations: Iterable[Association]) -> list[BoardEntry]:
    """The associations grouped (case-insensitively) and counted, most given first.

    Ties keep the order in which words first came up.
    """
    spellings: dict[str, Counter[str]] = {}
    people: dict[str, set[int | str]] = {}
    for association in associations:
        key = association_key(association.text)
        spellings.setdefault(key, Counter())[association.text] += 1
        people.setdefault(key, set()).add(association.user_id or association.user_name)
    entries = [BoardEntry(word=counter.most_common(1)[0][0], count=sum(counter.values()),
                          people=len(people[key]))
               for key, counter in spellings.items()]
    # sorted() is stable: equal counts stay in first-seen order.
    return sorted(entries, key=lambda entry: -entry.count)


def prompt_suggestions(typed: str, words: Sequence[str], limit: int = AUTOCOMPLETE_LIMIT
                       ) -> list[str]:
    """Autocomplete for ``/dream prompt`` during a party: the typed text extended by each board
    word it does not hold yet (the typed text itself first), each within Discord's 100."""
    typed = typed.strip()
    have = association_key(typed)
    out = [typed] if typed else []
    for word in words:
        if association_key(word) in have:
            continue
        suggestion = f"{typed.rstrip(', ')}, {word}" if typed else word
        if len(suggestion) <= CHOICE_MAX and suggestion not in out:
            out.append(suggestion)
        if len(out) >= limit:
            break
    return [text[:CHOICE_MAX] for text in out[:limit]]


def period_seconds(name: str) -> float | None:
    """How far back ``/best period:`` looks (None: all time)."""
    if name not in PERIODS:
        raise ValidationError(f"period must be one of {', '.join(PERIODS)}, got {name!r}")
    return PERIODS[name]


def starboard_threshold(value: int) -> int:
    """A star board's threshold: 1 to 100 votes."""
    if not 1 <= value <= 100:
        raise ValidationError(f"threshold must be between 1 and 100 votes, got {value}")
    return value


# -- results, ranking and the summary --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VotedImage:
    """One finished result with its votes (a party's image, a /best or /history entry)."""

    job_id: int
    recipe: Recipe
    author_id: int | None
    author_name: str
    created_at: float
    finished_at: float | None = None
    votes: int = 0
    picked: bool = False
    output_path: str | None = None
    guild_id: int | None = None
    channel_id: int | None = None
    message_id: int | None = None

    @property
    def words(self) -> str:
        """What the person typed (the prompt without a theme's words)."""
        recipe = self.recipe
        return recipe.user_prompt if recipe.user_prompt is not None else recipe.prompt

    @property
    def recipe_line(self) -> str:
        """The recipe's settings in one line, as A1111 writes them."""
        if self.recipe.seed is None:  # never ran (a finished image always has its seed)
            return ""
        return format_parameters(self.recipe).splitlines()[-1]

    @property
    def jump_url(self) -> str | None:
        """The Discord link to the result's message (None: not delivered or not in a server)."""
        if self.message_id is None or self.channel_id is None:
            return None
        return (f"https://discord.com/channels/{self.guild_id or '@me'}/{self.channel_id}/"
                f"{self.message_id}")


def ranked(images: Iterable[VotedImage]) -> list[VotedImage]:
    """Best first: most votes, then the Art Expert's picks, then the earliest."""
    return sorted(images, key=lambda image: (-image.votes, not image.picked, image.job_id))


def top(images: Iterable[VotedImage], count: int = 3) -> list[VotedImage]:
    """The top ``count`` images by votes (see ``ranked``)."""
    return ranked(images)[:count]


@dataclass(frozen=True, slots=True)
class PartySummary:
    """What ``/party end`` posts and the gallery opens with."""

    party: Party
    images: tuple[VotedImage, ...]
    participants: tuple[str, ...]
    ended_at: float

    @property
    def duration(self) -> float:
        """Seconds from start to end."""
        return max(0.0, self.ended_at - self.party.started_at)

    @property
    def best(self) -> list[VotedImage]:
        """The top three images."""
        return top(self.images, 3)


def participants(images: Iterable[VotedImage], others: Iterable[tuple[int | None, str]]
                 ) -> tuple[str, ...]:
    """Everyone who made an image, added a word, voted or held a role, by name, once each
    (first appearance first)."""
    seen: dict[int | str, str] = {}
    for who, name in [*((i.author_id, i.author_name) for i in images), *others]:
        key: int | str = who if who is not None else name
        if key not in seen and name:
            seen[key] = name
    return tuple(seen.values())


# -- the exploration tree -------------------------------------------------------------------------

_WORD = re.compile(r"[\w'’-]+", re.UNICODE)


def changed_words(parent: str, child: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Words the child's prompt added and removed against its parent's (as a multiset, compared
    case-insensitively, in the order they appear)."""
    before = Counter(word.casefold() for word in _WORD.findall(parent))
    after_words = _WORD.findall(child)
    after = Counter(word.casefold() for word in after_words)
    added: list[str] = []
    extra = after - before
    for word in after_words:
        if extra[word.casefold()] > 0:
            extra[word.casefold()] -= 1
            added.append(word)
    missing = before - after
    removed: list[str] = []
    for word in _WORD.findall(parent):
        if missing[word.casefold()] > 0:
            missing[word.casefold()] -= 1
            removed.append(word)
    return tuple(added), tuple(removed)


@dataclass(slots=True)
class TreeNode:
    """One image in the tree: how it came from its parent and what changed in its words."""

    job_id: int
    words: str
    parent_id: int | None = None
    kind: LinkKind | None = None
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    depth: int = 0
    children: list[TreeNode] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The changed words ("+old -young"), a root's whole words, or "same words"."""
        if self.parent_id is None:
            return self.words
        parts = [f"+{word}" for word in self.added] + [f"-{word}" for word in self.removed]
        return " ".join(parts) if parts else "same words"


def _parent_link(links: Sequence[Link], members: Mapping[int, str], child: int) -> Link | None:
    # The first parent inside the party, older than the child (links can only point back, but a
    # hand-made refines: could name any job: anything else makes the child a root).
    for link in sorted(links, key=lambda link: link.position):
        if link.parent_id in members and link.parent_id < child:
            return link
    return None


def build_tree(images: Sequence[tuple[int, str]], links: Mapping[int, Sequence[Link]]
               ) -> list[TreeNode]:
    """The party's images as a forest: roots are the first words (no parent in the party),
    each child under the parent it came from. ``images`` are (job id, words)."""
    words = dict(images)
    nodes = {job_id: TreeNode(job_id, text) for job_id, text in images}
    roots: list[TreeNode] = []
    for job_id in sorted(nodes):
        node = nodes[job_id]
        link = _parent_link(links.get(job_id, ()), words, job_id)
        if link is None:
            roots.append(node)
            continue
        parent = nodes[link.parent_id]
        node.parent_id, node.kind = link.parent_id, link.kind
        node.added, node.removed = changed_words(parent.words, node.words)
        node.depth = parent.depth + 1  # parents are older, so already placed
        parent.children.append(node)
    return roots


def walk(roots: Iterable[TreeNode]) -> list[TreeNode]:
    """Every node, depth first, children in order (the gallery's reading order)."""
    out: list[TreeNode] = []
    stack = list(reversed(list(roots)))
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.children))
    return out


def edges(roots: Iterable[TreeNode]) -> list[tuple[int, int, LinkKind]]:
    """(parent, child, kind) for every edge of the tree."""
    return [(node.parent_id, node.job_id, node.kind) for node in walk(roots)
            if node.parent_id is not None and node.kind is not None]


def layers(roots: Iterable[TreeNode]) -> list[list[TreeNode]]:
    """The nodes by depth, each layer in reading order (for drawing the tree)."""
    out: list[list[TreeNode]] = []
    for node in walk(roots):
        while len(out) <= node.depth:
            out.append([])
        out[node.depth].append(node)
    return out
