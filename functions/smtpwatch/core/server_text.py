"""One choke point for server text: credentials masked, control characters replaced.

Every piece of server text (every reply of every connection, EHLO keywords,
certificate fields) passes a ``ServerTextGuard`` before anything cuts, case-folds or
re-encodes it. It masks each secret's runs (``core/secret_runs.py``) in several views
of the text (``core/text_views.py``), in decoded base64 and hex, and the exact base64
forms of the AUTH exchange; ``printable`` replaces control characters with ``?``.
"""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_right
from collections.abc import Iterable

from smtpwatch.core.secret_runs import MIN_RUN, SecretRuns
from smtpwatch.core.text_views import (
    DROP_BYTES,
    UNESCAPE_LEVELS,
    compose,
    fold,
    isalnum_byte,
    squeeze,
    stands_alone,
    unescape,
    unescaped_views,
)

__all__ = ["MASK", "ServerTextGuard", "printable"]

MASK = "***"
# Decoded base64 that is ASCII text is searched as text again (escapes, base64 inside
# base64), this many levels deep.
_BLOB_DEPTH = 2
_ASCII_TEXT = re.compile(rb"[\t\n\r\x20-\x7e]+")

_B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{4,}")
_HEX_TOKEN = re.compile(r"[0-9A-Fa-f]{8,}")
_B64_CHARS = re.compile(r"[A-Za-z0-9+/_=-]+")
_URLSAFE = str.maketrans("-_", "+/")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every unprintable character replaced by ``?`` (``\\n`` kept when
    ``keep_newlines``); the length does not change."""
    if text.isprintable():
        return text
    if keep_newlines and "\n" in text:
        return "\n".join(printable(part) for part in text.split("\n"))
    return "".join(ch if ch.isprintable() else "?" for ch in text)


class ServerTextGuard:
    """Masks the credentials of one probe in server text, replaces control characters.

    ``secrets``: the password, and older passwords still worth masking (None and
    empty entries are ignored). ``username`` completes the exact base64 forms of the
    AUTH exchange. A guard with no secret masks nothing. The guard never shows its
    secrets (``repr`` included).
    """

    __slots__ = ("_exact", "_kept", "_runs", "_username")

    def __init__(self, secrets: Iterable[str | None] = (), *, username: str | None = None) -> None:
        self._kept: list[str] = []
        self._username = username
        self._exact: set[str] = set()
        self._runs = SecretRuns(())
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str | None]) -> None:
        """Mask these secrets too from now on (an access token once it is fetched)."""
        new = [s for s in dict.fromkeys(secrets) if s and s not in self._kept]
        if not new:
            return
        self._kept += new
        folded: list[str] = []
        raw: list[bytes] = []
        for secret in self._kept:
            views = unescaped_views(secret)
            data = secret.encode("utf-8", "replace")
            if not secret.isascii():
                # its UTF-8 bytes shown one by one (a bytes repr "\xc3\xa4", "%C3%A4")
                # decode to these characters
                views.append(data.decode("latin-1"))
                raw.append(data.lower().translate(None, DROP_BYTES))
            for view in views:
                text = fold(*squeeze(view))[0]
                if text:
                    folded.append(text)
        self._runs = SecretRuns(folded, raw)
        username = self._username
        for secret in new:
            forms = [secret]
            if username:
                forms += [f"\0{username}\0{secret}", f"{username}\0{username}\0{secret}"]
            for form in forms:
                encoded = base64.b64encode(form.encode("utf-8", "replace")).decode("ascii")
                if len(encoded.rstrip("=")) >= MIN_RUN:
                    self._exact.add(encoded.rstrip("="))

    @property
    def active(self) -> bool:
        """True when there is something to mask."""
        return bool(self._runs.groups or self._exact)

    def __repr__(self) -> str:
        return "ServerTextGuard(***)" if self.active else "ServerTextGuard()"

    __str__ = __repr__

    def remember_sent(self, line: bytes) -> None:
        """A line the client sent during AUTH: its base64 arguments (not the command
        words) are masked from now on, should the server quote them back."""
        words = line.decode("ascii", "replace").split()
        if words and words[0].upper() == "AUTH":
            words = words[2:]
        for word in words:
            word = word.rstrip("=")
            if len(word) >= MIN_RUN:
                self._exact.add(word)

    # ------------------------------------------------------------------ entry points
    def clean(self, text: str, *, keep_newlines: bool = False) -> str:
        """Credentials masked, then unprintable characters replaced by ``?``."""
        return printable(self.mask(text), keep_newlines=keep_newlines)

    def reply(self, raw: bytes) -> bytes:
        """One SMTP reply's text (its lines joined by ``\\n``) as the client may keep
        it: decoded as UTF-8 (undecodable bytes become U+FFFD), cleaned, re-encoded."""
        text = raw.decode("utf-8", "replace")
        return self.clean(text, keep_newlines=True).encode("utf-8")

    def mask(self, text: str) -> str:
        """``text`` with every form of the credentials replaced by ``MASK``."""
        if not self.active or not text:
            return text
        spans = self._spans(text, 0)
        if not spans:
            return text
        return _replace(text, spans)

    # ------------------------------------------------------------------ internals
    def _spans(self, text: str, depth: int) -> list[tuple[int, int, bool]]:
        """``(start, end, in_base64)`` of every credential found in ``text``."""
        spans: list[tuple[int, int, bool]] = []
        for form in self._exact:
            start = text.find(form)
            while start >= 0:
                spans.append((start, start + len(form), True))
                start = text.find(form, start + 1)
        runs = self._runs
        if runs.groups:
            view, lo, hi = text, None, None
            for level in range(UNESCAPE_LEVELS + 1):
                if level:
                    step = unescape(view)
                    if step is None:
                        break
                    view, step_lo, step_hi = step
                    lo, hi = compose(lo, hi, step_lo, step_hi)
                self._search(text, view, lo, hi, spans, depth)
        return spans

    def _search(
        self,
        text: str,
        view: str,
        lo: list[int] | None,
        hi: list[int] | None,
        spans: list[tuple[int, int, bool]],
        depth: int,
    ) -> None:
        """Find the runs in one view of ``text``; ``lo``/``hi`` map the view's
        characters to spans of ``text`` (None: the view is ``text``)."""

        def source(first: int, last: int) -> tuple[int, int]:
            # view positions first..last (inclusive) → span of text
            if lo is None or hi is None:
                return first, last + 1
            return lo[first], hi[last]

        squeezed, sidx = squeeze(view)
        if len(squeezed) < self._runs.shortest:
            return
        folded, fidx = fold(squeezed, sidx)
        for n, group, short in self._runs.groups:
            for i in range(len(folded) - n + 1):
                if folded[i : i + n] in group:
                    start, end = source(fidx[i], fidx[i + n - 1])
                    if not short or stands_alone(text, start, end):
                        spans.append((start, end, False))
        if not self._runs.blob_groups:
            return
        for match in _B64_TOKEN.finditer(squeezed):
            if match.end() - match.start() < self._runs.b64_shortest:
                continue
            token = match.group().translate(_URLSAFE)
            for align in range(4):
                chunk = token[align:]
                chunk = chunk[: len(chunk) - 1] if len(chunk) % 4 == 1 else chunk
                if len(chunk) < 2:
                    break
                try:
                    data = binascii.a2b_base64(chunk + "=" * (-len(chunk) % 4))
                except (binascii.Error, ValueError):
                    continue
                base = match.start() + align
                for j0, j1 in self._decoded_hits(data, depth):
                    k0 = base + 4 * (j0 // 3)
                    k1 = min(base + 4 * ((j1 - 1) // 3) + 4, match.end())
                    spans.append((*source(sidx[k0], sidx[k1 - 1]), True))
        for match in _HEX_TOKEN.finditer(squeezed):
            for align in (0, 1):
                chunk = match.group()[align:]
                data = bytes.fromhex(chunk[: len(chunk) - len(chunk) % 2])
                base = match.start() + align
                for j0, j1 in self._decoded_hits(data, depth):
                    spans.append((*source(sidx[base + 2 * j0], sidx[base + 2 * j1 - 1]), True))

    def _decoded_hits(self, data: bytes, depth: int) -> list[tuple[int, int]]:
        """Byte ranges of decoded ``data`` that hold a secret: as bytes, and in each
        stretch of ASCII text in it as text (with its escapes and base64) once more.
        (Stretches, not the whole: text before a token, glued to it once whitespace
        is dropped, decodes to a few bytes of noise in front of the real text.)"""
        hits = self._blob_hits(data)
        if depth >= _BLOB_DEPTH or len(data) < self._runs.blob_shortest:
            return hits
        for stretch in _ASCII_TEXT.finditer(data):
            if stretch.end() - stretch.start() < self._runs.blob_shortest:
                continue
            at = stretch.start()
            inner = stretch.group().decode("ascii")
            hits += [(at + s, at + e) for s, e, _ in self._spans(inner, depth + 1)]
        return hits

    def _blob_hits(self, data: bytes) -> list[tuple[int, int]]:
        """Byte ranges of decoded ``data`` that hold a run of a secret."""
        runs = self._runs
        if len(data) < runs.blob_shortest:
            return []
        low = data.lower()
        squeezed = low.translate(None, DROP_BYTES)
        if len(squeezed) < runs.blob_shortest:
            return []
        # The usual case, no run at all, decided cheaply: short blobs by one slide over
        # them, long ones by the C substring search of each run.
        if len(squeezed) < len(runs.blob_all):
            found = any(
                squeezed[i : i + n] in group
                for n, group, _ in runs.blob_groups
                for i in range(len(squeezed) - n + 1)
            )
        else:
            found = any(run in squeezed for run in runs.blob_all)
        if not found:
            return []
        keep = [j for j, b in enumerate(low) if b not in DROP_BYTES]
        hits = []
        for n, group, short in self._runs.blob_groups:
            for i in range(len(squeezed) - n + 1):
                if squeezed[i : i + n] in group:
                    j0, j1 = keep[i], keep[i + n - 1] + 1
                    alone = (j0 == 0 or not isalnum_byte(low[j0 - 1])) and (
                        j1 >= len(low) or not isalnum_byte(low[j1])
                    )
                    if not short or alone:
                        hits.append((j0, j1))
        return hits


def _replace(text: str, spans: list[tuple[int, int, bool]]) -> str:
    """Replace the spans (merged where they touch) by ``MASK``; a span found through
    base64 first grows to the whole base64 token it stands in."""
    tokens: list[tuple[int, int]] = []
    starts: list[int] = []
    if any(whole_token for _, _, whole_token in spans):
        tokens = [m.span() for m in _B64_CHARS.finditer(text)]
        starts = [s for s, _ in tokens]
    ranges: list[tuple[int, int]] = []
    for start, end, whole_token in spans:
        if whole_token:
            i = bisect_right(starts, start) - 1
            if i >= 0 and tokens[i][0] <= start < tokens[i][1]:
                start = tokens[i][0]
            j = bisect_right(starts, end - 1) - 1
            if j >= 0 and tokens[j][0] <= end - 1 < tokens[j][1]:
                end = max(end, tokens[j][1])
        ranges.append((start, end))
    ranges.sort()
    out: list[str] = []
    pos = 0
    cur_start, cur_end = ranges[0]
    for start, end in ranges[1:]:
        if start <= cur_end:
            cur_end = max(cur_end, end)
            continue
        out += [text[pos:cur_start], MASK]
        pos = cur_end
        cur_start, cur_end = start, end
    out += [text[pos:cur_start], MASK, text[cur_end:]]
    return "".join(out)
