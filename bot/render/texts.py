"""Short texts users read while they wait. Pure: no discord, no torch."""

from __future__ import annotations

import math

from bot.domain.recipe import Recipe

DISCORD_MESSAGE_LIMIT = 2000


def ordinal(n: int) -> str:
    """1 → 1st, 2 → 2nd, 11 → 11th, 23 → 23rd."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def duration(seconds: float) -> str:
    """A rough, friendly duration: 8 s, 40 s, 2 min, 1 h 5 min."""
    if seconds < 60:
        return f"{max(1, math.ceil(seconds))} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def position_text(position: int, eta_seconds: float | None) -> str:
    """"3rd in queue, about 40 s" (or "next in queue" for the first)."""
    place = "next in queue" if position == 1 else f"{ordinal(position)} in queue"
    if eta_seconds is None:
        return place
    return f"{place}, about {duration(eta_seconds)}"


def progress_text(step: int, total: int) -> str:
    """"step 7/25" with a small bar."""
    filled = round(10 * step / total) if total else 0
    return f"`{'█' * filled}{'░' * (10 - filled)}` step {step}/{total}"


def clip(text: str, limit: int = DISCORD_MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote_option(value: str) -> str:
    return " ".join(value.split())


def recipe_command(recipe: Recipe) -> str:
    """The ``/dream`` invocation that reproduces ``recipe``, ready to copy."""
    parts = [f"/dream prompt:{_quote_option(recipe.prompt)}"]
    if recipe.negative:
        parts.append(f"negative:{_quote_option(recipe.negative)}")
    parts += [f"width:{recipe.width}", f"height:{recipe.height}", f"steps:{recipe.steps}",
              f"guidance:{recipe.guidance:g}"]
    if recipe.seed is not None:
        parts.append(f"seed:{recipe.seed}")
    parts.append(f"scheduler:{recipe.scheduler}")
    return " ".join(parts)
