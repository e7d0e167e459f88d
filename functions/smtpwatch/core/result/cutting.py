"""Cutting text and lists of text to a number of bytes of JSON, saying what was cut."""

from __future__ import annotations

from smtpwatch.core.result.limits import MAX_SAN

__all__ = ["CUT_MARK", "cut", "cut_list", "cut_opt", "left_out", "shorten"]

CUT_MARK = "…"  # ends a text that was cut

_MARK_BYTES = 6  # CUT_MARK as JSON: "\u2026"
_MAX_COUNT = 10**18 - 1  # "… and N more": N is at most 18 digits
_MORE_HEAD, _MORE_TAIL = CUT_MARK + " and ", " more"
_ESCAPED_ASCII = frozenset('"\\\b\f\n\r\t')  # two bytes each as JSON


# ---- the JSON size of a text ----------------------------------------------------------


def _char_weight(ch: str) -> int:
    code = ord(ch)
    if 0x20 <= code < 0x7F:
        return 2 if ch in _ESCAPED_ASCII else 1
    if ch in _ESCAPED_ASCII:
        return 2
    return 12 if code > 0xFFFF else 6  # "\uXXXX", or a pair of them


def _whole(text: str) -> str:
    """``text`` with every surrogate made valid: a pair split in two code points is
    joined, a lone one becomes U+FFFD (no UTF-8 store accepts it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _cut_weighed(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to at most ``limit`` bytes of JSON, and its weight."""
    if len(text) <= limit and text.isascii() and text.isprintable():
        weight = len(text) + text.count('"') + text.count("\\")
        if weight <= limit:
            return text, weight  # the common case: printable ASCII, short
    # Every character weighs at least 1, so limit + 1 characters are enough to decide
    # (and a huge text costs no more than a short one).
    head = _whole(text[: limit + 1])
    weights = [_char_weight(ch) for ch in head]
    total = sum(weights)
    if total <= limit:
        return head, total  # whole (len(text) <= limit: the head is all of it)
    room, used, end = limit - _MARK_BYTES, 0, 0
    while end < len(head) and used + weights[end] <= room:
        used += weights[end]
        end += 1
    return head[:end] + CUT_MARK, used + _MARK_BYTES


# ---- texts ------------------------------------------------------------------------------


def cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` bytes of JSON, ending in ``CUT_MARK`` when cut."""
    # Fast path (every field of every result read back passes here): printable ASCII
    # weighs at most 2 bytes a character.
    if type(text) is str:
        if len(text) <= limit >> 1 and text.isascii() and text.isprintable():
            return text
    else:  # a stored document may hold anything
        text = str(text)
    return _cut_weighed(text, limit)[0]


def cut_opt(text: str | None, limit: int) -> str | None:
    return None if text is None else cut(text, limit)


# ---- lists of texts ---------------------------------------------------------------------


def left_out(entries: tuple[str, ...]) -> int:
    """How many entries a bounded list left out: the N of a last ``"… and N more"``
    entry, else 0."""
    if not entries:
        return 0
    last = entries[-1]
    if not (isinstance(last, str) and last.startswith(_MORE_HEAD) and last.endswith(_MORE_TAIL)):
        return 0
    digits = last[len(_MORE_HEAD) : -len(_MORE_TAIL)]
    if not (0 < len(digits) <= 18 and digits.isascii() and digits.isdigit()):
        return 0
    return 0 if digits[0] == "0" else int(digits)


def shorten(entries: tuple[str, ...] | list[str], cap: int) -> tuple[str, ...]:
    """A list of a result (``sans``, ``extensions``, ``tried``) cut further, for a copy
    that must be smaller (state items, alerts): at most ``cap`` entries in all; when
    any were left out, the last one is ``"… and N more"`` and N counts them all, those
    an earlier cut left out included."""
    if len(entries) <= cap:
        return tuple(entries)
    return cut_list(entries, max(cap - 1, 0), MAX_SAN)


def cut_list(
    entries: tuple[str, ...] | list[str], cap: int, each: int, total: int | None = None
) -> tuple[str, ...]:
    """The first entries (at most ``cap``, each cut to ``each``, together at most
    ``total`` bytes of JSON), then ``"… and N more"`` when any were left out."""
    previous = left_out(tuple(entries[-1:]))
    if previous:
        entries = entries[:-1]
    if total is None and len(entries) <= cap:
        kept = [cut(entry, each) for entry in entries]  # the common case: a short list
    else:
        kept = []
        used = 0
        for entry in entries[:cap]:
            text, weight = _cut_weighed(entry if type(entry) is str else str(entry), each)
            used += weight + 4  # quotes, comma and space
            if total is not None and used > total:
                break
            kept.append(text)
    dropped = min(len(entries) - len(kept) + previous, _MAX_COUNT)
    if dropped:
        kept.append(f"{_MORE_HEAD}{dropped}{_MORE_TAIL}")
    return tuple(kept)
