"""A result is bounded by construction: whoever builds a ``ProbeResult`` — the probe,
``from_dict`` reading back SQLite rows, DynamoDB items or Lambda events, the service —
gets one whose JSON is at most ``RESULT_MAX_BYTES``, whatever the server sent or the
stored document holds. What was cut says so: a text ends in "…", a list ends in
"… and N more". An ordinary result is kept exactly as it is.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpwatch.core import result as R
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
from smtpwatch.local.sqlite_store import SqliteStore
from smtpwatch.testing.floods import largest_result

LIMIT = 16_384  # the contract: a whole result's JSON is at most 16 KB
MARK = "…"
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Characters that cost the most or break naive cutting: JSON escapes ('"', '\\',
# controls: 2 or 6 bytes), non-ASCII (6), beyond U+FFFF (12), lone surrogates and a
# surrogate pair split in two code points, the cut mark itself.
SPECIAL = ['"', "\\", "\x00", "\n", "\x7f", "é", "\u2028", "😀", "\ud83d", "\ude00", MARK, " "]
UNIT = st.text(alphabet=st.sampled_from(SPECIAL) | st.characters(), min_size=1, max_size=6)
REPEAT = st.integers(0, 3) | st.integers(40, 300) | st.integers(2_000, 30_000)
TEXT: st.SearchStrategy[str] = st.builds(lambda unit, n: unit * n, UNIT, REPEAT)
OPT_TEXT = st.none() | TEXT
ANY_INT = st.integers(-3, 70_000) | st.sampled_from([-(10**30), 10**30, 10**4000])
MS = st.none() | st.integers(0, 10**7).map(lambda i: i / 10)


def _entries(base: str, n: int, marker: str | None) -> list[str]:
    out = [f"{base}{i}" for i in range(n)]
    return out + ([marker] if marker is not None else [])


# Many short entries, or a few huge ones; sometimes ending in what a previous cut left.
TEXT_LIST = st.builds(
    _entries,
    st.builds(lambda unit, n: unit * n, UNIT, st.integers(0, 12)),
    st.integers(0, 5) | st.integers(60, 5_000),
    st.none() | st.sampled_from(["… and 7 more", "… and 999999999 more"]),
) | st.builds(
    _entries, TEXT.map(lambda t: t[:40_000]), st.integers(0, 3) | st.integers(60, 120), st.none()
)


@st.composite
def hostile_docs(draw: st.DrawFn) -> dict[str, Any]:
    """A ``to_dict()``-shaped document with huge and hostile values everywhere."""

    def text() -> str:
        return draw(TEXT)

    def opt() -> str | None:
        return draw(OPT_TEXT)

    many = st.integers(0, 3) | st.integers(20, 400)
    return {
        "schema_version": 1,
        "target_id": text(),
        "host": text(),
        "port": draw(st.none() | ANY_INT),
        "encryption": text(),
        "started_at": text(),
        "location": text(),
        "status": draw(st.sampled_from([s.value for s in Status])),
        "error": draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "kind": st.sampled_from([k.value for k in ErrorKind]),
                    "phase": st.none() | st.sampled_from([p.value for p in Phase]),
                    "smtp_code": st.none() | ANY_INT,
                    "enhanced_code": OPT_TEXT,
                    "message": TEXT,
                }
            )
        ),
        "warnings": [
            {"kind": draw(st.sampled_from([k.value for k in WarningKind])), "message": text()}
            for _ in range(draw(many))
        ],
        "phases": {
            p.value: {"reached": draw(st.booleans()), "ok": draw(st.booleans()), "ms": draw(MS)}
            for p in PHASES
        },
        "address": {
            "ip": opt(),
            "family": opt(),
            "port": draw(st.none() | ANY_INT),
            "source": opt(),
            "attempts": [
                {
                    "ip": text(),
                    "family": text(),
                    "ok": draw(st.booleans()),
                    "ms": draw(MS),
                    "error": opt(),
                }
                for _ in range(draw(many))
            ],
        },
        "tls": draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "version": OPT_TEXT,
                    "cipher": OPT_TEXT,
                    "verified": st.booleans(),
                    "verify_error": OPT_TEXT,
                    "subject": OPT_TEXT,
                    "issuer": OPT_TEXT,
                    "sans": TEXT_LIST,
                    "not_before": OPT_TEXT,
                    "not_after": OPT_TEXT,
                    "days_left": st.none() | ANY_INT,
                }
            )
        ),
        "auth": draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "mechanism": OPT_TEXT,
                    "tried": TEXT_LIST,
                    "over_tls": st.none() | st.booleans(),
                }
            )
        ),
        "server": {"banner": opt(), "extensions": draw(TEXT_LIST)},
        "total_ms": draw(st.integers(0, 10**9).map(lambda i: i / 10)),
    }


def built(doc: dict[str, Any]) -> ProbeResult:
    """The same document through the constructors, as the probe builds a result."""
    err, tls, auth = doc["error"], doc["tls"], doc["auth"]
    return ProbeResult(
        target_id=doc["target_id"],
        started_at=doc["started_at"],
        location=doc["location"],
        status=Status(doc["status"]),
        host=doc["host"],
        port=doc["port"],
        encryption=doc["encryption"],
        error=None
        if err is None
        else ErrorInfo(
            ErrorKind(err["kind"]),
            None if err["phase"] is None else Phase(err["phase"]),
            err["message"],
            err["smtp_code"],
            err["enhanced_code"],
        ),
        warnings=tuple(WarningInfo(WarningKind(w["kind"]), w["message"]) for w in doc["warnings"]),
        phases=tuple(
            PhaseResult(p, **doc["phases"][p.value], detail=doc["target_id"]) for p in PHASES
        ),
        address=AddressInfo(
            **{k: v for k, v in doc["address"].items() if k != "attempts"},
            attempts=tuple(AddressAttempt(**a) for a in doc["address"]["attempts"]),
        ),
        tls=None if tls is None else TlsInfo(**{**tls, "sans": tuple(tls["sans"])}),
        auth=None if auth is None else AuthInfo(**{**auth, "tried": tuple(auth["tried"])}),
        server=ServerInfo(doc["server"]["banner"], tuple(doc["server"]["extensions"])),
        total_ms=doc["total_ms"],
    )


# ---------------------------------------------------------------- checks


def weight(text: str) -> int:
    """Bytes of ``text`` as JSON escapes it (``json.dumps`` default): never fewer than
    its UTF-8 bytes, so a bound on this holds in every store."""
    return len(json.dumps(text)) - 2


def whole(text: str) -> str:
    """``text`` with surrogates made valid: a split pair joined, a lone one U+FFFD."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def assert_kept_or_cut(raw: Any, out: Any, where: str) -> None:
    """``out`` is ``raw`` unchanged, or (for text) a prefix of it ending in the mark."""
    if isinstance(raw, str):
        assert isinstance(out, str), where
        if out != whole(raw):
            assert out.endswith(MARK), f"{where}: cut without saying so: {out[-20:]!r}"
            assert whole(raw).startswith(out[: -len(MARK)]), f"{where}: not a prefix"
    elif isinstance(raw, dict):
        assert isinstance(out, dict), where
        for key, value in out.items():
            assert_kept_or_cut(raw.get(key), value, f"{where}.{key}")
    elif isinstance(raw, list):
        assert isinstance(out, list), where
        if raw and isinstance(raw[0], str):
            assert_list_kept_or_cut(raw, out, where)
        else:
            assert len(out) <= len(raw), where
            for i, (r, o) in enumerate(zip(raw, out, strict=False)):
                assert_kept_or_cut(r, o, f"{where}[{i}]")
    elif isinstance(raw, int) and not isinstance(raw, bool) and out != raw:
        assert out is None, f"{where}: an out-of-range number is dropped, not changed"
    elif isinstance(raw, float):
        assert out == raw, where


