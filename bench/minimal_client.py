"""The yardstick: a minimal stdlib ``smtplib`` client doing the probe's dialogue.

No deadline bookkeeping, no result object, no certificate facts: connect, banner,
EHLO, [STARTTLS, EHLO], [AUTH PLAIN], QUIT — the least any SMTP check must do. The
benchmarks compare ``smtpwatch``'s probe with it, in one process and as a whole
process (this file run as a script).

    python bench/minimal_client.py explicit HOST PORT --server-name NAME --ca-file CA.pem \\
        --user alice --password-env VAR
    python bench/minimal_client.py implicit HOST PORT --server-name NAME --ca-file CA.pem
    python bench/minimal_client.py none HOST PORT

Like the probe, it connects to the address HOST but checks the certificate against
``--server-name`` (a name mapped to the address), and sends a fixed EHLO name so
smtplib does no reverse lookup.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import socket
import ssl
import sys

EHLO_NAME = "bench.smtpwatch.test"
MODES = ("explicit", "implicit", "none")


class _SMTPS(smtplib.SMTP_SSL):
    """SMTP_SSL that sends SNI/checks the certificate for a name, not the address."""

    def __init__(self, server_name: str, **kw: object) -> None:
        self.server_name = server_name
        super().__init__(**kw)  # type: ignore[arg-type]

    def _get_socket(self, host: str, port: int, timeout: float) -> ssl.SSLSocket:  # type: ignore[override]
        sock = socket.create_connection((host, port), timeout)
        return self.context.wrap_socket(sock, server_hostname=self.server_name)


def make_context(ca_pem: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()


def check(
    mode: str,
    host: str,
    port: int,
    *,
    server_name: str | None = None,
    context: ssl.SSLContext | None = None,
    user: str | None = None,
    password: str | None = None,
    timeout: float = 30.0,
) -> None:
    """One dialogue; raises on any failure."""
    name = server_name or host
    smtp: smtplib.SMTP
    if mode == "implicit":
        assert context is not None
        smtp = _SMTPS(name, local_hostname=EHLO_NAME, context=context, timeout=timeout)
        smtp.connect(host, port)
    else:
        smtp = smtplib.SMTP(local_hostname=EHLO_NAME, timeout=timeout)
        smtp.connect(host, port)
    try:
        smtp.ehlo()
        if mode == "explicit":
            assert context is not None
            smtp._host = name  # starttls() checks the certificate against _host
            code, _ = smtp.starttls(context=context)
            if code != 220:
                raise smtplib.SMTPException(f"STARTTLS {code}")
            smtp.ehlo()
        if user is not None and password is not None:
            smtp.user, smtp.password = user, password
            smtp.auth("PLAIN", smtp.auth_plain)
        smtp.quit()
    finally:
        smtp.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=MODES)
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--server-name")
    p.add_argument("--ca-file")
    p.add_argument("--user")
    p.add_argument("--password-env")
    a = p.parse_args(argv)
    ctx = None
    if a.mode != "none":
        ca = None
        if a.ca_file:
            with open(a.ca_file, encoding="ascii") as f:
                ca = f.read()
        ctx = make_context(ca)
    password = os.environ.get(a.password_env) if a.password_env else None
    try:
        check(
            a.mode,
            a.host,
            a.port,
            server_name=a.server_name,
            context=ctx,
            user=a.user,
            password=password,
        )
    except (OSError, smtplib.SMTPException) as exc:
        print(f"SMTP CRITICAL - {exc}")
        return 2
    print("SMTP OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
