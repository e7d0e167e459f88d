"""What a result keeps: the byte limits of its texts, the caps of its lists, the
ranges of its numbers."""

from __future__ import annotations

__all__ = [
    "DAYS",
    "MAX_ATTEMPTS",
    "MAX_BANNER",
    "MAX_CERT_TEXT",
    "MAX_CIPHER",
    "MAX_DETAIL",
    "MAX_EXTENSION",
    "MAX_EXTENSIONS",
    "MAX_HOST",
    "MAX_ID",
    "MAX_IP",
    "MAX_LOCATION",
    "MAX_LOCATIONS",
    "MAX_MESSAGE",
    "MAX_SAN",
    "MAX_SANS",
    "MAX_SANS_BYTES",
    "MAX_SHORT",
    "MAX_TRIED",
    "MAX_VOTE_LOCATION",
    "MAX_VOTE_MESSAGE",
    "MAX_WARNING",
    "MAX_WARNINGS",
    "PORTS",
    "RESULT_MAX_BYTES",
    "SCHEMA_VERSIONS",
    "SMTP_CODES",
    "VERDICT_ATTEMPTS",
    "VERDICT_EXTENSIONS",
    "VERDICT_SANS",
    "VERDICT_SANS_BYTES",
    "duration",
    "in_range",
    "tenth",
]

# Text limits are bytes of JSON (ASCII characters); list caps are entries.
RESULT_MAX_BYTES = 16_384  # the whole result's JSON; the limits below add up to less
MAX_ID = 256  # target_id (a valid one has at most 128)
MAX_HOST = 256  # host (a DNS name has at most 253)
MAX_LOCATION = 256  # location: at most 64 characters where it enters, so any ASCII one
#                    is kept whole (and 42 of any others)
MAX_SHORT = 32  # encryption, started_at, enhanced_code, families, sources, TLS
#                 version, dates, mechanisms, an attempt's error kind
MAX_MESSAGE = 512  # error.message
MAX_WARNING = 200  # each warning's message
MAX_WARNINGS = 5  # warnings kept (a probe makes at most one of each kind)
MAX_DETAIL = 256  # a phase's detail (kept in memory, not in the document)
MAX_IP = 64  # an address, with an IPv6 zone
MAX_ATTEMPTS = 6  # address.attempts kept, the first ones
MAX_CIPHER = 64  # tls.cipher
MAX_CERT_TEXT = 256  # tls.subject, tls.issuer, tls.verify_error
MAX_SANS = 100  # tls.sans kept...
MAX_SAN = 256  # ...each at most this long...
MAX_SANS_BYTES = 4_096  # ...and all of them together at most this
MAX_TRIED = 12  # auth.tried kept (each method at most twice: plain, then TLS)
MAX_BANNER = 512  # server.banner
MAX_EXTENSIONS = 48  # server.extensions kept (real servers list about 10-20)...
MAX_EXTENSION = 64  # ...each at most this long
MAX_LOCATIONS = 16  # a verdict's locations (one vote each), the first ones
MAX_VOTE_LOCATION = 64  # a vote's location: a region or any 64 ASCII characters, whole
MAX_VOTE_MESSAGE = 200  # a vote's error message (one line)
# A verdict (a result with locations) keeps less of its carried vote's bulk: its
# votes take that room (16 of them at their limits).
VERDICT_EXTENSIONS = 16  # server.extensions kept, the count included
VERDICT_SANS = 16  # tls.sans kept, the count included...
VERDICT_SANS_BYTES = 1_024  # ...and all of them together at most this
VERDICT_ATTEMPTS = 3  # address.attempts kept

# Numbers outside these ranges are no server's or store's honest value.
PORTS = (0, 65_535)
SMTP_CODES = (0, 999)
DAYS = (-10_000_000, 10_000_000)
SCHEMA_VERSIONS = (0, 1_000_000)
_MS = 1e9  # a duration beyond ±11 days is no clock's reading (DynamoDB refuses > 1e125)


def duration(ms: float | None) -> float | None:
    """``ms``, or None when no clock could have measured it (also inf and nan)."""
    return ms if ms is not None and -_MS <= ms <= _MS else None


def tenth(ms: float | None) -> float | None:
    """A duration as the document writes it: rounded to 0.1 ms."""
    return None if ms is None else round(ms, 1)


def in_range(value: int | None, bounds: tuple[int, int]) -> int | None:
    """``value``, or None when it is out of ``bounds`` (a number no server or store
    gives honestly; its digits could fill the result)."""
    if value is None:
        return None
    low, high = bounds
    return value if low <= value <= high else None
