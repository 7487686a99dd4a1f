"""✏ Remix: a form with the prompt and negative prefilled; its answer renders the edited prompt
from the same seed and size.

The form is known by its custom_id alone (``ns:remix-form:<job id>``) and answered by an
interaction listener rather than the modal object, so an answer that arrives after a restart
is handled like any other.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.client.errors import report_error
from bot.client.requester import requester_from
from bot.domain.recipe import Recipe
from cogs.dream._views import start_tool

FORM = re.compile(r"ns:remix-form:(?P<job>\d+)")
TEXT_INPUT_MAX = 4000  # Discord's longest text input


class RemixModal(discord.ui.Modal):
    """The prompt and negative prompt of a result, prefilled, to edit."""

    def __init__(self, job_id: int, recipe: Recipe) -> None:
        super().__init__(title="Remix", custom_id=f"ns:remix-form:{job_id}", timeout=None)
        # The whole prompt as it ran (theme words included): the remix renders what is here.
        self.add_item(discord.ui.TextInput(
            label="Prompt", custom_id="prompt", style=discord.TextStyle.paragraph,
            default=recipe.prompt[:TEXT_INPUT_MAX], max_length=TEXT_INPUT_MAX, required=True))
        self.add_item(discord.ui.TextInput(
            label="Negative prompt", custom_id="negative", style=discord.TextStyle.paragraph,
            default=recipe.negative[:TEXT_INPUT_MAX] or None, max_length=TEXT_INPUT_MAX,
            required=False))


def form_values(data: Any) -> dict[str, str]:
    """``custom_id → value`` of every text input in a modal submission (rows or labels)."""
    values: dict[str, str] = {}

    def walk(components: list[dict[str, Any]]) -> None:
        for component in components:
            if "custom_id" in component and "value" in component:
                values[str(component["custom_id"])] = str(component["value"])
            walk(component.get("components") or [])
            if isinstance(component.get("component"), dict):
                walk([component["component"]])

    walk((data or {}).get("components") or [])
    return values


async def handle_remix(interaction: discord.Interaction) -> None:
    """Answer a submitted Remix form (any other interaction is left alone)."""
    if interaction.type is not discord.InteractionType.modal_submit:
        return
    data: Any = interaction.data or {}
    match = FORM.fullmatch(str(data.get("custom_id", "")))
    if match is None:
        return
    try:
        values = form_values(data)
        tools = interaction.client.services.tools  # type: ignore[attr-defined]
        job_id = int(match["job"])
        await start_tool(interaction, lambda acknowledge: tools.remix(
            job_id, requester_from(interaction), prompt=values.get("prompt", ""),
            negative=values.get("negative", ""), acknowledge=acknowledge))
    except Exception as error:
        await report_error(interaction, error)
