"""How a discord.py process (e.g. a bot subprocess) points itself at a FakeDiscord via env vars.

The bot should do the equivalent of ``apply_env()`` before ``login()``:

* ``NEUROSTREAM_DISCORD_API_BASE`` → ``discord.http.Route.BASE`` (``http://127.0.0.1:PORT/api/v10``)
* ``NEUROSTREAM_DISCORD_GATEWAY`` → ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``
  (``ws://127.0.0.1:PORT/gateway``; discord.py 2.7 never asks ``/gateway/bot`` for a plain
  Client, it connects straight to DEFAULT_GATEWAY, then to READY's resume_gateway_url)
* ``NEUROSTREAM_DISCORD_CDN_BASE`` (optional) → ``discord.asset.Asset.BASE`` (avatars/icons)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import discord
import discord.asset
import discord.gateway
import discord.http
import yarl

ENV_API_BASE = "NEUROSTREAM_DISCORD_API_BASE"
ENV_GATEWAY = "NEUROSTREAM_DISCORD_GATEWAY"
ENV_CDN_BASE = "NEUROSTREAM_DISCORD_CDN_BASE"


def point_discord_at(api_base: str, gateway_url: str, cdn_base: str | None = None) -> None:
    """Patch this process's discord.py module globals to use the given endpoints."""
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    if cdn_base:
        discord.asset.Asset.BASE = cdn_base.rstrip("/")


def apply_env(environ: Mapping[str, str] = os.environ) -> bool:
    """Apply the NEUROSTREAM_DISCORD_* variables if set; returns whether anything changed."""
    api, gateway = environ.get(ENV_API_BASE), environ.get(ENV_GATEWAY)
    if not api or not gateway:
        return False
    point_discord_at(api, gateway, environ.get(ENV_CDN_BASE))
    return True
