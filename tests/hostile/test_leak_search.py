"""The leak searcher finds a password in every form the hostile server produces.

If the searcher were blind to a form, the leak tests would pass without proving
anything; these tests plant the password in each form, through the transformations
the outputs apply (cutting, whitespace folding, ``?`` for unprintables, JSON and repr
escaping, nesting), and require it to be found — and require nothing to be found in
text that holds at most 7 consecutive characters of it.
"""

from __future__ import annotations

import json

import pytest

from hostile.echo_server import FILLER, SHAPES, shape
from hostile.leak_search import find_leaks

SECRETS = [
    "Tr0ub4dor&3-horse-battery",
    "two  spaces\there 'q' \"dq\" back\\slash",
    "ünïcødé-パスワード-λόγος-42",
    "ZZ99ZZ99ZZ99QQ11",  # upper case and digits: survives an upper-casing output
]


def _one_line(text: str, limit: int = 300) -> str:
    """What the product does to a message: whitespace folded, cut, unprintables as ?."""
    text = " ".join(text.split())
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_password_in_each_shape_is_found_through_what_outputs_do_to_text(
    name: str, secret: str
) -> None:
    # GIVEN the password in one of the hostile server's shapes, as a reply would carry it
    reply = "535 5.7.8 rejected " + "\n535 ".join(shape(name, secret))
    message = _one_line(f"AUTH PLAIN rejected: {reply}", limit=2000)
    # WHEN it reaches outputs as they are written: raw, JSON, JSON in an SNS envelope,
    # a bytes repr in an exception text
    forms = {
        "message": message,
        "json": json.dumps({"error": {"message": message}}),
        "json_unicode": json.dumps({"m": message}, ensure_ascii=False),
        "sns": json.dumps({"Message": json.dumps({"result": {"message": message}})}),
        "repr": repr((334, reply.encode("utf-8"))),
        "html": "".join(
            f"&#{ord(ch)};" if i % 2 else f"&#x{ord(ch):x};" for i, ch in enumerate(message)
        ),
    }
    # THEN the searcher finds it in every one of them
    for where, text in forms.items():
        assert find_leaks(text, secret), f"{name} not found in {where}: {text!r}"


@pytest.mark.parametrize("secret", SECRETS)
def test_the_first_part_of_a_password_after_long_filler_is_found_when_the_text_is_cut(
    secret: str,
) -> None:
    # GIVEN text cut ten characters into the password (as a 300-character cut would)
    text = f"AUTH PLAIN rejected: 535 5.7.8 x {FILLER}{secret}"
    cut = _one_line(text[: text.index(secret) + 10])
    assert secret not in cut
    # THEN what survives of it is found; and base64 of filler + password, cut where a
    # 512-character banner ends, too
    assert find_leaks(cut, secret)
    banner = _one_line("mail ESMTP " + shape("base64_filler", secret)[0], limit=512)
    assert find_leaks(banner[: 11 + 4 * ((240 + 12) // 3)], secret)


def test_a_base64_token_glued_to_other_text_is_still_decoded() -> None:
    secret = SECRETS[0]
    for prefix in ("", "x", "xy", "xyz", "5.7.8:"):
        assert find_leaks(prefix + shape("base64", secret)[0] + "...", secret), prefix


def test_upper_cased_keywords_and_escaped_unicode_are_found() -> None:
    secret = SECRETS[2]
    assert find_leaks(json.dumps({"extensions": [secret.upper()]}), secret)
    assert find_leaks(str(secret.encode("utf-8")), secret)


@pytest.mark.parametrize("secret", SECRETS)
def test_seven_characters_of_a_password_are_not_a_leak(secret: str) -> None:
    # GIVEN text holding only pieces of at most 7 consecutive characters of the secret
    clean = "".join(secret.split())
    pieces = [clean[i : i + 7] for i in range(0, len(clean), 7)]
    text = " | ".join(f"<{p}>" for p in pieces)
    # THEN nothing is found (the searcher does not report everything as a leak)
    assert find_leaks(text, secret) == []
    assert find_leaks(json.dumps({"banner": "220 mail.smtpwatch.test ESMTP ready"}), secret) == []
