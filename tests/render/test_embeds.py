"""Result embeds and waiting texts fit Discord's limits by construction, whatever users typed."""

from __future__ import annotations

import discord
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.jobs import Job, JobState, Requester
from bot.domain.recipe import Recipe
from bot.render.embeds import job_marker, minimal_embed, result_embed, waiting_text

HOSTILE = "@everyone @here <@&123456789012345678> <@123456789012345678> ``` **b** "


def _job(recipe: Recipe, *, user_id: int | None = 42, user_name: str = "alice") -> Job:
    return Job(id=7, recipe=recipe, requester=Requester(user_id=user_id, user_name=user_name,
                                                        source="discord"),
               state=JobState.DONE, created_at=0.0, finished_at=3.0)


def _assert_within_limits(embed: discord.Embed, job_id: int = 7) -> None:
    data = embed.to_dict()
    assert len(embed) <= 6000  # discord.py counts what Discord counts for the total
    assert len(data.get("description") or "") <= 4096
    fields = data.get("fields", [])
    assert len(fields) <= 25
    for field in fields:
        assert 1 <= len(field["name"]) <= 256 and 1 <= len(field["value"]) <= 1024
    assert data["footer"]["text"] == job_marker(job_id)


def test_a_raised_prompt_limit_with_a_theme_stays_under_6000() -> None:
    # What the issue saw: prompt_max_chars raised to 6000, a themed channel, a long negative.
    recipe = Recipe(prompt="p " * 2500, user_prompt="u" * 5000, negative="n" * 6000,
                    theme="cats", theme_prefix="a" * 500, theme_suffix="s" * 500,
                    notes=("w" * 400, "this channel's theme locks steps to 2 (you asked for 3)"))
    embed = result_embed(_job(recipe), seconds=12.5, note="lossy WebP")
    _assert_within_limits(embed)
    fields = {f.name: f.value for f in embed.fields}
    # Short parts survive whole; the longest were trimmed first.
    assert fields["Requested by"] == "<@42> · 12.5 s" and fields["Note"] == "lossy WebP"
    assert fields["Theme notes"].endswith("(you asked for 3)")
    assert (embed.description or "").endswith("…") and fields["Negative"].endswith("…")


def test_user_text_in_an_embed_is_escaped() -> None:
    recipe = Recipe(prompt=HOSTILE, negative=HOSTILE, theme="x*y", theme_prefix=HOSTILE,
                    user_prompt=HOSTILE)
    embed = result_embed(_job(recipe, user_id=None, user_name="**eve**"), seconds=None)
    texts = [embed.description or "", *(f.value for f in embed.fields)]
    for text in texts:
        assert "@everyone" not in text and "@here" not in text and "<@&" not in text
        assert "```" not in text
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Theme"].startswith("**x\\*y** · ")  # the bot's bold stays, the name escaped
    assert fields["Requested by"] == "\\*\\*eve\\*\\*"


long_texts = st.builds(lambda piece, n: (piece * n)[:n], st.text(min_size=1, max_size=8),
                       st.integers(0, 7000))


@settings(max_examples=60, deadline=None)
@given(prompt=long_texts, negative=long_texts, prefix=long_texts, suffix=long_texts,
       name=st.text(max_size=300), notes=st.lists(long_texts, max_size=4),
       user=st.text(max_size=300))
def test_every_result_embed_fits(prompt: str, negative: str, prefix: str, suffix: str,
                                 name: str, notes: list[str], user: str) -> None:
    recipe = Recipe(prompt=prompt or "x", user_prompt=prompt or "x", negative=negative,
                    theme=name or None, theme_prefix=prefix, theme_suffix=suffix,
                    notes=tuple(notes))
    _assert_within_limits(result_embed(_job(recipe, user_id=None, user_name=user),
                                       seconds=1.0, note="lossy WebP"))
    text = waiting_text(recipe, "🎨 generating…")
    assert len(text) <= 2000 and text.endswith("🎨 generating…")
    assert "@everyone" not in text


def test_the_waiting_text_escapes_the_theme_and_the_cut_words() -> None:
    recipe = Recipe(prompt="x", theme="cats", theme_prefix=HOSTILE,
                    notes=(f"these words will be ignored: “{HOSTILE}”",))
    text = waiting_text(recipe, "next in queue")
    assert text.startswith("🎨 Theme **cats** · ") and text.endswith("\nnext in queue")
    assert "@everyone" not in text and "<@1" not in text and "```" not in text


def test_the_minimal_embed_keeps_the_marker() -> None:
    _assert_within_limits(minimal_embed(_job(Recipe(prompt="x" * 6000))))


def _cells(count: int, recipe: Recipe) -> list[Job]:
    return [Job(id=10 + index, recipe=recipe.with_seed(7 + index),
                requester=Requester(user_id=42, source="discord"),
                state=JobState.DONE if index != 2 else JobState.FAILED,
                created_at=0.0, error="x" * 3000 if index == 2 else None)
            for index in range(count)]


def test_a_grid_embed_lists_each_seed_and_fits_whatever_was_typed() -> None:
    from bot.render.embeds import grid_embed, group_marker

    recipe = Recipe(prompt=HOSTILE * 200, negative="n" * 6000, theme="cats",
                    theme_prefix="a" * 500, user_prompt="u" * 5000)
    cells = _cells(4, recipe)
    embed = grid_embed(cells, 3, done=[10, 11, 13])
    assert len(embed) <= 6000 and embed.footer.text == group_marker(3, "grid")
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Seeds"] == "1: 7 · 2: 8 · 3: 9 · 4: 10"
    assert "Image 3 failed" in fields and len(fields["Image 3 failed"]) <= 1024
    assert "@everyone" not in (embed.description or "")


def test_a_morph_embed_names_its_ends_and_fits() -> None:
    from bot.domain.lineage import GroupKind, JobGroup
    from bot.render.embeds import group_marker, morph_embed

    group = JobGroup(id=5, kind=GroupKind.MORPH, created_at=0.0, data={"from": 1, "to": 2})
    cells = _cells(8, Recipe(prompt=HOSTILE * 300))
    embed = morph_embed(cells, group, done=[job.id for job in cells])
    assert len(embed) <= 6000 and embed.footer.text == group_marker(5, "morph")
    assert "job 1 → job 2" in (embed.description or "")
