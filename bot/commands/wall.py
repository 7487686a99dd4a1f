"""``neurostream wall``: the live wall's web server, a process of its own beside the bot.

It reads the bot's database (WAL lets it read while the bot writes) and never writes to it, so
a projector page can neither slow nor crash the bot, and it can run, restart and listen on
the network on its own. Binding anywhere but localhost needs ``[wall] token``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from bot.config import Settings, check_wall_bind
from bot.services.wall import open_wall
from bot.wall.server import serving


async def serve_wall(settings: Settings, args: argparse.Namespace,
                     stop: asyncio.Event | None = None) -> int:
    """Serve the wall until SIGINT/SIGTERM (or ``stop``); prints the page's URL."""
    host = args.host or settings.wall.host
    port = settings.wall.port if args.port is None else args.port
    token = settings.wall.token
    check_wall_bind(host, token, key="--host" if args.host else "config: wall.host")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, not main
            loop.add_signal_handler(sig, stop.set)
    async with open_wall(settings) as wall:
        await wall.start()
        try:
            async with serving(wall, host, port, token=token,
                               slide_seconds=settings.wall.slide_seconds) as url:
                print(f"the wall is at {url}  (?mode=mosaic for a mosaic; Ctrl-C stops)",
                      flush=True)
                await stop.wait()
        finally:
            await wall.close()
    print("the wall stopped", file=sys.stderr)
    return 0