def assert_list_kept_or_cut(raw: list[str], out: list[str], where: str) -> None:
    previous = R.left_out(tuple(raw))
    entries = raw[:-1] if previous else raw
    kept = out
    if R.left_out(tuple(out)):
        *kept, last = out
        assert last == f"… and {len(entries) - len(kept) + previous} more", f"{where}: {last!r}"
    else:
        assert len(out) == len(raw), f"{where}: entries dropped without saying so"
    for i, (r, o) in enumerate(zip(entries, kept, strict=False)):
        assert_kept_or_cut(r, o, f"{where}[{i}]")


def assert_bounded(result: ProbeResult) -> dict[str, Any]:
    out = result.to_dict()
    assert len(json.dumps(out)) <= LIMIT
    utf8 = json.dumps(out, ensure_ascii=False).encode("utf-8")  # strict: no surrogate
    assert len(utf8) <= LIMIT
    assert len(json.dumps(out, indent=2)) <= LIMIT  # `probe --json` prints it so
    server = out["server"]
    if server["banner"] is not None:
        assert weight(server["banner"]) <= R.MAX_BANNER
    assert len(server["extensions"]) <= R.MAX_EXTENSIONS + 1
    assert all(weight(e) <= R.MAX_EXTENSION for e in server["extensions"])
    if out["tls"] is not None:
        assert len(out["tls"]["sans"]) <= R.MAX_SANS + 1
        assert all(weight(s) <= R.MAX_SAN for s in out["tls"]["sans"])
    if out["error"] is not None:
        assert weight(out["error"]["message"]) <= R.MAX_MESSAGE
    assert len(out["warnings"]) <= R.MAX_WARNINGS
    assert len(out["address"]["attempts"]) <= R.MAX_ATTEMPTS
    return out


