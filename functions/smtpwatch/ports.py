"""The edges of smtpwatch: small interfaces with a local and an AWS implementation.

Local: SQLite stores, console/webhook/SNS sinks, env/file secrets (``smtpwatch.local``).
AWS: DynamoDB stores, SNS sink, SSM/Secrets Manager secrets, Lambda invoker
(``smtpwatch.adapters``). The core never imports an implementation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from smtpwatch.core.result import ProbeResult
from smtpwatch.core.state import Alert, TargetState

__all__ = [
    "AlertSink",
    "ProbeInvoker",
    "ResultStore",
    "SecretResolver",
    "StateStore",
    "TargetStore",
]


class TargetStore(Protocol):
    """The user's target items (config only), as raw dicts with the item's attribute names."""

    def get_item(self, target_id: str) -> dict[str, Any] | None: ...

    def iter_items(self) -> Iterator[dict[str, Any]]: ...

    def put_items(self, items: Iterable[dict[str, Any]]) -> int: ...

    def delete_item(self, target_id: str) -> bool: ...


class StateStore(Protocol):
    def get_state(self, target_id: str) -> TargetState | None: ...

    def save_state(self, state: TargetState) -> bool:
        """Write ``state`` if the stored version is still ``state.version - 1`` (or absent
        when ``state.version == 1``). False when another writer got there first."""
        ...

    def iter_states(self) -> Iterator[TargetState]: ...


class ResultStore(Protocol):
    def add_result(self, result: ProbeResult, *, scheduled_at: str | None = None) -> bool:
        """Store one result. False when a result for (target, scheduled_at) already exists
        (a redelivered invocation): the caller then does nothing more."""
        ...

    def iter_results(self, target_id: str, *, since: str | None = None) -> Iterator[ProbeResult]:
        """Oldest first."""
        ...


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None:
        """Deliver or raise. Sinks need not dedupe: the state machine records
        ``alert_id`` and sends each alert until one ``send`` returns."""
        ...


class SecretResolver(Protocol):
    def resolve(self, ref: str, *, host: str, refresh: bool = False) -> str:
        """The password behind ``ref`` (``ssm:``, ``secretsmanager:``, ``env:``, ``file:``).
        Raises ``SecretError`` (message without the secret) when it cannot, or when the
        secret is bound to hosts that do not include ``host`` (docs/design.md#security)."""
        ...


class ProbeInvoker(Protocol):
    def invoke(self, target_id: str, scheduled_at: str) -> None: ...
