"""The guard on server text, alone: what it masks, what it leaves alone.

Judged by ``secret_runs.leaked_runs``, written apart from the guard: after the guard,
no run of 8 characters of the password may be readable in any shape a server or an
output can give it (case, whitespace and ``?``, escapes, base64), and text that does
not carry the password comes out as it went in, but for control characters.
"""

from __future__ import annotations

import base64
import json

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from smtpwatch.core.server_text import MASK, ServerTextGuard, printable
from smtpwatch.testing.secret_runs import leaked_runs

USER = "monitor@smtpwatch.test"

# Passwords of at least 12 characters from every printable ASCII character but the
# space and "?" (they vanish in the comparison, so they would make a password shorter
# than it looks); whitespace inside a password has its own test below.
PASSWORDS = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="?"),
    min_size=12,
    max_size=64,
)
# Around the password: any text at all, control characters and non-ASCII included.
AROUND = st.text(max_size=80)


def _escape_all(text: str, style: str) -> str:
    fmt = {
        "x": "\\x{:02x}",
        "u": "\\u{:04x}",
        "pct": "%{:02X}",
        "dec": "&#{};",
        "hex": "&#x{:x};",
        "qp": "={:02X}",
    }[style]
    return "".join(fmt.format(ord(ch)) for ch in text)


FORMS = [
    "plain",
    "upper",
    "lower",
    "swapcase",
    "b64",
    "b64-plain",
    "b64-plain-authzid",
    "b64-offset",
    "b64-urlsafe",
    "b64-wrapped",
    "b64-of-b64",
    "b64-of-escaped",
    "b64-of-json",
    "esc-x",
    "esc-u",
    "esc-pct",
    "esc-dec",
    "esc-hex",
    "esc-qp",
    "esc-some",
    "split-space",
    "split-lines",
    "split-question",
    "bytes-repr",
    "json",
    "json-in-json",
]


def shaped(form: str, pw: str, data: st.DataObject) -> str:
    b64 = base64.b64encode
    if form == "plain":
        return pw
    if form in ("upper", "lower", "swapcase"):
        return str(getattr(pw, form)())
    if form == "b64":
        return b64(pw.encode()).decode()
    if form == "b64-plain":
        return b64(f"\0{USER}\0{pw}".encode()).decode()
    if form == "b64-plain-authzid":
        return b64(f"{USER}\0{USER}\0{pw}".encode()).decode()
    if form == "b64-offset":
        head = data.draw(st.binary(max_size=7), label="head")
        return b64(head + pw.encode() + b"tail").decode()
    if form == "b64-urlsafe":
        return base64.urlsafe_b64encode(b"\xfb\xff" + pw.encode()).decode().rstrip("=")
    if form == "b64-wrapped":
        text = b64(b"x" + pw.encode()).decode()
        cut = data.draw(st.integers(1, len(text) - 1), label="cut")
        return text[:cut] + "\r\n" + text[cut:]
    if form == "b64-of-b64":
        return b64(b64(pw.encode())).decode()
    if form == "b64-of-escaped":
        return b64(_escape_all(pw, "pct").encode()).decode()
    if form == "b64-of-json":
        return b64(json.dumps({"said": " ".join(pw.upper())}).encode()).decode()
    if form.startswith("esc-") and form != "esc-some":
        return _escape_all(pw, form[4:])
    if form == "esc-some":
        style = data.draw(st.sampled_from(["x", "pct", "dec", "hex", "u"]), label="style")
        picks = data.draw(st.lists(st.booleans(), min_size=len(pw), max_size=len(pw)))
        return "".join(_escape_all(ch, style) if p else ch for ch, p in zip(pw, picks, strict=True))
    if form.startswith("split-"):
        sep = {"split-space": " \t ", "split-lines": "\r\n", "split-question": "?"}[form]
        cuts = sorted(data.draw(st.sets(st.integers(1, len(pw) - 1), max_size=4), label="cuts"))
        parts, last = [], 0
        for cut in cuts:
            parts.append(pw[last:cut])
            last = cut
        parts.append(pw[last:])
        return sep.join(parts)
    if form == "bytes-repr":
        return repr((334, pw.encode()))
    if form == "json":
        return json.dumps({"reply": pw})
    assert form == "json-in-json"
    return json.dumps({"message": json.dumps({"reply": pw.upper()})})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pw=PASSWORDS, form=st.sampled_from(FORMS), before=AROUND, after=AROUND, data=st.data())
def test_no_run_of_the_password_survives_the_guard_in_any_shape(
    pw: str, form: str, before: str, after: str, data: st.DataObject
) -> None:
    # GIVEN server text carrying the password in one of the shapes
    text = before + " " + shaped(form, pw, data) + " " + after
    assume(leaked_runs(text, pw))  # the shape is one the search can read
    # WHEN the guard has seen it
    out = ServerTextGuard([pw], username=USER).clean(text)
    # THEN no run of it is readable, also after what outputs do to text later
    for shown in (out, " ".join(out.split()), json.dumps(out), out.upper(), out[:300]):
        assert not leaked_runs(shown, pw), (form, shown)


