"""Finding a password in output text, whatever shape the text gave it.

``find_leaks(text, secret)`` looks for any run of ``RUN`` (8) consecutive characters of
``secret`` in ``text`` after undoing what outputs and hostile servers do to text:

- case: both sides are case-folded;
- whitespace and ``?`` (what unprintable characters become) are removed from both, so
  ``two  spaces\\there`` shown as ``two spaces?here`` is still found;
- escapes are undone, repeatedly (JSON inside JSON inside an SNS envelope): ``\\xNN``,
  ``%NN`` and quoted-printable ``=NN`` runs (as UTF-8 bytes), ``\\uNNNN`` (surrogate
  pairs too), ``\\UNNNNNNNN``,
  ``\\n \\t \\r \\' \\" \\\\ \\/``, HTML character references ``&#NN;``/``&#xNN;``; a
  bytes repr ``b'...'`` is then plain text;
- base64-looking tokens are decoded (at each of the four alignments, so a token glued
  to the text before it or cut short still decodes), standard and URL-safe alphabets,
  and the decoded text is searched the same way.

The searcher is itself tested (``test_leak_search.py``): it must find a password
planted in each of these forms, or a passing leak test would prove nothing.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterable

__all__ = ["RUN", "canonical", "find_leaks", "runs", "views"]

RUN = 8  # the product's rule: any 8 consecutive characters of a password is a leak

_ESCAPE = re.compile(
    r"(?P<hex>(?:\\x[0-9a-fA-F]{2})+)"
    r"|(?P<pct>(?:%[0-9a-fA-F]{2})+)"
    r"|(?P<qp>(?:=[0-9A-F]{2})+)"
    r"|(?P<u>(?:\\u[0-9a-fA-F]{4})+)"
    r"|\\U(?P<big>[0-9a-fA-F]{8})"
    r"|&#[xX](?P<hexref>[0-9a-fA-F]{1,6});|&#(?P<decref>[0-9]{1,7});"
    r"|\\(?P<char>[nrtfvb0'\"\\/])"
)
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v", "b": "\b", "0": "\0"}
_B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")


def canonical(text: str) -> str:
    """Case-folded, without whitespace and ``?``."""
    return "".join(text.casefold().split()).replace("?", "")


def _squeezed(text: str) -> str:
    """Without whitespace and ``?`` but with case kept (base64 needs its case)."""
    return "".join(text.split()).replace("?", "")


def _unescape_match(m: re.Match[str]) -> str:
    if m.group("hex") is not None:
        data = bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-fA-F]{2})", m.group("hex")))
        return data.decode("utf-8", "replace")
    if m.group("pct") is not None:
        data = bytes(int(h, 16) for h in re.findall(r"%([0-9a-fA-F]{2})", m.group("pct")))
        return data.decode("utf-8", "replace")
    if m.group("qp") is not None:
        data = bytes(int(h, 16) for h in re.findall(r"=([0-9A-F]{2})", m.group("qp")))
        return data.decode("utf-8", "replace")
    if m.group("u") is not None:
        units = re.findall(r"\\u([0-9a-fA-F]{4})", m.group("u"))
        raw = b"".join(int(u, 16).to_bytes(2, "big") for u in units)
        return raw.decode("utf-16-be", "replace")
    for name, base in (("big", 16), ("hexref", 16), ("decref", 10)):
        if m.group(name) is not None:
            code = int(m.group(name), base)
            return chr(code) if code <= 0x10FFFF else "?"
    char = m.group("char")
    return _SIMPLE.get(char, char)


def unescape(text: str) -> str:
    return _ESCAPE.sub(_unescape_match, text)


def _b64_decodings(text: str, seen: set[str]) -> Iterable[str]:
    """Each base64-looking token of ``text`` (not in ``seen`` yet) decoded at its four
    alignments, in both alphabets, as UTF-8 (undecodable bytes replaced)."""
    for token in _B64_TOKEN.findall(_squeezed(text)):
        if token in seen:
            continue
        seen.add(token)
        body = token.rstrip("=")
        for start in range(4):
            part = body[start:]
            part = part[: len(part) - len(part) % 4]
            if len(part) < 12:
                continue
            for alt in (b"+/", b"-_"):
                try:
                    data = base64.b64decode(part.encode("ascii"), altchars=alt, validate=False)
                except (binascii.Error, ValueError):
                    continue
                yield data.decode("utf-8", "replace")


def _unescaped_levels(text: str) -> list[str]:
    levels = [text]
    for _ in range(3):
        u = unescape(levels[-1])
        if u == levels[-1]:
            break
        levels.append(u)
    return levels


@functools.lru_cache(maxsize=256)
def views(text: str) -> tuple[str, ...]:
    """``text`` and everything it may be hiding, canonicalised: unescaped (up to three
    levels), base64-decoded (and that unescaped again; decoded text that is clean
    UTF-8 is decoded once more, for base64 of base64). Never truncated: a view left
    out would be a leak not looked for."""
    out: dict[str, None] = {}
    seen: set[str] = set()
    levels = _unescaped_levels(text)
    for level in levels:
        out[canonical(level)] = None
    for level in levels:
        for decoded in _b64_decodings(level, seen):
            for d in _unescaped_levels(decoded):
                out[canonical(d)] = None
            if "\ufffd" not in decoded and decoded.isprintable():
                for again in _b64_decodings(decoded, seen):
                    out[canonical(again)] = None
    return tuple(out)


def runs(secret: str) -> list[str]:
    """Every run of ``RUN`` consecutive characters of the canonical secret."""
    c = canonical(secret)
    return [c[i : i + RUN] for i in range(len(c) - RUN + 1)]


def find_leaks(text: str, secret: str) -> list[str]:
    """The runs of ``secret`` found in ``text`` (in any view of it); empty: no leak."""
    wanted = runs(secret)
    if not wanted:
        return []
    found: list[str] = []
    for view in views(text):
        for run in wanted:
            if run in view and run not in found:
                found.append(run)
    return found
