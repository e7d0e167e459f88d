"""A slot's verdict from its locations' votes: critical only when at least the quorum of
locations failed (the quorum capped at the locations that voted), a silent location or
a crashed probe never counts as a failure, the verdict carries the first failing vote
(or the first passing one) in the slot's order of locations and remembers every
location's vote in that order; a partial failure warns only when the target asks."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from smtpwatch.core.kinds import ErrorKind, Phase, Status, WarningKind
from smtpwatch.core.locations import (
    MAX_LOCATIONS,
    NO_VOTE_MESSAGE,
    LocationVote,
    effective_quorum,
    failing_summary,
    majority,
    silent,
    verdict,
    vote_of,
)
from smtpwatch.core.result import ErrorInfo, ProbeResult, WarningInfo

SLOT = "2026-12-08T01:00:00Z"
REGIONS = [
    "us-east-1", "eu-west-1", "ap-south-1", "eu-central-1", "us-west-2", "sa-east-1",
    "ap-northeast-1", "ca-central-1",
]  # fmt: skip
FAILURES = [
    (ErrorKind.CONNECT_REFUSED, Phase.CONNECT, "Connection refused"),
    (ErrorKind.STARTTLS, Phase.STARTTLS, "454 4.7.0 TLS not available"),
    (ErrorKind.TIMEOUT, Phase.BANNER, "no greeting within 30 s"),
]


def vote(location: str, status: Status, failure: int = 0, *, ms: float = 12.5) -> ProbeResult:
    """``location``'s result for the slot, as its probe builds it."""
    error = None
    if status is Status.CRITICAL:
        kind, phase, message = FAILURES[failure % len(FAILURES)]
        error = ErrorInfo(kind, phase, f"{message} ({location})")
    elif status is Status.UNKNOWN:
        error = ErrorInfo(ErrorKind.INTERNAL, None, f"probe crashed in {location}")
    warnings: tuple[WarningInfo, ...] = ()
    if status is Status.WARNING:
        warnings = (WarningInfo(WarningKind.SLOW, "took 6.2 s"),)
    return ProbeResult(
        "t1",
        "2026-12-08T01:00:01.250Z",
        status,
        host="mx.example.com",
        port=587,
        encryption="explicit",
        error=error,
        warnings=warnings,
        total_ms=ms,
        location=location,
    )


@st.composite
def slots(draw: st.DrawFn) -> tuple[list[str], dict[str, ProbeResult], int, bool]:
    """Expected locations, the votes that came (some silent, maybe one unexpected),
    the target's quorum and alert_on_partial."""
    expected = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=6, unique=True))
    votes: dict[str, ProbeResult] = {}
    for i, name in enumerate(expected):
        status = draw(st.none() | st.sampled_from(list(Status)))
        if status is not None:
            votes[name] = vote(name, status, i)
    if draw(st.booleans()):  # a location no longer expected for this target
        votes["me-south-1"] = vote("me-south-1", Status.CRITICAL)
    quorum = draw(st.integers(0, len(expected)))
    return expected, votes, quorum, draw(st.booleans())


def counts(expected: list[str], votes: dict[str, ProbeResult]) -> tuple[int, int, int]:
    voted = [n for n in expected if n in votes]
    failed = [n for n in voted if votes[n].status is Status.CRITICAL]
    passed = [n for n in voted if votes[n].ok]
    return len(voted), len(failed), len(passed)


PROPERTIES = settings(max_examples=400, deadline=None)


@PROPERTIES
@given(slots())
def test_the_verdict_remembers_every_expected_location_in_order(
    slot: tuple[list[str], dict[str, ProbeResult], int, bool],
) -> None:
    expected, votes, quorum, partial = slot
    result = verdict("t1", SLOT, expected, votes, quorum=quorum, alert_on_partial=partial)
    # THEN one vote per expected location, in the slot's order, none for the others
    assert [v.location for v in result.locations] == expected
    for name, remembered in zip(expected, result.locations, strict=True):
        if name in votes:
            assert remembered == vote_of(votes[name])
        else:  # a location that did not vote is silent, never a failure
            assert remembered == silent(name)
            assert remembered.status == "silent" and not remembered.failed
    assert result.target_id == "t1"


@PROPERTIES
@given(slots())
def test_critical_exactly_when_the_capped_quorum_of_locations_failed(
    slot: tuple[list[str], dict[str, ProbeResult], int, bool],
) -> None:
    expected, votes, quorum, partial = slot
    voted, failed, _ = counts(expected, votes)
    q = min(quorum or majority(len(expected)), voted)
    result = verdict("t1", SLOT, expected, votes, quorum=quorum, alert_on_partial=partial)
    assert (result.status is Status.CRITICAL) == (failed >= q >= 1 and failed > 0)
    if result.status is Status.CRITICAL:
        # it carries the first failing vote in the slot's order: its error, its location
        first = next(n for n in expected if n in votes and votes[n].status is Status.CRITICAL)
        assert result.error == votes[first].error
        assert result.location == first
        assert failing_summary(result) == f"{failed}/{len(expected)} locations failing"


