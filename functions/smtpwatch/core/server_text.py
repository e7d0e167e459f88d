"""One choke point for server text: credentials masked, control characters replaced.

A server may echo, reshape or remember what it was sent: the reply to AUTH may quote
the password after a screenful of filler, the next connection's greeting may carry
it, an EHLO keyword may be it. Every piece of server text (greeting, every reply of
every connection, EHLO keywords, certificate fields) passes a ``ServerTextGuard``
*before* anything cuts it, changes its case, folds its whitespace, decodes or
re-encodes it: a guard that runs after a cut to 300 characters sees only the first
part of a password and cannot mask it.

What is masked (replaced by ``MASK``), for each secret the guard was built with (a
probe's password, plus the old one when the probe runs again after a rotation):

- every run of ``MIN_RUN`` (8) or more consecutive characters of the password, in
  any case, also interrupted by whitespace, line breaks (a password split over the
  lines of one multi-line reply) or ``?`` (what unprintable characters become);
- the same inside escapes: ``\\xNN``, ``\\uNNNN``, ``\\UNNNNNNNN``, octal and
  ``\\n``-style escapes, ``%NN``, ``&#NN;``, ``&#xNN;``, ``&amp;``-style entities,
  quoted-printable ``=NN`` and soft line breaks, decoded up to three levels deep
  (JSON inside JSON);
- base64: every token of base64 characters (standard or URL-safe; also across
  whitespace, so a wrapped token counts) is decoded at each of its four alignments
  (and hex tokens at both of theirs); where the decoded bytes carry such a run, the
  characters that encode it are masked, and with them the rest of the token they
  stand in, so ``AUTH PLAIN <token>`` quoted back keeps its words and loses the token;
- a non-ASCII password also as its UTF-8 bytes shown one by one (a bytes repr
  ``\\xc3\\xa4``, ``%C3%A4``, hex), in text and in decoded base64;
- the exact base64 forms of the AUTH exchange (the password, ``\\0user\\0password``,
  ``user\\0user\\0password``) and every base64 argument the client sent during AUTH
  (``remember_sent``): a CRAM-MD5 answer carries no password, but a digest against
  which passwords can be tried offline.

A password shorter than ``MIN_RUN`` (after dropping whitespace and ``?``) has no
runs: it is masked whole, where it stands as a word of its own (not glued to a letter
or digit). Inside a longer word it cannot be told from the word — a password ``p``
is in every ``PLAIN`` — and masking it there would hide the EHLO keywords the login
needs. Its base64 forms are looked for only from 4 bytes up: shorter ones turn up by
chance in any decoded token.

How (linear in the text, since it runs on every reply): one normalised view of the
text (unprintable characters, whitespace and ``?`` dropped, NFKC, case-folded) in
which each character remembers the span of the original text it came from; the
password's runs are a set, and one slide over the view finds them; the spans of the
original text they cover are replaced. Escape decoding makes further views (only
when the text has escapes), each searched the same way; base64 tokens are decoded
once per alignment. The password itself goes through the same normalising, so a
password containing whitespace, ``?`` or escape-like text is found as it is shown.

Control characters: ``printable`` turns every unprintable character (C0 and C1
controls, DEL, bidi and other format characters, line and paragraph separators,
surrogates) into ``?``; where line structure matters (the lines of one SMTP reply)
``\\n`` is kept. This applies to every target, with or without a secret; masking
needs a secret, so a guard without one only replaces control characters.
"""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_right
from collections.abc import Iterable

__all__ = ["MASK", "MIN_RUN", "ServerTextGuard", "printable"]

MASK = "***"
MIN_RUN = 8  # a run this long of a password is the password
_MIN_BLOB_SECRET = 4  # shorter passwords are not looked for inside base64
_UNESCAPE_LEVELS = 3

_ESCAPE = re.compile(
    r"\\u([dD][89abAB][0-9A-Fa-f]{2}\\u[dD][c-fC-F][0-9A-Fa-f]{2})"  # 1: a UTF-16 pair
    r"|\\x([0-9A-Fa-f]{2})"  # 2
    r"|\\u([0-9A-Fa-f]{4})"  # 3
    r"|\\U([0-9A-Fa-f]{8})"  # 4
    r"|%([0-9A-Fa-f]{2})"  # 5
    r"|&#[xX]([0-9A-Fa-f]{1,6});"  # 6
    r"|=([0-9A-Fa-f]{2})"  # 7: quoted-printable
    r"|&#([0-9]{1,7});"  # 8
    r"|\\([0-7]{1,3})"  # 9: octal
    r"|\\([\\'\"/abfnrtv])"  # 10
    r"|&(amp|lt|gt|quot|apos);"  # 11
    r"|=\r?\n"  # quoted-printable soft line break: nothing
)
_HEX_GROUPS = (2, 3, 4, 5, 6, 7)
# Decoded base64 that is ASCII text is searched as text again (escapes, base64 inside
# base64), this many levels deep.
_BLOB_DEPTH = 2
_ASCII_TEXT = re.compile(rb"[\t\n\r\x20-\x7e]+")
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}

