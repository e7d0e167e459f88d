"""Servers that flood a result with bulk: many long EHLO keywords, many SANs.

Used by the tests of the result's bounds and by ``bench/hostile_result.py``. Each
builder returns what a server in ``smtpwatch.testing.servers`` serves: an EHLO reply
for ``HostileServer.scripted(replies={"EHLO": ...})``, a ``ServerCert`` for
``SmtpServer(cert=...)``.
"""

from __future__ import annotations

from smtpwatch.testing.servers import Certificates, ServerCert

__all__ = ["LOOPBACK_NAMES", "ehlo_keyword_flood", "flood_keyword", "many_sans_cert", "san_name"]

# The names a probe of a loopback literal (or of the test hostname) verifies against.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def flood_keyword(i: int, length: int) -> str:
    """The ``i``-th distinct keyword, ``length`` characters long (at least 7)."""
    head = f"X{i:05d}"
    return head + "K" * (length - len(head))


def ehlo_keyword_flood(count: int, length: int, *, starttls: bool = False) -> bytes:
    """A ``250`` EHLO reply listing ``count`` distinct keywords of ``length`` bytes
    (then ``STARTTLS`` when asked): 200 keywords of 60 bytes are 13 KB, a reply a
    server may send, but no result should keep."""
    lines = [b"flood.smtpwatch.test"]
    lines += [flood_keyword(i, length).encode("ascii") for i in range(count)]
    if starttls:
        lines.append(b"STARTTLS")
    out = b"".join(b"250-" + line + b"\r\n" for line in lines[:-1])
    return out + b"250 " + lines[-1] + b"\r\n"


def san_name(i: int) -> str:
    """The ``i``-th extra DNS name of ``many_sans_cert``. Short: OpenSSL refuses a
    certificate chain over 100 KB, and 3,000 of these make 70 KB."""
    return f"h{i:04d}.smtpwatch.test"


def many_sans_cert(certs: Certificates, count: int, *, matching: bool = True) -> ServerCert:
    """A leaf from the trusted test CA naming ``count`` extra DNS names; with
    ``matching`` it also names the loopback addresses and the test hostname, so a
    probe of them verifies (without, the certificate fits no probed name)."""
    names = [san_name(i) for i in range(count)]
    if matching:
        names += [certs.hostname, *LOOPBACK_NAMES]
    return certs.issue(*names)