# ---------------------------------------------------------------- properties


@SETTINGS
@given(hostile_docs())
def test_any_document_read_back_gives_a_result_within_16_kb_that_says_what_was_cut(
    doc: dict[str, Any],
) -> None:
    # GIVEN a stored or received document with huge, hostile values in every field
    # WHEN it is read back, as SQLite, DynamoDB and Lambda events are
    result = ProbeResult.from_dict(doc)
    # THEN its JSON is within 16 KB, every cut says so, and it reads back unchanged
    out = assert_bounded(result)
    assert_kept_or_cut(doc, out, "result")
    assert ProbeResult.from_dict(json.loads(json.dumps(out))).to_dict() == out


@SETTINGS
@given(hostile_docs())
def test_any_result_the_probe_could_build_is_within_16_kb_and_says_what_was_cut(
    doc: dict[str, Any],
) -> None:
    # GIVEN the same hostile values handed to the constructors, as the probe does
    result = built(doc)
    # THEN the same bound holds, and a cut phase detail says so too
    out = assert_bounded(result)
    assert_kept_or_cut(doc, out, "result")
    for phase in result.phases:
        assert phase.detail is not None
        assert weight(phase.detail) <= R.MAX_DETAIL
        assert_kept_or_cut(doc["target_id"], phase.detail, "detail")
    # ...and a copy made with replace() is bounded the same way
    again = result.replace(server=ServerInfo("x" * 100_000, ("Y" * 100,) * 1_000))
    assert_bounded(again)


PRINTABLE = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
WORD = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30)
# any characters but surrogates (no server text decodes to a lone one): <= 192 bytes
NON_ASCII = st.text(st.characters(exclude_categories=["Cs"]), max_size=16)


@st.composite
def ordinary_docs(draw: st.DrawFn) -> dict[str, Any]:
    """What real servers give: short texts (some not ASCII), few keywords and SANs."""
    text = PRINTABLE | NON_ASCII
    phase = st.fixed_dictionaries({"reached": st.booleans(), "ok": st.booleans(), "ms": MS})
    attempt = {"ip": "192.0.2.1", "family": "ipv4", "ok": False, "ms": 1.5, "error": "dns"}
    mechanisms = st.sampled_from(["PLAIN", "LOGIN", "CRAM-MD5"])
    return {
        "schema_version": 1,
        "target_id": draw(PRINTABLE),
        "host": draw(PRINTABLE),
        "port": draw(st.none() | st.integers(0, 65_535)),
        "encryption": draw(st.sampled_from(["explicit", "implicit", "none", "auto"])),
        "started_at": "2026-12-07T16:00:00.123Z",
        # a host name, a region, any 64 characters a user may name a location with
        "location": draw(PRINTABLE | NON_ASCII | st.just("L" * 64)),
        "status": draw(st.sampled_from([s.value for s in Status])),
        "error": draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "kind": st.sampled_from([k.value for k in ErrorKind]),
                    "phase": st.none() | st.sampled_from([p.value for p in Phase]),
                    "smtp_code": st.none() | st.integers(200, 599),
                    "enhanced_code": st.none() | st.just("5.7.8"),
                    "message": text,
                }
            )
        ),
        "warnings": draw(
            st.lists(
                st.fixed_dictionaries(
                    {"kind": st.sampled_from([k.value for k in WarningKind]), "message": text}
                ),
                max_size=3,
            )
        ),
        "phases": {p.value: draw(phase) for p in PHASES},
        "address": {
            "ip": draw(st.none() | st.just("2001:db8::25")),
            "family": draw(st.none() | st.just("ipv6")),
            "port": draw(st.none() | st.integers(1, 65_535)),
            "source": draw(st.none() | st.just("dns")),
            "attempts": [attempt] * draw(st.integers(0, 4)),
        },
        "tls": draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "version": st.none() | st.sampled_from(["TLSv1.2", "TLSv1.3"]),
                    "cipher": st.none() | st.just("TLS_AES_256_GCM_SHA384"),
                    "verified": st.booleans(),
                    "verify_error": st.none() | text,
                    "subject": st.none() | text,
                    "issuer": st.none() | text,
                    "sans": st.lists(WORD.map(lambda w: f"DNS:{w}"), max_size=40),
                    "not_before": st.just("2026-01-01T00:00:00Z"),
                    "not_after": st.just("2027-01-01T00:00:00Z"),
                    "days_left": st.none() | st.integers(-400, 4_000),
                }
            )
        ),
        "auth": draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "mechanism": st.none() | mechanisms,
                    "tried": st.lists(mechanisms, max_size=6),
                    "over_tls": st.none() | st.booleans(),
                }
            )
        ),
        "server": {
            "banner": draw(st.none() | text | st.just("x" * 500)),
            "extensions": draw(st.lists(WORD.map(str.upper), max_size=20, unique=True)),
        },
        "total_ms": draw(st.integers(0, 10**7).map(lambda i: i / 10)),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ordinary_docs())
def test_an_ordinary_result_is_kept_exactly(doc: dict[str, Any]) -> None:
    # GIVEN what real servers send: nothing near any limit
    # WHEN it is built, stored and read back
    result = ProbeResult.from_dict(doc)
    # THEN nothing was changed and the round trip is exact
    assert result.to_dict() == doc
    assert built(doc).to_dict() == doc
    assert ProbeResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_a_64_character_location_is_kept_whole_and_the_largest_result_stays_within_16_kb() -> None:
    # GIVEN the largest result there can be, from a location of 64 characters
    for location in ("L" * 64, "é" * 42, "eu-central-1"):
        result = largest_result().replace(location=location)
        # THEN its document says where it ran, whole, and is still within 16 KB
        out = assert_bounded(result)
        assert out["location"] == location
    # ...and a location no one could give is cut like any other text, saying so
    flooded = largest_result().replace(location="😀" * 10_000)
    assert assert_bounded(flooded)["location"].endswith(MARK)
    assert weight(flooded.location) <= R.MAX_LOCATION


