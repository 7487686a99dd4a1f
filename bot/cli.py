"""The command line: ``neurostream dream|run`` (also ``python -m bot``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from bot.domain.recipe import SCHEDULERS

EXIT_FAILED = 1  # a job failed, or the model could not be loaded
EXIT_USAGE = 2  # a bad argument, config value or model source: one line names it
EXIT_UNAVAILABLE = 69  # Discord could not be reached at start-up (sysexits' EX_UNAVAILABLE)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming the problem (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        """Report a bad argument in one line and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="PATH",
                        help="TOML settings file (see config.example.toml); default: built-in "
                             "defaults")


def build_parser() -> argparse.ArgumentParser:
    """The parser for every subcommand."""
    parser = OneLineParser(
        prog="neurostream",
        description="Stable Diffusion images for Discord, themed streams and an offline CLI.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    dream = commands.add_parser(
        "dream", help="generate images offline through the same queue and engine as the bot",
        description="Generate images offline and print the paths of the PNGs written.")
    dream.add_argument("prompt", help="what to draw")
    dream.add_argument("--negative", help="what to keep out of the image")
    dream.add_argument("--width", type=int, help="image width, a multiple of 8 (default 512)")
    dream.add_argument("--height", type=int, help="image height, a multiple of 8 (default 512)")
    dream.add_argument("--steps", type=int, help="denoising steps (default 25)")
    dream.add_argument("--guidance", type=float, help="guidance / CFG scale (default 7.5)")
    dream.add_argument("--seed", type=int,
                       help="seed for the first image; the next images use seed+1, ... "
                            "(default: random, recorded)")
    dream.add_argument("--n", type=int, default=1, metavar="N", help="how many images (1-16)")
    dream.add_argument("--scheduler", help=f"sampler: {', '.join(SCHEDULERS)} (default euler_a)")
    dream.add_argument("--theme", metavar="NAME",
                       help="apply a preset theme (a file in themes/ or a [themes] preset_dirs "
                            "folder): its prefix, suffix, negative and locked values")
    dream.add_argument("--model", help="model: tiny, a Hugging Face id, a diffusers folder or a "
                                       ".safetensors file (default: [model] id)")
    dream.add_argument("--out", type=Path, metavar="DIR",
                       help="folder for the PNGs (default: [storage] output_dir in the data "
                            "folder; the database stays there either way)")
    _add_config(dream)

    run = commands.add_parser("run", help="start the Discord bot (token from DISCORD_TOKEN)",
                              description="Start the Discord bot. The token comes from the "
                                          "DISCORD_TOKEN environment variable or a .env file.")
    _add_config(run)

    queue = commands.add_parser("queue", help="list every waiting or running job (admin view)",
                                description="List every waiting or running job in the bot's "
                                            "database, in the order the bot will run them, "
                                            "with user, channel and attempts.")
    _add_config(queue)

    sync = commands.add_parser("sync", help="sync slash commands with Discord",
                               description="Sync the slash commands. Dev guilds are synced at "
                                           "every start; a global sync (every server, up to an "
                                           "hour to show, rate-limited) only happens here.")
    sync.add_argument("--global", dest="global_", action="store_true", required=True,
                      help="sync globally, to every server the bot is in")
    _add_config(sync)
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv`` (None: ``sys.argv[1:]``)."""
    return build_parser().parse_args(sys.argv[1:] if argv is None else argv)
