"""Typed, frozen settings read once from TOML; every bad key or value fails at start, named."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.domain.errors import ConfigError
from bot.domain.models import (
    ATTENTION_CHOICES,
    TURBO_GUIDANCE,
    TURBO_STEPS,
    ModelCatalog,
    ModelSpec,
    check_spec,
)
from bot.domain.recipe import SCHEDULERS
from bot.domain.requests import Defaults
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


def pair(low: float, high: float, *, whole: bool) -> Check:
    """``[]`` (None: no range) or ``[a, b]`` with low <= a <= b <= high (a model's range)."""
    kind = "whole numbers" if whole else "numbers"

    def check(key: str, value: Any) -> tuple[float, float] | None:
        if value == []:
            return None
        ok = (isinstance(value, list) and len(value) == 2
              and all(isinstance(v, int if whole else int | float) and not isinstance(v, bool)
                      for v in value)
              and low <= value[0] <= value[1] <= high)
        if not ok:
            raise _fail(key, f"[] or [low, high], {kind} between {low:g} and {high:g}", value)
        return (value[0], value[1]) if whole else (float(value[0]), float(value[1]))
    return check


def sizes(key: str, value: Any) -> tuple[tuple[int, int], ...]:
    """A list of [width, height] pairs, multiples of 8 between 64 and 4096."""
    good = isinstance(value, list) and all(
        isinstance(v, list) and len(v) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and 64 <= n <= 4096 and not n % 8
                for n in v) for v in value)
    if not good:
        raise _fail(key, "a list of [width, height] pairs (multiples of 8, 64-4096)", value)
    return tuple((v[0], v[1]) for v in value)


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
    # Named models (issue "many models"): [model] is the default; [models.<name>] the others.
    name: str = _setting("", text, "the name /dream model: shows ([model] only); empty = id")
    description: str = _setting("", text, "one line shown by /models")
    turbo: bool = _setting(False, boolean, "SD-Turbo: no guidance, 1-4 steps (default 1)")
    step_range: tuple[int, int] | None = _setting(None, pair(1, 150, whole=True),
                                                  "steps this model takes; [] = any")
    guidance_range: tuple[float, float] | None = _setting(None, pair(0, 100, whole=False),
                                                          "guidance it takes; [] = any")
    fixed_scheduler: bool = _setting(False, boolean, "always sample with `scheduler`")
    compile: bool = _setting(False, boolean, "torch.compile the UNet (GPU), warmed up at load")
    compile_sizes: tuple[tuple[int, int], ...] = _setting((), sizes, "more sizes to warm up")
    channels_last: bool = _setting(False, boolean, "channels-last memory layout (GPU)")
    attention: str = _setting("auto", one_of(*ATTENTION_CHOICES), "attention kernels")
    upscaler: str = _setting("", text, "x4 upscaler model (HF id or folder) for Upscale; "
                                       "empty = tiled img2img")

    @property
    def limits(self) -> Limits:
        """The request limits these settings define."""
        return Limits(width_max=self.width_max, height_max=self.height_max,
                      steps_max=self.steps_max, guidance_max=self.guidance_max,
                      prompt_max_chars=self.prompt_max_chars)

    def spec(self, name: str | None = None) -> ModelSpec:
        """This table as a catalogue entry called ``name`` (default: ``name``, else ``id``)."""
        return ModelSpec(
            name=name or self.name or self.id, source=self.id, family=self.family,
            device=self.device, dtype=self.dtype,
            defaults=Defaults(width=self.width, height=self.height, steps=self.steps,
                              guidance=self.guidance, scheduler=self.scheduler),
            limits=self.limits, description=self.description,
            step_range=TURBO_STEPS if self.turbo else self.step_range,
            guidance_range=TURBO_GUIDANCE if self.turbo else self.guidance_range,
            fixed_scheduler=self.fixed_scheduler, compile=self.compile,
            compile_sizes=self.compile_sizes, channels_last=self.channels_last,
            attention=self.attention, upscaler=self.upscaler)


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
    max_loaded_models: int = _setting(2, integer(1, 64), "models kept loaded (least recently "
                                                         "used unloaded first)")


