"""The stack's saved Logs Insights queries read only fields the probe really writes.

moto's CloudFormation skips ``AWS::Logs::QueryDefinition``: the queries are read from
the translated template and checked against the log lines of one real tick (the
dispatcher and probe handlers against loopback servers, ``real_output``), as the
dashboard's are: every field a query names is in the lines its filter selects.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from real_output import BUILTIN_FIELDS, Observed, observe, present_fields, query_fields

from smtpwatch.testing.servers import Certificates

NAME = "smtpwatch-queries"


@pytest.fixture(scope="module")
def observed(certs: Certificates) -> Observed:
    return observe(NAME, certs)


@pytest.fixture(scope="module")
def queries(observed: Observed) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in observed.cfn["Resources"].items()
        if resource["Type"] == "AWS::Logs::QueryDefinition"
    }


def test_four_queries_per_stack_over_the_probes_log_group(
    queries: dict[str, dict[str, Any]],
) -> None:
    assert set(queries) == {
        "FailuresQuery",
        "SlowestPhasesQuery",
        "CertificatesExpiringQuery",
        "TargetChecksQuery",
    }
    names = [q["Name"]["Fn::Sub"] for q in queries.values()]
    # listed in a folder named after the stack: two stacks' queries never mix
    assert all(n.startswith("${AWS::StackName}/") for n in names)
    assert len(set(names)) == len(names)
    for q in queries.values():
        assert q["LogGroupNames"] == [{"Ref": "ProbeLogGroup"}]
        assert not re.search(r"[:*]", q["Name"]["Fn::Sub"].split("/", 1)[1])  # name charset


def test_every_field_a_query_reads_is_one_the_probe_really_writes(
    observed: Observed, queries: dict[str, dict[str, Any]]
) -> None:
    lines = observed.lines["ProbeLogGroup"]
    for logical_id, props in queries.items():
        query = props["QueryString"]
        selected = [d for d in lines if present_fields(query) <= set(d)]
        assert selected, logical_id
        written = set().union(*(set(d) for d in selected)) | BUILTIN_FIELDS
        missing = query_fields(query) - written
        assert not missing, (logical_id, missing)


def test_failures_are_counted_by_target_and_kind(queries: dict[str, dict[str, Any]]) -> None:
    query = queries["FailuresQuery"]["QueryString"]
    assert query.startswith("filter ProbeSuccess = 0")
    assert re.search(r"by target_id, status, error_kind\b", query)
    assert "sort failures desc" in query


def test_the_slowest_targets_query_has_a_column_for_every_phase_the_probe_times(
    observed: Observed, queries: dict[str, dict[str, Any]]
) -> None:
    query = queries["SlowestPhasesQuery"]["QueryString"]
    timed = {k for d in observed.emf("ProbeLogGroup") for k in d if k.endswith("Ms")}
    # the tick covered STARTTLS with a login and implicit TLS: every phase was timed
    assert timed >= {"DnsMs", "ConnectMs", "StarttlsMs", "TlsMs", "AuthMs", "QuitMs"}
    assert timed <= query_fields(query)
    assert re.search(r"by target_id\s*\| sort total desc", query)


def test_certificates_within_30_days_lowest_first(queries: dict[str, dict[str, Any]]) -> None:
    query = queries["CertificatesExpiringQuery"]["QueryString"]
    assert "CertDaysLeft <= 30" in query
    assert "sort days_left asc" in query


def test_one_targets_last_50_checks(queries: dict[str, dict[str, Any]]) -> None:
    query = queries["TargetChecksQuery"]["QueryString"]
    assert "target_id = 'REPLACE-WITH-TARGET-ID'" in query
    assert "ispresent(ProbeSuccess)" in query  # one line per check: its EMF document
    assert query.endswith("| sort @timestamp desc | limit 50")
