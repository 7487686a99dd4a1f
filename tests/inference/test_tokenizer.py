"""The bundled CLIP vocabulary tokenizes exactly as the real CLIP ViT-L/14 tokenizer."""

from __future__ import annotations

import pytest
from transformers import CLIPTokenizer

from bot.inference.tokenizer import clip_tokenizer

BOS, EOS = 49406, 49407


@pytest.fixture(scope="module")
def tokenizer() -> CLIPTokenizer:
    return clip_tokenizer()


# Ids published by other CLIP tokenizer ports, checked against Hugging Face's CLIPTokenizer.
@pytest.mark.parametrize(("text", "ids"), [
    ("a photo of a cat", [BOS, 320, 1125, 539, 320, 2368, EOS]),
    ("a photo of an astronaut riding a horse on mars",
     [BOS, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 525, 7496, EOS]),
    ("Hello, WORLD!! (test-123)",
     [BOS, 3306, 267, 1002, 748, 263, 1628, 268, 272, 273, 274, 264, EOS]),
    ("", [BOS, EOS]),
])
def test_ids_match_clip(tokenizer: CLIPTokenizer, text: str, ids: list[int]) -> None:
    assert tokenizer(text).input_ids == ids


def test_context_is_77_tokens_padded_with_eos(tokenizer: CLIPTokenizer) -> None:
    assert tokenizer.model_max_length == 77
    assert len(tokenizer) == 49408
    padded = tokenizer("a cat", padding="max_length", truncation=True, max_length=77).input_ids
    assert len(padded) == 77 and padded[:3] == [BOS, 320, 2368] and set(padded[3:]) == {EOS}
    long = tokenizer("cat " * 200, truncation=True, max_length=77).input_ids
    assert len(long) == 77 and long[-1] == EOS