def test_a_result_stored_before_locations_reads_back_with_an_empty_location() -> None:
    # GIVEN a document written before results said where they ran
    doc = largest_result().to_dict()
    del doc["location"]
    # WHEN read back  THEN it has the empty location, and the rest as it was
    result = ProbeResult.from_dict(doc)
    assert result.location == ""
    assert result.to_dict() == doc | {"location": ""}


def test_a_phase_detail_is_kept_in_memory_and_is_no_part_of_the_document() -> None:
    # GIVEN a result whose QUIT failed with a reply (the probe keeps it as detail)
    quit_phase = PhaseResult(Phase.QUIT, reached=True, ok=False, ms=1.25, detail="554 5.0.0 bye")
    result = ProbeResult("t", "2026-12-07T00:00:00Z", Status.OK, phases=(quit_phase,))
    # THEN the detail is there for whoever holds the result...
    assert result.phase(Phase.QUIT).detail == "554 5.0.0 bye"
    # ...but the document is the documented {reached, ok, ms}, and reading it back
    # gives the phase without its detail
    doc = result.to_dict()
    assert doc["phases"]["quit"] == {"reached": True, "ok": False, "ms": 1.2}
    assert "554 5.0.0 bye" not in json.dumps(doc)
    assert ProbeResult.from_dict(doc).phase(Phase.QUIT) == quit_phase.replace(detail=None, ms=1.2)


# ---------------------------------------------------------------- the worst cases


def test_the_largest_result_there_can_be_is_within_16_kb() -> None:
    out = assert_bounded(largest_result())
    assert R.RESULT_MAX_BYTES == LIMIT
    assert out["tls"]["sans"][-1].startswith("… and ")
    assert out["server"]["extensions"][-1] == f"… and {5_000 - R.MAX_EXTENSIONS} more"


@pytest.mark.parametrize("ch", ["a", '"', "\x00", "é", "😀"], ids=repr)
def test_every_field_flooded_with_one_character_stays_within_16_kb(ch: str) -> None:
    # GIVEN every text a megabyte of one character, every list thousands of entries
    big = ch * 1_000_000
    doc = largest_result().to_dict()

    def flood(value: Any) -> Any:
        if isinstance(value, str):
            return big
        if isinstance(value, list) and value and isinstance(value[0], str):
            return [f"{i}{big[:3_000]}" for i in range(5_000)]
        if isinstance(value, list):
            return [flood(v) for v in value[:1]] * 500
        if isinstance(value, dict):
            keep = ("kind", "phase", "status")
            return {k: v if k in keep else flood(v) for k, v in value.items()}
        return value

    # WHEN read back  THEN it is bounded
    assert_bounded(ProbeResult.from_dict(flood(doc)))


def test_the_issues_keyword_flood_is_cut_to_the_cap_and_counted() -> None:
    # GIVEN the EHLO of the report: 998 distinct 8 KB keywords (an 8 MB result today)
    keywords = tuple(f"X{i:04d}" + "A" * 8_187 for i in range(998))
    # WHEN a result holds them
    result = ProbeResult(
        "t1", "2026-12-07T16:00:00.000Z", Status.OK, server=ServerInfo("220 hi", keywords)
    )
    # THEN it keeps the first ones, each cut and saying so, and counts the rest
    out = assert_bounded(result)
    *kept, more = out["server"]["extensions"]
    assert 0 < len(kept) <= R.MAX_EXTENSIONS
    assert all(k.endswith(MARK) and k.startswith(f"X{i:04d}A") for i, k in enumerate(kept))
    assert more == f"… and {998 - len(kept)} more"
    assert R.left_out(result.server.extensions) == 998 - len(kept)


