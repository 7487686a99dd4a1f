"""Parties, pure: who may do what, the association board, ranking and the exploration tree."""

from __future__ import annotations

import pytest

from bot.domain.errors import UserError, ValidationError
from bot.domain.lineage import Link, LinkKind
from bot.domain.party import (
    Association,
    Party,
    PartyRole,
    VotedImage,
    board,
    build_tree,
    changed_words,
    check_hours,
    check_may_end,
    check_may_hand_on,
    check_may_pick,
    check_may_refine,
    clean_topic,
    edges,
    layers,
    participants,
    period_seconds,
    prompt_suggestions,
    ranked,
    split_associations,
    top,
    walk,
)
from bot.domain.recipe import Recipe

PM, EXPERT, GUEST = 1, 2, 3


def _party(**changes: object) -> Party:
    values: dict[str, object] = {
        "id": 7, "guild_id": 10, "channel_id": 20, "topic": "loneliness", "group_id": 5,
        "started_by": PM, "started_at": 1000.0,
        "roles": {PartyRole.PROMPT_MASTER: PM, PartyRole.ART_EXPERT: EXPERT}}
    values.update(changes)
    return Party(**values)  # type: ignore[arg-type]


def _image(job_id: int, votes: int = 0, picked: bool = False, prompt: str = "x",
           author: int = GUEST) -> VotedImage:
    return VotedImage(job_id, Recipe(prompt=prompt, seed=1), author, f"user{author}",
                      created_at=float(job_id), votes=votes, picked=picked)


def test_a_party_runs_until_it_ends_or_its_hours_pass() -> None:
    assert _party().running(10**9)
    assert not _party(ended_at=1500.0).running(1600.0)
    timed = _party(ends_at=2000.0)
    assert timed.running(1999.0) and not timed.running(2000.0)


def test_the_prompt_master_hands_on_either_role_and_the_expert_only_theirs() -> None:
    party = _party()
    check_may_hand_on(party, PM, PartyRole.PROMPT_MASTER, moderator=False)
    check_may_hand_on(party, PM, PartyRole.ART_EXPERT, moderator=False)
    check_may_hand_on(party, EXPERT, PartyRole.ART_EXPERT, moderator=False)
    check_may_hand_on(party, GUEST, PartyRole.PROMPT_MASTER, moderator=True)
    with pytest.raises(UserError, match="Prompt Master or a moderator"):
        check_may_hand_on(party, EXPERT, PartyRole.PROMPT_MASTER, moderator=False)
    with pytest.raises(UserError):
        check_may_hand_on(party, GUEST, PartyRole.ART_EXPERT, moderator=False)


def test_only_the_prompt_master_or_a_moderator_ends_and_refines() -> None:
    party = _party()
    check_may_end(party, PM, moderator=False)
    check_may_end(party, GUEST, moderator=True)
    with pytest.raises(UserError, match="end the party"):
        check_may_end(party, EXPERT, moderator=False)
    check_may_refine(party, PM)
    check_may_refine(None, GUEST)  # outside a party anyone records where a prompt came from
    with pytest.raises(UserError, match="only the Prompt Master"):
        check_may_refine(party, GUEST)


def test_only_the_art_expert_picks_and_only_party_images() -> None:
    assert check_may_pick(_party(), EXPERT).id == 7
    with pytest.raises(UserError, match="Art Expert"):
        check_may_pick(_party(), PM)
    with pytest.raises(UserError, match="not part of a party"):
        check_may_pick(None, EXPERT)


def test_topics_hours_and_periods_are_checked() -> None:
    assert clean_topic("  the\tmeaning of life ") == "the meaning of life"
    with pytest.raises(ValidationError, match="empty"):
        clean_topic("\u200b ")
    with pytest.raises(ValidationError, match="at most 200"):
        clean_topic("x" * 201)
    assert check_hours(None) is None and check_hours(72) == 72
    with pytest.raises(ValidationError, match="hours"):
        check_hours(0)
    assert period_seconds("day") == 86400 and period_seconds("all") is None
    with pytest.raises(ValidationError, match="period"):
        period_seconds("year")


def test_associations_split_on_commas_and_are_limited() -> None:
    assert split_associations("rain,  Old   Age ; Hopper\nsilence") == [
        "rain", "Old Age", "Hopper", "silence"]
    with pytest.raises(ValidationError, match="at least one"):
        split_associations(" , ;")
    with pytest.raises(ValidationError, match="at most 10"):
        split_associations(",".join("abcdefghijk"))
    with pytest.raises(ValidationError, match="100 characters"):
        split_associations("y" * 101)


