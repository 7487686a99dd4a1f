"""Shared fixtures of the inference tests: offline hub, two CPU threads, one tiny engine."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub: an accidental hub call must fail fast, not hang.
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch
from PIL import Image

from bot.inference import Engine, load_engine

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_engine() -> Engine:
    """The built-in tiny model on the CPU, built once for the whole session."""
    return load_engine("tiny", device="cpu")


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """A deterministic 96×80 RGB gradient to use as an input image."""
    width, height = 96, 80
    image = Image.new("RGB", (width, height))
    image.putdata([(x * 255 // width, y * 255 // height, 128)
                   for y in range(height) for x in range(width)])
    return image


@pytest.fixture(scope="session")
def half_mask() -> Image.Image:
    """A mask whose right half is white (repaint) and left half black (keep)."""
    mask = Image.new("L", (96, 80), 0)
    mask.paste(255, (48, 0, 96, 80))
    return mask
