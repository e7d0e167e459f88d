"""The probe's exception table on its own: an exception raised in a phase → an error kind.

Each exception is a real instance: built directly, or (for ssl) raised by OpenSSL in a
handshake over memory buffers that is answered with SMTP text or cut short.
"""

from __future__ import annotations

import errno
import smtplib
import ssl

import pytest

from smtpwatch.core.deadline import Deadline
from smtpwatch.core.kinds import ErrorKind, Phase
from smtpwatch.core.probe.phase_scope import probe_error_for
from smtpwatch.core.resolve import DnsLookupError, DnsTimeoutError


def _handshake_error(server_sends: bytes | None) -> ssl.SSLError:
    """The SSLError OpenSSL raises when a TLS handshake is answered with ``server_sends``
    (None: the connection ends instead)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="mx.smtpwatch.test")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()  # the ClientHello goes out; the answer is awaited
    if server_sends is None:
        incoming.write_eof()
    else:
        incoming.write(server_sends)
    with pytest.raises(ssl.SSLError) as caught:
        tls.do_handshake()
    return caught.value


PLAIN_TEXT_ANSWER = _handshake_error(b"220 mx.smtpwatch.test ESMTP ready\r\n" * 4)
CUT_SHORT = _handshake_error(None)

# (exception, phase it was raised in, expected kind, expected message). TimeoutError is
# socket.timeout (an alias since Python 3.10), what a socket call raises at its timeout.
CASES: list[tuple[Exception, Phase, ErrorKind, str]] = [
    (
        PLAIN_TEXT_ANSWER,
        Phase.TLS,
        ErrorKind.TLS_HANDSHAKE,
        f"TLS handshake failed: {PLAIN_TEXT_ANSWER.reason}",
    ),
    (
        PLAIN_TEXT_ANSWER,
        Phase.EHLO_TLS,
        ErrorKind.EHLO,
        f"TLS error during ehlo_tls: {PLAIN_TEXT_ANSWER.reason}",
    ),
    (CUT_SHORT, Phase.AUTH, ErrorKind.AUTH_FAILED, f"TLS error during auth: {CUT_SHORT.reason}"),
    (
        TimeoutError("timed out"),
        Phase.BANNER,
        ErrorKind.TIMEOUT,
        "no answer within the deadline of 5 s",
    ),
    (
        TimeoutError("timed out"),
        Phase.TLS,
        ErrorKind.TIMEOUT,
        "no answer within the deadline of 5 s",
    ),
    (
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        Phase.BANNER,
        ErrorKind.BANNER,
        "Connection unexpectedly closed during banner",
    ),
    (
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        Phase.EHLO,
        ErrorKind.EHLO,
        "Connection unexpectedly closed during ehlo",
    ),
    (
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        Phase.STARTTLS,
        ErrorKind.STARTTLS,
        "Connection unexpectedly closed during starttls",
    ),
    (
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        Phase.QUIT,
        ErrorKind.PROTOCOL,
        "Connection unexpectedly closed during quit",
    ),
    (
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        Phase.EHLO_TLS,
        ErrorKind.EHLO,
        "connection lost during ehlo_tls",
    ),
    (
        OSError(errno.EIO, "Input/output error"),
        Phase.BANNER,
        ErrorKind.BANNER,
        "Input/output error during banner",
    ),
    (
        OSError(errno.EIO, "Input/output error"),
        Phase.CONNECT,
        ErrorKind.UNREACHABLE,
        "Input/output error during connect",
    ),
    (  # smtplib.SMTPException is an OSError: its other errors are the phase's trouble
        smtplib.SMTPException("garbled reply"),
        Phase.AUTH,
        ErrorKind.AUTH_FAILED,
        "SMTPException during auth",
    ),
    (
        DnsLookupError("mx.smtpwatch.test: no such name", "NXDOMAIN"),
        Phase.DNS,
        ErrorKind.DNS,
        "mx.smtpwatch.test: no such name",
    ),
    (
        DnsTimeoutError("mx.smtpwatch.test: no answer from 127.0.0.53"),
        Phase.DNS,
        ErrorKind.DNS,
        "mx.smtpwatch.test: no answer from 127.0.0.53",
    ),
]


@pytest.mark.parametrize(
    ("exc", "phase", "kind", "message"),
    CASES,
    ids=[f"{type(c[0]).__name__}-in-{c[1].value}" for c in CASES],
)
def test_an_exception_in_a_phase_becomes_that_phases_error_kind(
    exc: Exception, phase: Phase, kind: ErrorKind, message: str
) -> None:
    # GIVEN an exception raised in a phase, with 5 s of the deadline left
    # WHEN the table maps it
    error = probe_error_for(exc, phase, deadline=Deadline(5))
    # THEN it is the phase's error kind, naming the phase, with a one-line message
    assert error is not None
    assert (error.kind, error.phase, error.message) == (kind, phase, message)


@pytest.mark.parametrize(
    ("code", "text", "phase", "kind"),
    [
        (421, b"4.3.2 Service shutting down", Phase.BANNER, ErrorKind.BANNER),
        (554, "5.7.1 Go away", Phase.EHLO, ErrorKind.EHLO),
        (454, b"4.7.0 TLS not available", Phase.STARTTLS, ErrorKind.STARTTLS),
        (535, b"5.7.8 Authentication credentials invalid", Phase.AUTH, ErrorKind.AUTH_FAILED),
    ],
)
def test_a_reply_exception_keeps_its_smtp_code_and_enhanced_code(
    code: int, text: bytes | str, phase: Phase, kind: ErrorKind
) -> None:
    # GIVEN smtplib's exception for an unwanted reply (its text as bytes or as str)
    exc = smtplib.SMTPResponseException(code, text)
    # WHEN the table maps it
    error = probe_error_for(exc, phase, deadline=Deadline(5))
    # THEN the kind is the phase's, and the reply's codes are kept
    shown = text if isinstance(text, str) else text.decode()
    assert error is not None
    assert (error.kind, error.phase, error.message) == (kind, phase, f"{code} {shown}")
    assert (error.smtp_code, error.enhanced_code) == (code, shown.split()[0])


def test_a_dns_timeout_with_the_deadline_used_up_is_the_probes_timeout() -> None:
    # GIVEN the resolver gave up and no time is left
    exc = DnsTimeoutError("mx.smtpwatch.test: no answer from 127.0.0.53")
    # WHEN the table maps it
    error = probe_error_for(exc, Phase.DNS, deadline=Deadline(0))
    # THEN it is a timeout in dns, not a DNS failure
    assert error is not None
    assert (error.kind, error.phase) == (ErrorKind.TIMEOUT, Phase.DNS)
    assert error.message == "DNS: mx.smtpwatch.test: no answer from 127.0.0.53"


@pytest.mark.parametrize("phase", [Phase.DNS, Phase.EHLO, Phase.AUTH])
def test_any_other_exception_is_left_alone_as_a_bug(phase: Phase) -> None:
    # GIVEN an exception no library of the dialogue raises for a target's failure
    # WHEN the table is asked, THEN it has no error class for it (the probe reports
    # it as internal)
    assert probe_error_for(ValueError("a bug in smtpwatch"), phase, deadline=Deadline(5)) is None
