"""Themes: presets from files, channel themes cached in memory (no I/O before Discord's ack)."""

from __future__ import annotations

import copy
import logging
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.domain.channel_theme import ChannelTheme, ThemeChange
from bot.domain.errors import UserError
from bot.domain.models import ModelCatalog
from bot.domain.prompt_pool import parse_wildcard_file
from bot.domain.themes import (
    Preset,
    PresetError,
    Theme,
    TokenCounter,
    check_theme,
    preset_from_dict,
)
from bot.domain.validation import Limits
from bot.storage.streams import StreamRepository
from bot.storage.themes import ThemeRepository

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

BUILTIN_PRESETS = Path(__file__).resolve().parents[2] / "themes"
AUTOCOMPLETE_LIMIT = 25


@dataclass
class PresetCatalog:
    """Every preset and wildcard list that loaded, and what did not (path: key: problem)."""

    presets: dict[str, Preset] = field(default_factory=dict)
    wildcards: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def get(self, name: str) -> Preset:
        """The preset called ``name``; UserError naming the known ones otherwise."""
        preset = self.presets.get(name.strip().lower())
        if preset is None:
            known = ", ".join(sorted(self.presets)) or "none"
            raise UserError(f"there is no preset called {name!r} (presets: {known})")
        return preset

    def search(self, text: str, limit: int = AUTOCOMPLETE_LIMIT) -> list[Preset]:
        """Presets whose name or title contains ``text`` (names starting with it first)."""
        wanted = text.strip().lower()
        hits = [p for p in self.presets.values()
                if wanted in p.name or wanted in p.title.lower()]
        hits.sort(key=lambda p: (not p.name.startswith(wanted), p.name))
        return hits[:limit]


def _load_wildcards(folder: Path, into: dict[str, list[str]]) -> None:
    root = folder / "wildcards"
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*.txt")):
        name = path.relative_to(root).with_suffix("").as_posix()
        into[name] = parse_wildcard_file(path.read_text(encoding="utf-8"))


def load_presets(folders: Iterable[Path], limits: Limits) -> PresetCatalog:
    """Read every ``*.toml`` preset and ``wildcards/*.txt`` list; a broken file is reported
    (path and key) and skipped, the others still load. Later folders win on equal names."""
    catalog = PresetCatalog()
    folders = [folder for folder in folders if folder.is_dir()]
    for folder in folders:
        _load_wildcards(folder, catalog.wildcards)
    for folder in folders:
        for path in sorted(folder.glob("*.toml")):
            try:
                with path.open("rb") as file:
                    data: dict[str, Any] = tomllib.load(file)
                preset = preset_from_dict(data, name=path.stem.lower(), limits=limits,
                                          wildcards=catalog.wildcards)
            except tomllib.TOMLDecodeError as error:
                catalog.problems.append(f"{path}: not valid TOML: {error}")
                continue
            except PresetError as error:
                catalog.problems.append(f"{path}: {error}")
                continue
            catalog.presets[preset.name] = preset
    for problem in catalog.problems:
        log.error("broken preset skipped: %s", problem)
    return catalog


def preset_folders(settings: Settings) -> list[Path]:
    """The preset folders the settings name: the shipped one first, then ``preset_dirs``."""
    folders = [BUILTIN_PRESETS] if settings.themes.builtin_presets else []
    folders += [settings.path(folder) for folder in settings.themes.preset_dirs]
    for folder in folders[1 if settings.themes.builtin_presets else 0:]:
        if not folder.is_dir():
            log.error("preset folder %s does not exist", folder)
    return folders


def tokenizer_counter(tokenizer: Any) -> TokenCounter:
    """Count tokens with a Hugging Face tokenizer (a copy: the worker thread uses its own)."""
    own = copy.deepcopy(tokenizer)

    def count(text: str) -> int:
        return len(own.tokenize(text))

    return count


