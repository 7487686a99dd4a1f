"""What ``/styles``, ``/xy`` and ``/prompt check`` say. User text is escaped and fitted."""

from __future__ import annotations

from bot.domain.prompt_craft import PromptCheck
from bot.render.embeds import waiting_text
from bot.render.texts import DISCORD_MESSAGE_LIMIT, Segment, UserText, fit
from bot.services.craft import Grid, GridImage

KIND_NAMES = {"styles": "Style grid", "xy": "X/Y plot"}


def grid_text(grid: Grid, image: GridImage | None) -> str:
    """The grid message: what it is, its seed, how many cells are done (and the theme)."""
    first = grid.jobs[0].recipe
    seeds = {job.recipe.seed for job in grid.jobs}
    seed = f" · seed {first.seed}" if len(seeds) == 1 and first.seed is not None else ""
    done = image.done if image is not None else 0
    total = len(grid.jobs)
    if image is not None and image.finished:
        failed = f" ({image.failed} failed)" if image.failed else ""
        status = f"✅ {total} cells{failed}{seed} · a button posts a cell at full size"
    else:
        status = f"🎨 {done}/{total} cells{seed}"
    kind = KIND_NAMES.get(grid.kind.value, "Grid")
    segments: list[Segment] = [f"**{kind}** · ", UserText(grid.title, 300), "\n", status]
    return waiting_text(first, fit(segments, DISCORD_MESSAGE_LIMIT // 2))


def check_text(check: PromptCheck) -> str:
    """The report of ``/prompt check`` (ephemeral)."""
    counted = "tokens" if check.exact else "tokens (estimated)"
    segments: list[Segment] = ["**Final prompt**\n", UserText(check.prompt, 900), "\n"]
    if check.negative:
        segments += ["**Negative** ", UserText(check.negative, 300), "\n"]
    if check.theme:
        segments += ["**Theme** ", UserText(check.theme, 100), "\n"]
    if check.styles:
        segments += ["**Styles** ", UserText(", ".join(check.styles), 200), "\n"]
    mark = "✅" if check.tokens <= check.window else "✂️"
    segments.append(f"{mark} {check.tokens}/{check.window} {counted}\n")
    if check.cut:
        segments += ["**Cut** (ignored by the text encoder): ", UserText(" ".join(check.cut), 300),
                     "\n"]
    for warning in check.warnings:
        segments += ["⚠️ ", UserText(warning, 300), "\n"]
    if not check.warnings:
        segments.append("No warnings.")
    return fit(segments)
