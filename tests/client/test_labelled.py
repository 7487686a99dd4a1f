"""The words of a ``/styles`` or ``/xy`` grid message: escaped, within Discord's limits, and
marked with the group's footer (how a restart finds a grid already posted to a channel)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.client.labelled import labelled_embed, labelled_text
from bot.domain.jobs import Job, JobState, Requester
from bot.domain.lineage import GroupKind
from bot.domain.recipe import Recipe
from bot.render.embeds import group_marker
from bot.services.craft import Grid, GridImage

HOSTILE = "@everyone <@123456789012345678> ``` **b** "


def _grid(title: str, *, seeds: tuple[int, ...] = (5, 5), theme: str | None = None) -> Grid:
    jobs = tuple(Job(id=index + 1, recipe=Recipe(prompt=title, seed=seed, theme=theme,
                                                 theme_prefix=theme),
                     requester=Requester(user_id=42, user_name="alice", source="discord"),
                     state=JobState.DONE, created_at=0.0)
                 for index, seed in enumerate(seeds))
    return Grid(9, GroupKind.STYLES, title, jobs, len(jobs), None, ("oil", "ink"))


def _image(done: int, failed: int = 0, total: int = 2) -> GridImage:
    return GridImage(b"", "styles-9.png", (64, 64), done=done, failed=failed, total=total)


def test_an_unfinished_grid_counts_its_cells_and_shows_the_detail() -> None:
    text = labelled_text(_grid("a spoon"), _image(1), "next in queue")
    assert text.endswith("🎨 1/2 cells · seed 5 · next in queue")
    assert text.startswith("**Style grid** · a spoon")


def test_a_finished_grid_names_its_failures_and_its_buttons() -> None:
    text = labelled_text(_grid("a spoon", seeds=(1, 2)), _image(1, failed=1), "ignored")
    assert text.endswith("✅ 2 cells (1 failed) · a button posts a cell at full size")


@settings(max_examples=40, deadline=None)
@given(title=st.text(min_size=0, max_size=3000), theme=st.one_of(st.none(),
                                                               st.text(max_size=600)))
def test_any_title_is_escaped_and_the_embed_fits(title: str, theme: str | None) -> None:
    grid = _grid(HOSTILE + title, theme=theme)
    embed = labelled_embed(grid, _image(2))
    assert len(embed) <= 6000 and len(embed.description or "") <= 4096
    assert embed.footer.text == group_marker(9, GroupKind.STYLES)
    assert "@everyone" not in (embed.description or "").replace("@\u200beveryone", "")
    assert len(labelled_text(grid, _image(0), "x" * 3000)) <= 2000
