"""ProbeInvoker on Lambda: one asynchronous ``Invoke`` (``InvocationType=Event``) per
due target, through boto3 (``LambdaProbeInvoker``) or signed HTTP (``DirectLambdaInvoker``).

The event is ``{"target_id", "scheduled_at"}`` plus, when set, ``"correlation_id"`` (the
tick's id), ``"vote"`` (a multi-location slot: its locations and deadline) and
``"target"``: the scanned item in DynamoDB's typed JSON form, left out when JSON cannot
carry it or it is over ``MAX_TARGET_JSON`` bytes (``probe_payload``). One invoker per
location: a probe region's function is invoked by ARN on that region's endpoint.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

from smtpwatch.core.retry import RetryPolicy, attempts

__all__ = [
    "MAX_TARGET_JSON",
    "DirectLambdaInvoker",
    "LambdaProbeInvoker",
    "function_arn",
    "probe_event",
    "probe_payload",
]

# The largest target item carried in the event. Real items are a few hundred bytes; the
# cap keeps one odd item (a long ca_bundle) far below the async payload limit (256 KB).
MAX_TARGET_JSON = 16 * 1024
_BINARY = frozenset({"B", "BS"})
# Throttling (429) and server errors: three retries, waits drawn from [0, 0.1 s * 2**n].
INVOKE_RETRY = RetryPolicy(4, base_s=0.1, cap_s=1.0, deadline_s=5.0)


def function_arn(partition: str, region: str, account: str, function_name: str) -> str:
    """A function's ARN: how another region's function is named to ``Invoke``."""
    return f"arn:{partition}:lambda:{region}:{account}:function:{function_name}"


def probe_event(
    target_id: str,
    scheduled_at: str,
    correlation_id: str | None = None,
    vote: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The probe Lambda's event: its fixed contract with whoever invokes it. ``vote``:
    ``{"locations": [...], "deadline": iso}`` of a multi-location slot."""
    event: dict[str, Any] = {"target_id": target_id, "scheduled_at": scheduled_at}
    if correlation_id:
        event["correlation_id"] = correlation_id
    if vote is not None:
        event["vote"] = dict(vote)
    return event


def probe_payload(
    target_id: str,
    scheduled_at: str,
    target: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
    vote: Mapping[str, Any] | None = None,
) -> bytes:
    """The Invoke body: ``probe_event`` plus ``"target"`` (the item in DynamoDB's typed
    JSON form, exactly as scanned) when it can travel as JSON within ``MAX_TARGET_JSON``
    bytes; without it the probe reads the item itself, so leaving it out is always safe.
    """
    event = probe_event(target_id, scheduled_at, correlation_id, vote)
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
        self,
        target_id: str,
        scheduled_at: str,
        target: Mapping[str, Any] | None,
        *,
        vote: Mapping[str, Any] | None = None,
    ) -> None:
        """``invoke``, carrying the target item (wire form) when ``probe_payload`` can."""
        self.invoke_raw(probe_payload(target_id, scheduled_at, target, self.correlation_id, vote))

    def invoke_raw(self, body: bytes) -> None:
        """One async invoke with ``body`` as the event (a relay's or a decision's batch)."""
        resp = self._client.invoke(
            FunctionName=self._function_name, InvocationType="Event", Payload=body
        )
        status = int(resp.get("StatusCode", 0))
        if status != 202:  # async invokes are accepted with 202 and nothing else
            raise RuntimeError(f"Invoke {self._function_name} answered {status}, expected 202")