@dataclass(frozen=True, slots=True)
class LoraSettings:
    """``[loras]``: folders of ``.safetensors`` LoRAs that prompts name as <lora:name:weight>."""

    dirs: tuple[str, ...] = _setting((), folders, "LoRA folders (searched recursively)")
    keep_loaded: int = _setting(8, integer(0, 256), "LoRAs kept loaded per model (LRU); "
                                                    "0 = unloaded after each job")


@dataclass(frozen=True, slots=True)
class BackendSettings:
    """``[backend]``: where images render: this process, or Ray Serve replicas."""

    kind: str = _setting("inprocess", one_of("inprocess", "ray"), "in this process, or Ray Serve")
    address: str = _setting("local", non_empty_text,
                            '"local" (Ray started here) or a cluster\'s Serve URL')
    replicas: int = _setting(1, integer(1, 4096), "replicas; the queue runs as many batches")
    cpus_per_replica: float = _setting(1.0, number(0, 1024), "CPUs each replica reserves")
    gpus_per_replica: float = _setting(0.0, number(0, 64), "GPUs each replica reserves")
    max_batch_size: int = _setting(4, integer(1, 64), "images one replica renders in one call")
    models_per_replica: int = _setting(2, integer(1, 64), "models a replica keeps loaded (LRU)")
    listen: str = _setting("0.0.0.0:8000", non_empty_text, "where `neurostream serve` listens")


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
class LimitsSettings:
    """``[limits]``: what an uploaded image (a sketch, a mask) may be."""

    attachment_max_mb: float = _setting(8.0, number(0.01, 500), "largest upload, MiB (declared "
                                                                 "size checked before download)")
    attachment_max_side: int = _setting(8192, integer(64, 65535),
                                        "longest side of an upload, pixels (read from the header)")
    attachment_max_megapixels: float = _setting(40.0, number(0.01, 1000),
                                                "most pixels of an upload, in millions")


@dataclass(frozen=True, slots=True)
class StyleSettings:
    """``[styles]``: where the style presets of ``/dream style:`` come from."""

    builtin_presets: bool = _setting(True, boolean, "load the presets shipped in bot/data/styles")
    preset_dirs: tuple[str, ...] = _setting((), folders, "more style folders (later wins)")


@dataclass(frozen=True, slots=True)
class GridSettings:
    """``[grids]``: the teaching grids of ``/styles`` and ``/xy``."""

    max_side: int = _setting(6, integer(1, 10), "rows and columns a grid may have at most")
    cell_size: int = _setting(512, multiple_of_8(64, 2048), "a cell's default width and height")


def blocklist_rules(key: str, value: Any) -> tuple[str, ...]:
    """A list of blocklist rules (words, phrases, ``re:`` patterns), each checked now."""
    from bot.domain.blocklist import parse_rule
    from bot.domain.errors import UserError

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(key, "a list of blocklist rules (strings)", value)
    for rule in value:
        try:
            parse_rule(rule)
        except UserError as error:
            raise ConfigError(f"config: {key}: {error}") from None
    return tuple(value)


@dataclass(frozen=True, slots=True)
class QuotaSettings:
    """``[quotas]``: images one person may ask for per window, in each server (0 = no limit);
    ``/quota set`` overrides them per server."""

    per_minute: int = _setting(0, integer(0, 10000), "images per person per minute; 0 = no limit")
    per_hour: int = _setting(0, integer(0, 10000), "images per person per hour; 0 = no limit")
    per_day: int = _setting(0, integer(0, 10000), "images per person per day; 0 = no limit")


