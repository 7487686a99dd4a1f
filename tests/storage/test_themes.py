"""Theme and stream repositories on a real SQLite file."""

from __future__ import annotations

from bot.domain.themes import Theme
from bot.storage.database import Database
from bot.storage.streams import StreamRepository
from bot.storage.themes import ThemeRepository


async def test_themes_are_stored_with_an_audit_trail(database: Database) -> None:
    repo = ThemeRepository(database)
    first, second = Theme(prefix="cats"), Theme(prefix="dogs", steps=20)
    await repo.set(1, 10, first, user_id=5, user_name="mod")
    await repo.set(1, 10, second, user_id=6, user_name="mod2")
    await repo.set(1, 11, first, user_id=5, user_name="mod")
    rows = await repo.all()
    assert [(r.channel_id, r.theme) for r in rows] == [(10, second), (11, first)]
    await repo.set(1, 10, None, user_id=5, user_name="mod")
    assert [r.channel_id for r in await repo.all()] == [11]
    history = await repo.history(10)
    assert [(h.old, h.new, h.user_name) for h in history] == [
        (second, None, "mod"), (first, second, "mod2"), (None, first, "mod")]


async def test_streams_and_pools(database: Database) -> None:
    repo = StreamRepository(database)
    await repo.replace_pool(1, 10, ["a", "b"], added_by=5)
    await repo.add_prompts(1, 10, ["c"], added_by=5)
    pool = await repo.pool(10)
    assert [e.prompt for e in pool] == ["a", "b", "c"]
    assert await repo.remove_prompt(11, pool[0].id) is None  # another channel's entry
    removed = await repo.remove_prompt(10, pool[0].id)
    assert removed is not None and removed.prompt == "a"
    assert [e.prompt for e in await repo.pool(10)] == ["b", "c"]  # gone from the pool
    assert await repo.remove_prompt(10, pool[0].id) is None  # and cannot be removed twice
    await repo.replace_pool(1, 10, ["z"], added_by=None)
    assert [e.prompt for e in await repo.pool(10)] == ["z"]
    stream = await repo.start(1, 10, 60.0, started_by=5)
    assert stream.running and [s.channel_id for s in await repo.running()] == [10]
    await repo.mark_image(10, 123.0)
    stopped = await repo.stop(10, "its channel was deleted")
    assert stopped is not None and not stopped.running and stopped.last_image_at == 123.0
    assert stopped.stop_reason == "its channel was deleted" and await repo.running() == []
    restarted = await repo.start(1, 10, 30.0, started_by=5)
    assert restarted.running and restarted.stop_reason is None and restarted.every == 30.0
