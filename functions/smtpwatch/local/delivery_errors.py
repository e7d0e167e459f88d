"""The errors of alert delivery, shared by the sinks, the webhook sender and the outbox."""

from __future__ import annotations

from smtpwatch.core.errors import SmtpwatchError

__all__ = ["DeliveryError", "SinkError"]


class SinkError(SmtpwatchError):
    """An alert could not be delivered (the message names no URL token, never a secret)."""


class DeliveryError(SinkError):
    """One delivery attempt failed. ``permanent``: the same request cannot succeed later
    (a 4xx other than 408/429); ``retry_after``: the receiver asked for that pause."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        permanent: bool = False,
        location: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = permanent
        self.location = location
        self.retry_after = retry_after
