"""Which webhook secrets are accepted: unpadded base64 is, a key of exactly the minimum
length is, and a secret with characters outside base64 is refused rather than read as
a different key."""

from __future__ import annotations

import base64

import pytest

from smtpwatch.core.webhook_signing import MIN_KEY_BYTES, parse_secret

KEY = bytes(range(32))  # base64: 44 characters, the last one padding


def test_a_secret_without_its_base64_padding_gives_the_same_key() -> None:
    encoded = base64.b64encode(KEY).decode()
    assert encoded.endswith("=") and not encoded.endswith("==")
    assert parse_secret("whsec_" + encoded.rstrip("=")) == KEY
    two_pad = bytes(range(31))  # 44 characters, two of them padding
    assert parse_secret("whsec_" + base64.b64encode(two_pad).decode().rstrip("=")) == two_pad


def test_a_key_of_exactly_the_minimum_length_is_accepted() -> None:
    key = b"k" * MIN_KEY_BYTES
    assert MIN_KEY_BYTES == 16
    assert parse_secret("whsec_" + base64.b64encode(key).decode()) == key
    with pytest.raises(ValueError, match="at least 16 random bytes"):
        parse_secret("whsec_" + base64.b64encode(key[:-1]).decode())


@pytest.mark.parametrize("bad", ["!", " ", "*", "_"])
def test_a_secret_with_a_character_outside_base64_is_refused(bad: str) -> None:
    # A typo must not silently become another key (which every receiver would reject).
    encoded = base64.b64encode(KEY).decode()
    with pytest.raises(ValueError) as info:
        parse_secret("whsec_" + encoded[:10] + bad + encoded[10:])
    assert encoded[:10] not in str(info.value)  # never quotes the secret
