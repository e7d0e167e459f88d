"""The probe's one result: timed phases, the failure (if any), TLS and AUTH facts.

``ProbeResult.to_dict()`` is a public contract (``--json``, the stores, alerts; keys in
docs/probe.md). A result is bounded by construction: every part cuts its own fields to
``limits`` in its constructor, so its JSON is at most ``RESULT_MAX_BYTES`` whoever built
it; a cut text ends in ``CUT_MARK``, a cut list in ``"… and N more"``.
"""

from smtpwatch.core.kinds import PHASES, ErrorKind, Phase, Status, WarningKind
from smtpwatch.core.result.cut import CUT_MARK, left_out, shorten
from smtpwatch.core.result.limits import (
    MAX_ATTEMPTS,
    MAX_BANNER,
    MAX_CERT_TEXT,
    MAX_CIPHER,
    MAX_DETAIL,
    MAX_EXTENSION,
    MAX_EXTENSIONS,
    MAX_HOST,
    MAX_ID,
    MAX_IP,
    MAX_MESSAGE,
    MAX_SAN,
    MAX_SANS,
    MAX_SANS_BYTES,
    MAX_SHORT,
    MAX_TRIED,
    MAX_WARNING,
    MAX_WARNINGS,
    RESULT_MAX_BYTES,
)
from smtpwatch.core.result.parts import (
    AddressAttempt,
    AddressInfo,
    AuthInfo,
    ErrorInfo,
    PhaseResult,
    ServerInfo,
    TlsInfo,
    WarningInfo,
    expiry_phrase,
)
from smtpwatch.core.result.probe_result import SCHEMA_VERSION, ProbeResult

__all__ = [
    "CUT_MARK",
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
    "MAX_MESSAGE",
    "MAX_SAN",
    "MAX_SANS",
    "MAX_SANS_BYTES",
    "MAX_SHORT",
    "MAX_TRIED",
    "MAX_WARNING",
    "MAX_WARNINGS",
    "PHASES",
    "RESULT_MAX_BYTES",
    "SCHEMA_VERSION",
    "AddressAttempt",
    "AddressInfo",
    "AuthInfo",
    "ErrorInfo",
    "ErrorKind",
    "Phase",
    "PhaseResult",
    "ProbeResult",
    "ServerInfo",
    "Status",
    "TlsInfo",
    "WarningInfo",
    "WarningKind",
    "expiry_phrase",
    "left_out",
    "shorten",
]
