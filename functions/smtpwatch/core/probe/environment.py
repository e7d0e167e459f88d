"""What a probe needs besides its target: resolver, EHLO name, SSL contexts, clocks,
and the location it runs from.

One ``ProbeEnvironment`` per process, shared by threads; ``default_environment()``
builds it from ``os.environ`` on first use.
"""

from __future__ import annotations

import _thread
import datetime as dt
import os
import socket
import time
from collections.abc import Callable, Mapping

from smtpwatch.core.schedule import utc_now
from smtpwatch.core.tls import ContextCache

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from typing import Protocol

    from smtpwatch.core.resolve import Resolution, ResolvableTarget

    class AddressResolverLike(Protocol):  # a Protocol only for mypy: no typing at run time
        def resolve(self, target: ResolvableTarget, *, timeout: float) -> Resolution: ...


# A phase's name as it starts → what to call with its exception (None: passed) as it ends.
PhaseHook = Callable[[str], Callable[[BaseException | None], None]]

__all__ = [
    "DEFAULT_EHLO_NAME",
    "LOCATION_VARIABLE",
    "MAX_LOCATION_CHARS",
    "PhaseHook",
    "ProbeEnvironment",
    "default_environment",
    "default_location",
    "parse_location",
]

# Used when neither the target's ehlo_name nor SMTPWATCH_EHLO_NAME / EHLO_NAME is set.
# Never socket.getfqdn(): that may query DNS (slow, and outside the deadline).
DEFAULT_EHLO_NAME = "localhost"
LOCATION_VARIABLE = "SMTPWATCH_LOCATION"
MAX_LOCATION_CHARS = 64


def parse_location(name: str, value: object) -> str:
    """A location as given (``--location``, ``SMTPWATCH_LOCATION``): one line of 1 to
    64 characters without control characters; ``ConfigError`` names ``name``."""
    from smtpwatch.core.coerce import to_text
    from smtpwatch.core.errors import ConfigError

    text = to_text(name, value, MAX_LOCATION_CHARS)
    if not text:
        raise ConfigError(name, "must not be empty")
    return text


def default_location() -> str:
    """This machine's host name: where results say they came from unless told."""
    # gethostname() reads the kernel's name (no DNS); a name unfit for a location
    # (none, or odd characters) becomes "localhost" rather than stopping the probe.
    try:
        return parse_location("host name", socket.gethostname())
    except ValueError:
        return "localhost"


class ProbeEnvironment:
    """What a probe needs besides the target; one per process, shared by threads.

    - ``resolver``: ``AddressResolver`` (None → ``resolve.default_resolver()``, loaded
      on first use so that importing the probe does not import dnspython).
    - ``default_ehlo_name``: for targets without ``ehlo_name``.
    - ``ssl_contexts``: contexts built once per ``(tls_verify, ca_bundle)``.
    - ``clock`` (monotonic seconds, for durations and the deadline) and ``now``
      (aware UTC datetime, for ``started_at`` and ``days_left``).
    - ``port25_blocked``: set by the Lambda handler when the function has no VPC; a
      port-25 connect timeout then says that AWS blocks outbound port 25 there.
    - ``location``: the installation's name, written into every result (None: the
      host name).
    - ``phase_hook``: called with a phase's name as the phase starts; what it returns
      is called with the phase's exception (None: it passed) as it ends. The Lambda
      handler's X-Ray subsegments; None (the default) costs nothing.
    """

    # A plain class, not a Record: it is mutable (the resolver is loaded on first use).
    def __init__(
        self,
        resolver: AddressResolverLike | None = None,
        default_ehlo_name: str = DEFAULT_EHLO_NAME,
        ssl_contexts: ContextCache | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = utc_now,
        port25_blocked: bool = False,
        location: str | None = None,
        phase_hook: PhaseHook | None = None,
    ) -> None:
        self.resolver = resolver
        self.default_ehlo_name = default_ehlo_name
        self.ssl_contexts = ContextCache() if ssl_contexts is None else ssl_contexts
        self.clock = clock
        self.now = now
        self.port25_blocked = port25_blocked
        self.location = default_location() if location is None else location
        self.phase_hook = phase_hook

    def get_resolver(self) -> AddressResolverLike:
        if self.resolver is None:
            from smtpwatch.core.resolve import default_resolver

            self.resolver = default_resolver()
        return self.resolver

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, location: str | None = None
    ) -> ProbeEnvironment:
        """EHLO name from ``SMTPWATCH_EHLO_NAME`` (local) or ``EHLO_NAME`` (Lambda),
        checked as a target's ``ehlo_name``: it goes into the dialogue as it is, so a
        line break would be a command of its own. Location: ``location`` (checked by
        the caller), else ``SMTPWATCH_LOCATION``, else the host name. ``ConfigError``
        names the variable."""
        env = os.environ if environ is None else environ
        if location is None and LOCATION_VARIABLE in env:
            location = parse_location(LOCATION_VARIABLE, env[LOCATION_VARIABLE])
        for variable in ("SMTPWATCH_EHLO_NAME", "EHLO_NAME"):
            raw = (env.get(variable) or "").strip()
            if not raw:
                continue
            from smtpwatch.core.errors import ConfigError
            from smtpwatch.core.target import parse_ehlo_name

            try:
                return cls(default_ehlo_name=parse_ehlo_name(raw), location=location)
            except ConfigError as exc:
                raise ConfigError(variable, exc.reason) from None
        return cls(location=location)


_default_env: ProbeEnvironment | None = None
# _thread, not threading: the same lock without importing threading (~1 ms at
# every start of `smtpwatch probe`, bench/import_cost.py).
_default_env_lock = _thread.allocate_lock()


def default_environment() -> ProbeEnvironment:
    """The process-wide environment (built from ``os.environ`` on first use)."""
    global _default_env
    with _default_env_lock:
        if _default_env is None:
            _default_env = ProbeEnvironment.from_environ()
        return _default_env
