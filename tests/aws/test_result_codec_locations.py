"""A verdict's locations in the results table: they read back whole from an ordinary
item in one write unit, and when a verdict's votes hold long incompressible messages
the item still stays within 1 KB, keeping every location's status, phase and failure
class and saying that it cut the messages."""

from __future__ import annotations

import random
import string
from typing import Any

from smtpwatch.adapters.dynamodb import DynamoResultStore, DynamoStateStore
from smtpwatch.adapters.result_codec import (
    ITEM_LIMIT,
    decode_item,
    encode_item,
    item_size,
    trimmed_fields,
)
from smtpwatch.core.alerting import stored_result
from smtpwatch.core.locations import LocationVote
from smtpwatch.core.result import (
    ErrorInfo,
    ErrorKind,
    Phase,
    ProbeResult,
    ServerInfo,
    Status,
    TlsInfo,
)
from smtpwatch.core.state import TargetState, TargetStatus

SLOT = "2026-12-08T01:00:00Z"
EXPIRES = 1_800_000_000
REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1",
    "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "sa-east-1", "ca-central-1",
]  # fmt: skip


def down_verdict(votes: tuple[LocationVote, ...], **changes: Any) -> ProbeResult:
    fields: dict[str, Any] = {
        "target_id": "mx-primary.example-corp",
        "started_at": "2026-12-08T01:00:01.250Z",
        "status": Status.CRITICAL,
        "host": "mail.example-corp.com",
        "port": 587,
        "encryption": "explicit",
        "error": ErrorInfo(ErrorKind.STARTTLS, Phase.STARTTLS, "454 4.7.0 TLS not available"),
        "tls": None,
        "server": ServerInfo("220 mail.example-corp.com ESMTP", ("PIPELINING", "STARTTLS")),
        "total_ms": 312.4,
        "location": votes[0].location,
        "locations": votes,
    }
    return ProbeResult(**(fields | changes))


def three_regions() -> tuple[LocationVote, ...]:
    return (
        LocationVote(
            "eu-west-1", "critical", "starttls", "starttls", "454 4.7.0 TLS not available"
        ),
        LocationVote("us-east-1", "critical", "connect", "connect_refused", "Connection refused"),
        LocationVote("ap-south-1", "ok"),
    )


def test_an_ordinary_verdict_reads_back_whole_from_one_write_unit() -> None:
    verdict = down_verdict(three_regions())
    item = encode_item(verdict, ts=SLOT, expires_at=EXPIRES)
    assert item_size(item) <= 512
    assert trimmed_fields(item) == []
    assert decode_item(item) == verdict


def test_sixteen_long_incompressible_vote_messages_are_cut_to_fit_one_write_unit() -> None:
    # GIVEN a verdict of 16 locations, each failing with 200 incompressible bytes, on
    # top of a long error, banner and SAN list
    rnd = random.Random(5)

    def noise(n: int) -> str:
        return "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(n))

    votes = tuple(
        LocationVote(name, "critical", "starttls", "starttls", "454 " + noise(196))
        for name in REGIONS
    )
    verdict = down_verdict(
        votes,
        error=ErrorInfo(ErrorKind.STARTTLS, Phase.STARTTLS, "454 " + noise(400)),
        server=ServerInfo("220 " + noise(400), tuple(noise(10) for _ in range(40))),
        tls=TlsInfo("TLSv1.2", "ECDHE", False, sans=tuple(noise(20) for _ in range(60))),
    )
    # WHEN stored
    item = encode_item(verdict, ts=SLOT, expires_at=EXPIRES)
    # THEN one write unit, the item says it cut the votes' messages...
    assert item_size(item) <= ITEM_LIMIT
    assert "locations" in trimmed_fields(item)
    back = decode_item(item)
    assert back is not None
    # ...and every location's status, phase and failure class is still there, in order
    assert [(v.location, v.status, v.phase, v.error) for v in back.locations] == [
        (v.location, v.status, v.phase, v.error) for v in votes
    ]
    assert back.status is Status.CRITICAL and back.error is not None
    assert back.error.kind is ErrorKind.STARTTLS


def test_a_verdict_is_stored_and_read_back_by_the_results_store(
    ddb: Any, tables: dict[str, str]
) -> None:
    store = DynamoResultStore(ddb, tables["ResultsTable"])
    verdict = down_verdict(three_regions())
    assert store.add_result(verdict, scheduled_at=SLOT) is True
    assert store.latest(verdict.target_id) == verdict
    assert list(store.iter_results(verdict.target_id)) == [verdict]
    assert [v.status for v in verdict.locations] == ["critical", "critical", "ok"]


def test_the_states_copy_of_a_verdict_keeps_its_locations(ddb: Any, tables: dict[str, str]) -> None:
    verdict = down_verdict(three_regions())
    copy = stored_result(verdict)
    states = DynamoStateStore(ddb, tables["StateTable"])
    assert states.save_state(
        TargetState(verdict.target_id, status=TargetStatus.DOWN, last_result=copy, version=0)
    )
    back = states.get_state(verdict.target_id)
    assert back is not None and back.last_result is not None
    assert ProbeResult.from_dict(back.last_result).locations == verdict.locations
