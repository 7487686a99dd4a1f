"""Typed, frozen settings read once from TOML; every bad key or value fails at start, named."""

from __future__ import annotations

import dataclasses
import os
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.domain.errors import ConfigError
from bot.domain.recipe import SCHEDULERS
from bot.domain.validation import Limits

MODEL_FAMILIES = ("", "tiny", "sd1", "sd2", "sd2-v", "sdxl")

Check = Callable[[str, Any], Any]


def _fail(key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"config: {key} must be {expected}, got {value!r}")


def integer(low: int, high: int) -> Check:
    """A whole number within [low, high]."""
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _fail(key, f"an integer between {low} and {high}", value)
        return value
    return check


def number(low: float, high: float) -> Check:
    """A number within [low, high]."""
    def check(key: str, value: Any) -> float:
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or not low <= value <= high:
            raise _fail(key, f"a number between {low:g} and {high:g}", value)
        return float(value)
    return check


def multiple_of_8(low: int, high: int) -> Check:
    """A multiple of 8 within [low, high] (image sides)."""
    def check(key: str, value: Any) -> int:
        if (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
                or value % 8):
            raise _fail(key, f"a multiple of 8 between {low} and {high}", value)
        return value
    return check


def one_of(*choices: str) -> Check:
    """One of a fixed set of strings."""
    def check(key: str, value: Any) -> str:
        if value not in choices:
            shown = ", ".join(repr(c) for c in choices)
            raise _fail(key, f"one of {shown}", value)
        return str(value)
    return check


def text(key: str, value: Any) -> str:
    """Any string."""
    if not isinstance(value, str):
        raise _fail(key, "a string", value)
    return value


def non_empty_text(key: str, value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, "a non-empty string", value)
    return value


def snowflakes(key: str, value: Any) -> tuple[int, ...]:
    """A list of Discord ids (integers or digit strings)."""
    if not isinstance(value, list):
        raise _fail(key, "a list of Discord server ids", value)
    ids = []
    for item in value:
        if isinstance(item, str) and item.isdigit():
            item = int(item)
        if isinstance(item, bool) or not isinstance(item, int) or item <= 0:
            raise _fail(key, "a list of Discord server ids", value)
        ids.append(item)
    return tuple(ids)


def boolean(key: str, value: Any) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise _fail(key, "true or false", value)
    return value


