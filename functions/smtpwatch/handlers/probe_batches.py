"""The probe Lambda's batch events, sent by the dispatcher when several locations exist.
``{"relay": [probe event, ...]}``: invoke this same function once per event, in its own
region (async), and probe nothing; a relay inside a relay is refused. ``{"decide": [slot,
...]}`` (the home function): claim and decide each expired slot (``service.vote``), its
silent locations no vote. Both spread over many functions the CPU one dispatcher would
spend signing 30,000 invokes, or deciding a silent region's 10,000 slots, in one tick.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from smtpwatch.core.schedule import format_ts, parse_ts
from smtpwatch.handlers.probe import BadEventError, logger, metrics

if TYPE_CHECKING:
    from smtpwatch.core.locations import OpenSlot
    from smtpwatch.handlers.probe import ProbeRuntime

__all__ = ["MAX_BATCH", "RELAY_WORKERS", "batch_event", "decide", "parse_slots", "relay"]

MAX_BATCH = 100  # events (slots) per relay (decide) event: the dispatcher's BATCH_EVENTS
RELAY_WORKERS = 16  # a relay's invokes in flight: in-region round trips are short
DECIDE_WORKERS = 8  # slots decided at once by one decide event
_BATCH_KEYS = ("relay", "decide")


def batch_event(runtime: Callable[[], ProbeRuntime], event: Mapping[str, Any]) -> dict[str, Any]:
    """Route a ``relay`` or ``decide`` event (``runtime``: the function's, made on the
    first call); a malformed one is a bad event, logged and counted, never raised."""
    try:
        if "relay" in event:
            events = parse_relay(event)
            return relay(runtime(), events)
        return decide(runtime(), parse_slots(event))
    except BadEventError as exc:
        logger.error("bad batch event: ignored", extra={"error": str(exc)})
        metrics.add_metric(name="BadEvent", unit=MetricUnit.Count, value=1)
        return {"status": "bad_event", "error": str(exc)}


def _items(event: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = event.get(key)
    if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH:
        raise BadEventError(f"{key} is not a list of 1 to {MAX_BATCH} objects")
    if not all(isinstance(item, Mapping) for item in items):
        raise BadEventError(f"{key} holds something else than objects")
    if len(event) > 2 or any(k not in (key, "correlation_id") for k in event):
        raise BadEventError(f"{key} event with other keys")
    return items


def parse_relay(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The probe events a relay carries; one that is itself a batch is refused (a relay
    invokes probes, never relays: no loop)."""
    events = _items(event, "relay")
    for inner in events:
        if any(key in inner for key in _BATCH_KEYS):
            raise BadEventError("a relay event inside a relay")
    return events


