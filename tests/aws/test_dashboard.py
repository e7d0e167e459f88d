"""The CloudWatch dashboard, read back from the stack deployed in moto.

GIVEN the translated template deployed in moto and one real tick (the dispatcher
handler, then the probe handler for each invoke, against loopback aiosmtpd servers)
THEN the dashboard body parses, each widget carries what CloudWatch requires for its
type, and every metric, dimension and log field it names is one AWS Lambda or our
handlers really write (``real_output``).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from real_output import (
    BUILTIN_FIELDS,
    Observed,
    observe,
    present_fields,
    query_fields,
    source_groups,
    upload_code,
)
from test_template import REGION, Stack

from smtpwatch.handlers.observability import ALARM_METRICS
from smtpwatch.testing.servers import Certificates

ROOT = Path(__file__).resolve().parents[2]
NAME = "smtpwatch-dash"
# AWS's own Lambda metrics the dashboard may use (always published, no custom cost).
LAMBDA_METRICS = {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"}
ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture(scope="module")
def observed(certs: Certificates) -> Observed:
    return observe(NAME, certs)


@pytest.fixture(scope="module")
def widgets(observed: Observed) -> list[dict[str, Any]]:
    body = json.loads(observed.dashboards[f"{NAME}-{REGION}"])
    assert isinstance(body["widgets"], list)
    return list(body["widgets"])


def _of(widgets: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [w["properties"] for w in widgets if w["type"] == kind]


def test_the_body_read_back_from_the_deployed_stack_parses_and_tiles_the_grid(
    observed: Observed, widgets: list[dict[str, Any]]
) -> None:
    # one dashboard, named after the stack and its region (dashboard names are global)
    assert list(observed.dashboards) == [f"{NAME}-{REGION}"]
    cells: set[tuple[int, int]] = set()
    for w in widgets:
        x, y, width, height = (w[k] for k in ("x", "y", "width", "height"))
        assert all(isinstance(v, int) for v in (x, y, width, height)), w
        assert x >= 0 and x + width <= 24, w  # the grid is 24 columns wide
        mine = {(x + i, y + j) for i in range(width) for j in range(height)}
        assert not mine & cells, f"widget overlaps another: {w['properties'].get('title')}"
        cells |= mine
        assert "${" not in json.dumps(w), w  # every !Sub variable was resolved


def test_every_widget_carries_what_cloudwatch_requires_for_its_type(
    widgets: list[dict[str, Any]],
) -> None:
    assert {w["type"] for w in widgets} == {"metric", "log", "alarm"}
    for w in widgets:
        props = w["properties"]
        assert props.get("title"), w
        if w["type"] == "metric":
            assert props["region"] == REGION
            assert props["metrics"] and all(isinstance(m, list) for m in props["metrics"])
        elif w["type"] == "log":
            assert props["region"] == REGION
            assert isinstance(props["query"], str) and props["query"].startswith("SOURCE '")
        else:
            assert w["type"] == "alarm"
            assert props["alarms"]
            assert all(a.startswith("arn:aws:cloudwatch:") for a in props["alarms"])


def test_it_shows_fleet_health_per_target_views_certificates_and_the_dispatcher(
    widgets: list[dict[str, Any]],
) -> None:
    queries = [p["query"] for p in _of(widgets, "log")]

    def one(*parts: str) -> str:
        (found,) = [q for q in queries if all(p in q for p in parts)]
        return str(found)

    one("count_distinct(target_id) as checked", "as failing", "by bin(1m)")  # fleet per minute
    one("TotalMs", "by target_id")  # response time per target
    one("ProbeSuccess = 0", "by target_id", "error_kind")  # failures per target and kind
    one("CertDaysLeft", "by target_id", "sort days_left asc")  # lowest first
    one("sum(Dispatched)", "by bin(1m)")  # dispatcher: dispatched per minute
    metric_names = {m[1] for p in _of(widgets, "metric") for m in p["metrics"]}
    assert {"Invocations", "Errors", "Duration", "DispatchFailed"} <= metric_names


def _dimensions(entry: list[Any]) -> tuple[str, str, dict[str, str]]:
    """(namespace, metric, dimensions) of one ``metrics`` row of a metric widget."""
    plain = [v for v in entry if not isinstance(v, dict)]
    namespace, metric, *pairs = plain
    return namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True))


def test_every_metric_and_dimension_is_one_lambda_or_the_code_really_emits(
    observed: Observed, widgets: list[dict[str, Any]]
) -> None:
    functions = {observed.stack.physical(f) for f in ("DispatcherFunction", "ProbeFunction")}
    # What the handlers really wrote: (namespace, metric) -> dimension names
    emitted: dict[tuple[str, str], set[tuple[str, ...]]] = {}
    for group in ("DispatcherLogGroup", "ProbeLogGroup"):
        for doc in observed.emf(group):
            for directive in doc["_aws"]["CloudWatchMetrics"]:
                for m in directive["Metrics"]:
                    key = (directive["Namespace"], m["Name"])
                    emitted.setdefault(key, set()).update(tuple(d) for d in directive["Dimensions"])
    service = observed.env["DispatcherFunction"]["POWERTOOLS_SERVICE_NAME"]
    assert service == NAME  # the stack's own service (test_stack_names)
    custom = 0
    for props in _of(widgets, "metric"):
        for entry in props["metrics"]:
            namespace, metric, dims = _dimensions(entry)
            if namespace == "AWS/Lambda":
                assert metric in LAMBDA_METRICS, entry
                assert set(dims) == {"FunctionName"} and dims["FunctionName"] in functions
                continue
            custom += 1
            assert (namespace, metric) in emitted, f"never emitted: {entry}"
            assert tuple(sorted(dims)) in emitted[(namespace, metric)], entry
            assert dims["service"] == service, entry
            # and it stays a metric with the stack's default SMTPWATCH_METRICS=alarms
            assert observed.env["DispatcherFunction"]["SMTPWATCH_METRICS"] == "alarms"
            assert metric in ALARM_METRICS, entry
    assert custom  # the custom metric rows were checked, not skipped


def test_every_log_field_is_one_the_handlers_really_write(
    observed: Observed, widgets: list[dict[str, Any]]
) -> None:
    groups = {observed.stack.physical(g): g for g in ("ProbeLogGroup", "DispatcherLogGroup")}
    # the real output holds a passing check with a certificate and a failing one
    probe = observed.lines["ProbeLogGroup"]
    assert any("CertDaysLeft" in d for d in probe)
    assert any(d.get("error_kind") == "connect_refused" for d in probe)
    for props in _of(widgets, "log"):
        query = props["query"]
        (group,) = [groups[name] for name in source_groups(query)]
        # the lines the query's filter selects, as the handlers really wrote them
        required = present_fields(query)
        selected = [d for d in observed.lines[group] if required <= set(d)]
        assert selected, query
        written = set().union(*(set(d) for d in selected)) | BUILTIN_FIELDS
        assert query_fields(query) <= written, (query, query_fields(query) - written)


def test_the_alarm_widget_shows_every_alarm_of_the_stack(
    observed: Observed, widgets: list[dict[str, Any]]
) -> None:
    names = set()
    for resource in observed.cfn["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            template = resource["Properties"]["AlarmName"]["Fn::Sub"]
            names.add(template.replace("${AWS::StackName}", NAME))
    (alarm_widget,) = _of(widgets, "alarm")
    prefix = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:"
    assert {a.removeprefix(prefix) for a in alarm_widget["alarms"]} == names
    assert len(names) == 5


@pytest.fixture
def account() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(key, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws(config={"lambda": {"use_docker": False}}):
            upload_code()
            yield


def test_the_dashboard_is_left_out_when_the_parameter_says_so(account: None) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    Stack("smtpwatch-nodash", {"EnableDashboard": "false"})
    assert cloudwatch.list_dashboards()["DashboardEntries"] == []
    Stack("smtpwatch-withdash")  # default: on
    names = [d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]]
    assert names == [f"smtpwatch-withdash-{REGION}"]


def render_layout(widgets: list[dict[str, Any]]) -> str:
    """The dashboard's grid as text: three characters per column, a line per row unit,
    each widget a box with its type and title."""
    width = 24 * 3 + 1
    height = max(w["y"] + w["height"] for w in widgets) + 1
    canvas = [[" "] * width for _ in range(height)]
    for w in widgets:
        left, top = w["x"] * 3, w["y"]
        right, bottom = left + w["width"] * 3, top + w["height"]
        for col in range(left, right + 1):
            canvas[top][col] = canvas[bottom][col] = "-"
        for line in range(top, bottom + 1):
            canvas[line][left] = canvas[line][right] = "|"
        for col, line in ((left, top), (right, top), (left, bottom), (right, bottom)):
            canvas[line][col] = "+"
        text = f"[{w['type']}] {w['properties']['title']}"
        wrapped = textwrap.wrap(text, right - left - 3)[: bottom - top - 1]
        for i, part in enumerate(wrapped):
            canvas[top + 1 + i][left + 2 : left + 2 + len(part)] = part
    return "\n".join("".join(row).rstrip() for row in canvas)


def test_the_docs_draw_the_dashboard_as_the_template_lays_it_out(
    widgets: list[dict[str, Any]],
) -> None:
    docs = (ROOT / "docs" / "aws.md").read_text(encoding="utf-8")
    picture = render_layout(widgets)
    assert f"```text\n{picture}\n```" in docs, "\n" + picture