@PROPERTIES
@given(slots())
def test_silent_locations_and_crashed_probes_never_make_a_failure(
    slot: tuple[list[str], dict[str, ProbeResult], int, bool],
) -> None:
    expected, votes, quorum, partial = slot
    # GIVEN the same slot where every failing vote is a crash instead, or no vote at all
    crashed = {
        n: vote(n, Status.UNKNOWN) if r.status is Status.CRITICAL else r for n, r in votes.items()
    }
    passing_only = {n: r for n, r in votes.items() if r.status is not Status.CRITICAL}
    for changed in (crashed, passing_only):
        result = verdict("t1", SLOT, expected, changed, quorum=quorum, alert_on_partial=partial)
        # THEN the verdict is never critical, and never a partial failure
        assert result.status is not Status.CRITICAL
        assert failing_summary(result) is None
        assert WarningKind.PARTIAL_FAILURE not in {w.kind for w in result.warnings}


@PROPERTIES
@given(slots())
def test_a_partial_failure_warns_only_when_the_target_asks(
    slot: tuple[list[str], dict[str, ProbeResult], int, bool],
) -> None:
    expected, votes, quorum, _ = slot
    voted, failed, passed = counts(expected, votes)
    q = min(quorum or majority(len(expected)), voted)
    quiet = verdict("t1", SLOT, expected, votes, quorum=quorum, alert_on_partial=False)
    loud = verdict("t1", SLOT, expected, votes, quorum=quorum, alert_on_partial=True)
    if not (0 < failed < q and passed):
        if failed == 0 or failed >= q:
            assert loud == quiet  # no partial failure: the flag changes nothing
        return
    # GIVEN some locations failed, fewer than the quorum, and one passed
    first = next(n for n in expected if n in votes and votes[n].ok)
    # THEN without the flag the verdict is the first passing vote's own status...
    assert quiet.status is votes[first].status
    assert quiet.location == first and quiet.error is None
    assert WarningKind.PARTIAL_FAILURE not in {w.kind for w in quiet.warnings}
    # ...and with it a warning that says how many failed and where
    assert loud.status is Status.WARNING
    last = loud.warnings[-1]
    assert last.kind is WarningKind.PARTIAL_FAILURE
    assert last.message.startswith(f"{failed}/{len(expected)} locations failing: ")
    for name in expected:
        if name in votes and votes[name].status is Status.CRITICAL:
            assert f"{name} {votes[name].error.kind.value}" in last.message  # type: ignore[union-attr]
    assert loud.warnings[:-1] == quiet.warnings


@PROPERTIES
@given(slots())
def test_a_verdict_survives_its_document(
    slot: tuple[list[str], dict[str, ProbeResult], int, bool],
) -> None:
    expected, votes, quorum, partial = slot
    result = verdict("t1", SLOT, expected, votes, quorum=quorum, alert_on_partial=partial)
    doc = json.loads(json.dumps(result.to_dict()))
    assert [v["location"] for v in doc["locations"]] == expected
    assert ProbeResult.from_dict(doc) == result


def test_no_vote_at_all_is_unknown_and_says_so() -> None:
    result = verdict("t1", SLOT, REGIONS[:3], {}, quorum=0, alert_on_partial=True)
    assert result.status is Status.UNKNOWN
    assert result.error == ErrorInfo(ErrorKind.INTERNAL, None, NO_VOTE_MESSAGE)
    assert result.started_at == SLOT
    assert [v.status for v in result.locations] == ["silent"] * 3


def test_every_vote_a_crash_is_unknown_carrying_the_first() -> None:
    votes = {n: vote(n, Status.UNKNOWN) for n in REGIONS[1:3]}
    result = verdict("t1", SLOT, REGIONS[:3], votes, quorum=1, alert_on_partial=True)
    assert result.status is Status.UNKNOWN
    assert result.location == REGIONS[1]
    assert result.error == votes[REGIONS[1]].error


def test_two_of_three_failing_is_down_naming_the_first_failing_location() -> None:
    names = REGIONS[:3]
    votes = {
        names[0]: vote(names[0], Status.OK),
        names[1]: vote(names[1], Status.CRITICAL, 1),
        names[2]: vote(names[2], Status.CRITICAL, 0),
    }
    result = verdict("t1", SLOT, names, votes, quorum=0, alert_on_partial=False)
    assert result.status is Status.CRITICAL
    assert result.location == "eu-west-1"
    assert result.error is not None and result.error.kind is ErrorKind.STARTTLS
    assert failing_summary(result) == "2/3 locations failing"
    assert [v.to_dict() for v in result.locations] == [
        {"location": "us-east-1", "status": "ok", "phase": None, "error": None, "message": None},
        {
            "location": "eu-west-1",
            "status": "critical",
            "phase": "starttls",
            "error": "starttls",
            "message": "454 4.7.0 TLS not available (eu-west-1)",
        },
        {
            "location": "ap-south-1",
            "status": "critical",
            "phase": "connect",
            "error": "connect_refused",
            "message": "Connection refused (ap-south-1)",
        },
    ]


