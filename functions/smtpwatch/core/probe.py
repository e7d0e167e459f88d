"""The probe: one SMTP dialogue as an ordered list of timed phases → one ``ProbeResult``.

``probe(target, *, password=None, mask=(), env=None)`` walks ``dns → connect → [tls] → banner →
ehlo → [starttls → tls → ehlo_tls] → [auth] → quit`` under one overall ``Deadline``
(``timeout_s``). It never raises for a failure of the target: the first failure ends
the dialogue and becomes ``error`` (kind, phase, smtp_code, enhanced_code, one-line
message). Only a bug in smtpwatch gives ``status: unknown`` (kind ``internal``).

Exceptions from smtplib, ssl and socket are mapped onto ``core.errors`` at each phase
boundary (``_ProbeRun.phase``), so one table decides which failure class a phase's
trouble is.

Server text is hostile input. One ``ServerTextGuard`` per probe, built from the
password and ``mask`` (older passwords: after a secret rotation the server may still
say the old one), sees every reply of every connection as it is read (the client
applies it in ``getreply``: the dialogue, smtplib's AUTH loop, the second connection
that reads a certificate after a failed verification), every certificate field, and
every message the probe writes. Nothing is cut, case-changed or folded before it.
"""

from __future__ import annotations

import _thread
import datetime as dt
import errno
import os
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from types import TracebackType

from smtpwatch.core.deadline import Deadline
from smtpwatch.core.errors import (
    AuthFailedError,
    AuthUnsupportedError,
    BannerError,
    CertExpiredError,
    CertHostnameError,
    CertUntrustedError,
    ConnectRefusedError,
    ConnectTimeoutError,
    DnsError,
    EhloError,
    ProbeConfigError,
    ProbeError,
    ProbeTimeoutError,
    ProtocolError,
    StartTlsError,
    StartTlsUnsupportedError,
    TlsHandshakeError,
    UnreachableError,
)
from smtpwatch.core.result import (
    PHASES,
    AddressAttempt,
    AddressInfo,
    AuthInfo,
    ErrorInfo,
    ErrorKind,
    Phase,
    PhaseResult,
    ProbeResult,
    ServerInfo,
    Status,
    TlsInfo,
    WarningInfo,
    WarningKind,
    expiry_phrase,
)
from smtpwatch.core.safe_text import one_line
from smtpwatch.core.schedule import utc_now
from smtpwatch.core.server_text import ServerTextGuard
from smtpwatch.core.smtp_auth import (
    SIMPLE,
    AuthRound,
    offered_mechanisms,
    try_mechanisms,
)
from smtpwatch.core.smtp_client import SmtpClient, enhanced_code, reply_text
from smtpwatch.core.tls import (
    CertFacts,
    ContextCache,
    classify_verify_error,
    peer_facts,
    tls_info,
    verify_message,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms)
if TYPE_CHECKING:
    from typing import Protocol

    from smtpwatch.core.resolve import Resolution, ResolvableTarget, ResolvedAddress
    from smtpwatch.core.target import Target

__all__ = ["DEFAULT_EHLO_NAME", "ProbeEnvironment", "default_environment", "probe"]

# Used when neither the target's ehlo_name nor SMTPWATCH_EHLO_NAME / EHLO_NAME is set.
# Never socket.getfqdn(): that may query DNS (slow, and outside the deadline).
DEFAULT_EHLO_NAME = "localhost"
# A server that does not answer QUIT quickly is not waited for: QUIT is only detail.
_QUIT_WAIT_S = 2.0
_DNS_TIMEOUT_SLACK_S = 0.1

_UNREACHABLE_ERRNOS = frozenset(
    {
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EADDRNOTAVAIL,
        errno.EAFNOSUPPORT,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
    }
)