def load_token_counter(engine: Any) -> TokenCounter | None:
    """The model's own tokenizer as a counter, None if it has none (then words are estimated).

    Runs on the worker thread: deep-copying a tokenizer is a few milliseconds of CPU.
    """
    tokenizer = getattr(getattr(engine, "pipeline", None), "tokenizer", None)
    if tokenizer is None:
        return None
    try:
        return tokenizer_counter(tokenizer)
    except Exception:  # an exotic tokenizer: the estimate is good enough for a warning
        log.warning("could not copy the model's tokenizer; estimating prompt lengths",
                    exc_info=True)
        return None


class ThemeService:
    """Channel themes (cached: ``theme_for`` does no I/O), presets and the audit trail."""

    def __init__(self, repository: ThemeRepository, pools: StreamRepository,
                 catalog: PresetCatalog, limits: Limits) -> None:
        self._repository = repository
        self._pools = pools
        self.catalog = catalog
        self.limits = limits
        # The bot's models, so a theme's model: is checked when it is set (None: any name).
        self.models: ModelCatalog | None = None
        self._themes: dict[int, ChannelTheme] = {}

    async def load(self) -> None:
        """Fill the cache from the database (once, at start)."""
        self._themes = {row.channel_id: row for row in await self._repository.all()}

    def theme_for(self, channel_id: int | None, parent_id: int | None = None
                  ) -> ChannelTheme | None:
        """The theme of a channel; a thread without its own inherits its parent's. No I/O."""
        for key in (channel_id, parent_id):
            if key is not None and key in self._themes:
                return self._themes[key]
        return None

    def theme_in(self, channel: object) -> ChannelTheme | None:
        """The theme where an interaction happens; a thread (it has a ``parent_id``) without
        its own theme inherits its parent channel's. No I/O."""
        return self.theme_for(getattr(channel, "id", None), getattr(channel, "parent_id", None))

    def guild_themes(self, guild_id: int) -> list[ChannelTheme]:
        """Every themed channel of a server."""
        return [row for row in self._themes.values() if row.guild_id == guild_id]

    def build(self, prefix: str, *, suffix: str | None = None, negative: str | None = None,
              width: int | None = None, height: int | None = None, steps: int | None = None,
              guidance: float | None = None, scheduler: str | None = None,
              name: str = "", model: str | None = None) -> Theme:
        """A checked theme from ``/theme set`` options (pure; ValidationError names the value,
        and an unknown model the models there are)."""
        if model is not None and self.models is not None:
            model = self.models.get(model).name
        return check_theme(Theme(prefix=prefix, suffix=suffix or "", negative=negative or "",
                                 width=width, height=height, steps=steps, guidance=guidance,
                                 scheduler=scheduler, name=name, model=model), self.limits)

    async def set(self, guild_id: int, channel_id: int, theme: Theme, *, user_id: int | None,
                  user_name: str) -> ChannelTheme:
        """Store a channel's theme and record the change."""
        row = await self._repository.set(guild_id, channel_id, theme, user_id=user_id,
                                         user_name=user_name)
        assert row is not None
        self._themes[channel_id] = row
        return row

    async def clear(self, guild_id: int, channel_id: int, *, user_id: int | None,
                    user_name: str) -> ChannelTheme:
        """Remove a channel's theme; UserError if it has none."""
        current = self._themes.get(channel_id)
        if current is None:
            raise UserError("this channel has no theme to clear")
        await self._repository.set(guild_id, channel_id, None, user_id=user_id,
                                   user_name=user_name)
        self._themes.pop(channel_id, None)
        return current

    async def apply_preset(self, guild_id: int, channel_id: int, name: str, *,
                           user_id: int | None, user_name: str) -> tuple[ChannelTheme, Preset]:
        """Theme a channel with a preset; its prompt pool replaces the channel's stream pool."""
        preset = self.catalog.get(name)
        row = await self.set(guild_id, channel_id, preset.theme, user_id=user_id,
                             user_name=user_name)
        await self._pools.replace_pool(guild_id, channel_id, preset.pool, added_by=user_id)
        return row, preset

    async def history(self, channel_id: int, limit: int = 10) -> list[ThemeChange]:
        """The channel's last changes, newest first."""
        return await self._repository.history(channel_id, limit)

    def presets(self) -> Sequence[Preset]:
        """Every loaded preset, by name."""
        return [self.catalog.presets[name] for name in sorted(self.catalog.presets)]
