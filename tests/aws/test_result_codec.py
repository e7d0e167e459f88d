"""Result items: the full ProbeResult back for every reader, in one 1 KB write unit."""

from __future__ import annotations

import json
import random
import string
from typing import Any

from smtpwatch.adapters.dynamodb import DynamoResultStore
from smtpwatch.adapters.result_codec import (
    ITEM_LIMIT,
    decode_item,
    encode_item,
    item_size,
    trimmed_fields,
)
from smtpwatch.core.result import (
    PHASES,
    AddressAttempt,
    AddressInfo,
    AuthInfo,
    ErrorInfo,
    ErrorKind,
    Phase,
    PhaseResult,
    ProbeResult,
    ServerInfo,
    Status,
    TlsInfo,
    WarningInfo,
    WarningKind,
)

TS = "2026-11-25T15:00:00Z"
EXPIRES = 1_800_000_000


def _starttls_auth_ok(**changes: Any) -> ProbeResult:
    """An ordinary healthy check: STARTTLS, verified certificate, AUTH PLAIN."""
    fields: dict[str, Any] = dict(
        target_id="mx-primary.example-corp",
        started_at="2026-11-25T15:00:00.123Z",
        status=Status.OK,
        host="mail.example-corp.com",
        port=587,
        encryption="explicit",
        phases=tuple(PhaseResult(p, True, True, 12.3) for p in PHASES),
        address=AddressInfo(
            "203.0.113.25",
            "ipv4",
            587,
            "dns",
            (AddressAttempt("203.0.113.25", "ipv4", True, 21.4),),
        ),
        tls=TlsInfo(
            "TLSv1.3",
            "TLS_AES_256_GCM_SHA384",
            True,
            None,
            "CN=mail.example-corp.com",
            "CN=R11,O=Let's Encrypt,C=US",
            ("mail.example-corp.com", "smtp.example-corp.com"),
            "2026-10-01T00:00:00Z",
            "2026-12-30T00:00:00Z",
            35,
        ),
        auth=AuthInfo("PLAIN", ("PLAIN",), True),
        server=ServerInfo(
            "220 mail.example-corp.com ESMTP Postfix (Debian/GNU)",
            ("PIPELINING", "SIZE", "ETRN", "AUTH", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN"),
        ),
        total_ms=312.4,
    )
    return ProbeResult(**(fields | changes))


def _worst_case() -> ProbeResult:
    """Everything long at once, and incompressible: a 128-character id, a 253-character
    host, a 512-byte banner, 40 EHLO keywords, 200 SANs, 16 failed addresses, a
    300-character error and two long warnings."""
    rnd = random.Random(7)

    def noise(n: int) -> str:
        return "".join(rnd.choice(string.ascii_lowercase + string.digits) for _ in range(n))

    base = _starttls_auth_ok()
    return base.replace(
        target_id="t" + noise(127),
        host=".".join([noise(63), noise(63), noise(63), noise(61)]),
        status=Status.CRITICAL,
        error=ErrorInfo(ErrorKind.AUTH_FAILED, Phase.AUTH, "535 5.7.8 " + noise(290), 535, "5.7.8"),
        warnings=(
            WarningInfo(WarningKind.CERT_EXPIRING, "certificate expires in 3 days " + noise(270)),
            WarningInfo(WarningKind.TLS_NOT_OFFERED, noise(300)),
        ),
        address=AddressInfo(
            "2001:db8::1",
            "ipv6",
            587,
            "dns",
            tuple(
                AddressAttempt(
                    f"2001:db8:{i:x}::{noise(4)}", "ipv6", False, 3000.0, "connect_timeout"
                )
                for i in range(16)
            ),
        ),
        tls=TlsInfo(
            "TLSv1.2",
            "ECDHE-RSA-AES256-GCM-SHA384",
            False,
            "certificate verify failed: " + noise(200),
            "CN=" + noise(60),
            "CN=" + noise(60) + ",O=" + noise(40),
            tuple(noise(12) + ".example.com" for _ in range(200)),
            "2026-10-01T00:00:00Z",
            "2026-12-30T00:00:00Z",
            3,
        ),
        server=ServerInfo("220-" + noise(508), tuple(noise(10).upper() for _ in range(40))),
    )


def test_an_ordinary_starttls_auth_result_is_one_write_unit_and_reads_back_whole() -> None:
    result = _starttls_auth_ok()
    assert len(json.dumps(result.to_dict(), separators=(",", ":"))) > ITEM_LIMIT  # plain: 2 WRU
    item = encode_item(result, ts=TS, expires_at=EXPIRES)
    assert item_size(item) <= 512  # room to spare: one write unit, half the storage
    assert decode_item(item) == result
    assert trimmed_fields(item) == []


def test_the_queryable_attributes_stay_plain() -> None:
    failed = _starttls_auth_ok().replace(
        status=Status.CRITICAL,
        error=ErrorInfo(ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "Connection refused"),
    )
    item = encode_item(failed, ts=TS, expires_at=EXPIRES)
    assert item["target_id"] == {"S": "mx-primary.example-corp"}
    assert item["ts"] == {"S": TS}
    assert item["status"] == {"S": "critical"}
    assert item["error_kind"] == {"S": "connect_refused"}
    assert item["total_ms"] == {"N": "312.4"}
    assert item["expires_at"] == {"N": str(EXPIRES)}


def test_the_worst_case_result_is_trimmed_to_one_write_unit_and_says_what_was_cut() -> None:
    worst = _worst_case()
    item = encode_item(worst, ts=TS, expires_at=EXPIRES)
    assert item_size(item) <= ITEM_LIMIT
    back = decode_item(item)
    assert back is not None
    # what matters for alerts and status survives the trim
    assert (back.target_id, back.host, back.status) == (worst.target_id, worst.host, worst.status)
    assert back.error is not None and worst.error is not None
    assert (back.error.kind, back.error.phase, back.error.smtp_code) == (
        ErrorKind.AUTH_FAILED,
        Phase.AUTH,
        535,
    )
    assert back.error.message.startswith(worst.error.message[:100])
    assert back.phases == worst.phases
    assert back.tls is not None and back.tls.days_left == 3
    assert "tls.sans" in trimmed_fields(item)


def test_results_written_before_the_compact_format_still_read_back(
    ddb: Any, tables: dict[str, str]
) -> None:
    result = _starttls_auth_ok()
    ddb.put_item(
        TableName=tables["ResultsTable"],
        Item={
            "target_id": {"S": result.target_id},
            "ts": {"S": TS},
            "status": {"S": "ok"},
            "expires_at": {"N": str(EXPIRES)},
            "result": {"S": json.dumps(result.to_dict())},
        },
    )
    store = DynamoResultStore(ddb, tables["ResultsTable"])
    assert store.add_result(result, scheduled_at="2026-11-25T15:01:00Z") is True
    assert list(store.iter_results(result.target_id)) == [result, result]
    assert store.latest(result.target_id) == result


def test_a_64_character_location_is_kept_whole_even_in_the_worst_case() -> None:
    # GIVEN the worst case from a location of 64 incompressible characters
    rnd = random.Random(11)
    location = "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(64))
    worst = _worst_case().replace(location=location)
    # WHEN stored  THEN still one write unit, and the location reads back whole
    item = encode_item(worst, ts=TS, expires_at=EXPIRES)
    assert item_size(item) <= ITEM_LIMIT
    back = decode_item(item)
    assert back is not None and back.location == location
    # ...as does a region
    ordinary = _starttls_auth_ok(location="eu-central-1")
    assert decode_item(encode_item(ordinary, ts=TS, expires_at=EXPIRES)) == ordinary
