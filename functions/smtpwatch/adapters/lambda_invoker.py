"""ProbeInvoker on Lambda: one asynchronous ``Invoke`` (``InvocationType=Event``) per
due target, through boto3 (``LambdaProbeInvoker``) or signed HTTP (``DirectLambdaInvoker``).

The event is ``{"target_id", "scheduled_at"}`` plus, when set, ``"correlation_id"`` (the
tick's schedule event id, which the probe logs) and, when the dispatcher passes it,
``"target"``: the scanned item in DynamoDB's typed JSON form, left out when JSON cannot
carry it or it is over ``MAX_TARGET_JSON`` bytes (``probe_payload``).
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_TARGET_JSON",
    "DirectLambdaInvoker",
    "LambdaProbeInvoker",
    "probe_event",
    "probe_payload",
]

# The largest target item carried in the event. Real items are a few hundred bytes; the
# cap keeps one odd item (a long ca_bundle) far below the async payload limit (256 KB).
MAX_TARGET_JSON = 16 * 1024
_BINARY = frozenset({"B", "BS"})


def probe_event(
    target_id: str, scheduled_at: str, correlation_id: str | None = None
) -> dict[str, str]:
    """The probe Lambda's event: its fixed contract with whoever invokes it."""
    event = {"target_id": target_id, "scheduled_at": scheduled_at}
    if correlation_id:
        event["correlation_id"] = correlation_id
    return event


def probe_payload(
    target_id: str,
    scheduled_at: str,
    target: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
) -> bytes:
    """The Invoke body: ``probe_event`` plus ``"target"`` (the item in DynamoDB's typed
    JSON form, exactly as scanned) when it can travel as JSON within ``MAX_TARGET_JSON``
    bytes; without it the probe reads the item itself, so leaving it out is always safe.
    """
    event = probe_event(target_id, scheduled_at, correlation_id)
    head = json.dumps(event, separators=(",", ":"))
    if target is None or _has_binary(target):
        return head.encode()
    try:
        text = json.dumps(target, separators=(",", ":"))  # ASCII: characters == bytes
    except (TypeError, ValueError):  # not wire form after all (a raw bytes value...)
        return head.encode()
    if len(text) > MAX_TARGET_JSON:
        return head.encode()
    # Serialized once: the dispatcher builds 10,000 of these per tick in one process.
    return f'{head[:-1]},"target":{text}}}'.encode()


def _has_binary(item: Mapping[str, Any]) -> bool:
    """Whether any attribute value, however deeply nested in M/L, is B or BS."""
    stack: list[Any] = list(item.values())
    while stack:
        av = stack.pop()
        if not isinstance(av, Mapping):
            continue
        for kind, raw in av.items():
            if kind in _BINARY:
                return True
            if kind == "M" and isinstance(raw, Mapping):
                stack.extend(raw.values())
            elif kind == "L" and isinstance(raw, list):
                stack.extend(raw)
    return False


class LambdaProbeInvoker:
    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function_name = function_name
        self.correlation_id: str | None = None  # the tick's id, put in each event

    @property
    def client(self) -> Any:
        return self._client

    def invoke(self, target_id: str, scheduled_at: str) -> None:
        self.invoke_with_target(target_id, scheduled_at, None)

    def invoke_with_target(
        self, target_id: str, scheduled_at: str, target: Mapping[str, Any] | None
    ) -> None:
        """``invoke``, carrying the target item (wire form) when ``probe_payload`` can."""
        resp = self._client.invoke(
            FunctionName=self._function_name,
            InvocationType="Event",
            Payload=probe_payload(target_id, scheduled_at, target, self.correlation_id),
        )
        status = int(resp.get("StatusCode", 0))
        if status != 202:  # async invokes are accepted with 202 and nothing else
            raise RuntimeError(f"Invoke {self._function_name} answered {status}, expected 202")


class DirectLambdaInvoker:
    """The same ``Invoke`` (async, ``InvocationType: Event``), signed with botocore's
    SigV4 signer and sent on a keep-alive connection per thread.

    Why: a boto3 ``invoke`` costs about 1.4 ms of CPU (validation, the event system,
    urllib3) — 14 s for 10,000 targets, and a Lambda function gets only a share of a
    vCPU below 1,769 MB. Signing plus ``http.client`` costs about a quarter of that,
    which is what lets one dispatcher tick reach 10,000 targets in seconds.

    Endpoint, region and credentials come from the boto3 client and session, so
    ``AWS_ENDPOINT_URL`` and the Lambda role's rotating credentials work unchanged.
    Throttling (429) and server errors are retried with a short backoff; a dropped
    keep-alive connection is reopened once.
    """

    _RETRY_STATUS = frozenset({429, 500, 502, 503, 504})

    def __init__(
        self, client: Any, session: Any, function_name: str, *, timeout_s: float = 10.0
    ) -> None:
        from urllib.parse import quote, urlsplit

        self._session = session
        self._region = client.meta.region_name
        endpoint = urlsplit(client.meta.endpoint_url)
        self._scheme = endpoint.scheme
        self._host = endpoint.hostname or ""
        self._port = endpoint.port
        self._netloc = endpoint.netloc
        self._path = f"/2015-03-31/functions/{quote(function_name, safe='')}/invocations"
        self._url = f"{self._scheme}://{self._netloc}{self._path}"
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._function_name = function_name
        self.correlation_id: str | None = None  # the tick's id, put in each event

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._scheme == "https":
                conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout_s, context=_ssl_context()
                )
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _signed_headers(self, body: bytes) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = self._session.get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials for Invoke")
        request = AWSRequest(
            method="POST",
            url=self._url,
            data=body,
            headers={"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"},
        )
        SigV4Auth(credentials.get_frozen_credentials(), "lambda", self._region).add_auth(request)
        return {k: str(v) for k, v in request.headers.items()}

    def invoke(self, target_id: str, scheduled_at: str) -> None:
        self.invoke_with_target(target_id, scheduled_at, None)

    def invoke_with_target(
        self, target_id: str, scheduled_at: str, target: Mapping[str, Any] | None
    ) -> None:
        """``invoke``, carrying the target item (wire form) when ``probe_payload`` can."""
        body = probe_payload(target_id, scheduled_at, target, self.correlation_id)
        delay = 0.1
        reconnected = False
        attempt = 0
        while True:
            attempt += 1
            headers = self._signed_headers(body)  # re-signed: X-Amz-Date must be fresh
            try:
                conn = self._connection()
                conn.request("POST", self._path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                self._drop_connection()
                if reconnected:
                    raise
                reconnected = True  # an idle keep-alive connection the server closed
                continue
            if resp.status == 202:
                return
            if resp.status in self._RETRY_STATUS and attempt < 4:
                time.sleep(delay)
                delay *= 2
                continue
            raise RuntimeError(
                f"Invoke {self._function_name} answered {resp.status}: "
                f"{data[:200].decode(errors='replace')}"
            )


_SSL_CONTEXT: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:  # loading the trust store costs ~20 ms: once per process
        _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT
