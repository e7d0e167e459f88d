"""Hostile servers that flood a result with bulk, on 127.0.0.1 and ::1.

A server may list hundreds of long EHLO keywords or present a certificate with
thousands of names, all within the reply and certificate sizes a probe accepts. The
check still judges the server as usual, and what it keeps is bounded: the result's
JSON is at most 16 KB, lists end in "… and N more" when they were cut, a cut text
ends in "…". Stored locally, a row is that size too.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from smtpwatch.core import result as R
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.result import ErrorKind, Phase, ProbeResult, Status
from smtpwatch.core.target import Target
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.floods import (
    ehlo_keyword_flood,
    flood_keyword,
    many_sans_cert,
    san_name,
)
from smtpwatch.testing.servers import Certificates, HostileServer, ServerCert, SmtpServer

MakeTarget = Callable[..., Target]
Hostile = Callable[[HostileServer], HostileServer]
Smtp = Callable[..., SmtpServer]

LIMIT = 16_384  # a whole result's JSON, at most
SANS = 3_000


def json_size(result: ProbeResult) -> int:
    return len(json.dumps(result.to_dict()))


def weight(text: str) -> int:
    return len(json.dumps(text)) - 2


def assert_list_cut(entries: tuple[str, ...], expected: list[str], cap: int) -> None:
    """``entries`` are the first of ``expected`` (at most ``cap``), then a final
    "… and N more" that counts every one left out."""
    *kept, more = entries
    assert 0 < len(kept) <= cap
    assert kept == expected[: len(kept)]
    assert more == f"… and {len(expected) - len(kept)} more"
    assert R.left_out(entries) == len(expected) - len(kept)


# ---------------------------------------------------------------- EHLO keywords


def test_200_long_distinct_ehlo_keywords_are_ok_and_the_result_keeps_the_first_whole(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a server whose EHLO lists 200 distinct 60-byte keywords (13 KB: a reply
    # within the size a probe reads) and offers no TLS
    server = hostile(HostileServer.scripted(ip, replies={"EHLO": ehlo_keyword_flood(200, 60)}))
    # WHEN a plain target is probed
    result = probe(make_target(ip, server.port, encryption="none"), env=env)
    # THEN the server passes, and the result keeps the first keywords whole, counts
    # the others, and stays within 16 KB
    assert result.status is Status.OK and result.error is None, result.error
    assert result.phase(Phase.EHLO).ok and result.phase(Phase.QUIT).reached
    expected = [flood_keyword(i, 60) for i in range(200)]
    assert_list_cut(result.server.extensions, expected, R.MAX_EXTENSIONS)
    assert len(result.server.extensions) == R.MAX_EXTENSIONS + 1  # 60 bytes fit: count cut
    assert json_size(result) <= LIMIT


def test_150_ehlo_keywords_of_100_bytes_are_each_cut_and_say_so(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment, tmp_path: Path
) -> None:
    # GIVEN 150 distinct 100-byte keywords: 16 KB of reply, a 17 KB result until now
    server = hostile(HostileServer.scripted(ip, replies={"EHLO": ehlo_keyword_flood(150, 100)}))
    # WHEN probed
    result = probe(make_target(ip, server.port, encryption="none"), env=env)
    # THEN ok; each kept keyword is cut to the length limit and ends in "…"
    assert result.status is Status.OK and result.error is None, result.error
    *kept, more = result.server.extensions
    assert len(kept) == R.MAX_EXTENSIONS and more == f"… and {150 - len(kept)} more"
    for i, keyword in enumerate(kept):
        assert keyword.endswith("…") and flood_keyword(i, 100).startswith(keyword[:-1])
        assert weight(keyword) <= R.MAX_EXTENSION
    assert json_size(result) <= LIMIT
    # ...and the local store keeps one row of that size, which reads back the same
    with SqliteStore(tmp_path / "db") as store:
        store.add_result(result)
        stored = store.latest(result.target_id)
        assert stored is not None and stored.to_dict() == result.to_dict()
    with sqlite3.connect(tmp_path / "db") as conn:
        (size,) = conn.execute("SELECT length(CAST(data AS BLOB)) FROM results").fetchone()
    assert size <= LIMIT


def test_a_keyword_flood_ahead_of_a_refused_starttls_is_starttls_with_a_bounded_result(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN the flood, then STARTTLS advertised but answered 454
    flood = ehlo_keyword_flood(200, 60, starttls=True)
    server = hostile(HostileServer.scripted(ip, replies={"EHLO": flood}))
    # WHEN an explicit-TLS target is probed
    result = probe(make_target(ip, server.port, encryption="explicit"), env=env)
    # THEN the failure is what the server did (STARTTLS refused), and the result is bounded
    assert result.status is Status.CRITICAL and result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.STARTTLS, Phase.STARTTLS)
    assert result.error.smtp_code == 454
    assert result.server.extensions[-1] == f"… and {201 - R.MAX_EXTENSIONS} more"
    assert json_size(result) <= LIMIT


# ---------------------------------------------------------------- greeting


def test_a_greeting_of_2000_emoji_is_ok_with_a_banner_cut_to_its_limit(
    ip: str, hostile: Hostile, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a greeting of 2,000 four-byte characters (8 KB; 24 KB as escaped JSON)
    greeting = b"220 " + "😀".encode() * 2_000 + b"\r\n"
    server = hostile(HostileServer.scripted(ip, greeting=greeting))
    # WHEN probed
    result = probe(make_target(ip, server.port, encryption="none"), env=env)
    # THEN ok, the banner is whole characters, cut, and says so
    assert result.status is Status.OK and result.error is None, result.error
    banner = result.server.banner
    assert banner is not None and banner.endswith("…") and set(banner[:-1]) == {"😀"}
    assert weight(banner) <= R.MAX_BANNER
    banner.encode("utf-8")
    assert json_size(result) <= LIMIT


# ---------------------------------------------------------------- certificate SANs


@pytest.fixture(scope="module")
def sans_cert(certs: Certificates) -> ServerCert:
    return many_sans_cert(certs, SANS)


def expected_sans(certs: Certificates) -> list[str]:
    names = [f"DNS:{san_name(i)}" for i in range(SANS)] + [f"DNS:{certs.hostname}"]
    names.append("DNS:localhost")
    return [*names, "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1"]


@pytest.mark.parametrize("trust", ["ca_bundle", "tls_verify_false"])
def test_a_certificate_with_3000_sans_is_ok_and_the_result_keeps_the_first_and_counts_the_rest(
    ip: str,
    trust: str,
    certs: Certificates,
    sans_cert: ServerCert,
    smtp_server: Smtp,
    make_target: MakeTarget,
    env: ProbeEnvironment,
) -> None:
    # GIVEN a STARTTLS server whose valid certificate names 3,000 hosts besides ours
    server = smtp_server(ip, cert=sans_cert, starttls=True)
    fields = {"ca_bundle": certs.ca_pem} if trust == "ca_bundle" else {"tls_verify": False}
    # WHEN probed (verifying against the test CA, or not verifying)
    result = probe(make_target(ip, server.port, **fields), env=env)
    # THEN ok, and the result keeps the first SANs and says how many it left out
    assert result.status is Status.OK and result.error is None, result.error
    assert result.phase(Phase.EHLO_TLS).ok
    assert result.tls is not None and result.tls.verified is (trust == "ca_bundle")
    assert_list_cut(result.tls.sans, expected_sans(certs), R.MAX_SANS)
    assert json_size(result) <= LIMIT


def test_a_certificate_with_3000_sans_none_of_them_ours_is_cert_hostname_and_bounded(
    ip: str, certs: Certificates, smtp_server: Smtp, make_target: MakeTarget, env: ProbeEnvironment
) -> None:
    # GIVEN a trusted certificate naming 3,000 hosts, none of them the probed one
    server = smtp_server(ip, cert=many_sans_cert(certs, SANS, matching=False), starttls=True)
    # WHEN probed
    result = probe(make_target(ip, server.port), env=env)
    # THEN cert_hostname in tls; the message names some of the names, one line, bounded
    assert result.status is Status.CRITICAL and result.error is not None
    assert (result.error.kind, result.error.phase) == (ErrorKind.CERT_HOSTNAME, Phase.TLS)
    assert f"not valid for {ip}" in result.error.message and san_name(0) in result.error.message
    assert "\n" not in result.error.message and weight(result.error.message) <= R.MAX_MESSAGE
    assert result.tls is not None and not result.tls.verified
    expected = [f"DNS:{san_name(i)}" for i in range(SANS)]
    assert_list_cut(result.tls.sans, expected, R.MAX_SANS)
    assert json_size(result) <= LIMIT


# ---------------------------------------------------------------- as users run it


def _smtpwatch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTPWATCH_"))}
    env |= {
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # any AWS call goes nowhere
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONWARNINGS": "ignore",
    }
    return subprocess.run(
        [sys.executable, "-m", "smtpwatch", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_probe_prints_a_3000_san_certificate_in_a_bounded_output(
    certs: Certificates, sans_cert: ServerCert, smtp_server: Smtp, tmp_path: Path
) -> None:
    # GIVEN the 3,000-SAN server (119 KB of `probe` output until now)
    server = smtp_server("127.0.0.1", cert=sans_cert, starttls=True)
    ca = tmp_path / "ca.pem"
    ca.write_text(certs.ca_pem, encoding="ascii")
    where = f"127.0.0.1:{server.port}"
    # WHEN `smtpwatch probe` checks it, as text and as JSON
    text = _smtpwatch(tmp_path, "probe", where, "--ca-bundle", str(ca))
    as_json = _smtpwatch(tmp_path, "probe", where, "--ca-bundle", str(ca), "--json")
    # THEN ok, both outputs within 16 KB, and the text says SANs were left out
    assert (text.returncode, as_json.returncode) == (0, 0), text.stderr + as_json.stderr
    assert len(text.stdout.encode()) <= LIMIT and len(as_json.stdout.encode()) <= LIMIT
    assert "Traceback" not in text.stderr + as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["status"] == "ok" and doc["tls"]["sans"][-1].endswith(" more")


def test_run_stores_flooded_results_and_state_as_rows_of_bounded_size(
    ip: str,
    certs: Certificates,
    sans_cert: ServerCert,
    smtp_server: Smtp,
    hostile: Hostile,
    tmp_path: Path,
) -> None:
    # GIVEN two local targets: the keyword flood and the 3,000-SAN certificate
    flood = hostile(HostileServer.scripted(ip, replies={"EHLO": ehlo_keyword_flood(150, 100)}))
    sans = smtp_server(ip, cert=sans_cert, starttls=True)
    db = tmp_path / "smtpwatch.db"
    with SqliteStore(db) as store:
        store.put_items(
            [
                {"target_id": "flood", "host": ip, "port": flood.port, "encryption": "none"},
                {"target_id": "sans", "host": ip, "port": sans.port, "ca_bundle": certs.ca_pem},
            ]
        )
    # WHEN `smtpwatch run --once` checks them
    run = _smtpwatch(tmp_path, "run", "--once", "--db", str(db))
    # THEN both pass, and every stored result row is within 16 KB, every state row
    # within 16 KB plus its own fields
    assert run.returncode == 0, run.stdout + run.stderr
    with sqlite3.connect(db) as conn:
        results = conn.execute(
            "SELECT target_id, status, length(CAST(data AS BLOB)) FROM results"
        ).fetchall()
        states = conn.execute("SELECT target_id, length(CAST(data AS BLOB)) FROM state").fetchall()
    assert sorted((t, s) for t, s, _ in results) == [("flood", "ok"), ("sans", "ok")]
    assert all(size <= LIMIT for _, _, size in results), results
    assert len(states) == 2 and all(size <= LIMIT + 2_048 for _, size in states), states
    with SqliteStore(db) as store:
        stored = store.latest("sans")
    assert stored is not None and stored.tls is not None
    assert R.left_out(stored.tls.sans) == len(expected_sans(certs)) - R.MAX_SANS