@dataclass(frozen=True, slots=True)
class ModerationSettings:
    """``[moderation]``: the operator's default blocklist (each server may turn it off)."""

    default_blocklist: tuple[str, ...] = _setting((), blocklist_rules,
                                                  "rules every server starts with")


@dataclass(frozen=True, slots=True)
class SafetySettings:
    """``[safety]``: the model's safety checker (where flagged images go is per server)."""

    checker: bool = _setting(True, boolean, "check every image with the model's own safety "
                                            "checker when it ships one (SD 1.x does)")


DEFAULT_SOURCE_URL = "https://github.com/neurostream/neurostream"


@dataclass(frozen=True, slots=True)
class AboutSettings:
    """``[about]``: what ``/about`` links to and says about the model's licence."""

    source_url: str = _setting(DEFAULT_SOURCE_URL, non_empty_text, "where the source code is")
    model_licence: str = _setting("", text, "the model's licence; empty = from its family")


@dataclass(frozen=True, slots=True)
class StarboardSettings:
    """``[starboard]``: the default for ``/starboard set`` (each server picks its channel)."""

    threshold: int = _setting(3, integer(1, 100), "votes that repost a result, when "
                                                  "/starboard set gives none")


@dataclass(frozen=True, slots=True)
class WallSettings:
    """``[wall]``: the live wall's web server (``neurostream wall``)."""

    host: str = _setting("127.0.0.1", non_empty_text, "address to bind; not localhost needs "
                                                      "a token")
    port: int = _setting(8765, integer(1, 65535), "TCP port")
    token: str = _setting("", text, "secret the page URL carries (?token=…); required off "
                                    "localhost")
    images: int = _setting(24, integer(1, 200), "images the page keeps and cycles through")
    slide_seconds: float = _setting(12.0, number(2, 600), "seconds each image stays in the "
                                                          "slideshow")
    poll_seconds: float = _setting(0.5, number(0.05, 60), "how often the server looks for "
                                                          "new images (one query for all "
                                                          "browsers)")


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings; built once in ``main()`` and passed in."""

    model: ModelSettings = field(default_factory=ModelSettings)
    # [models.<name>] tables, in the file's order (the default, [model], is not among them).
    models: tuple[tuple[str, ModelSettings], ...] = ()
    loras: LoraSettings = field(default_factory=LoraSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    backend: BackendSettings = field(default_factory=BackendSettings)
    themes: ThemeSettings = field(default_factory=ThemeSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    styles: StyleSettings = field(default_factory=StyleSettings)
    grids: GridSettings = field(default_factory=GridSettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    moderation: ModerationSettings = field(default_factory=ModerationSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)
    about: AboutSettings = field(default_factory=AboutSettings)
    starboard: StarboardSettings = field(default_factory=StarboardSettings)
    wall: WallSettings = field(default_factory=WallSettings)
    # The config file's folder; None when there is no config file (built-in defaults).
    base_dir: Path | None = None

    @property
    def catalog(self) -> ModelCatalog:
        """Every model by name: ``[model]`` (the default) first, then ``[models.<name>]``."""
        specs = [self.model.spec(), *(m.spec(n) for n, m in self.models)]
        # [safety] checker holds for every model (and travels to Ray replicas with the specs).
        return ModelCatalog([dataclasses.replace(spec, safety_checker=self.safety.checker)
                             for spec in specs])

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
    "loras": LoraSettings,
    "backend": BackendSettings,
    "themes": ThemeSettings,
    "limits": LimitsSettings,
    "styles": StyleSettings,
    "grids": GridSettings,
    "quotas": QuotaSettings,
    "moderation": ModerationSettings,
    "safety": SafetySettings,
    "about": AboutSettings,
    "starboard": StarboardSettings,
    "wall": WallSettings,
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


_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _model_table(key: str, raw: Any) -> ModelSettings:
    """One model table; ``turbo = true`` makes 1 step and no guidance the defaults."""
    if isinstance(raw, dict) and raw.get("turbo") is True:
        raw = {"steps": 1, "guidance": 0.0, **raw}
    model = _build_section(key, ModelSettings, raw)
    try:
        check_spec(model.spec(key))
    except ValueError as error:
        raise ConfigError(f"config: {error}") from None
    return model


def _named_models(raw: Any) -> tuple[tuple[str, ModelSettings], ...]:
    if not isinstance(raw, dict):
        raise ConfigError(f"config: [models] must hold [models.<name>] tables, got {raw!r}")
    models = []
    for name, table in raw.items():
        if not _MODEL_NAME.fullmatch(name):
            raise ConfigError(f"config: [models.{name}]: a model name is letters, digits, "
                              "'.', '-' or '_' (at most 64)")
        if isinstance(table, dict) and "name" in table:
            raise ConfigError(f"config: models.{name}.name: the table's key is its name")
        models.append((name, _model_table(f"models.{name}", table)))
    return tuple(models)


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


def _check_model_limits(key: str, model: ModelSettings) -> None:
    """A named model's defaults within its own limits (as _cross_check does for [model])."""
    if model.width > model.width_max or model.height > model.height_max:
        raise ConfigError(f"config: {key}.width/height ({model.width}x{model.height}) must not "
                          f"exceed its width_max/height_max ({model.width_max}x{model.height_max})")
    if model.steps > model.steps_max or model.guidance > model.guidance_max:
        raise ConfigError(f"config: {key}.steps/guidance ({model.steps}, {model.guidance:g}) "
                          f"must not exceed its steps_max/guidance_max ({model.steps_max}, "
                          f"{model.guidance_max:g})")


LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")


def check_wall_bind(host: str, token: str, *, key: str) -> None:
    """A wall served beyond this machine needs a token (anyone on the network could read it)."""
    if host.strip().lower() not in LOCAL_HOSTS and not token.strip():
        raise ConfigError(f"{key} is {host!r}, not localhost: set [wall] token (a secret the "
                          f"page URL carries) to serve the wall on the network")


def _check_backend(backend: BackendSettings) -> None:
    address = backend.address.strip()
    if address != "local" and not address.startswith(("http://", "https://")):
        raise ConfigError(f'config: backend.address must be "local" or the URL of a Ray Serve '
                          f"proxy (http://host:8000), got {address!r}")
    host, _, port = backend.listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"config: backend.listen must be host:port (0.0.0.0:8000), got "
                          f"{backend.listen!r}")


def settings_from_dict(raw: dict[str, Any], base_dir: Path | None = None) -> Settings:
    """Build settings from a parsed TOML document, naming the first bad key.

    ``base_dir`` is the config file's folder (None: no file; see ``Settings.data_dir``).
    """
    unknown = sorted(set(raw) - set(SECTIONS) - {"models"})
    if unknown:
        raise ConfigError(f"config: unknown section [{unknown[0]}] "
                          f"(known sections: {', '.join(SECTIONS)})")
    if "token" in raw.get("discord", {}):
        raise ConfigError("config: discord.token does not belong in the config file; "
                          "set DISCORD_TOKEN in the environment or in .env")
    sections = {name: _build_section(name, cls, raw.get(name, {}))
                for name, cls in SECTIONS.items() if name != "model"}
    models = _named_models(raw.get("models", {}))
    settings = Settings(**sections, model=_model_table("model", raw.get("model", {})),
                        models=models, base_dir=base_dir)
    _cross_check(settings)
    for name, model in models:
        _check_model_limits(f"models.{name}", model)
    try:
        settings.catalog  # noqa: B018 - a name used twice fails here, at start
    except ValueError as error:
        raise ConfigError(f"config: {error} ([model] name or id, and [models.<name>])") from None
    _check_backend(settings.backend)
    check_wall_bind(settings.wall.host, settings.wall.token, key="config: wall.host")
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
