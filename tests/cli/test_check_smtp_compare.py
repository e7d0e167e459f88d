"""The same checks through Debian's check_smtp and through ``smtpwatch probe``, against
the same loopback servers: the exit codes agree, except for the differences listed in
``CASES`` with their reason (docs/probe.md has the same table).

check_smtp connects to 127.0.0.1; smtpwatch gets the certificate's name mapped to
127.0.0.1 and the test CA, since it verifies certificates and check_smtp does not.
Needs ``/usr/lib/nagios/plugins/check_smtp`` (Debian: monitoring-plugins-basic).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from smtpwatch.testing.servers import (
    DEFAULT_HOSTNAME,
    Certificates,
    HostileServer,
    SmtpServer,
    closed_port,
)

CHECK_SMTP = Path("/usr/lib/nagios/plugins/check_smtp")
PASSWORD_VAR = "SMTPWATCH_COMPARE_PW"

pytestmark = [
    pytest.mark.once,
    pytest.mark.skipif(
        not os.access(CHECK_SMTP, os.X_OK),
        reason=f"{CHECK_SMTP} is not installed (Debian: apt-get install monitoring-plugins-basic)",
    ),
]


class Listener(NamedTuple):
    port: int
    stop: Callable[[], None]


class Case(NamedTuple):
    name: str
    server: Callable[[Certificates], Listener]
    args: tuple[str, ...]  # given to both
    check_smtp_extra: tuple[str, ...]
    smtpwatch_extra: tuple[str, ...]
    check_smtp_exit: int
    smtpwatch_exit: int
    why: str  # empty when the two agree


def smtp(**options: object) -> Callable[[Certificates], Listener]:
    def start(certs: Certificates) -> Listener:
        kw = dict(options)
        cert = kw.pop("cert", None)
        if isinstance(cert, str):
            kw["cert"] = getattr(certs, cert)()
        elif isinstance(cert, float):
            kw["cert"] = certs.expiring(cert)
        server = SmtpServer(**kw).start()  # type: ignore[arg-type]
        return Listener(server.port, server.stop)

    return start


def hostile(build: Callable[[], HostileServer]) -> Callable[[Certificates], Listener]:
    def start(_: Certificates) -> Listener:
        server = build().start()
        return Listener(server.port, server.stop)

    return start


def refused(_: Certificates) -> Listener:
    return Listener(closed_port(), lambda: None)


LOGIN_WRONG = ("-A", "LOGIN", "-U", "u", "-P", "wrong")
OUR_LOGIN = ("--user", "u", "--password-env", PASSWORD_VAR, "--auth-methods", "LOGIN")

CASES = [
    Case("plain server", smtp(), (), (), (), 0, 0, ""),
    Case(
        "STARTTLS, valid certificate", smtp(cert="valid", starttls=True), ("-S",), (), (), 0, 0, ""
    ),
    Case("refused port", refused, (), (), (), 2, 2, ""),
    Case("silent server, -t 2", hostile(HostileServer.silent), ("-t", "2"), (), (), 2, 2, ""),
    Case(
        "slow greeting over -w",
        hostile(lambda: HostileServer.delayed(1.0)),
        ("-w", "0.3"),
        (),
        (),
        1,
        1,
        "",
    ),
    Case(
        "slow greeting over -c",
        hostile(lambda: HostileServer.delayed(1.0)),
        ("-w", "0.2", "-c", "0.5"),
        (),
        (),
        2,
        2,
        "",
    ),
    Case("greeting without -e text", smtp(), ("-e", "Postfix"), (), (), 1, 1, ""),
    Case("greeting with -e text", smtp(), ("-e", "220 mail.smtpwatch.test"), (), (), 0, 0, ""),
    Case("-D 30,7, 60 days left", smtp(cert=60.5, starttls=True), ("-D", "30,7"), (), (), 0, 0, ""),
    Case("-D 30,7, 20 days left", smtp(cert=20.5, starttls=True), ("-D", "30,7"), (), (), 1, 1, ""),
    Case("-D 30,7, 5 days left", smtp(cert=5.5, starttls=True), ("-D", "30,7"), (), (), 2, 2, ""),
    Case("-D 30, 12 hours left", smtp(cert=0.5, starttls=True), ("-D", "30"), (), (), 2, 2, ""),
    Case(
        "-S, expired certificate",
        smtp(cert="expired", starttls=True),
        ("-S",),
        (),
        (),
        0,
        2,
        "smtpwatch verifies the certificate: cert_expired",
    ),
    Case(
        "-S, certificate for another name",
        smtp(cert="wrong_hostname", starttls=True),
        ("-S",),
        (),
        (),
        0,
        2,
        "smtpwatch verifies the certificate: cert_hostname",
    ),
    Case(
        "-D 30,7, untrusted certificate",
        smtp(cert="untrusted", starttls=True),
        ("-D", "30,7"),
        (),
        (),
        0,
        2,
        "smtpwatch verifies the certificate: cert_untrusted",
    ),
    Case(
        "-D 30,7, wrong password",
        smtp(cert="valid", starttls=True, credentials={"u": "right"}, mechanisms=("LOGIN",)),
        ("-D", "30,7"),
        LOGIN_WRONG,
        OUR_LOGIN,
        0,
        2,
        "check_smtp's -D stops after the certificate; smtpwatch runs AUTH: auth_failed",
    ),
    Case(
        "-D 5,10, 8 days left",
        smtp(cert=8.5, starttls=True),
        ("-D", "5,10"),
        (),
        (),
        0,
        2,
        "smtpwatch judges the critical days on their own: cert_expiring",
    ),
    Case(
        "-S -q, no STARTTLS offered",
        smtp(),
        ("-S", "-q"),
        (),
        (),
        1,
        2,
        "STARTTLS required and missing is critical: starttls_unsupported",
    ),
    Case(
        "greeting 554",
        hostile(lambda: HostileServer.greeting(b"554 5.3.2 no service\r\n")),
        (),
        (),
        (),
        1,
        2,
        "a refusing greeting is a failure of the server: banner",
    ),
]


def run(argv: list[str], password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_VAR}
    if password is not None:
        env[PASSWORD_VAR] = password
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory, certs: Certificates) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(certs.ca_pem, encoding="ascii")
    return str(path)


@pytest.fixture(params=CASES, ids=[case.name for case in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    chosen: Case = request.param
    return chosen


@pytest.fixture
def listener(case: Case, certs: Certificates) -> Iterator[Listener]:
    started = case.server(certs)
    yield started
    started.stop()


def test_check_smtp_and_smtpwatch_give_the_listed_exit_codes(
    case: Case, listener: Listener, ca_file: str
) -> None:
    port = str(listener.port)
    theirs = run(
        [str(CHECK_SMTP), "-H", "127.0.0.1", "-p", port, *case.args, *case.check_smtp_extra]
    )
    ours = run(
        [
            sys.executable,
            "-m",
            "smtpwatch",
            "probe",
            "-H",
            DEFAULT_HOSTNAME,
            "-p",
            port,
            "--dns-host",
            f"127.0.0.1 {DEFAULT_HOSTNAME}",
            "--ca-bundle",
            ca_file,
            *case.args,
            *case.smtpwatch_extra,
        ],
        password="wrong",
    )
    got = (theirs.returncode, ours.returncode)
    assert got == (case.check_smtp_exit, case.smtpwatch_exit), (theirs.stdout, ours.stdout)
    # Every difference is a listed, deliberate one.
    assert (case.check_smtp_exit != case.smtpwatch_exit) == bool(case.why)
    if case.why:
        kind = case.why.rsplit(": ", 1)[1]
        assert f" {kind}: " in ours.stdout.splitlines()[0]