def relay(rt: ProbeRuntime, events: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Invoke this function once per event (async, ``RELAY_WORKERS`` at a time). Raises
    after trying them all when any failed: the invocation counts as an error (alarm)
    and goes to the failure destination with its events."""
    invoker = _own_invoker(rt)
    bodies = [json.dumps(dict(e), separators=(",", ":")).encode() for e in events]
    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=min(RELAY_WORKERS, len(bodies))) as pool:
        futures = [pool.submit(invoker.invoke_raw, body) for body in bodies]
        for event, fut in zip(events, futures, strict=True):
            try:
                fut.result()
            except Exception as exc:
                failed.append(f"{event.get('target_id')!s:.100}: {type(exc).__name__}")
    summary = {"relayed": len(events) - len(failed), "failed": len(failed)}
    logger.info("relay done", extra=summary)
    if failed:
        raise RuntimeError(f"relay: {len(failed)} of {len(events)} invokes failed: {failed[:5]}")
    return summary


def _own_invoker(rt: ProbeRuntime) -> Any:
    """This function's invoker, on its own region's Lambda endpoint (made once)."""
    if rt.relay_invoker is None:
        from smtpwatch.adapters.aws_clients import Clients
        from smtpwatch.adapters.lambda_invoker import DirectLambdaInvoker, LambdaProbeInvoker

        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        if not name:
            raise RuntimeError("a relay needs AWS_LAMBDA_FUNCTION_NAME (its own name)")
        clients = rt.clients or Clients()
        own = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        client = clients("lambda", own)
        if rt.settings.invoke_mode == "direct":
            rt.relay_invoker = DirectLambdaInvoker(client, clients.session, name)
        else:
            rt.relay_invoker = LambdaProbeInvoker(client, name)
    return rt.relay_invoker


def parse_slots(event: Mapping[str, Any]) -> list[OpenSlot]:
    """The expired slots of a ``decide`` event (``{"target_id", "scheduled_at",
    "locations", "deadline"}`` each)."""
    from smtpwatch.core.locations import MAX_LOCATIONS, OpenSlot
    from smtpwatch.core.probe import parse_location

    slots = []
    for raw in _items(event, "decide"):
        tid, at, names = raw.get("target_id"), raw.get("scheduled_at"), raw.get("locations")
        deadline = raw.get("deadline")
        if not (isinstance(tid, str) and tid.strip() and isinstance(at, str)):
            raise BadEventError("a slot without target_id or scheduled_at")
        if not isinstance(names, list) or not 0 < len(names) <= MAX_LOCATIONS:
            raise BadEventError(f"a slot's locations is not a list of 1 to {MAX_LOCATIONS}")
        try:
            locations = tuple(parse_location("locations", name) for name in names)
            at, deadline = format_ts(parse_ts(at)), format_ts(parse_ts(str(deadline)))
        except (ValueError, IndexError) as exc:
            raise BadEventError(f"a slot: {exc}"[:200]) from None
        cid = event.get("correlation_id")
        slots.append(OpenSlot(tid, at, locations, deadline, cid if isinstance(cid, str) else None))
    return slots


def decide(rt: ProbeRuntime, slots: list[OpenSlot]) -> dict[str, Any]:
    """Claim and decide each slot (``DECIDE_WORKERS`` at a time); one another caller
    claimed first is left to it; a target gone or unreadable has its slot dropped."""
    counts = {"decided": 0, "claimed_elsewhere": 0, "dropped": 0, "failed": 0}
    with ThreadPoolExecutor(max_workers=min(DECIDE_WORKERS, len(slots))) as pool:
        for slot, fut in [(s, pool.submit(_decide_one, rt, s)) for s in slots]:
            try:
                counts[fut.result()] += 1
            except Exception as exc:
                counts["failed"] += 1
                logger.error(
                    "could not decide an expired slot",
                    extra={
                        "target_id": slot.target_id,
                        "scheduled_at": slot.scheduled_at,
                        "error": f"{type(exc).__name__}: {exc!s:.300}",
                    },
                )
    logger.info("expired slots decided", extra=counts)
    if counts["failed"]:
        raise RuntimeError(f"decide: {counts['failed']} of {len(slots)} slots failed")
    return counts


def _decide_one(rt: ProbeRuntime, slot: OpenSlot) -> str:
    from smtpwatch.adapters.dynamodb.probe_read import PrereadStates, read_target_and_state
    from smtpwatch.core.target import Target, check_aws_limits
    from smtpwatch.service.check import CheckDeps
    from smtpwatch.service.vote import decide_slot

    item, state = read_target_and_state(
        rt.ddb,
        slot.target_id,
        targets=rt.targets,
        states=rt.states,
        targets_table=rt.settings.targets_table,
        state_table=rt.settings.state_table,
    )
    target = None
    if item is not None:
        try:
            target = Target.from_item(item, strict=False)[0]
            check_aws_limits(target)
        except Exception as exc:
            logger.warning(
                "expired slot of an unreadable target: dropped",
                extra={"target_id": slot.target_id, "error": f"{exc!s:.300}"},
            )
            target = None
    if target is None:  # nothing to decide for: no alert can name it
        rt.votes.claim(slot.target_id, slot.scheduled_at)
        return "dropped"
    deps = CheckDeps(
        states=PrereadStates(rt.states, slot.target_id, state),
        results=rt.results,
        sinks=rt.sinks,
        gate=rt.gate,
        passing_result_every_s=rt.settings.passing_result_every_s,
        now=rt.now,
    )
    outcome = decide_slot(target, slot, deps, rt.votes, rt.watch)
    return "claimed_elsewhere" if outcome is None else "decided"
