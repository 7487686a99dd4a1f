"""LoRAs applied for one job only: they change the image, are recorded, and leave no trace."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from bot.domain.errors import ValidationError
from bot.domain.models import ModelSpec
from bot.domain.recipe import Recipe
from bot.inference import Engine
from bot.inference.lora_files import LoraFiles, read_metadata, short_hash
from bot.inference.loras import LoraAdapters, make_random_lora
from bot.inference.models import load_model


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small random LoRAs for the tiny model."""
    folder = tmp_path_factory.mktemp("loras")
    make_random_lora(folder / "pixel-art.safetensors", seed=1)
    make_random_lora(folder / "styles" / "ink.wash.safetensors", seed=2)
    return folder


@pytest.fixture(scope="module")
def engine(lora_dir: Path) -> Engine:
    """A tiny engine of its own (LoRA layers attach to its modules), LoRAs from ``lora_dir``."""
    return load_model(ModelSpec("tiny", device="cpu"), loras=LoraFiles([lora_dir]))


def render(engine: Engine, prompt: str, loras: tuple[tuple[str, float], ...] = ()
           ) -> tuple[np.ndarray, Recipe]:
    recipe = Recipe(prompt=prompt, width=64, height=64, steps=2, seed=11, model=engine.model_id,
                    loras=loras)
    result = engine.generate([recipe])
    return np.asarray(result.images[0]), result.recipes[0]


def test_a_lora_changes_the_image_is_recorded_and_does_not_leak(engine: Engine,
                                                                lora_dir: Path) -> None:
    before, plain = render(engine, "a cat")
    with_lora, recipe = render(engine, "a cat <lora:pixel-art:1>", (("pixel-art", 1.0),))
    after, _ = render(engine, "a cat")
    assert not np.array_equal(with_lora, before)
    assert np.array_equal(after, before)  # exactly: the base weights were never touched
    assert recipe.lora_hashes == (("pixel-art",
                                   short_hash(lora_dir / "pixel-art.safetensors")),)
    assert recipe.prompt == "a cat <lora:pixel-art:1>"  # recorded as typed, as A1111 does
    assert plain.lora_hashes == ()
    assert engine.loras is not None and engine.loras.loaded == ["pixel-art"]  # kept, disabled


def test_the_tag_is_not_encoded_as_words(engine: Engine) -> None:
    # Weight 0: the LoRA adds nothing, so only the text could make a difference.
    tagged, _ = render(engine, "a cat <lora:pixel-art:0>", (("pixel-art", 0.0),))
    plain, _ = render(engine, "a cat")
    assert np.array_equal(tagged, plain)


def test_weights_and_sets_give_different_images(engine: Engine) -> None:
    full, _ = render(engine, "x", (("pixel-art", 1.0),))
    half, _ = render(engine, "x", (("pixel-art", 0.5),))
    both, recipe = render(engine, "x", (("pixel-art", 1.0), ("ink.wash", 1.0)))
    again, _ = render(engine, "x", (("pixel-art", 1.0),))
    assert not np.array_equal(full, half)
    assert not np.array_equal(full, both)
    assert np.array_equal(full, again)  # a LoRA left out is off, not half-applied
    assert [name for name, _ in recipe.lora_hashes] == ["pixel-art", "ink.wash"]


def test_unloading_after_each_job_is_exact_too(lora_dir: Path) -> None:
    engine = load_model(ModelSpec("tiny", device="cpu"))
    engine.loras = LoraAdapters(LoraFiles([lora_dir]), keep=0)  # as for a compiled UNet
    before, _ = render(engine, "a cat")
    with_lora, _ = render(engine, "a cat", (("ink.wash", 0.8),))
    after, _ = render(engine, "a cat")
    assert engine.loras.loaded == []
    assert not any("lora" in name for name, _ in engine.pipeline.unet.named_parameters())
    assert not np.array_equal(with_lora, before)
    assert np.array_equal(after, before)


def test_least_recently_used_lora_is_dropped_and_reloads_the_same(lora_dir: Path) -> None:
    engine = load_model(ModelSpec("tiny", device="cpu"), loras=LoraFiles([lora_dir]),
                        keep_loras=1)
    first, _ = render(engine, "x", (("pixel-art", 1.0),))
    render(engine, "x", (("ink.wash", 1.0),))
    assert engine.loras is not None and engine.loras.loaded == ["ink.wash"]
    again, _ = render(engine, "x", (("pixel-art", 1.0),))
    assert np.array_equal(first, again)


def test_an_engine_without_loras_refuses_a_lora_recipe() -> None:
    engine = load_model(ModelSpec("tiny", device="cpu"))
    with pytest.raises(ValidationError, match="takes no LoRAs here"):
        render(engine, "x", (("pixel-art", 1.0),))


def test_hash_is_a1111s_autov3_and_ignores_metadata(lora_dir: Path, tmp_path: Path) -> None:
    source = lora_dir / "pixel-art.safetensors"
    data = source.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    assert short_hash(source) == hashlib.sha256(data[8 + length:]).hexdigest()[:12]
    relabelled = tmp_path / "relabelled.safetensors"
    save_file(load_file(source), relabelled, metadata={"ss_output_name": "renamed"})
    assert read_metadata(relabelled) == {"ss_output_name": "renamed"}
    assert short_hash(relabelled) == short_hash(source)


def test_files_are_found_recursively_by_stem(lora_dir: Path, tmp_path: Path) -> None:
    files = LoraFiles([lora_dir, tmp_path / "missing"])
    assert files.names() == ["ink.wash", "pixel-art"]
    (lora_dir / "extra.safetensors").write_bytes((lora_dir / "pixel-art.safetensors")
                                                  .read_bytes())
    try:
        assert "extra" not in files.names()
        files.refresh()
        assert "extra" in files.names()
    finally:
        (lora_dir / "extra.safetensors").unlink()
