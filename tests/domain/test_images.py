"""Upload decisions with no Pillow and no Discord: sizes, declared facts, mask coverage."""

from __future__ import annotations

import pytest

from bot.domain.errors import ValidationError
from bot.domain.images import (
    DeclaredFile,
    Fit,
    InputLimits,
    check_declared,
    check_mask_coverage,
    mask_size_note,
    working_size,
)
from bot.domain.validation import Limits

LIMITS = Limits(width_max=1024, height_max=768)


@pytest.mark.parametrize(("size", "expected", "fit"), [
    ((512, 384), (512, 384), Fit.KEPT),
    ((1000, 750), (1000, 744), Fit.CROPPED),  # rounded down to multiples of 8
    ((2048, 1536), (1024, 768), Fit.SCALED),  # the same aspect, at the limits
    ((3000, 1000), (1024, 336), Fit.SCALED),  # 1024 × 341.3 → 336
    ((64, 64), (64, 64), Fit.KEPT),
])
def test_working_size(size: tuple[int, int], expected: tuple[int, int], fit: Fit) -> None:
    sizing = working_size(*size, LIMITS)
    assert ((sizing.width, sizing.height), sizing.fit) == (expected, fit)
    assert (sizing.note is None) == (fit is Fit.KEPT)


@pytest.mark.parametrize(("size", "needle"), [
    ((63, 500), "at least 64 pixels"),
    ((1, 1), "at least 64 pixels"),
    ((20000, 100), "it would be 1024×0, under 64 pixels"),  # too thin once scaled down
])
def test_sizes_that_cannot_be_used_are_refused(size: tuple[int, int], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        working_size(*size, LIMITS)


@pytest.mark.parametrize(("declared", "needle"), [
    (DeclaredFile("big.png", 50 * 1024 * 1024, "image/png"), "50 MB; the limit is 8 MB"),
    (DeclaredFile("empty.png", 0), "empty"),
    (DeclaredFile("doc.pdf", 1000, "application/pdf"), "got application/pdf"),
    (DeclaredFile("anim.gif", 1000, "image/gif"), "got image/gif"),
    (DeclaredFile("bomb.png", 1000, "image/png", 20000, 20000), "longest side may be 8192"),
    (DeclaredFile("wide.png", 1000, "image/png", 8000, 8000), "the limit is 40 megapixels"),
    (DeclaredFile("dot.png", 100, "image/png", 1, 1), "at least 64 pixels"),
])
def test_declared_facts_refuse_before_a_download(declared: DeclaredFile, needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_declared("the image", declared, InputLimits())
    assert needle in str(caught.value)


def test_unknown_or_generic_types_are_left_to_the_bytes() -> None:
    for kind in (None, "", "application/octet-stream", "image/png", "image/jpeg; charset=x"):
        check_declared("the image", DeclaredFile("x", 1000, kind), InputLimits())
    check_declared("the mask", DeclaredFile("m.png", 10, "image/png", 8, 8), InputLimits(),
                   min_side=1)  # a mask may be small: it is resized


def test_mask_coverage() -> None:
    check_mask_coverage(1, 100, from_alpha=False)
    check_mask_coverage(99, 100, from_alpha=True)
    with pytest.raises(ValidationError, match="all black"):
        check_mask_coverage(0, 100, from_alpha=False)
    with pytest.raises(ValidationError, match="all white"):
        check_mask_coverage(100, 100, from_alpha=False)
    with pytest.raises(ValidationError, match="no transparent pixels"):
        check_mask_coverage(0, 100, from_alpha=True)
    with pytest.raises(ValidationError, match="transparent everywhere"):
        check_mask_coverage(100, 100, from_alpha=True)


def test_mask_size_note() -> None:
    assert mask_size_note((64, 48), (64, 48)) is None
    assert "resized" in (mask_size_note((32, 24), (64, 48)) or "")
