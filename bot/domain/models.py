"""The model catalogue: the named models a bot offers, their defaults, limits and constraints.

Pure: built from the config (``[model]`` is the default, ``[models.<name>]`` tables the others)
and read by the generation service to fill a request's defaults and check it against its model,
and by whatever loads models (the in-process pool, a Ray Serve replica) to know what a name
means. A few-step model (SD-Turbo, an LCM or TCD model) carries a step and guidance range and may
fix its scheduler: a request past them is brought into range with a note, never refused for it.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from bot.domain.errors import ValidationError
from bot.domain.recipe import Recipe, scheduler_display_name
from bot.domain.requests import Defaults
from bot.domain.validation import Limits, validate_recipe

# SD-Turbo / SDXL-Turbo: distilled for 1-4 steps without classifier-free guidance.
TURBO_STEPS = (1, 4)
TURBO_GUIDANCE = (0.0, 0.0)
ATTENTION_CHOICES = ("auto", "sdpa", "xformers", "eager")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One named model: where its weights come from, how it runs, and what requests it takes.

    ``step_range`` / ``guidance_range`` (None: any value within ``limits``) and
    ``fixed_scheduler`` (only ``defaults.scheduler``) are the model's own constraints: a
    request outside them is moved into them with a note (see ``fit_to_model``).
    """

    name: str
    source: str = "tiny"
    family: str = ""
    device: str = "auto"
    dtype: str = "auto"
    defaults: Defaults = field(default_factory=Defaults)
    limits: Limits = field(default_factory=Limits)
    description: str = ""
    step_range: tuple[int, int] | None = None
    guidance_range: tuple[float, float] | None = None
    fixed_scheduler: bool = False
    # GPU speed: torch.compile of the UNet (warmed up at load for ``compile_sizes`` and the
    # default size), channels-last memory layout, and which attention kernels.
    compile: bool = False
    compile_sizes: tuple[tuple[int, int], ...] = ()
    channels_last: bool = False
    attention: str = "auto"
    # A ×4 upscaler model (a HF id or a diffusers folder) for upscales; "" = tiled img2img.
    upscaler: str = ""
    # Whether the model's own safety checker (if it ships one) flags images ([safety] checker).
    safety_checker: bool = True

    @property
    def few_step(self) -> bool:
        """Whether this model renders in a handful of steps (its range ends at 8 or fewer)."""
        return self.step_range is not None and self.step_range[1] <= 8

    @property
    def turbo(self) -> bool:
        """Whether this is a Turbo model: no guidance, 1-4 steps."""
        return self.step_range == TURBO_STEPS and self.guidance_range == TURBO_GUIDANCE

    def warm_sizes(self) -> tuple[tuple[int, int], ...]:
        """The (width, height) shapes a compiled UNet is warmed up for, the default first."""
        sizes = [(self.defaults.width, self.defaults.height), *self.compile_sizes]
        return tuple(dict.fromkeys(sizes))


def check_spec(spec: ModelSpec) -> ModelSpec:
    """``spec`` itself; ValueError naming the key when its defaults break its own ranges."""
    where = f"model {spec.name!r}"
    if spec.step_range is not None:
        low, high = spec.step_range
        if not 1 <= low <= high:
            raise ValueError(f"{where}: step_range must be [low, high] with 1 <= low <= high, "
                             f"got [{low}, {high}]")
        if not low <= spec.defaults.steps <= high:
            raise ValueError(f"{where}: steps ({spec.defaults.steps}) must lie in its "
                             f"step_range [{low}, {high}]")
    if spec.guidance_range is not None:
        low_g, high_g = spec.guidance_range
        if not 0 <= low_g <= high_g:
            raise ValueError(f"{where}: guidance_range must be [low, high] with 0 <= low <= "
                             f"high, got [{low_g:g}, {high_g:g}]")
        if not low_g <= spec.defaults.guidance <= high_g:
            raise ValueError(f"{where}: guidance ({spec.defaults.guidance:g}) must lie in its "
                             f"guidance_range [{low_g:g}, {high_g:g}]")
    if spec.attention not in ATTENTION_CHOICES:
        raise ValueError(f"{where}: attention must be one of {', '.join(ATTENTION_CHOICES)}, "
                         f"got {spec.attention!r}")
    return spec


