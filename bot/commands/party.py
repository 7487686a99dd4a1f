"""``neurostream export --party ID --out DIR``: a party's gallery, rebuilt from the database."""

from __future__ import annotations

import argparse
import sys

from bot.config import Settings
from bot.services.party import open_parties


async def export_party(settings: Settings, args: argparse.Namespace) -> int:
    """Write ``party-<id>.html`` (and ``party-<id>.zip`` past the upload limit) into ``--out``;
    print each path. Reads the database only: safe while the bot runs."""
    async with open_parties(settings) as parties:
        published = await parties.export(args.party, args.out)
    print(published.html_path)
    if published.zip_path is not None:
        print(published.zip_path)
        print(f"neurostream export: note: the HTML passes Discord's upload limit; "
              f"{published.zip_path.name} holds index.html and the images", file=sys.stderr)
    return 0
