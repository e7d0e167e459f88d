"""Tell whether any 8 consecutive characters of a password survive in some text.

The probe's own tests use this to judge what the probe produced; it is written apart
from the probe's masking code (``core.server_text``), with plain regular expressions
and no position bookkeeping, so the two cannot share a blind spot by construction.

``leaked_runs(text, secret)`` returns the runs of ``RUN`` consecutive characters of
``secret`` (the whole secret when it is shorter) found in ``text`` after undoing what
servers and outputs do to text: case (both sides case-folded), whitespace and ``?``
(what unprintable characters become; removed on both sides), escapes (``\\xNN``,
``\\uNNNN``, ``\\UNNNNNNNN``, ``\\n``-style, ``%NN``, ``&#NN;``, ``&#xNN;``, quoted-printable
``=NN``; undone up to three times, for JSON inside JSON), and base64 (every token of
eight or more base64 characters, standard and URL-safe, decoded at each of the four
alignments, with and without the whitespace inside it; decoded text that is ASCII is
read the same way once more: escapes inside base64, base64 inside base64).
"""

from __future__ import annotations

import binascii
import re

__all__ = ["RUN", "leaked_runs", "secret_runs"]

RUN = 8

_ESCAPES = re.compile(
    r"\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|%([0-9a-fA-F]{2})"
    r"|&#[xX]([0-9a-fA-F]{1,6});|&#([0-9]{1,7});|=([0-9a-fA-F]{2})|\\([\\'\"/ntr])"
)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r"}
_B64 = re.compile(r"[A-Za-z0-9+/_-]{8,}")


def _squeeze(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable() and not ch.isspace() and ch != "?")


def secret_runs(secret: str) -> set[str]:
    """The runs of ``secret`` that must not be readable anywhere (case-folded)."""
    folded = _squeeze(secret).casefold()
    if len(folded) < RUN:
        return {folded} if folded else set()
    return {folded[i : i + RUN] for i in range(len(folded) - RUN + 1)}


def _unescape_once(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        for group in (1, 2, 3, 4, 5, 7):
            if m.group(group) is not None:
                code = int(m.group(group), 16)
                return chr(code) if code <= 0x10FFFF else ""
        if m.group(6) is not None:
            code = int(m.group(6))
            return chr(code) if code <= 0x10FFFF else ""
        char = m.group(8)
        return _SIMPLE.get(char, char)

    return _ESCAPES.sub(one, text)


def _decodings(token: str) -> list[str]:
    out = []
    token = token.replace("-", "+").replace("_", "/")
    for start in range(4):
        chunk = token[start:]
        chunk = chunk[: len(chunk) - len(chunk) % 4]
        if not chunk:
            continue
        try:
            out.append(binascii.a2b_base64(chunk).decode("latin-1"))
        except (binascii.Error, ValueError):
            continue
    return out


def _views(text: str, depth: int = 0) -> list[str]:
    views = [text]
    for _ in range(3):
        nxt = _unescape_once(views[-1])
        if nxt == views[-1]:
            break
        views.append(nxt)
    decoded: list[str] = []
    for view in views:
        for source in (view, _squeeze(view)):
            for token in _B64.findall(source):
                decoded.extend(_decodings(token))
    nested = [v for d in decoded if depth < 1 and d.isascii() for v in _views(d, depth + 1)]
    return views + decoded + nested


def leaked_runs(text: str, secret: str) -> set[str]:
    """The runs of ``secret`` readable in ``text`` in any of the forms above."""
    runs = secret_runs(secret)
    if not runs:
        return set()
    found: set[str] = set()
    for view in _views(text):
        folded = _squeeze(view).casefold()
        found.update(run for run in runs if run in folded)
    return found