def test_one_of_three_failing_is_ok_or_a_partial_failure_warning() -> None:
    names = REGIONS[:3]
    votes = {
        names[0]: vote(names[0], Status.OK, ms=40.0),
        names[1]: vote(names[1], Status.CRITICAL),
        names[2]: vote(names[2], Status.OK),
    }
    quiet = verdict("t1", SLOT, names, votes, quorum=0, alert_on_partial=False)
    assert quiet.status is Status.OK and quiet.location == "us-east-1"
    assert quiet.total_ms == 40.0  # the carried vote's own result
    assert failing_summary(quiet) == "1/3 locations failing"
    loud = verdict("t1", SLOT, names, votes, quorum=0, alert_on_partial=True)
    assert loud.status is Status.WARNING
    assert loud.warnings == (
        WarningInfo(
            WarningKind.PARTIAL_FAILURE, "1/3 locations failing: eu-west-1 connect_refused"
        ),
    )


def test_a_silent_location_caps_the_quorum_at_the_locations_that_voted() -> None:
    # GIVEN quorum 3 of 3, one location silent and both others failing
    names = REGIONS[:3]
    votes = {n: vote(n, Status.CRITICAL) for n in names[:2]}
    result = verdict("t1", SLOT, names, votes, quorum=3, alert_on_partial=False)
    # THEN the two that voted are enough: the silent one is no vote either way
    assert result.status is Status.CRITICAL
    assert [v.status for v in result.locations] == ["critical", "critical", "silent"]


def test_a_quorum_of_one_with_one_location_is_the_single_location_result() -> None:
    for status in Status:
        single = vote("us-east-1", status)
        result = verdict("t1", SLOT, ["us-east-1"], {"us-east-1": single}, quorum=1,
                         alert_on_partial=True)  # fmt: skip
        assert result.replace(locations=()) == single


def test_a_partial_failure_warning_is_kept_when_the_vote_has_every_other_warning() -> None:
    names = REGIONS[:3]
    full = vote(names[0], Status.WARNING).replace(
        warnings=tuple(WarningInfo(k, "w") for k in WarningKind if k is not WarningKind.SLOW)
        + (WarningInfo(WarningKind.SLOW, "x"),) * 3
    )
    votes = {names[0]: full, names[1]: vote(names[1], Status.CRITICAL)}
    result = verdict("t1", SLOT, names, votes, quorum=0, alert_on_partial=True)
    assert len(result.warnings) == 5
    assert result.warnings[-1].kind is WarningKind.PARTIAL_FAILURE


def test_failing_with_no_passing_vote_under_the_quorum_is_unknown() -> None:
    # GIVEN 1 of 3 failing, the 2 others crashed: nothing says the target is up
    names = REGIONS[:3]
    votes = {
        names[0]: vote(names[0], Status.UNKNOWN),
        names[1]: vote(names[1], Status.CRITICAL),
        names[2]: vote(names[2], Status.UNKNOWN),
    }
    result = verdict("t1", SLOT, names, votes, quorum=0, alert_on_partial=True)
    assert result.status is Status.UNKNOWN and result.location == names[0]
    assert result.warnings[-1].kind is WarningKind.PARTIAL_FAILURE


@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40))
def test_the_effective_quorum_is_the_quorum_or_a_majority_capped_at_the_votes(
    quorum: int, voted: int, n: int
) -> None:
    q = effective_quorum(quorum, voted, n)
    assert 0 <= q <= voted
    assert q == min(quorum if quorum else n // 2 + 1, voted)


def test_a_majority_is_more_than_half() -> None:
    assert [majority(n) for n in range(1, 7)] == [1, 2, 2, 3, 3, 4]


def test_at_most_sixteen_locations_are_remembered() -> None:
    names = [f"r{i}" for i in range(20)]
    votes = {n: vote(n, Status.OK) for n in names}
    result = verdict("t1", SLOT, names, votes, quorum=0, alert_on_partial=False)
    assert [v.location for v in result.locations] == names[:MAX_LOCATIONS]


def test_a_vote_is_named_as_the_slot_names_its_location() -> None:
    # GIVEN a probe whose results say another name (SMTPWATCH_LOCATION set on it)
    ran = vote("frankfurt-probe", Status.OK)
    result = verdict("t1", SLOT, ["eu-central-1"], {"eu-central-1": ran}, quorum=0,
                     alert_on_partial=False)  # fmt: skip
    assert result.location == "eu-central-1"
    assert result.locations == (LocationVote("eu-central-1", "ok"),)


def test_a_location_named_twice_in_the_slot_votes_once() -> None:
    names = ["us-east-1", "eu-west-1", "us-east-1"]
    votes = {"us-east-1": vote("us-east-1", Status.CRITICAL)}
    result = verdict("t1", SLOT, names, votes, quorum=2, alert_on_partial=False)
    assert [v.location for v in result.locations] == ["us-east-1", "eu-west-1"]
    assert result.status is Status.CRITICAL  # 1 of 1 voted: the quorum is capped at 1
    assert failing_summary(result) == "1/2 locations failing"