def test_cutting_never_splits_a_character_or_leaves_a_surrogate() -> None:
    # GIVEN texts that are all astral characters, or end in half of a surrogate pair
    for text in ("😀" * 5_000, "a" * 511 + "😀", "\ud83d\ude00" * 3_000, "a\ud800" * 3_000):
        banner = ServerInfo(text).banner
        assert banner is not None
        banner.encode("utf-8")  # strict: raises on a surrogate
        assert weight(banner) <= R.MAX_BANNER
        assert banner == whole(text) or whole(text).startswith(banner[:-1])
    # a valid pair that arrived as two code points is one character again, kept whole
    assert ServerInfo("220 \ud83d\ude00").banner == "220 😀"


def test_numbers_out_of_range_are_dropped_not_stored() -> None:
    doc = largest_result().to_dict() | {"port": 10**4000}
    doc["error"] |= {"smtp_code": -(10**4000)}
    doc["tls"] |= {"days_left": 10**4000}
    doc["address"] |= {"port": 70_000}
    result = ProbeResult.from_dict(doc)
    assert (result.port, result.address.port) == (None, None)
    assert result.error is not None and result.error.smtp_code is None
    assert result.tls is not None and result.tls.days_left is None
    assert_bounded(result)


@pytest.mark.parametrize("ms", [math.inf, -math.inf, math.nan, 1e300, -1e10], ids=repr)
def test_durations_no_clock_gives_are_dropped(ms: float) -> None:
    # GIVEN a stored document with a duration no clock measures: DynamoDB refuses a
    # number over 1e125 and JSON has no inf or nan
    doc = largest_result().to_dict()
    doc["phases"]["dns"]["ms"] = ms
    doc["address"]["attempts"][0]["ms"] = ms
    doc["total_ms"] = ms
    # WHEN read back  THEN they are gone (total_ms is 0), strict JSON can hold the rest
    result = ProbeResult.from_dict(doc)
    assert result.phase(Phase.DNS).ms is None and result.address.attempts[0].ms is None
    assert result.total_ms == 0.0
    json.dumps(result.to_dict(), allow_nan=False)
    # ...and a duration within 11 days is kept
    assert ProbeResult("t", "x", Status.OK, total_ms=999_999_999.9).total_ms == 999_999_999.9


# ---------------------------------------------------------------- where results are stored


def test_the_largest_result_stored_locally_is_one_row_of_at_most_16_kb(tmp_path: Path) -> None:
    # GIVEN the largest result there can be, flooded with the costliest characters
    doc = largest_result().to_dict()
    doc["server"]["banner"] = "😀" * 100_000
    doc["error"]["message"] = "\x00" * 100_000
    doc["started_at"] = "2026-12-07T16:00:00.000Z"
    result = ProbeResult.from_dict(doc)
    # WHEN the local store keeps it (and the state keeps it as last result)
    db = tmp_path / "smtpwatch.db"
    with SqliteStore(db) as store:
        assert store.add_result(result)
        stored = store.latest(result.target_id)
        assert stored is not None and stored.to_dict() == result.to_dict()
    # THEN the row holds at most 16 KB of JSON
    with sqlite3.connect(db) as conn:
        (size,) = conn.execute("SELECT max(length(CAST(data AS BLOB))) FROM results").fetchone()
    assert 0 < size <= LIMIT


def test_a_copy_shortens_a_list_further_and_still_counts_what_it_left_out() -> None:
    # GIVEN extensions the result already cut (200 keywords: the first kept, a count)
    keywords = tuple(f"X{i:05d}" for i in range(200))
    kept = ServerInfo("220 hi", keywords).extensions
    # WHEN a copy keeps at most 16 entries
    copy = R.shorten(kept, 16)
    # THEN it keeps the first 15 and counts the other 185
    assert copy == (*keywords[:15], "… and 185 more") and R.left_out(copy) == 185
    # ...a list within the cap is kept as it is, a cut list read back keeps its count
    assert R.shorten(keywords[:16], 16) == keywords[:16]
    assert R.shorten(copy, 16) == copy
