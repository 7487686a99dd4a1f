"""``/stream``: a themed channel keeps flowing from its prompt pool when nobody is waiting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.stream._cog import StreamCog
from cogs.stream._host import DiscordStreamHost

if TYPE_CHECKING:
    from bot.client.bot import NeurostreamBot


async def setup(bot: NeurostreamBot) -> None:
    """Register the cog and start the stream runner (it waits until the bot is ready)."""
    await bot.add_cog(StreamCog(bot))
    if bot.app is not None:
        bot.app.streams.start_runner(DiscordStreamHost(bot))


async def teardown(bot: NeurostreamBot) -> None:
    """Stop the runner when the extension unloads (bot.close unloads every extension)."""
    if bot.app is not None:
        await bot.app.streams.stop_runner()
