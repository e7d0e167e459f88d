"""ProbeInvoker on Lambda: one asynchronous ``Invoke`` (``InvocationType=Event``) per
due target. Lambda queues the event and answers 202 at once, so the dispatcher's time
per target is one HTTPS round trip; the boto3 client is thread-safe and is shared by
the dispatcher's pool (its ``max_pool_connections`` must match the pool size).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["LambdaProbeInvoker", "probe_event"]


def probe_event(target_id: str, scheduled_at: str) -> dict[str, str]:
    """The probe Lambda's event (the fixed contract of the team brief)."""
    return {"target_id": target_id, "scheduled_at": scheduled_at}


class LambdaProbeInvoker:
    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function_name = function_name

    @property
    def client(self) -> Any:
        return self._client

    def invoke(self, target_id: str, scheduled_at: str) -> None:
        payload = json.dumps(probe_event(target_id, scheduled_at), separators=(",", ":"))
        resp = self._client.invoke(
            FunctionName=self._function_name,
            InvocationType="Event",
            Payload=payload.encode(),
        )
        status = int(resp.get("StatusCode", 0))
        if status != 202:  # async invokes are accepted with 202 and nothing else
            raise RuntimeError(f"Invoke {self._function_name} answered {status}, expected 202")