def folders(key: str, value: Any) -> tuple[str, ...]:
    """A list of folder paths (relative ones are taken from the config file's folder)."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(key, "a list of folder paths", value)
    return tuple(value)


def _setting(default: Any, check: Check, doc: str) -> Any:
    return field(default=default, metadata={"check": check, "doc": doc})


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """``[model]``: which checkpoint, on which device, request defaults and limits."""

    id: str = _setting("tiny", non_empty_text, "tiny | HF id | diffusers folder | single file")
    family: str = _setting("", one_of(*MODEL_FAMILIES), "single-file family; empty = detect")
    device: str = _setting("auto", non_empty_text, "auto | cpu | cuda | cuda:N | mps")
    dtype: str = _setting("auto", one_of("auto", "fp32", "fp16", "bf16"), "weights dtype")
    scheduler: str = _setting("euler_a", one_of(*SCHEDULERS), "default scheduler")
    width: int = _setting(512, multiple_of_8(64, 4096), "default width")
    height: int = _setting(512, multiple_of_8(64, 4096), "default height")
    steps: int = _setting(25, integer(1, 500), "default steps")
    guidance: float = _setting(7.5, number(0, 100), "default guidance (CFG scale)")
    width_max: int = _setting(1024, multiple_of_8(64, 4096), "largest width allowed")
    height_max: int = _setting(1024, multiple_of_8(64, 4096), "largest height allowed")
    steps_max: int = _setting(150, integer(1, 150), "most steps allowed")
    guidance_max: float = _setting(30.0, number(0, 100), "largest guidance allowed")
    prompt_max_chars: int = _setting(1000, integer(1, 6000), "longest prompt allowed")

    @property
    def limits(self) -> Limits:
        """The request limits these settings define."""
        return Limits(width_max=self.width_max, height_max=self.height_max,
                      steps_max=self.steps_max, guidance_max=self.guidance_max,
                      prompt_max_chars=self.prompt_max_chars)


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """``[storage]``: the data folder, the database file and where images are written."""

    data_dir: str = _setting("", text, "folder for the database and outputs; empty = the "
                                       "config file's folder, or the platform data folder")
    database: str = _setting("neurostream.db", non_empty_text, "SQLite database file")
    output_dir: str = _setting("outputs", non_empty_text, "folder for result PNGs")
    png_compress_level: int = _setting(1, integer(0, 9), "zlib level for result PNGs")


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """``[discord]``: where commands are synced and how long to try reaching Discord."""

    dev_guild_ids: tuple[int, ...] = _setting((), snowflakes, "guilds synced at start-up")
    startup_retry_seconds: float = _setting(60.0, number(0, 3600),
                                            "how long start-up retries an unreachable Discord")


def batch_size(key: str, value: Any) -> int:
    """``"auto"`` (0) or a batch size from 1 to 16."""
    if value == "auto":
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16:
        raise _fail(key, '"auto" or an integer between 1 and 16', value)
    return value


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """``[queue]``: caps, batching and fault handling."""

    max_per_user: int = _setting(5, integer(0, 1000), "queued jobs per person; 0 = no cap")
    max_total: int = _setting(200, integer(0, 100000), "queued jobs in all; 0 = no cap")
    max_batch: int = _setting(0, batch_size, '"auto" (1 on CPU, by free memory on GPU) or 1-16')
    max_attempts: int = _setting(3, integer(1, 20), "starts before a crashing job is failed")
    step_timeout: float = _setting(300.0, number(1, 86400), "seconds a step may take")


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """``[worker]``: the inference thread."""

    torch_threads: int = _setting(0, integer(0, 256), "CPU threads for torch; 0 = all cores")


@dataclass(frozen=True, slots=True)
class ThemeSettings:
    """``[themes]``: where presets come from and the bounds of a stream's interval."""

    builtin_presets: bool = _setting(True, boolean, "load the presets shipped in themes/")
    preset_dirs: tuple[str, ...] = _setting((), folders, "more preset folders (later wins)")
    stream_every: float = _setting(300.0, number(0.01, 7 * 86400), "default stream interval, s")
    stream_every_min: float = _setting(60.0, number(0.01, 7 * 86400), "shortest interval, s")
    stream_every_max: float = _setting(86400.0, number(0.01, 7 * 86400), "longest interval, s")
    setup_max_channels: int = _setting(10, integer(1, 50), "channels one /stream setup creates")


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings; built once in ``main()`` and passed in."""

    model: ModelSettings = field(default_factory=ModelSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    themes: ThemeSettings = field(default_factory=ThemeSettings)
    # The config file's folder; None when there is no config file (built-in defaults).
    base_dir: Path | None = None

    def path(self, value: str) -> Path:
        """A configured path, relative paths taken from the config file's folder (or the cwd)."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir or Path.cwd()) / path

    @property
    def data_dir(self) -> Path:
        """Where the database and outputs go: ``[storage] data_dir``, else the config file's
        folder, else (no config file) the platform's data folder."""
        if self.storage.data_dir:
            return self.path(self.storage.data_dir)
        return self.base_dir if self.base_dir is not None else platform_data_dir()

    def data_path(self, value: str) -> Path:
        """A storage path, relative paths taken from ``data_dir``."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.data_dir / path

    @property
    def database_path(self) -> Path:
        """The SQLite file."""
        return self.data_path(self.storage.database)

    @property
    def output_dir(self) -> Path:
        """The folder results are written to."""
        return self.data_path(self.storage.output_dir)


def platform_data_dir(app: str = "neurostream") -> Path:
    """The per-user data folder: $XDG_DATA_HOME/neurostream (~/.local/share/neurostream),
    ~/Library/Application Support/neurostream on macOS, %LOCALAPPDATA%\\neurostream on
    Windows."""
    if sys.platform == "win32":
        root = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(root) / app
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / app
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    # The XDG spec says a relative $XDG_DATA_HOME is invalid and must be ignored.
    root = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return root / app


SECTIONS: dict[str, type] = {
    "model": ModelSettings,
    "storage": StorageSettings,
    "discord": DiscordSettings,
    "queue": QueueSettings,
    "worker": WorkerSettings,
    "themes": ThemeSettings,
}


def _build_section(name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"config: [{name}] must be a table, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"config: unknown key {name}.{unknown[0]} "
                          f"(known keys in [{name}]: {', '.join(fields)})")
    values = {key: fields[key].metadata["check"](f"{name}.{key}", value)
              for key, value in raw.items()}
    return cls(**values)


def _cross_check(settings: Settings) -> None:
    model = settings.model
    if model.width > model.width_max or model.height > model.height_max:
        raise ConfigError(f"config: model.width/height ({model.width}x{model.height}) must not "
                          f"exceed model.width_max/height_max "
                          f"({model.width_max}x{model.height_max})")
    if model.steps > model.steps_max:
        raise ConfigError(f"config: model.steps ({model.steps}) must not exceed "
                          f"model.steps_max ({model.steps_max})")
    if model.guidance > model.guidance_max:
        raise ConfigError(f"config: model.guidance ({model.guidance:g}) must not exceed "
                          f"model.guidance_max ({model.guidance_max:g})")
    themes = settings.themes
    if not themes.stream_every_min <= themes.stream_every <= themes.stream_every_max:
        raise ConfigError(f"config: themes.stream_every ({themes.stream_every:g}) must lie "
                          f"between themes.stream_every_min ({themes.stream_every_min:g}) and "
                          f"themes.stream_every_max ({themes.stream_every_max:g})")


def settings_from_dict(raw: dict[str, Any], base_dir: Path | None = None) -> Settings:
    """Build settings from a parsed TOML document, naming the first bad key.

    ``base_dir`` is the config file's folder (None: no file; see ``Settings.data_dir``).
    """
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"config: unknown section [{unknown[0]}] "
                          f"(known sections: {', '.join(SECTIONS)})")
    if "token" in raw.get("discord", {}):
        raise ConfigError("config: discord.token does not belong in the config file; "
                          "set DISCORD_TOKEN in the environment or in .env")
    sections = {name: _build_section(name, cls, raw.get(name, {}))
                for name, cls in SECTIONS.items()}
    settings = Settings(**sections, base_dir=base_dir)
    _cross_check(settings)
    return settings


def load_settings(path: Path | None) -> Settings:
    """Read the TOML file at ``path`` (None = all defaults, data in the platform data folder)."""
    if path is None:
        return Settings()
    try:
        with path.open("rb") as file:
            raw = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config: file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config: {path} is not valid TOML: {error}") from None
    return settings_from_dict(raw, base_dir=path.resolve().parent)


def discord_token() -> str | None:
    """The bot token from the environment or ``.env`` (never from the TOML file, never logged)."""
    from dotenv import load_dotenv

    load_dotenv(override=False)
    token = os.environ.get("DISCORD_TOKEN", "").strip()
    return token or None