class DirectLambdaInvoker:
    """The same ``Invoke`` (async, ``InvocationType: Event``), signed with botocore's
    SigV4 signer and sent on a keep-alive connection per thread.

    Why: a boto3 ``invoke`` costs about 1 ms of CPU (validation, the event system,
    urllib3; ``bench/direct_invoke.py``) — 10 s for 10,000 targets, and a Lambda function
    gets only a share of a vCPU below 1,769 MB. Signing plus ``http.client`` costs about
    a quarter of that, which is what lets one dispatcher tick reach 10,000 targets in
    seconds.

    Endpoint, region and credentials come from the boto3 client and session, so
    ``AWS_ENDPOINT_URL`` and the Lambda role's rotating credentials work unchanged. As
    in boto3, ``AWS_CA_BUNDLE`` (or ``ca_bundle`` in the config file) is the trust store
    when set, and ``HTTPS_PROXY``/``NO_PROXY`` (or the client's ``proxies``) choose a
    CONNECT proxy. Throttling (429) and server errors are retried (``INVOKE_RETRY``);
    a dropped keep-alive connection is reopened once.
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
        self._ca_bundle = _config_variable(session, "ca_bundle")
        self._proxy = _proxy_for(client, self._url, self._scheme)
        # Through a plain-HTTP proxy the request line carries the whole URL.
        self._target = self._url if self._proxy and self._scheme == "http" else self._path
        self.correlation_id: str | None = None  # the tick's id, put in each event

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            host, port = (self._host, self._port) if self._proxy is None else self._proxy[:2]
            if self._scheme == "https":
                conn = http.client.HTTPSConnection(
                    host, port, timeout=self._timeout_s, context=_ssl_context(self._ca_bundle)
                )
                if self._proxy is not None:  # TLS to the endpoint, inside the tunnel
                    conn.set_tunnel(self._host, self._port, headers=self._proxy[2])
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self._timeout_s)
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
        headers = {k: str(v) for k, v in request.headers.items()}
        if self._proxy is not None and self._scheme == "http":
            headers.update(self._proxy[2])
        return headers

    def invoke(self, target_id: str, scheduled_at: str) -> None:
        self.invoke_with_target(target_id, scheduled_at, None)

    def invoke_with_target(
        self,
        target_id: str,
        scheduled_at: str,
        target: Mapping[str, Any] | None,
        *,
        vote: Mapping[str, Any] | None = None,
    ) -> None:
        """``invoke``, carrying the target item (wire form) when ``probe_payload`` can."""
        self.invoke_raw(probe_payload(target_id, scheduled_at, target, self.correlation_id, vote))

    def invoke_raw(self, body: bytes) -> None:
        """One async invoke with ``body`` as the event (a relay's or a decision's batch)."""
        reconnected = False
        status, data = 0, b""
        for _attempt in attempts(INVOKE_RETRY, sleep=time.sleep):
            while True:  # one send, and at once once more on a dropped keep-alive connection
                headers = self._signed_headers(body)  # re-signed: X-Amz-Date must be fresh
                try:
                    conn = self._connection()
                    conn.request("POST", self._target, body=body, headers=headers)
                    resp = conn.getresponse()
                    status, data = resp.status, resp.read()
                    break
                except (OSError, http.client.HTTPException):
                    self._drop_connection()
                    if reconnected:
                        raise
                    reconnected = True  # an idle keep-alive connection the server closed
            if status == 202:
                return
            if status not in self._RETRY_STATUS:
                break
        raise RuntimeError(
            f"Invoke {self._function_name} answered {status}: {data[:200].decode(errors='replace')}"
        )


_SSL_CONTEXTS: dict[str | None, ssl.SSLContext] = {}
_SSL_LOCK = threading.Lock()


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The system trust store, or only ``ca_bundle``'s CAs when it is set (as botocore
    does). Built once per process and bundle: loading the system store takes ~27 ms
    of CPU (bench/import_cost.py)."""
    with _SSL_LOCK:
        context = _SSL_CONTEXTS.get(ca_bundle)
        if context is None:
            context = _SSL_CONTEXTS[ca_bundle] = ssl.create_default_context(cafile=ca_bundle)
        return context


def _config_variable(session: Any, name: str) -> Any:
    """botocore's setting ``name`` (environment, then config file) for ``session``; a
    boto3 session, which does not expose it, gets the default session's."""
    get = getattr(session, "get_config_variable", None)
    if get is None:
        import botocore.session

        get = botocore.session.get_session().get_config_variable
    return get(name)


def _proxy_for(client: Any, url: str, scheme: str) -> tuple[str, int, dict[str, str]] | None:
    """The proxy botocore would use for ``url``: the client's ``proxies``, else the
    environment's unless ``NO_PROXY`` names the host; host, port, proxy headers."""
    from base64 import b64encode
    from urllib.parse import unquote, urlsplit

    from botocore.utils import get_environ_proxies

    proxies = getattr(client.meta.config, "proxies", None) or get_environ_proxies(url)
    proxy_url = proxies.get(scheme)
    if not proxy_url:
        return None
    if "://" not in proxy_url:
        proxy_url = f"http://{proxy_url}"
    proxy = urlsplit(proxy_url)
    if proxy.scheme != "http" or not proxy.hostname:
        raise ValueError(
            f"proxy {proxy.scheme}://{proxy.hostname}: the direct invoker speaks only to "
            "http:// proxies; set SMTPWATCH_INVOKE_MODE=boto3"
        )
    headers: dict[str, str] = {}
    if proxy.username is not None:
        userinfo = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
        headers["Proxy-Authorization"] = f"Basic {b64encode(userinfo.encode()).decode()}"
    return proxy.hostname, proxy.port or 80, headers