# Kept in the normalised view: printable ASCII but space and "?", and any non-ASCII
# (sorted out one by one).
_KEPT = re.compile(r"[\x21-\x3e\x40-\x7e]+|[^\x00-\x7f]+")
_B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{4,}")
_HEX_TOKEN = re.compile(r"[0-9A-Fa-f]{8,}")
_B64_CHARS = re.compile(r"[A-Za-z0-9+/_=-]+")
_URLSAFE = str.maketrans("-_", "+/")
# Bytes dropped from decoded base64 before searching: what the text view drops.
_DROP_BYTES = bytes(
    b for b in range(256) if not chr(b).isprintable() or chr(b).isspace() or b == ord("?")
)


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every unprintable character replaced by ``?`` (``\\n`` kept when
    ``keep_newlines``); the length does not change."""
    if text.isprintable():
        return text
    if keep_newlines and "\n" in text:
        return "\n".join(printable(part) for part in text.split("\n"))
    return "".join(ch if ch.isprintable() else "?" for ch in text)


class _Runs:
    """The runs of the secrets, by length: ``(length, runs, whole_word_only)``; for
    text (``folded``: the secrets as the text view shows them) and for decoded bytes
    (their UTF-8 forms, and ``raw``: the secrets' own bytes, squeezed as bytes)."""

    def __init__(self, folded: Iterable[str], raw: Iterable[bytes] = ()) -> None:
        by_key: dict[tuple[int, bool], set[str]] = {}
        for text in folded:
            if len(text) >= MIN_RUN:
                runs = {text[i : i + MIN_RUN] for i in range(len(text) - MIN_RUN + 1)}
                by_key.setdefault((MIN_RUN, False), set()).update(runs)
            elif text:
                by_key.setdefault((len(text), True), set()).add(text)
        self.groups = [(n, runs, short) for (n, short), runs in sorted(by_key.items())]
        self.shortest = min((n for n, _, _ in self.groups), default=0)
        blob: dict[tuple[int, bool], set[bytes]] = {}
        for _n, runs, short in self.groups:
            for run in runs:
                data = run.encode("utf-8")
                if len(data) >= _MIN_BLOB_SECRET:
                    blob.setdefault((len(data), short), set()).add(data)
        for data in raw:
            if len(data) >= MIN_RUN:
                windows = {data[i : i + MIN_RUN] for i in range(len(data) - MIN_RUN + 1)}
                blob.setdefault((MIN_RUN, False), set()).update(windows)
            elif len(data) >= _MIN_BLOB_SECRET:
                blob.setdefault((len(data), True), set()).add(data)
        self.blob_groups = [(n, runs, short) for (n, short), runs in sorted(blob.items())]
        self.blob_all = [run for _, runs, _ in self.blob_groups for run in runs]
        self.blob_shortest = min((n for n, _, _ in self.blob_groups), default=0)
        # base64 characters needed to encode that many bytes, at the worst alignment
        self.b64_shortest = (self.blob_shortest * 4 + 2) // 3


class ServerTextGuard:
    """Masks the credentials of one probe in server text, replaces control characters.

    ``secrets``: the password, and older passwords still worth masking (None and
    empty entries are ignored). ``username`` completes the exact base64 forms of the
    AUTH exchange. A guard with no secret masks nothing. The guard never shows its
    secrets (``repr`` included).
    """

    __slots__ = ("_exact", "_runs")

    def __init__(self, secrets: Iterable[str | None] = (), *, username: str | None = None) -> None:
        kept = [s for s in dict.fromkeys(secrets) if s]
        folded: list[str] = []
        raw: list[bytes] = []
        for secret in kept:
            views = _unescaped_views(secret)
            data = secret.encode("utf-8", "replace")
            if not secret.isascii():
                # its UTF-8 bytes shown one by one (a bytes repr "\xc3\xa4", "%C3%A4")
                # decode to these characters
                views.append(data.decode("latin-1"))
                raw.append(data.lower().translate(None, _DROP_BYTES))
            for view in views:
                text = _fold(*_squeeze(view))[0]
                if text:
                    folded.append(text)
        self._runs = _Runs(folded, raw)
        self._exact: set[str] = set()
        for secret in kept:
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
            for level in range(_UNESCAPE_LEVELS + 1):
                if level:
                    step = _unescape(view)
                    if step is None:
                        break
                    view, step_lo, step_hi = step
                    lo, hi = _compose(lo, hi, step_lo, step_hi)
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

        squeezed, sidx = _squeeze(view)
        if len(squeezed) < self._runs.shortest:
            return
        folded, fidx = _fold(squeezed, sidx)
        for n, group, short in self._runs.groups:
            for i in range(len(folded) - n + 1):
                if folded[i : i + n] in group:
                    start, end = source(fidx[i], fidx[i + n - 1])
                    if not short or _stands_alone(text, start, end):
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
        squeezed = low.translate(None, _DROP_BYTES)
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
        keep = [j for j, b in enumerate(low) if b not in _DROP_BYTES]
        hits = []
        for n, group, short in self._runs.blob_groups:
            for i in range(len(squeezed) - n + 1):
                if squeezed[i : i + n] in group:
                    j0, j1 = keep[i], keep[i + n - 1] + 1
                    alone = (j0 == 0 or not _isalnum_byte(low[j0 - 1])) and (
                        j1 >= len(low) or not _isalnum_byte(low[j1])
                    )
                    if not short or alone:
                        hits.append((j0, j1))
        return hits


def _isalnum_byte(b: int) -> bool:
    return 48 <= b <= 57 or 97 <= b <= 122 or 65 <= b <= 90


def _stands_alone(text: str, start: int, end: int) -> bool:
    return (start == 0 or not text[start - 1].isalnum()) and (
        end >= len(text) or not text[end].isalnum()
    )


def _squeeze(view: str) -> tuple[str, list[int]]:
    """``view`` without unprintable characters, whitespace, ``?`` and U+FFFD; with
    each kept character's index in ``view``."""
    parts: list[str] = []
    index: list[int] = []
    for match in _KEPT.finditer(view):
        start, end = match.span()
        run = match.group()
        if run[0] < "\x80":
            parts.append(run)
            index.extend(range(start, end))
            continue
        for i, ch in enumerate(run, start):
            if ch.isprintable() and not ch.isspace() and ch != "\ufffd":
                parts.append(ch)
                index.append(i)
    return "".join(parts), index


def _fold(squeezed: str, index: list[int]) -> tuple[str, list[int]]:
    """Case-folded (and NFKC for non-ASCII characters), with the index carried."""
    if squeezed.isascii():
        return squeezed.lower(), index
    import unicodedata  # only text with non-ASCII characters needs it

    parts: list[str] = []
    out: list[int] = []
    for ch, where in zip(squeezed, index, strict=True):
        if ch < "\x80":
            parts.append(ch.lower())
            out.append(where)
            continue
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isprintable() and not c.isspace() and c != "?":
                parts.append(c)
                out.append(where)
    return "".join(parts), out


def _unescape(text: str) -> tuple[str, list[int], list[int]] | None:
    """One level of escapes decoded: the text and, for each of its characters, the
    span ``[lo, hi)`` of ``text`` it came from. None when there was no escape."""
    parts: list[str] = []
    lo: list[int] = []
    hi: list[int] = []
    pos = 0
    found = False
    for match in _ESCAPE.finditer(text):
        found = True
        start, end = match.span()
        if start > pos:
            parts.append(text[pos:start])
            lo.extend(range(pos, start))
            hi.extend(range(pos + 1, start + 1))
        char = _decoded(match)
        if char:
            parts.append(char)
            lo.append(start)
            hi.append(end)
        pos = end
    if not found:
        return None
    if pos < len(text):
        parts.append(text[pos:])
        lo.extend(range(pos, len(text)))
        hi.extend(range(pos + 1, len(text) + 1))
    return "".join(parts), lo, hi


def _decoded(match: re.Match[str]) -> str:
    group = match.lastindex
    if group is None:
        return ""  # a soft line break
    value = match.group(group)
    if group == 1:  # a surrogate pair, as JSON writes a character beyond U+FFFF
        high, low = int(value[:4], 16), int(value[6:], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    if group in _HEX_GROUPS:
        code = int(value, 16)
    elif group == 8:
        code = int(value)
    elif group == 9:
        code = int(value, 8)
    elif group == 10:
        return _SIMPLE.get(value, value)
    else:
        return _ENTITIES[value]
    return chr(code) if code <= 0x10FFFF else ""


def _unescaped_views(text: str) -> list[str]:
    views = [text]
    for _ in range(_UNESCAPE_LEVELS):
        step = _unescape(views[-1])
        if step is None:
            break
        views.append(step[0])
    return views


def _compose(
    lo: list[int] | None, hi: list[int] | None, step_lo: list[int], step_hi: list[int]
) -> tuple[list[int], list[int]]:
    """Spans of the original text for a view made from a view with spans ``lo``/``hi``."""
    if lo is None or hi is None:
        return step_lo, step_hi
    return [lo[i] for i in step_lo], [hi[j - 1] for j in step_hi]


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
