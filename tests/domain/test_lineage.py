"""Attachment references: what counts as one, and the digest inside it."""

from __future__ import annotations

import pytest

from bot.domain import ValidationError
from bot.domain.lineage import digest_of_ref, is_attachment_ref

DIGEST = "0123456789abcdef" * 4


def test_only_sha256_references_are_attachments() -> None:
    assert is_attachment_ref(f"sha256:{DIGEST}")
    assert not is_attachment_ref("in.png")
    assert not is_attachment_ref("")
    assert not is_attachment_ref(None)


def test_the_digest_is_read_back_and_anything_else_is_named() -> None:
    assert digest_of_ref(f"sha256:{DIGEST}") == DIGEST
    for bad in (f"sha256:{DIGEST.upper()}", f"sha256:{DIGEST}0", DIGEST, f"md5:{DIGEST}"):
        with pytest.raises(ValidationError) as caught:
            digest_of_ref(bad)
        assert str(caught.value) == ("an attachment reference must be sha256:<64 hex digits>, "
                                     f"got {bad!r}")
    with pytest.raises(ValidationError) as caught:
        digest_of_ref("x" * 100)
    assert str(caught.value).endswith(f"got {'x' * 80!r}")


def test_another_hash_is_refused_though_64_hex_digits_follow_its_prefix() -> None:
    with pytest.raises(ValidationError, match="sha256:<64 hex digits>"):
        digest_of_ref(f"sha512:{DIGEST}")
