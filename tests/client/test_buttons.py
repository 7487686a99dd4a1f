"""The buttons under a result over the wire-level fake: who may Delete, what Reroll changes."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from bot.domain.recipe import Recipe
from tests.client.conftest import Env
from tests.client.test_dream import _metadata, _result

SMALL = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2}


def _recipes(env: Env) -> list[tuple[int, int | None, Recipe]]:
    """(id, parent id, recipe) of every job, oldest first."""
    with sqlite3.connect(env.settings.database_path) as db:
        rows = db.execute("SELECT id, parent_id, recipe FROM jobs ORDER BY id").fetchall()
    return [(job_id, parent, Recipe.from_dict(json.loads(recipe)))
            for job_id, parent, recipe in rows]


async def test_a_moderator_may_delete_anyones_result(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         SMALL)
        result = await _result(handle)
        delete = next(c for c in result.custom_ids() if c.startswith("ns:delete:"))
        click = await fake.click(result, delete, world.mod)  # Manage Messages, not the requester
        await click.wait_acked(timeout=3)
        await fake.wait_for(lambda: fake.get_message(result.id).deleted, timeout=10,
                            what="the result deleted by the moderator")
    assert click.original is None or "only the person" not in click.original.content


async def test_reroll_draws_a_new_seed_and_keeps_the_rest_of_the_recipe(env: Env) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot():
        handle = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {**SMALL, "seed": 5})
        result = await _result(handle)
        reroll = next(c for c in result.custom_ids() if c.startswith("ns:reroll:"))
        child = await _result(await fake.click(result, reroll, world.alice))
    (parent_id, _, parent), (_, child_parent, rerolled) = _recipes(env)
    assert child_parent == parent_id
    assert parent.seed == 5 and rerolled.seed is not None and rerolled.seed != parent.seed
    assert _metadata(child)["Seed"] == str(rerolled.seed)  # the image shows its own seed
    same: dict[str, Any] = {**parent.to_dict(), "seed": rerolled.seed}
    assert rerolled.to_dict() == same  # everything else as the parent had it