@settings(max_examples=300, deadline=None)
@given(pw=PASSWORDS, text=st.text(max_size=400))
def test_text_without_the_password_is_unchanged_but_for_control_characters(
    pw: str, text: str
) -> None:
    assume(not leaked_runs(text, pw))
    assert ServerTextGuard([pw], username=USER).clean(text) == printable(text)
    assert ServerTextGuard().clean(text) == printable(text)
    assert ServerTextGuard([pw]).mask(text) == text


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_printable_replaces_every_unprintable_character_and_only_those(text: str) -> None:
    out = printable(text)
    assert out.isprintable() and len(out) == len(text)
    assert all(o == t or (o == "?" and not t.isprintable()) for o, t in zip(out, text, strict=True))
    kept = printable(text, keep_newlines=True)
    assert kept.split("\n") == [printable(part) for part in text.split("\n")]


@settings(max_examples=200, deadline=None)
@given(old=PASSWORDS, new=PASSWORDS, before=AROUND)
@example(old="old-Rotated-4711", new="new-Current-0815", before="seen=")
def test_an_old_and_a_new_password_are_both_masked(old: str, new: str, before: str) -> None:
    text = f"{before}{old}, {new.upper()}"
    out = ServerTextGuard([new, old]).clean(text)
    assert not leaked_runs(out, old) and not leaked_runs(out, new)


def test_a_password_is_masked_where_it_stands_and_the_rest_is_kept() -> None:
    guard = ServerTextGuard(["Tr0ub4dor&3-secret"], username=USER)
    assert guard.clean("535 5.7.8 last-login=Tr0ub4dor&3-secret, bye") == (
        f"535 5.7.8 last-login={MASK}, bye"
    )
    # a run of 8 is enough; 7 are not a run
    assert guard.clean("x Tr0ub4do y") == f"x {MASK} y"
    assert guard.clean("x Tr0ub4d y") == "x Tr0ub4d y"
    # split over the lines of one reply, in another case
    assert guard.clean("TR0UB4\nDOR&3-SECRET") == MASK
    # the AUTH PLAIN line quoted back: the base64 token goes, the words stay
    blob = base64.b64encode(f"\0{USER}\0Tr0ub4dor&3-secret".encode()).decode()
    assert guard.clean(f"rejected: AUTH PLAIN {blob}") == f"rejected: AUTH PLAIN {MASK}"


def test_whitespace_in_the_password_is_no_hiding_place() -> None:
    pw = "two  spaces\there and more"
    guard = ServerTextGuard([pw])
    for text in (pw, "two spaces?here and more", "two spaces here  and more", pw.upper()):
        out = guard.clean(f"you said {text}!")
        assert out == f"you said {MASK}!", text


def test_a_short_password_is_masked_whole_where_it_stands_as_a_word() -> None:
    # A password under 8 characters has no runs: it is masked whole, where it stands
    # alone; inside a longer word it cannot be told from the word (masking "p" in
    # "PLAIN" would hide the EHLO keywords a login needs).
    guard = ServerTextGuard(["p"])
    assert guard.clean("AUTH PLAIN LOGIN") == "AUTH PLAIN LOGIN"
    assert guard.clean("last-login=p") == f"last-login={MASK}"
    guard = ServerTextGuard(["Sh0rt!"])
    assert guard.clean("greeting sh0rt! again") == f"greeting {MASK} again"
    assert guard.clean("prefixSh0rt!") == "prefixSh0rt!"


def test_control_characters_become_question_marks_newlines_kept_on_request() -> None:
    guard = ServerTextGuard()
    assert guard.clean("a\x1b[31mb\x00c\u202ed") == "a?[31mb?c?d"
    assert guard.clean("one\ntwo\tthree", keep_newlines=True) == "one\ntwo?three"
    assert guard.reply(b"one\ntwo\x07\xff") == "one\ntwo?\ufffd".encode()


def test_what_the_client_sent_in_auth_is_masked_when_quoted_back() -> None:
    # A CRAM-MD5 answer carries no password but a digest an attacker could test
    # passwords against offline: quoted back, it is masked like the password.
    guard = ServerTextGuard(["Tr0ub4dor&3-secret"], username=USER)
    answer = base64.b64encode(f"{USER} 0123456789abcdef0123456789abcdef".encode()).decode()
    guard.remember_sent(f"{answer}\r\n".encode())
    assert guard.clean(f"535 you sent {answer}") == f"535 you sent {MASK}"
    guard.remember_sent(b"AUTH CRAM-MD5\r\n")  # the command words are no secret
    assert guard.clean("250 AUTH CRAM-MD5 PLAIN") == "250 AUTH CRAM-MD5 PLAIN"


def test_the_guard_never_shows_its_secrets() -> None:
    guard = ServerTextGuard(["Tr0ub4dor&3-secret"], username=USER)
    assert "Tr0ub" not in repr(guard) and "Tr0ub" not in str(guard)


def test_a_non_ascii_password_shown_as_its_utf8_bytes_is_masked() -> None:
    # A bytes repr, percent-encoding or hex shows each UTF-8 byte on its own
    # ("\xc3\xa4" for "ä"): decoded one by one they are other characters, so the
    # password is also looked for as its UTF-8 bytes read one by one.
    pw = "pässwörd-über-alles"
    guard = ServerTextGuard([pw])
    data = pw.encode("utf-8")
    shown = [
        repr(data),
        "".join(f"%{b:02X}" for b in data),
        data.hex(),
        base64.b64encode(data).decode(),
        repr("0000000\xa0:000".encode()),
    ]
    for text in shown[:4]:
        assert not leaked_runs(guard.clean(f"you said {text} ok"), pw), text
    assert guard.clean(f"x {data.hex()} y") == f"x {MASK} y"
    nbsp = ServerTextGuard(["0000000\xa0:000"])
    assert nbsp.clean(shown[4]) == f"b'{MASK}'"
