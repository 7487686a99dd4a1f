"""The command line: ``neurostream dream|run|serve|...`` (also ``python -m bot``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

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

    serve = commands.add_parser(
        "serve", help="run the Ray Serve renderers on this machine's Ray cluster",
        description="Deploy the renderers ([model], [backend]) on the Ray cluster of this "
                    "machine (ray start --head), or on a new local Ray instance, and keep "
                    "them until Ctrl-C. Bots elsewhere use them with [backend] kind = \"ray\" "
                    "and address = the URL printed. Needs the [ray] extra.")
    _add_config(serve)

    _add_grid_commands(commands)
    _add_tool_commands(commands)
    _add_party_commands(commands)

    sync = commands.add_parser("sync", help="sync slash commands with Discord",
                               description="Sync the slash commands. Dev guilds are synced at "
                                           "every start; a global sync (every server, up to an "
                                           "hour to show, rate-limited) only happens here.")
    sync.add_argument("--global", dest="global_", action="store_true", required=True,
                      help="sync globally, to every server the bot is in")
    _add_config(sync)
    return parser


def _add_party_commands(commands: Any) -> None:
    """``neurostream export`` (a party's gallery) and ``neurostream wall`` (the live wall)."""
    export = commands.add_parser(
        "export", help="rebuild a party's HTML gallery from the database",
        description="Write party-ID.html (images embedded, no network or script needed to "
                    "view it; also party-ID.zip with index.html and the images when the HTML "
                    "passes Discord's upload limit) and print the paths. Images their authors "
                    "deleted are left out.")
    export.add_argument("--party", type=int, required=True, metavar="ID",
                        help="the party's number (shown in its summary's footer)")
    export.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="folder to write the gallery into (created if missing)")
    _add_config(export)
    wall = commands.add_parser(
        "wall", help="serve the live wall: a read-only page of new images for a projector",
        description="Serve a web page with the newest images of channels opted in with "
                    "/wall enable and of running parties, arriving live (server-sent events). "
                    "A process of its own reading the bot's database. Binding anywhere but "
                    "localhost needs [wall] token, which the page URL carries.")
    wall.add_argument("--host", help="address to bind (default: [wall] host, 127.0.0.1)")
    wall.add_argument("--port", type=int, help="TCP port (default: [wall] port, 8765)")
    _add_config(wall)


def _add_image_options(parser: argparse.ArgumentParser) -> None:
    """The options of a new image drawn from an uploaded one (sketch, inpaint)."""
    parser.add_argument("prompt", help="what to draw")
    parser.add_argument("--strength", type=float,
                        help="how much to change, 0.05-1 (default: sketch 0.6, inpaint 1)")
    parser.add_argument("--negative", help="what to keep out of the image")
    parser.add_argument("--width", type=int, help="width, a multiple of 8 (default: the "
                                                  "image's, within the size limits)")
    parser.add_argument("--height", type=int, help="height, a multiple of 8 (default: the "
                                                   "image's, within the size limits)")
    parser.add_argument("--steps", type=int, help="denoising steps (default 25)")
    parser.add_argument("--guidance", type=float, help="guidance / CFG scale (default 7.5)")
    parser.add_argument("--seed", type=int, help="seed (default: random, recorded)")
    parser.add_argument("--scheduler", help=f"sampler: {', '.join(SCHEDULERS)}")
    parser.add_argument("--model", help="model: tiny, a Hugging Face id, a diffusers folder or "
                                        "a .safetensors file (default: [model] id)")