def close_matches(name: str, choices: Sequence[str], *, limit: int = 3) -> list[str]:
    """The names among ``choices`` closest to ``name`` (case-insensitive), best first."""
    by_folded = {choice.casefold(): choice for choice in choices}
    found = difflib.get_close_matches(name.casefold(), list(by_folded), n=limit, cutoff=0.5)
    return [by_folded[key] for key in found]


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """" (did you mean a or b?)" for the close matches of ``name``, or ""."""
    matches = close_matches(name, choices)
    if not matches:
        return ""
    return " (did you mean " + " or ".join(matches) + "?)"


class ModelCatalog:
    """The models of one bot, by name; the first is the default (``[model]``)."""

    def __init__(self, specs: Sequence[ModelSpec]) -> None:
        if not specs:
            raise ValueError("a model catalogue needs at least one model")
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            if spec.name.casefold() in (name.casefold() for name in self._specs):
                raise ValueError(f"model name {spec.name!r} is used twice")
            self._specs[spec.name] = spec
        self._default = specs[0]

    @classmethod
    def single(cls, spec: ModelSpec) -> ModelCatalog:
        """A catalogue of one model."""
        return cls([spec])

    @property
    def default(self) -> ModelSpec:
        """The model a request that names none is rendered with."""
        return self._default

    def names(self) -> list[str]:
        """Every model's name, the default first."""
        return list(self._specs)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def get(self, name: str | None, *, what: str = "model") -> ModelSpec:
        """The model called ``name`` (None or "": the default); ValidationError naming the
        models there are, and the close matches, when there is none by that name."""
        if not name:
            return self._default
        spec = self._specs.get(name) or next(
            (s for s in self._specs.values() if s.name.casefold() == name.casefold()), None)
        if spec is None:
            raise ValidationError(f"{what} {name!r} is not one of this bot's models"
                                  f"{did_you_mean(name, self.names())}; models: "
                                  f"{', '.join(self.names())}")
        return spec

    def with_default_name(self, name: str) -> ModelCatalog:
        """The same catalogue with the default model renamed (a loaded engine's own name)."""
        if name == self._default.name:
            return self
        default = dataclasses.replace(self._default, name=name)
        return ModelCatalog([default, *(s for s in self._specs.values()
                                        if s is not self._default and s.name != name)])


def fit_to_model(recipe: Recipe, spec: ModelSpec) -> Recipe:
    """``recipe`` brought within its model's own constraints, with a note for each change.

    A Turbo model always renders without guidance in 1-4 steps; an LCM model may fix its
    scheduler. Refusing "50 steps" there would only make people guess the range: the note says
    what was used instead. The result is validated again (img2img's strength × steps).
    """
    notes: list[str] = []
    changes: dict[str, object] = {}
    if spec.fixed_scheduler and recipe.scheduler != spec.defaults.scheduler:
        fixed = spec.defaults.scheduler
        notes.append(f"model {spec.name} always samples with {scheduler_display_name(fixed)} "
                     f"(you asked for {recipe.sampler})")
        changes["scheduler"] = fixed
    if spec.step_range is not None:
        low, high = spec.step_range
        steps = min(max(recipe.steps, low), high)
        if steps != recipe.steps:
            notes.append(f"model {spec.name} renders in {_span(low, high)} steps: {steps} used "
                         f"(you asked for {recipe.steps})")
            changes["steps"] = steps
    if spec.guidance_range is not None:
        low_g, high_g = spec.guidance_range
        guidance = min(max(recipe.guidance, low_g), high_g)
        if not math.isclose(guidance, recipe.guidance):
            shown = "no guidance" if high_g == 0 else f"guidance {_span(low_g, high_g)}"
            notes.append(f"model {spec.name} takes {shown}: {guidance:g} used (you asked for "
                         f"{recipe.guidance:g})")
            changes["guidance"] = guidance
    if not changes:
        return recipe
    fitted = dataclasses.replace(recipe, **changes,  # type: ignore[arg-type]
                                 notes=(*recipe.notes, *notes))
    return validate_recipe(fitted, spec.limits)


def _span(low: float, high: float) -> str:
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"
