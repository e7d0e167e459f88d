"""AWS clients for the Lambda handlers, from one botocore session: boto3's import adds
~20 ms of CPU to a cold start for nothing they use (bench/coldstart.py, its last line).

Endpoint (``AWS_ENDPOINT_URL``), region and credentials come from the environment as
boto3's would, unless a region is given (a probe region's function reaches the home
region's tables; the dispatcher one Lambda endpoint per location); an SNS client always
gets ``sns.publish_config``'s bound.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Clients", "error_code"]


class Clients:
    """One botocore session; clients created on first use and kept (thread-safe).
    ``region``: every client's region (None: the environment's)."""

    def __init__(self, config: Any | None = None, *, region: str | None = None) -> None:
        import botocore.session

        self.session = botocore.session.get_session()
        self._config = config
        self._region = region
        self._clients: dict[tuple[str, str | None], Any] = {}

    def __call__(self, service: str, region: str | None = None) -> Any:
        """The ``service`` client of ``region`` (None: this object's region)."""
        region = region or self._region
        client = self._clients.get((service, region))
        if client is None:
            config = self._config
            if service == "sns":
                # An alert publish is bounded in time whatever the other clients allow.
                from smtpwatch.adapters.sns import publish_config

                config = publish_config(config)
            client = self._clients[(service, region)] = self.session.create_client(
                service, region_name=region, config=config
            )
        return client

    def lazy(self, service: str) -> Any:
        """A stand-in that creates the client on first attribute access."""
        return _Lazy(self, service)


class _Lazy:
    def __init__(self, clients: Clients, service: str) -> None:
        self._clients = clients
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clients(self._service), name)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``"ConditionalCheckFailedException"``,
    ``"ParameterNotFound"``, ...); "" for any other exception. Duck-typed, so callers need
    not import botocore."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
