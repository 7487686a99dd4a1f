"""Entry point: ``python -m bot`` and the ``neurostream`` console script."""

from __future__ import annotations

import asyncio
import logging
import sys

from bot.cli import EXIT_USAGE, parse_args
from bot.config import load_settings
from bot.domain.errors import ConfigError, UserError

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
            from bot.commands.dream import dream, validate_early

            validate_early(settings, args)
            return asyncio.run(dream(settings, args))
        if args.command == "run":
            return _run_bot(settings)
    except (UserError, ConfigError) as error:
        print(f"neurostream {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {args.command}")


def _run_bot(settings: object) -> int:
    from bot.config import discord_token

    if discord_token() is None:
        print(NO_TOKEN_HELP, file=sys.stderr)
        return EXIT_USAGE
    print("neurostream run: the Discord bot is not part of this build yet; "
          "use `neurostream dream` meanwhile", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
