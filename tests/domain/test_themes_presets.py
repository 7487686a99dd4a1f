"""Preset files: the shipped ones load; a broken file is reported with its path and key."""

from __future__ import annotations

from pathlib import Path

from bot.domain import Limits
from bot.domain.prompt_pool import check_template
from bot.services.themes import BUILTIN_PRESETS, load_presets

SEED_EXAMPLES = {"cats", "alien-planets", "loneliness", "love", "city-oil", "city-watercolor",
                 "city-pencil", "abstract-cubism", "abstract-impressionism"}


def test_shipped_presets_all_load_with_their_pools() -> None:
    catalog = load_presets([BUILTIN_PRESETS], Limits())
    assert catalog.problems == []
    assert set(catalog.presets) >= SEED_EXAMPLES
    for preset in catalog.presets.values():
        assert preset.theme.prefix and preset.pool and preset.title
        for template in preset.pool:
            check_template(template, catalog.wildcards)
    assert "tabby" in catalog.wildcards["cat_breed"]


def test_a_broken_preset_is_reported_and_the_rest_load(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text('prefix = "a good"\npool = ["x __colour__"]\n')
    (tmp_path / "typo.toml").write_text('prefix = "p"\n[locked]\nstepz = 3\n')
    (tmp_path / "broken.toml").write_text('prefix = "unterminated\n')
    (tmp_path / "wildcards").mkdir()
    (tmp_path / "wildcards" / "colour.txt").write_text("red\nblue\n")
    catalog = load_presets([tmp_path], Limits())
    assert set(catalog.presets) == {"good"}
    assert len(catalog.problems) == 2
    typo = next(p for p in catalog.problems if "typo.toml" in p)
    assert str(tmp_path / "typo.toml") in typo and "locked.stepz" in typo
    assert any("broken.toml" in p and "not valid TOML" in p for p in catalog.problems)


def test_a_later_folder_overrides_and_search_is_capped(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"mine-{i:02d}.toml").write_text(f'prefix = "mine {i}"\n')
    (tmp_path / "cats.toml").write_text('title = "Our cats"\nprefix = "our cats"\n')
    catalog = load_presets([BUILTIN_PRESETS, tmp_path], Limits())
    assert catalog.presets["cats"].title == "Our cats"
    assert len(catalog.search("")) == 25
    assert [p.name for p in catalog.search("cit")] == ["city-oil", "city-pencil",
                                                       "city-watercolor"]
