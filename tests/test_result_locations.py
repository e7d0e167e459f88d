"""A verdict's ``locations`` in the result document: absent from every result that is no
verdict (so every document written before stays byte for byte the same), read back
bounded to 16 votes with unusable entries dropped whatever a store or an event holds,
and the largest verdict there can be still within the 16 KB bound of a result."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpwatch.core import result as R
from smtpwatch.core.locations import LocationVote
from smtpwatch.core.result import (
    AddressAttempt,
    AddressInfo,
    ProbeResult,
    ServerInfo,
    Status,
    TlsInfo,
)
from smtpwatch.testing.floods import largest_result

LIMIT = 16_384
MARK = "…"
STARTED = "2026-12-08T01:00:01.250Z"


def weight(text: str) -> int:
    return len(json.dumps(text)) - 2


def ok_result(**fields: Any) -> ProbeResult:
    return ProbeResult("t1", STARTED, Status.OK, host="mx.example.com", port=587, **fields)


def largest_vote(i: int) -> LocationVote:
    # every field at its limit: 64 ASCII characters of location, a 200-byte message
    return LocationVote(
        f"{i:02d}".ljust(64, "L"), "critical", "ehlo_tls", "starttls_unsupported", "m" * 10_000
    )


def test_a_result_without_votes_has_no_locations_key() -> None:
    doc = ok_result(location="us-east-1").to_dict()
    assert "locations" not in doc
    assert ProbeResult.from_dict(doc).locations == ()


def test_a_verdicts_votes_are_the_last_key_and_read_back_the_same() -> None:
    votes = (
        LocationVote("us-east-1", "ok"),
        LocationVote("eu-west-1", "critical", "connect", "connect_refused", "Connection refused"),
        LocationVote("ap-south-1", "silent"),
    )
    result = ok_result(location="us-east-1", locations=votes)
    doc = result.to_dict()
    assert list(doc)[-1] == "locations"
    assert doc["locations"][1] == {
        "location": "eu-west-1",
        "status": "critical",
        "phase": "connect",
        "error": "connect_refused",
        "message": "Connection refused",
    }
    assert ProbeResult.from_dict(json.loads(json.dumps(doc))) == result


@pytest.mark.parametrize(
    "raw",
    [None, "us-east-1", 42, {"location": "us-east-1", "status": "ok"}, [[1, 2]], [None]],
    ids=repr,
)
def test_locations_of_no_usable_shape_read_as_none(raw: Any) -> None:
    doc = ok_result().to_dict() | {"locations": raw}
    assert ProbeResult.from_dict(doc).locations == ()


@pytest.mark.parametrize(
    "entry",
    [
        {"status": "ok"},
        {"location": "", "status": "ok"},
        {"location": 5, "status": "ok"},
        {"location": ["us-east-1"], "status": "ok"},
        {"location": "us-east-1"},
        {"location": "us-east-1", "status": "down"},
        {"location": "us-east-1", "status": ["ok"]},
        {"location": "us-east-1", "status": {"ok": 1}},
    ],
    ids=repr,
)
def test_an_unusable_vote_is_dropped_and_the_others_kept(entry: Any) -> None:
    good = {"location": "eu-west-1", "status": "ok"}
    doc = ok_result().to_dict() | {"locations": [entry, good]}
    assert ProbeResult.from_dict(doc).locations == (LocationVote("eu-west-1", "ok"),)


def test_an_unknown_phase_or_failure_class_or_a_message_of_no_text_reads_as_none() -> None:
    doc = ok_result().to_dict() | {
        "locations": [
            {
                "location": "eu-west-1",
                "status": "critical",
                "phase": "teleport",
                "error": ["connect_refused"],
                "message": {"text": "x"},
            }
        ]
    }
    assert ProbeResult.from_dict(doc).locations == (LocationVote("eu-west-1", "critical"),)


def test_a_stored_list_of_a_million_votes_reads_its_first_sixteen() -> None:
    entry = {"location": "r", "status": "ok"}
    doc = ok_result().to_dict() | {"locations": [entry] * 1_000_000}
    result = ProbeResult.from_dict(doc)
    assert len(result.locations) == R.MAX_LOCATIONS
    # ...and a result built with more keeps the first sixteen too
    many = tuple(LocationVote(f"r{i}", "ok") for i in range(40))
    assert ok_result(locations=many).locations == many[:16]


def test_long_and_hostile_vote_texts_are_cut_saying_so() -> None:
    vote = LocationVote("😀" * 10_000, "critical", "x" * 999, "y" * 999, "line\none\n" * 999)
    assert vote.location.endswith(MARK) and weight(vote.location) <= R.MAX_VOTE_LOCATION
    assert vote.message is not None and vote.message.endswith(MARK)
    assert "\n" not in vote.message and weight(vote.message) <= R.MAX_VOTE_MESSAGE
    assert vote.phase is not None and weight(vote.phase) <= R.MAX_SHORT
    # a 64-character region-like name and a one-line message are kept whole
    whole = LocationVote("L" * 64, "critical", message="Connection refused")
    assert (whole.location, whole.message) == ("L" * 64, "Connection refused")


VOTE_TEXT = st.text(st.characters(), max_size=300) | st.builds(
    lambda ch, n: ch * n, st.sampled_from(['"', "\\", "\x00", "é", "😀", "\ud83d"]),
    st.integers(0, 5_000),
)  # fmt: skip
ANY_VALUE = st.none() | st.integers() | VOTE_TEXT | st.lists(st.integers(), max_size=2)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "location": ANY_VALUE,
                "status": st.sampled_from(["ok", "warning", "critical", "unknown", "silent"])
                | ANY_VALUE,
                "phase": st.sampled_from(["connect", "ehlo_tls"]) | ANY_VALUE,
                "error": st.sampled_from(["timeout", "connect_refused"]) | ANY_VALUE,
                "message": ANY_VALUE,
            }
        ),
        max_size=40,
    )
)
def test_any_stored_votes_read_back_bounded_and_stable(entries: list[dict[str, Any]]) -> None:
    # GIVEN the largest result there can be, holding any stored votes
    doc = largest_result().to_dict() | {"locations": entries}
    # WHEN read back (SQLite rows, DynamoDB items, Lambda events)
    result = ProbeResult.from_dict(doc)
    out = result.to_dict()
    # THEN it is within 16 KB in every form and reads back the same again
    assert len(json.dumps(out)) <= LIMIT
    assert len(json.dumps(out, indent=2)) <= LIMIT
    assert len(json.dumps(out, ensure_ascii=False).encode("utf-8")) <= LIMIT
    assert len(result.locations) <= R.MAX_LOCATIONS
    assert ProbeResult.from_dict(json.loads(json.dumps(out))) == result


def test_the_largest_verdict_there_can_be_is_within_16_kb() -> None:
    # GIVEN the largest result there can be, as a verdict of 16 votes at their limits
    votes = tuple(largest_vote(i) for i in range(40))
    verdict = largest_result().replace(locations=votes)
    out = verdict.to_dict()
    # THEN its JSON is within the bound of a result in every form
    assert len(json.dumps(out)) <= LIMIT
    assert len(json.dumps(out, indent=2)) <= LIMIT
    assert len(json.dumps(out, ensure_ascii=False).encode("utf-8")) <= LIMIT
    assert len(out["locations"]) == R.MAX_LOCATIONS
    # AND what made room for the votes is the carried vote's bulk, saying what it cut
    extensions = out["server"]["extensions"]
    assert len(extensions) == R.VERDICT_EXTENSIONS
    assert extensions[-1] == f"… and {5_000 - (R.VERDICT_EXTENSIONS - 1)} more"
    sans = out["tls"]["sans"]
    assert len(sans) <= R.VERDICT_SANS and sans[-1].startswith("… and ")
    assert sum(weight(s) for s in sans[:-1]) <= R.VERDICT_SANS_BYTES
    assert len(out["address"]["attempts"]) == R.VERDICT_ATTEMPTS
    # AND a non-ASCII location of the same length still fits, cut and saying so
    wide = verdict.replace(locations=(LocationVote("é" * 64, "ok"),) * 16)
    assert len(json.dumps(wide.to_dict(), indent=2)) <= LIMIT
    assert wide.locations[0].location.endswith(MARK)


def test_an_ordinary_verdict_keeps_its_carried_vote_whole() -> None:
    # GIVEN what a real server gives: a dozen EHLO keywords, a few SANs
    server = ServerInfo("220 mx ESMTP", tuple(f"KW{i}" for i in range(12)))
    tls = TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384", True, sans=("DNS:mx.example.com",) * 4)
    single = ok_result(server=server, tls=tls)
    verdict = single.replace(locations=(LocationVote("us-east-1", "ok"),))
    # THEN the verdict keeps all of it
    assert verdict.server == single.server and verdict.tls == single.tls
    # ...and a count a previous cut left is kept, not counted twice
    cut = single.replace(server=ServerInfo("220", tuple(f"K{i}" for i in range(100))))
    once = cut.replace(locations=(LocationVote("us-east-1", "ok"),))
    assert R.left_out(once.server.extensions) == 100 - (R.VERDICT_EXTENSIONS - 1)
    assert once.replace(total_ms=1.0).server == once.server


def test_only_the_first_sixteen_stored_votes_are_looked_at() -> None:
    # GIVEN a stored list whose first 16 entries are unusable, then a good one
    doc = ok_result().to_dict() | {
        "locations": [{"x": 1}] * 16 + [{"location": "r", "status": "ok"}]
    }
    # THEN the bounded read never reaches it
    assert ProbeResult.from_dict(doc).locations == ()


def test_a_verdict_keeps_three_address_attempts_of_its_carried_vote() -> None:
    attempt = AddressAttempt("192.0.2.1", "ipv4", False, 3000.0, "connect_timeout")
    one = (LocationVote("us-east-1", "critical"),)
    for n, kept in ((3, 3), (4, 3), (6, 3)):
        address = AddressInfo("192.0.2.1", "ipv4", 25, "dns", (attempt,) * n)
        assert len(ok_result(address=address, locations=one).address.attempts) == kept
        assert len(ok_result(address=address).address.attempts) == n


def test_a_verdict_keeps_sixteen_extensions_of_its_carried_vote_the_count_included() -> None:
    one = (LocationVote("us-east-1", "ok"),)
    sixteen = ServerInfo("220", tuple(f"K{i}" for i in range(16)))
    assert ok_result(server=sixteen, locations=one).server == sixteen
    seventeen = ServerInfo("220", tuple(f"K{i}" for i in range(17)))
    kept = ok_result(server=seventeen, locations=one).server.extensions
    assert kept == (*seventeen.extensions[:15], "… and 2 more")