if TYPE_CHECKING:  # a Protocol only for mypy: no typing import at run time

    class AddressResolverLike(Protocol):
        def resolve(self, target: ResolvableTarget, *, timeout: float) -> Resolution: ...


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
    """

    # A plain class, not a dataclass: no dataclasses import on the CLI's path (see
    # core/record.py).
    def __init__(
        self,
        resolver: AddressResolverLike | None = None,
        default_ehlo_name: str = DEFAULT_EHLO_NAME,
        ssl_contexts: ContextCache | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = utc_now,
        port25_blocked: bool = False,
    ) -> None:
        self.resolver = resolver
        self.default_ehlo_name = default_ehlo_name
        self.ssl_contexts = ContextCache() if ssl_contexts is None else ssl_contexts
        self.clock = clock
        self.now = now
        self.port25_blocked = port25_blocked

    def get_resolver(self) -> AddressResolverLike:
        if self.resolver is None:
            from smtpwatch.core.resolve import default_resolver

            self.resolver = default_resolver()
        return self.resolver

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ProbeEnvironment:
        """EHLO name from ``SMTPWATCH_EHLO_NAME`` (local) or ``EHLO_NAME`` (Lambda),
        checked as a target's ``ehlo_name``: it goes into the dialogue as it is, so a
        line break would be a command of its own. ``ConfigError`` names the variable."""
        env = os.environ if environ is None else environ
        for variable in ("SMTPWATCH_EHLO_NAME", "EHLO_NAME"):
            raw = (env.get(variable) or "").strip()
            if not raw:
                continue
            from smtpwatch.core.errors import ConfigError
            from smtpwatch.core.target import parse_ehlo_name

            try:
                return cls(default_ehlo_name=parse_ehlo_name(raw))
            except ConfigError as exc:
                raise ConfigError(variable, exc.reason) from None
        return cls()


_default_env: ProbeEnvironment | None = None
# _thread, not threading: the same lock without importing threading (~0.8 ms at
# every start of `smtpwatch probe`).
_default_env_lock = _thread.allocate_lock()


def default_environment() -> ProbeEnvironment:
    """The process-wide environment (built from ``os.environ`` on first use)."""
    global _default_env
    with _default_env_lock:
        if _default_env is None:
            _default_env = ProbeEnvironment.from_environ()
        return _default_env


def probe(
    target: Target,
    *,
    password: str | None = None,
    mask: tuple[str, ...] = (),
    env: ProbeEnvironment | None = None,
) -> ProbeResult:
    """Probe ``target`` once. Never raises for a failure of the target.

    ``mask``: more secrets to keep out of the result besides ``password`` (the old
    password, when the probe runs again after a secret rotation)."""
    return _ProbeRun(target, password, env or default_environment(), mask).execute()


# --------------------------------------------------------------------------- internals


class _PhaseRecord:
    __slots__ = ("reached", "ok", "ms", "detail")  # noqa: RUF023

    def __init__(self) -> None:
        self.reached = False
        self.ok = False
        self.ms: float | None = None
        self.detail: str | None = None


def _family_label(ip: str) -> str:
    return "ipv6" if ":" in ip else "ipv4"


def _where(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# Which failure class a phase's generic trouble (a close, a bad reply, a socket
# error) belongs to.
_PHASE_ERROR: dict[Phase, type[ProbeError]] = {
    Phase.DNS: DnsError,
    Phase.CONNECT: UnreachableError,
    Phase.BANNER: BannerError,
    Phase.EHLO: EhloError,
    Phase.STARTTLS: StartTlsError,
    Phase.TLS: TlsHandshakeError,
    Phase.EHLO_TLS: EhloError,
    Phase.AUTH: AuthFailedError,
    Phase.QUIT: ProtocolError,
}

_CERT_ERRORS: dict[ErrorKind, type[ProbeError]] = {
    ErrorKind.CERT_EXPIRED: CertExpiredError,
    ErrorKind.CERT_HOSTNAME: CertHostnameError,
    ErrorKind.CERT_UNTRUSTED: CertUntrustedError,
}


class _PhaseScope:
    """``with run.phase(p):`` — marks ``p`` reached, times it, sets ``ok`` on a normal
    exit, and turns any smtplib/ssl/socket exception into the phase's ProbeError.
    (A class, not @contextmanager: it runs eight times per probe.)"""

    __slots__ = ("phase", "record", "run", "start")

    def __init__(self, run: _ProbeRun, phase: Phase) -> None:
        self.run = run
        self.phase = phase
        self.record = run.phases[phase]
        self.start = 0.0

    def __enter__(self) -> _PhaseRecord:
        run, phase, record = self.run, self.phase, self.record
        record.reached = True
        record.ok = False
        run.current = phase
        if run.client is not None:
            run.client.phase = phase
        self.start = run.clock()
        if run.deadline.expired():
            record.ms = 0.0
            run.deadline.check(phase)
        return record

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        record = self.record
        record.ms = (record.ms or 0.0) + (self.run.clock() - self.start) * 1000.0
        if exc is None:
            record.ok = True
        elif isinstance(exc, ProbeError):
            if exc.phase is None:
                exc.phase = self.phase
        elif isinstance(exc, Exception):
            mapped = self.run._map(exc, self.phase)
            if mapped is not None:
                raise mapped from None


class _ProbeRun:
    """The state of one probe while it runs; ``execute()`` returns the result."""

    def __init__(
        self,
        target: Target,
        password: str | None,
        env: ProbeEnvironment,
        mask: tuple[str, ...] = (),
    ) -> None:
        self.target = target
        self.env = env
        self._password = password
        self.guard = ServerTextGuard((password, *mask), username=target.username)
        self.clock = env.clock
        self.t0 = env.clock()
        self.started = env.now()
        self.deadline = Deadline(target.timeout_s, clock=env.clock)
        self.port = target.effective_port
        self.phases = {p: _PhaseRecord() for p in PHASES}
        self.current: Phase | None = None
        self.warnings: list[WarningInfo] = []
        self.attempts: list[AddressAttempt] = []
        self.address: ResolvedAddress | None = None
        self.source: str | None = None
        self.tls: TlsInfo | None = None
        self.tls_active = False
        self.auth_tried: list[str] = []
        self.auth_mechanism: str | None = None
        self.banner: str | None = None
        self.extensions: tuple[str, ...] = ()
        self.client: SmtpClient | None = None

    def __repr__(self) -> str:  # no password, ever
        return f"_ProbeRun(target_id={self.target.target_id!r})"

    # ------------------------------------------------------------------ run
    def execute(self) -> ProbeResult:
        error: ErrorInfo | None = None
        crashed = False
        try:
            self._dialogue()
        except ProbeError as err:
            error = self._error_info(err)
        except Exception as err:  # a bug in smtpwatch, not a failure of the target
            crashed = True
            error = ErrorInfo(
                kind=ErrorKind.INTERNAL,
                phase=self.current,
                message=one_line(self.guard.clean(f"probe crashed: {type(err).__name__}: {err}")),
            )
        finally:
            self._close()
        total_ms = (self.clock() - self.t0) * 1000.0
        warn_ms = self.target.warn_ms
        # QUIT is detail, never a verdict: a server slow to say goodbye is not a slow server.
        took_ms = total_ms - (self.phases[Phase.QUIT].ms or 0.0)
        if error is None and warn_ms is not None and took_ms > warn_ms:
            self.warnings.append(
                WarningInfo(WarningKind.SLOW, f"probe took {took_ms:.0f} ms (warn_ms {warn_ms})")
            )
        if crashed:
            status = Status.UNKNOWN
        elif error is not None:
            status = Status.CRITICAL
        elif self.warnings:
            status = Status.WARNING
        else:
            status = Status.OK
        return ProbeResult(
            target_id=self.target.target_id,
            started_at=self._started_at(),
            status=status,
            host=self.target.host,
            port=self.port,
            encryption=self.target.encryption,
            error=error,
            warnings=tuple(self.warnings),
            phases=tuple(
                PhaseResult(p, r.reached, r.ok, r.ms, r.detail) for p, r in self.phases.items()
            ),
            address=AddressInfo(
                ip=None if self.address is None else self.address.ip,
                family=None if self.address is None else self.address.family,
                port=self.port,
                source=self.source,
                attempts=tuple(self.attempts),
            ),
            tls=self.tls,
            auth=self._auth_info(),
            server=ServerInfo(banner=self.banner, extensions=self.extensions),
            total_ms=total_ms,
        )

    def _started_at(self) -> str:
        t = self.started.astimezone(dt.UTC)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"

    def _auth_info(self) -> AuthInfo | None:
        if not self.target.login:
            return None
        return AuthInfo(
            mechanism=self.auth_mechanism,
            tried=tuple(self.auth_tried),
            over_tls=self.tls_active if self.phases[Phase.AUTH].reached else None,
        )

    def _error_info(self, err: ProbeError) -> ErrorInfo:
        return ErrorInfo(
            kind=err.error_kind,
            phase=err.phase,
            message=one_line(self.guard.clean(err.message)),
            smtp_code=err.smtp_code,
            enhanced_code=err.enhanced_code,
        )

    def _close(self) -> None:
        if self.client is not None:
            # not contextlib.suppress: one import less at every start of the CLI
            try:  # noqa: SIM105
                self.client.close()
            except OSError:
                pass

    # ------------------------------------------------------------------ phases
    def phase(self, phase: Phase) -> _PhaseScope:
        """Time ``phase``; map whatever goes wrong in it onto a ProbeError."""
        return _PhaseScope(self, phase)

    def _map(self, err: Exception, phase: Phase) -> ProbeError | None:
        """The failure class of an smtplib/ssl/socket exception in ``phase``."""
        cls = _PHASE_ERROR[phase]
        if isinstance(err, TimeoutError):
            return ProbeTimeoutError(
                f"no answer within the deadline of {self.deadline.timeout_s:g} s", phase=phase
            )
        if isinstance(err, smtplib.SMTPResponseException):
            text = reply_text(_as_bytes(err.smtp_error))
            return cls(
                f"{err.smtp_code} {text}",
                phase=phase,
                smtp_code=err.smtp_code,
                enhanced_code=enhanced_code(text),
            )
        if isinstance(err, smtplib.SMTPServerDisconnected):
            return cls(f"{err} during {phase.value}", phase=phase)
        if isinstance(err, ssl.SSLError):
            reason = err.reason or err.strerror or str(err)
            if phase is Phase.TLS:
                return TlsHandshakeError(f"TLS handshake failed: {reason}", phase=phase)
            return cls(f"TLS error during {phase.value}: {reason}", phase=phase)
        if isinstance(err, (ConnectionError, EOFError)):
            return cls(f"connection lost during {phase.value}", phase=phase)
        if isinstance(err, OSError):
            return cls(f"{err.strerror or type(err).__name__} during {phase.value}", phase=phase)
        if isinstance(err, smtplib.SMTPException):
            return ProtocolError(f"{err}", phase=phase)
        return None

    def _reply_error(self, cls: type[ProbeError], what: str, code: int, resp: bytes) -> ProbeError:
        text = self.guard.clean(reply_text(resp))
        return cls(
            f"{what}: {code} {text}".rstrip(),
            smtp_code=code,
            enhanced_code=enhanced_code(text),
        )

    # ------------------------------------------------------------------ dialogue
    def _dialogue(self) -> None:
        t = self.target
        if t.login and (self._password is None or not t.username):
            raise ProbeConfigError(
                "login is on but no username/password was given to the probe",
                phase=None,
            )
        # Loading the resolver module (first probe of a process) is not DNS time.
        resolver = self.env.get_resolver()
        with self.phase(Phase.DNS):
            resolution = self._resolve(resolver)
        with self.phase(Phase.CONNECT):
            sock = self._connect(resolution.addresses)
        client = SmtpClient(
            local_hostname=t.ehlo_name or self.env.default_ehlo_name,
            deadline=self.deadline,
            guard=self.guard,
        )
        client.attach(sock, t.host)
        self.client = client

        if t.encryption == "implicit":
            self._tls(client)
        with self.phase(Phase.BANNER):
            code, resp = client.getreply()
            self.banner = reply_text(resp, limit=512)
            if code != 220:
                raise self._reply_error(BannerError, "greeting", code, resp)
        self._ehlo(client, Phase.EHLO)

        if t.encryption in ("explicit", "auto"):
            if client.has_extn("starttls"):
                self._starttls(client)
            elif t.encryption == "explicit":
                with self.phase(Phase.STARTTLS):
                    raise StartTlsUnsupportedError("server does not offer STARTTLS")
            else:
                self.warnings.append(
                    WarningInfo(
                        WarningKind.TLS_NOT_OFFERED,
                        "server does not offer STARTTLS; the dialogue ran unencrypted",
                    )
                )
        if t.login:
            self._login(client)
        self._quit(client)

    def _resolve(self, resolver: AddressResolverLike) -> Resolution:
        from smtpwatch.core.resolve import DnsLookupError, DnsTimeoutError

        try:
            resolution = resolver.resolve(self.target, timeout=self.deadline.remaining())
        except DnsTimeoutError as err:
            # Out of time (the resolver may give up a hair before the deadline itself)
            # → timeout in dns; nameservers silent while time is left → a DNS failure.
            if self.deadline.remaining() < _DNS_TIMEOUT_SLACK_S:
                raise ProbeTimeoutError(f"DNS: {err}") from None
            raise DnsError(str(err)) from None
        except DnsLookupError as err:
            raise DnsError(str(err)) from None
        self.source = resolution.source
        return resolution

    def _connect(self, addresses: tuple[ResolvedAddress, ...]) -> socket.socket:
        """Try each address in order; only a failed connect moves on to the next.

        Each attempt but the last gets an equal share of the time left, so one
        black-holed address cannot use up the whole deadline.
        """
        last: ProbeError | None = None
        for index, address in enumerate(addresses):
            if self.deadline.expired():
                break
            budget = self.deadline.remaining() / (len(addresses) - index)
            start = self.clock()
            sock: socket.socket | None = None
            try:
                family = socket.AF_INET6 if ":" in address.ip else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.settimeout(max(budget, 0.001))
                sock.connect((address.ip, self.port))
            except OSError as err:
                if sock is not None:
                    sock.close()
                last = self._connect_error(err, address.ip, budget)
                self.attempts.append(
                    AddressAttempt(
                        address.ip,
                        address.family or _family_label(address.ip),
                        ok=False,
                        ms=(self.clock() - start) * 1000.0,
                        error=last.kind,
                    )
                )
                continue
            self.attempts.append(
                AddressAttempt(
                    address.ip,
                    address.family or _family_label(address.ip),
                    ok=True,
                    ms=(self.clock() - start) * 1000.0,
                )
            )
            self.address = address
            return sock
        if last is None:
            raise ProbeTimeoutError(f"deadline of {self.deadline.timeout_s:g} s reached")
        if len(self.attempts) > 1:
            last.message = f"all {len(self.attempts)} addresses failed; last: {last.message}"
        raise last

    def _connect_error(self, err: OSError, ip: str, budget: float) -> ProbeError:
        where = _where(ip, self.port)
        if isinstance(err, ConnectionRefusedError):
            return ConnectRefusedError(f"connection refused by {where}")
        if isinstance(err, TimeoutError):
            message = f"no connection to {where} within {budget:.3g} s"
            if self.port == 25 and self.env.port25_blocked:
                message += " (AWS blocks outbound port 25 from Lambda functions outside a VPC)"
            return ConnectTimeoutError(message)
        if err.errno in _UNREACHABLE_ERRNOS:
            return UnreachableError(f"{where} unreachable: {err.strerror}")
        return UnreachableError(f"cannot connect to {where}: {err.strerror or type(err).__name__}")

    def _ehlo(self, client: SmtpClient, phase: Phase) -> None:
        with self.phase(phase):
            code, resp = client.ehlo()
            if code != 250:
                raise self._reply_error(EhloError, "EHLO rejected", code, resp)
            self.extensions = client.extensions()

    def _starttls(self, client: SmtpClient) -> None:
        """STARTTLS, handshake, EHLO again (RFC 3207: forget what was said before)."""
        with self.phase(Phase.STARTTLS):
            code, resp = client.docmd("STARTTLS")
            if code != 220:
                raise self._reply_error(StartTlsError, "STARTTLS refused", code, resp)
        self._tls(client)
        self._ehlo(client, Phase.EHLO_TLS)

    # ------------------------------------------------------------------ TLS
    def _tls(self, client: SmtpClient) -> None:
        t = self.target
        with self.phase(Phase.TLS):
            try:
                context = self.env.ssl_contexts.get(verify=t.tls_verify, ca_bundle=t.ca_bundle)
            except (ssl.SSLError, ValueError) as err:
                # PEM markers around text that is no certificate pass validation
                reason = getattr(err, "reason", None) or str(err)
                raise ProbeConfigError(f"ca_bundle cannot be loaded: {reason}") from None
            try:
                tls = client.start_tls(context, server_hostname=t.host)
            except ssl.SSLCertVerificationError as err:
                raise self._cert_error(err) from None
            cipher = tls.cipher()
            facts = peer_facts(tls)
            self.tls = tls_info(
                facts,
                now=self.env.now(),
                version=tls.version(),
                cipher=None if cipher is None else cipher[0],
                verified=t.tls_verify,
                guard=self.guard,
            )
            self.tls_active = True
            self._expiry_warning(facts)

    def _expiry_warning(self, facts: CertFacts | None) -> None:
        if facts is None or facts.not_after is None or self.tls is None:
            return
        days, not_after = self.tls.days_left, self.tls.not_after
        left = facts.not_after - self.env.now()
        # left < 0 only with tls_verify false: verification would have failed.
        if days is None or left >= dt.timedelta(days=self.target.cert_warn_days):
            return
        message = f"certificate {expiry_phrase(days)} (not after {not_after})"
        self.warnings.append(WarningInfo(WarningKind.CERT_EXPIRING, message))

    def _cert_error(self, err: ssl.SSLCertVerificationError) -> ProbeError:
        """Classify a failed verification; read the certificate unverified for facts."""
        now = self.env.now()
        facts, version, cipher = self._peek_certificate()
        kind = classify_verify_error(err, facts, now)
        reason = self.guard.clean(verify_message(err))
        self.tls = tls_info(
            facts,
            now=now,
            version=version,
            cipher=cipher,
            verified=False,
            verify_error=reason,
            guard=self.guard,
        )
        days = self.tls.days_left
        if kind is ErrorKind.CERT_EXPIRED:
            message = "certificate expired"
            if days is not None and days < 0:
                message = f"certificate {expiry_phrase(days)} (not after {self.tls.not_after})"
        elif kind is ErrorKind.CERT_HOSTNAME:
            names = ", ".join(self.tls.sans) or "none"
            message = f"certificate is not valid for {self.target.host} (names: {names})"
        else:
            message = f"certificate not trusted: {reason}"
        return _CERT_ERRORS[kind](message)

    def _peek_certificate(self) -> tuple[CertFacts | None, str | None, str | None]:
        """A second connection to the same address, same dialogue up to TLS, with an
        unverified handshake: the certificate facts an operator needs most exactly
        when verification fails. Shares the deadline; any failure just means no facts.
        """
        if self.address is None:
            return None, None, None
        t = self.target
        context = self.env.ssl_contexts.get(verify=False, ca_bundle=None)
        client = SmtpClient(
            local_hostname=t.ehlo_name or self.env.default_ehlo_name,
            deadline=self.deadline,
            guard=self.guard,
        )
        client.phase = Phase.TLS
        try:
            family = socket.AF_INET6 if ":" in self.address.ip else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            client.attach(sock, t.host)
            sock.settimeout(self.deadline.socket_timeout(Phase.TLS))
            sock.connect((self.address.ip, self.port))
            if t.encryption != "implicit":
                if client.getreply()[0] != 220 or client.ehlo()[0] != 250:
                    return None, None, None
                if client.docmd("STARTTLS")[0] != 220:
                    return None, None, None
            tls = client.start_tls(context, server_hostname=t.host)
            cipher = tls.cipher()
            return peer_facts(tls), tls.version(), None if cipher is None else cipher[0]
        except (ProbeError, OSError, smtplib.SMTPException, ValueError):
            return None, None, None
        finally:
            try:  # noqa: SIM105 (no contextlib import, see _close)
                client.close()
            except OSError:
                pass

    # ------------------------------------------------------------------ AUTH
    def _login(self, client: SmtpClient) -> None:
        """AUTH (docs/design.md#probe); on a plain connection where every method failed, the
        spec's fallback: STARTTLS on the same connection, EHLO, each method again."""
        with self.phase(Phase.AUTH):
            first = self._auth_round(client)
            if first is None or first.mechanism is not None:
                return
            fallback = not self.tls_active and client.has_extn("starttls")
            if not fallback:
                raise self._no_login(first, offered_mechanisms(client))
        self._starttls(client)
        with self.phase(Phase.AUTH):
            second = self._auth_round(client)
            if second is None or second.mechanism is not None:
                return
            raise self._no_login(second, offered_mechanisms(client))

    def _auth_round(self, client: SmtpClient) -> AuthRound | None:
        """One pass over the methods. None when the login step passed without AUTH
        (``SIMPLE``); a round with ``mechanism`` set when logged in; else the round."""
        t = self.target
        offered = offered_mechanisms(client)
        real = [m for m in t.auth_methods if m != SIMPLE]
        if offered is None or not any(m in offered for m in real):
            # SIMPLE passes only when the server offers no AUTH at all; AUTH
            # offered with none of the allowed mechanisms is still auth_unsupported.
            if offered is None and SIMPLE in t.auth_methods:
                self.auth_mechanism = SIMPLE
                return None
            if offered is None:
                if not self.tls_active and client.has_extn("starttls"):
                    return AuthRound()  # AUTH may appear after STARTTLS: the fallback
                raise AuthUnsupportedError("server offers no AUTH")
        if not self.tls_active and not t.allow_plaintext_auth:
            raise AuthUnsupportedError("credentials withheld: no TLS")
        assert self._password is not None and t.username  # checked before the dialogue
        result = try_mechanisms(
            client,
            t.auth_methods,
            offered or (),
            username=t.username,
            password=self._password,
            guard=self.guard,
            reply_text=reply_text,
            tried=self.auth_tried,
        )
        if result.mechanism is not None:
            self.auth_mechanism = result.mechanism
        return result

    def _no_login(self, last: AuthRound, offered: tuple[str, ...] | None) -> ProbeError:
        if offered is None:
            return AuthUnsupportedError("server offers no AUTH")
        if not last.tried:
            allowed = ", ".join(m for m in self.target.auth_methods if m != SIMPLE)
            return AuthUnsupportedError(
                f"server offers AUTH {' '.join(offered) or '(none)'}; allowed: {allowed}"
            )
        cls: type[ProbeError] = AuthUnsupportedError if last.all_unknown else AuthFailedError
        text = last.last_text
        return cls(
            f"no mechanism usable: {last.last_code} {text}".rstrip(),
            smtp_code=last.last_code,
            enhanced_code=enhanced_code(text),
        )

    # ------------------------------------------------------------------ QUIT
    def _quit(self, client: SmtpClient) -> None:
        """QUIT politely; whatever happens is detail, never the probe's verdict."""
        record = self.phases[Phase.QUIT]
        record.reached = True
        self.current = Phase.QUIT
        client.phase = Phase.QUIT
        client.wait_cap = _QUIT_WAIT_S
        start = self.clock()
        try:
            code, resp = client.docmd("QUIT")
            record.ok = code == 221
            if not record.ok:
                # A server may quote earlier commands (the AUTH line) back: masked.
                record.detail = one_line(self.guard.clean(f"{code} {reply_text(resp)}"))
        except (ProbeError, OSError, smtplib.SMTPException) as err:
            record.detail = one_line(self.guard.clean(f"QUIT: {err}"))
        finally:
            record.ms = (self.clock() - start) * 1000.0


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "replace")
