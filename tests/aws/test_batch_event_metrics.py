"""A relay or decide invocation of the probe function publishes one EMF document with
its count (a plain field unless DetailedMetrics), so Powertools has something to
publish instead of warning, at every relay, that there is nothing."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
import test_dispatch_locations as dispatch_world
from test_dispatch_locations import T0, Home

__all__: list[str] = []

# the dispatch tests' deployed home stack and its recorder of invokes, as fixtures here
home = dispatch_world.home
recorder = dispatch_world.recorder


def _emf_lines(out: str) -> list[dict[str, Any]]:
    docs = []
    for line in out.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and ("RelayedEvents" in doc or "SlotsDecided" in doc):
            docs.append(doc)
    return docs


def test_a_relay_publishes_its_count_and_warns_of_no_empty_metrics(
    home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    home.put("mx1")
    home.put("mx2")
    home.tick(T0)
    relays = {r.region: r for r in home.recorder.take()}
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert home.probe(relays["eu-west-1"].event, "eu-west-1") == {"relayed": 2, "failed": 0}
    assert not [w for w in caught if "No application metrics" in str(w.message)]
    [doc] = _emf_lines(capsys.readouterr().out)
    assert doc["RelayedEvents"] == 2


def test_a_decide_event_publishes_how_many_slots_it_decided(
    home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    # a slot nobody opened (its claim fails: decided elsewhere, or never open)
    slot = {
        "target_id": "mx9",
        "scheduled_at": "2026-11-25T14:59:05Z",
        "locations": ["us-east-1", "eu-west-1"],
        "deadline": "2026-11-25T15:04:40Z",
    }
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = home.probe({"decide": [slot], "correlation_id": "tick-9"})
    assert out["decided"] == 0 and out["failed"] == 0
    assert not [w for w in caught if "No application metrics" in str(w.message)]
    [doc] = _emf_lines(capsys.readouterr().out)
    assert doc["SlotsDecided"] == 0
