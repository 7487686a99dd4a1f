"""Entry point: ``python -m bot`` and the ``neurostream`` console script."""

from __future__ import annotations

import asyncio
import logging
import sys

from bot.cli import EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE, parse_args
from bot.config import Settings, load_settings
from bot.domain.errors import ConfigError, NeurostreamError, UserError

log = logging.getLogger("bot")

NO_TOKEN_HELP = """\
neurostream run: no Discord token found.
Set one in the environment or in a .env file next to where you start the bot:
    echo 'DISCORD_TOKEN=your-bot-token' >> .env
(create the application and its bot token at https://discord.com/developers/applications;
the README explains the invite link and permissions.)
To try neurostream without Discord, render offline with the built-in model:
    neurostream dream "a lighthouse at dusk" --model tiny"""


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns the process exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
        if args.command == "dream":
            from bot.commands.dream import dream
            from bot.inference.source_check import check_source

            check_source(args.model or settings.model.id)  # before torch is imported (seconds)
            return asyncio.run(dream(settings, args))
        if args.command in ("sketch", "inpaint", "vary", "upscale", "zoom", "remix", "morph"):
            from bot.commands.tools import run_tool
            from bot.inference.source_check import check_source

            check_source(args.model or settings.model.id)  # before torch is imported (seconds)
            return run_tool(settings, args)
        if args.command == "serve":
            from bot.commands.serve import serve

            return serve(settings)
        if args.command in ("styles", "xy"):
            from bot.commands.styles import grid
            from bot.inference.source_check import check_source

            check_source(args.model or settings.model.id)
            return asyncio.run(grid(settings, args))
        if args.command == "export":
            from bot.commands.party import export_party

            return asyncio.run(export_party(settings, args))
        if args.command == "wall":
            from bot.commands.wall import serve_wall

            return asyncio.run(serve_wall(settings, args))
        if args.command == "queue":
            from bot.commands.queue import show_queue

            return asyncio.run(show_queue(settings))
        if args.command in ("run", "sync"):
            return _run_bot(settings, args.command)
    except (UserError, ConfigError) as error:
        print(f"neurostream {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except NeurostreamError as error:  # the model failed to load (a broken file, no memory)
        log.debug("details", exc_info=error.__cause__ or error)  # the traceback with -v
        print(f"neurostream {args.command}: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {args.command}")


def _run_bot(settings: Settings, command: str) -> int:
    from bot.config import discord_token
    from bot.inference.source_check import check_source

    token = discord_token()
    if token is None:
        print(NO_TOKEN_HELP, file=sys.stderr)
        return EXIT_USAGE
    sync = command == "sync"
    if not sync:
        check_source(settings.model.id)  # a mistyped path fails now, not after a slow import

    import discord

    from bot.client.bot import DiscordUnreachable, run_bot, sync_commands

    logging.getLogger().setLevel(logging.INFO)
    try:
        asyncio.run(sync_commands(settings, token) if sync else run_bot(settings, token))
    except discord.LoginFailure:
        print("neurostream: Discord refused the token in DISCORD_TOKEN (reset it in the "
              "developer portal and update .env)", file=sys.stderr)
        return EXIT_USAGE
    except DiscordUnreachable as error:  # after retrying: a supervisor may restart us later
        print(f"neurostream {command}: error: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return 0


if __name__ == "__main__":
    sys.exit(main())
