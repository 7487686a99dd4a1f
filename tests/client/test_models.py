"""Named models and LoRAs over the wire-level fake: /models, /dream model:, a theme's model,
Turbo's few steps, <lora:...> in prompts (recorded as A1111 does, unknown names explained)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.domain.a1111 import parse_parameters
from bot.inference.lora_files import short_hash
from bot.inference.loras import make_random_lora
from bot.render import read_parameters
from tests.client.conftest import Env
from tests.fake_discord import InteractionHandle
from tests.fake_discord.models import StoredMessage

RESULT_TIMEOUT = 180.0
SMALL = {"width": 64, "height": 64}


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One random LoRA for the tiny model."""
    folder = tmp_path_factory.mktemp("loras")
    make_random_lora(folder / "pixel-art.safetensors", seed=1)
    return folder


def _config(env: Env, lora_dir: Path, presets: Path | None = None) -> dict[str, Any]:
    """The env's settings plus a Turbo model and a second model (the tiny one again)."""
    return {
        "model": {"steps": 2, "width": 64, "height": 64},
        "models": {
            "turbo": {"id": "tiny", "device": "cpu", "turbo": True, "width": 64, "height": 64,
                      "description": "SD-Turbo style: one step"},
            "second": {"id": "tiny", "device": "cpu", "steps": 2, "width": 64, "height": 64},
        },
        "loras": {"dirs": [str(lora_dir)]},
        "worker": {"max_loaded_models": 2},
        "themes": {"preset_dirs": [str(presets)] if presets else []},
        "storage": {"database": "ns.db", "output_dir": "outputs"},
        "discord": {"dev_guild_ids": [env.world.guild.id]},
        "queue": {"max_batch": 1},
    }


def _is_result(message: StoredMessage) -> bool:
    return bool(message.attachments and message.embeds)


async def _meta(handle: InteractionHandle) -> tuple[dict[str, str], StoredMessage]:
    message = await handle.wait_original(_is_result, timeout=RESULT_TIMEOUT)
    return parse_parameters(read_parameters(message.attachments[0].data) or ""), message


async def test_models_lists_every_model_and_the_loras(env: Env, lora_dir: Path) -> None:
    world = env.world
    async with env.run_bot(**_config(env, lora_dir)):
        handle = await env.fake.send_command(world.guild, world.channel, world.alice, "models",
                                             {})
        reply = await handle.wait_original(timeout=10)
        choices = await env.fake.autocomplete(world.guild, world.channel, world.alice, "dream",
                                              {"prompt": "x", "model": "tu"}, "model")
        loras = await env.fake.autocomplete(world.guild, world.channel, world.alice, "dream",
                                            {"prompt": "a cat <lora:pix"}, "prompt")
    assert reply.is_ephemeral
    embed = reply.embeds[0]
    lines = embed["description"].splitlines()
    assert lines[0] == "**tiny** (default): 64×64 · 2 steps · CFG 7.5 · Euler a"
    assert lines[1] == ("**turbo**: 64×64 · 1 step · CFG 0 · Euler a · "
                        "Turbo: 1-4 steps, no guidance")
    assert "SD-Turbo style: one step" in lines[2]
    assert embed["fields"][0]["value"] == "`<lora:pixel-art:1>`"
    assert [c["value"] for c in choices] == ["turbo"]
    assert [c["value"] for c in loras] == ["a cat <lora:pixel-art:1>"]


async def test_turbo_renders_in_one_step_and_fifty_steps_are_clamped(env: Env,
                                                                     lora_dir: Path) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot(**_config(env, lora_dir)) as bot:
        one = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                      {"prompt": "a lighthouse", "model": "turbo"})
        meta, _ = await _meta(one)
        fifty = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                        {"prompt": "a lighthouse", "model": "turbo",
                                         "steps": 50, "guidance": 7})
        clamped, message = await _meta(fifty)
        unknown = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                          {"prompt": "x", "model": "trubo"})
        refusal = await unknown.wait_original(timeout=10)
        assert bot.app is not None and bot.app.models is not None
        loaded = bot.app.models.loaded
    assert (meta["Steps"], meta["CFG scale"], meta["Model"]) == ("1", "0", "turbo")
    assert (clamped["Steps"], clamped["CFG scale"]) == ("4", "0")
    notes = {f["name"]: f["value"] for f in message.embeds[0]["fields"]}["Theme notes"]
    assert "model turbo renders in 1-4 steps: 4 used (you asked for 50)" in notes
    assert refusal.is_ephemeral and "did you mean turbo?" in refusal.content
    assert loaded == ["tiny", "turbo"]


async def test_a_themes_model_is_used_in_its_channel(env: Env, lora_dir: Path,
                                                     tmp_path: Path) -> None:
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "pixels.toml").write_text('prefix = "pixel art"\nmodel = "second"\n')
    world, fake = env.world, env.fake
    other = fake.add_channel(world.guild, "dogs")
    async with env.run_bot(**_config(env, lora_dir, presets)):
        applied = await fake.send_command(world.guild, world.channel, world.mod,
                                          "theme preset", {"name": "pixels"})
        await applied.wait_original(timeout=10)
        themed = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "a castle", "seed": 4})
        themed_meta, _ = await _meta(themed)
        mine = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                       {"prompt": "a castle", "model": "turbo"})
        mine_meta, _ = await _meta(mine)
        elsewhere = await fake.send_command(world.guild, other, world.alice, "dream",
                                            {"prompt": "a castle"})
        elsewhere_meta, _ = await _meta(elsewhere)
    assert (themed_meta["Model"], themed_meta["prompt"]) == ("second", "pixel art, a castle")
    assert mine_meta["Model"] == "turbo"  # a user's model: wins over the theme's
    assert elsewhere_meta["Model"] == "tiny"


async def test_theme_set_names_the_channels_model_and_refuses_an_unknown_one(
        env: Env, lora_dir: Path) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot(**_config(env, lora_dir)):
        unknown = await fake.send_command(world.guild, world.channel, world.mod, "theme set",
                                          {"prefix": "pixel art", "model": "secnod"})
        refusal = await unknown.wait_original(timeout=10)
        applied = await fake.send_command(world.guild, world.channel, world.mod, "theme set",
                                          {"prefix": "pixel art", "model": "second"})
        reply = await applied.wait_original(timeout=10)
        themed = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "a castle", "seed": 4})
        themed_meta, _ = await _meta(themed)
    assert refusal.is_ephemeral and "did you mean second?" in refusal.content
    assert "**Model:** second" in reply.content
    assert (themed_meta["Model"], themed_meta["prompt"]) == ("second", "pixel art, a castle")


async def test_a_lora_in_the_prompt_is_applied_and_recorded(env: Env, lora_dir: Path) -> None:
    world, fake = env.world, env.fake
    async with env.run_bot(**_config(env, lora_dir)):
        tagged = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                         {"prompt": "a cat <lora:Pixel-Art:0.8>",
                                          "model": "second", "seed": 9})
        meta, _ = await _meta(tagged)
        wrong = await fake.send_command(world.guild, world.channel, world.alice, "dream",
                                        {"prompt": "a cat <lora:pixelart>", "model": "second"})
        refusal = await wrong.wait_original(timeout=10)
    assert meta["prompt"] == "a cat <lora:Pixel-Art:0.8>"
    digest = short_hash(lora_dir / "pixel-art.safetensors")
    assert meta["Lora hashes"] == f"pixel-art: {digest}"
    assert refusal.is_ephemeral
    assert "unknown LoRA 'pixelart'; did you mean pixel-art?" in refusal.content
