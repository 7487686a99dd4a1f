"""What to generate: the full recipe of one image, as recorded and reproduced."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Mode(StrEnum):
    """Which pipeline a recipe runs through."""

    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"


# Our short scheduler names → the names AUTOMATIC1111 writes as "Sampler", so that prompt readers
# and A1111's "send to txt2img" pick the same sampler.
SCHEDULERS: dict[str, str] = {
    "euler_a": "Euler a",
    "euler": "Euler",
    "dpm++_2m": "DPM++ 2M",
    "dpm++_2m_karras": "DPM++ 2M Karras",
    "ddim": "DDIM",
    "pndm": "PLMS",
    "lms": "LMS",
    "heun": "Heun",
    "unipc": "UniPC",
}

SEED_MAX = 2**32 - 1


def scheduler_display_name(key: str) -> str:
    """The A1111 sampler name for one of our scheduler keys."""
    return SCHEDULERS[key]


def scheduler_key(name: str) -> str | None:
    """Our scheduler key for a key or an A1111 sampler name (case-insensitive), or None."""
    wanted = name.strip().lower()
    for key, display in SCHEDULERS.items():
        if wanted in (key, display.lower()):
            return key
    return None


@dataclass(frozen=True, slots=True)
class Recipe:
    """Everything needed to reproduce one image (a seed of None is drawn when the job runs)."""

    prompt: str
    negative: str = ""
    width: int = 512
    height: int = 512
    steps: int = 25
    guidance: float = 7.5
    seed: int | None = None
    scheduler: str = "euler_a"
    model: str = "tiny"
    mode: Mode = Mode.TXT2IMG
    strength: float | None = None
    init_image: str | None = None
    mask_image: str | None = None
    # Set when a channel theme (or a preset) shaped ``prompt``: the user's own words, the theme's
    # name and its parts, so a result can show them apart. ``prompt`` stays the final prompt.
    user_prompt: str | None = None
    theme: str | None = None
    theme_prefix: str = ""
    theme_suffix: str = ""
    # What the user should know about how the request was changed (locked values, a cut prompt).
    notes: tuple[str, ...] = ()
    # A stream image: the pool entry it was expanded from and the expansion seed (reproducible).
    template: str | None = None
    template_seed: int | None = None

    @property
    def sampler(self) -> str:
        """The A1111 name of this recipe's scheduler."""
        return SCHEDULERS.get(self.scheduler, self.scheduler)

    def with_seed(self, seed: int) -> Recipe:
        """The same recipe with a concrete seed."""
        return dataclasses.replace(self, seed=seed)

    def batch_key(self) -> tuple[object, ...]:
        """Jobs whose recipes share this key can run in one pipeline call."""
        return (self.model, self.mode, self.width, self.height, self.steps, self.scheduler,
                self.guidance, self.strength)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict, the form stored in the database."""
        data = dataclasses.asdict(self)
        data["mode"] = self.mode.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        """Rebuild a recipe stored with ``to_dict`` (unknown keys are ignored)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["mode"] = Mode(values.get("mode", Mode.TXT2IMG))
        values["notes"] = tuple(values.get("notes") or ())  # JSON gives a list
        return cls(**values)
