"""What ``/prompt check`` says. User text is escaped and fitted (a grid's words are the
delivery's: bot.client.labelled)."""

from __future__ import annotations

from bot.domain.prompt_craft import PromptCheck
from bot.render.texts import Segment, UserText, fit


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
