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
    # The input image resized to the recipe's size, then redrawn at a low strength (tiled when
    # larger than the size limits, or through a ×4 upscaler model when one is configured).
    UPSCALE = "upscale"


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
    # Few-step samplers for LCM and TCD models (and their LoRAs): 2-8 steps, low guidance.
    "lcm": "LCM",
    "tcd": "TCD",
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
    # An inpaint whose image is not ``width``×``height`` (its sides are not multiples of 8):
    # the image's own size. The render (the image resized to ``width``×``height``) is pasted
    # back into the image at this size, which the result keeps (and its PNG's "Size" says).
    source_size: tuple[int, int] | None = None
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
    # Style presets (``/dream style:``) or a grid cell's styles whose words are in ``prompt``.
    styles: tuple[str, ...] = ()
    # A variation (A1111's "variation seed"): the initial noise is the spherical interpolation
    # from the seed's noise towards the variation seed's at ``variation_strength`` (0 = the
    # seed's image exactly; a seed of None is drawn when the job runs).
    variation_seed: int | None = None
    variation_strength: float = 0.0
    # A morph frame, ``blend`` of the way from this recipe's image to another's: every noise
    # (the initial one and the sampler's) and the prompt embeddings are interpolated towards
    # that image's seed (with its own variation) and prompts. 0 = this image, 1 = the other.
    blend: float = 0.0
    blend_seed: int | None = None
    blend_variation_seed: int | None = None
    blend_variation_strength: float = 0.0
    blend_prompt: str | None = None
    blend_negative: str = ""
    # The ×4 upscaler model an upscale went through (None: the model's own image-to-image).
    upscaler: str | None = None
    # LoRAs named in the prompt (``<lora:name:weight>``, A1111's syntax), resolved to the names
    # of installed files: applied for this job only. ``lora_hashes`` are the files' A1111 short
    # hashes, recorded when the job runs (the PNG's "Lora hashes").
    loras: tuple[tuple[str, float], ...] = ()
    lora_hashes: tuple[tuple[str, str], ...] = ()

    @property
    def output_size(self) -> tuple[int, int]:
        """The size of the finished image: an inpaint's ``source_size``, else width×height."""
        if self.mode is Mode.INPAINT and self.source_size is not None:
            return self.source_size
        return self.width, self.height

    @property
    def sampler(self) -> str:
        """The A1111 name of this recipe's scheduler."""
        return SCHEDULERS.get(self.scheduler, self.scheduler)

    def with_seed(self, seed: int) -> Recipe:
        """The same recipe with a concrete seed."""
        return dataclasses.replace(self, seed=seed)

    @property
    def is_morph_frame(self) -> bool:
        """Whether this recipe blends towards another image (a morph's frame)."""
        return self.blend_seed is not None or self.blend_prompt is not None

    def batch_key(self) -> tuple[object, ...]:
        """Jobs whose recipes share this key can run in one pipeline call (variations and
        morph frames too: their noise and prompt embeddings are per image)."""
        return (self.model, self.mode, self.width, self.height, self.steps, self.scheduler,
                self.guidance, self.strength, self.loras)

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
        size = values.get("source_size")
        values["source_size"] = (int(size[0]), int(size[1])) if size else None
        values["styles"] = tuple(values.get("styles") or ())
        values["loras"] = tuple((str(n), float(w)) for n, w in values.get("loras") or ())
        values["lora_hashes"] = tuple((str(n), str(h))
                                      for n, h in values.get("lora_hashes") or ())
        return cls(**values)