def test_the_board_groups_case_insensitively_and_counts_most_first() -> None:
    given = [Association(1, "a", "rain", 0), Association(2, "b", "Hopper", 0),
             Association(2, "b", "Rain", 0), Association(3, "c", "rain", 0),
             Association(1, "a", "old  age", 0), Association(1, "a", "Old age", 0)]
    entries = board(given)
    assert [(e.word, e.count, e.people) for e in entries] == [
        ("rain", 3, 3), ("old  age", 2, 1), ("Hopper", 1, 1)]


def test_prompt_suggestions_extend_what_was_typed_with_new_board_words() -> None:
    assert prompt_suggestions("", ["rain", "Hopper"]) == ["rain", "Hopper"]
    assert prompt_suggestions("two old people, rain", ["Rain", "Hopper"]) == [
        "two old people, rain", "two old people, rain, Hopper"]
    many = prompt_suggestions("a", [f"w{i}" for i in range(40)])
    assert len(many) == 25 and all(len(s) <= 100 for s in many)
    assert prompt_suggestions("x" * 99, ["long word"]) == ["x" * 99]


def test_ranking_is_votes_then_the_experts_pick_then_the_earliest() -> None:
    images = [_image(1, 2), _image(2, 5), _image(3, 2, picked=True), _image(4, 0)]
    assert [i.job_id for i in ranked(images)] == [2, 3, 1, 4]
    assert [i.job_id for i in top(images)] == [2, 3, 1]


def test_participants_are_named_once_in_order_of_appearance() -> None:
    images = [_image(1, author=5), _image(2, author=6), _image(3, author=5)]
    assert participants(images, [(6, "user6"), (9, "zoe"), (None, "guest")]) == (
        "user5", "user6", "zoe", "guest")


def test_changed_words_are_a_multiset_difference_in_reading_order() -> None:
    assert changed_words("loneliness", "two old people, loneliness") == (
        ("two", "old", "people"), ())
    assert changed_words("a red red car", "a red car at night") == (("at", "night"), ("red",))
    assert changed_words("Rain", "rain") == ((), ())


def test_the_tree_hangs_each_image_under_its_parent_with_the_kind_of_step() -> None:
    images = [(1, "loneliness"), (2, "loneliness"), (3, "two old people, loneliness"),
              (4, "two old people looking away"), (6, "silence"), (8, "noise")]
    links = {2: [Link(1, LinkKind.REROLL)], 3: [Link(1, LinkKind.REFINE)],
             4: [Link(3, LinkKind.REMIX)],
             # a parent outside the party (older or newer), or newer than the child: a root
             6: [Link(99, LinkKind.REFINE), Link(7, LinkKind.REROLL, 1)],
             8: [Link(5, LinkKind.REFINE)]}
    roots = build_tree(images, links)
    assert [root.job_id for root in roots] == [1, 6, 8]
    assert edges(roots) == [(1, 2, LinkKind.REROLL), (1, 3, LinkKind.REFINE),
                            (3, 4, LinkKind.REMIX)]
    assert [node.job_id for node in walk(roots)] == [1, 2, 3, 4, 6, 8]
    assert [[n.job_id for n in layer] for layer in layers(roots)] == [[1, 6, 8], [2, 3], [4]]
    nodes = {node.job_id: node for node in walk(roots)}
    assert nodes[1].label == "loneliness"  # a root shows its whole words
    assert nodes[2].label == "same words"
    assert nodes[3].label == "+two +old +people"
    assert nodes[4].label == "+looking +away -loneliness"
    assert nodes[4].depth == 2


def test_a_refine_of_the_second_parent_counts_when_the_first_is_outside() -> None:
    roots = build_tree([(1, "a"), (2, "a b")],
                       {2: [Link(50, LinkKind.MORPH, 0), Link(1, LinkKind.MORPH, 1)]})
    assert edges(roots) == [(1, 2, LinkKind.MORPH)]


def test_a_voted_image_knows_its_recipe_line_and_link() -> None:
    image = VotedImage(3, Recipe(prompt="cat, oil", user_prompt="cat", seed=9, width=64,
                                 height=64, steps=2), 1, "a", 0.0, guild_id=10, channel_id=20,
                       message_id=30)
    assert image.words == "cat"
    assert image.recipe_line.startswith("Steps: 2, Sampler: Euler a, CFG scale: 7.5, Seed: 9")
    assert image.jump_url == "https://discord.com/channels/10/20/30"
    assert VotedImage(4, Recipe(prompt="x"), 1, "a", 0.0).jump_url is None