def _add_tool_commands(commands: Any) -> None:
    """``neurostream sketch|inpaint|vary|upscale|zoom|remix|morph``: iterate on an image."""
    job_help = "a job number, or the path of its result PNG (job-000012-seed-5.png)"
    sketch = commands.add_parser(
        "sketch", help="image-to-image: redraw a sketch or photo after a prompt",
        description="Redraw an image after a prompt (the sketch's shapes stay, detail comes) "
                    "and print the PNG's path. The result keeps the image's size, within the "
                    "size limits.")
    sketch.add_argument("image", type=Path, help="a PNG, JPEG or WebP file")
    _add_image_options(sketch)
    inpaint = commands.add_parser(
        "inpaint", help="repaint part of an image: white in the mask, or its transparent pixels",
        description="Repaint the white part of --mask (without one: the image's transparent "
                    "pixels) after a prompt; the rest of the image stays as it was. Prints the "
                    "PNG's path.")
    inpaint.add_argument("image", type=Path, help="a PNG, JPEG or WebP file")
    inpaint.add_argument("--mask", type=Path, help="white = repaint, black = keep")
    _add_image_options(inpaint)
    vary = commands.add_parser(
        "vary", help="a variation of a finished job in latent space (A1111's variation seed)",
        description="Render a variation of a finished job: its starting noise moved part of "
                    "the way towards a variation seed's. Strength 0 is the job's own image; "
                    "0.1 is subtle, 0.35 strong.")
    vary.add_argument("job", help=job_help)
    vary.add_argument("--strength", type=float, default=0.1,
                      help="0-1 (default 0.1, subtle; 0.35 is strong)")
    vary.add_argument("--seed", type=int, help="variation seed (default: random, recorded)")
    upscale = commands.add_parser(
        "upscale", help="a finished job at twice its size",
        description="Enlarge a finished job's image 2x and redraw it at a low strength (in "
                    "overlapping tiles beyond the size limits, or with [model] upscaler).")
    upscale.add_argument("job", help=job_help)
    zoom = commands.add_parser(
        "zoom", help="zoom out 1.5x: the image shrunk, its new border painted",
        description="Shrink a finished job's image 1.5x into a canvas of its size and paint "
                    "the border from its prompt and seed.")
    zoom.add_argument("job", help=job_help)
    remix = commands.add_parser(
        "remix", help="a finished job again with an edited prompt, same seed and size",
        description="Render a finished job again from the same seed, size and settings with "
                    "another prompt (the full prompt: no theme is applied again).")
    remix.add_argument("job", help=job_help)
    remix.add_argument("prompt", help="the new prompt")
    remix.add_argument("--negative", help="a new negative prompt (default: the job's)")
    morph = commands.add_parser(
        "morph", help="frames from one finished job's image to another's, and an animation",
        description="Render frames from one finished text-to-image job to another (same size, "
                    "steps, sampler and guidance) through latent space; print each frame's "
                    "PNG, then the animated WebP (GIF without WebP) and a contact sheet.")
    morph.add_argument("start", metavar="FROM", help=job_help)
    morph.add_argument("end", metavar="TO", help=job_help)
    morph.add_argument("--frames", type=int, default=8, help="2-24 (default 8)")
    for parser in (sketch, inpaint, vary, upscale, zoom, remix, morph):
        if parser not in (sketch, inpaint):
            parser.set_defaults(model=None)  # the job's own model
        parser.add_argument("--out", type=Path, metavar="DIR",
                            help="folder for the PNGs (default: [storage] output_dir)")
        _add_config(parser)


def _add_grid_commands(commands: Any) -> None:
    """``neurostream styles`` and ``neurostream xy``: the teaching grids, offline."""
    styles = commands.add_parser(
        "styles", help="a labelled grid of one subject in several artists' styles and techniques",
        description="Render a style grid (rows: artists, columns: techniques; one shared seed) "
                    "and print the grid PNG's path, then each cell's. With neither list, the "
                    "defaults: Edvard Munch, Pablo Picasso, Salvador Dali, Vincent van Gogh x "
                    "oil painting, watercolor, pastel drawing, pencil sketch.")
    styles.add_argument("subject", help="what to draw in every style, e.g. 'a spoon'")
    styles.add_argument("--artists", help="rows, comma-separated")
    styles.add_argument("--techniques", help="columns, comma-separated")
    styles.add_argument("--steps", type=int, help="denoising steps of every cell")
    styles.add_argument("--width", type=int, help="cell width, a multiple of 8 (default 512)")
    styles.add_argument("--height", type=int, help="cell height, a multiple of 8 (default 512)")
    xy = commands.add_parser(
        "xy", help="an X/Y plot: one prompt with one or two settings varied",
        description="Render an X/Y plot and print the grid PNG's path, then each cell's. Axes: "
                    "steps, guidance, scheduler, seed, size, artist, technique, prompt (search "
                    "and replace: the first value is a word of the prompt).")
    xy.add_argument("prompt", help="the prompt of every cell")
    xy.add_argument("--x", required=True, metavar="AXIS", help="what changes along a row")
    xy.add_argument("--x-values", required=True, metavar="LIST",
                    help="comma-separated values, e.g. '5, 10, 20' or '10-40 [4]'")
    xy.add_argument("--y", metavar="AXIS", help="what changes down a column")
    xy.add_argument("--y-values", metavar="LIST", help="comma-separated values of y")
    for parser in (styles, xy):
        parser.add_argument("--seed", type=int,
                            help="one seed for every cell (default: random; in the cells' names)")
        parser.add_argument("--theme", metavar="NAME", help="apply a preset theme")
        parser.add_argument("--model", help="model: tiny, a Hugging Face id, a diffusers folder "
                                            "or a .safetensors file (default: [model] id)")
        parser.add_argument("--out", type=Path, metavar="DIR",
                            help="folder for the grid and cell PNGs (default: [storage] "
                                 "output_dir)")
        _add_config(parser)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv`` (None: ``sys.argv[1:]``)."""
    return build_parser().parse_args(sys.argv[1:] if argv is None else argv)
