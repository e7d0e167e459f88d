"""``probe()``: one SMTP dialogue as an ordered list of timed phases → one ``ProbeResult``.

``dns → connect → [tls] → banner → ehlo → [starttls → tls → ehlo_tls] → [auth] → quit``
under one overall ``Deadline`` (``timeout_s``). The first failure of the target ends
the dialogue and becomes the result's ``error``; ``probe()`` never raises for it. Only
a bug in smtpwatch gives ``status: unknown`` (kind ``internal``).
"""

from __future__ import annotations

import smtplib
import ssl

from smtpwatch.core.deadline import Deadline
from smtpwatch.core.errors import (
    BannerError,
    EhloError,
    ProbeConfigError,
    ProbeError,
    StartTlsError,
    StartTlsUnsupportedError,
)
from smtpwatch.core.kinds import PHASES, Phase, WarningKind
from smtpwatch.core.oauth_sasl import ProbeTokens
from smtpwatch.core.probe.cert_diagnosis import (
    PeerCertificate,
    expiry_warning,
    read_certificate_unverified,
    verify_failure,
)
from smtpwatch.core.probe.check_limits import CheckLimits, banner_mismatch
from smtpwatch.core.probe.connect import connect_first
from smtpwatch.core.probe.environment import ProbeEnvironment, default_environment
from smtpwatch.core.probe.outcome import crash_info, error_info, probe_result
from smtpwatch.core.probe.phase_scope import PhaseRecord, PhaseScope
from smtpwatch.core.result import AddressAttempt, ErrorInfo, ProbeResult, TlsInfo, WarningInfo
from smtpwatch.core.safe_text import one_line
from smtpwatch.core.server_text import ServerTextGuard
from smtpwatch.core.smtp_auth import SIMPLE, login_round, no_login_error, offered_mechanisms
from smtpwatch.core.smtp_client import SmtpClient, enhanced_code, reply_text
from smtpwatch.core.tls import peer_facts, tls_info

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from smtpwatch.core.oauth_sasl import TokenSource
    from smtpwatch.core.probe.environment import AddressResolverLike
    from smtpwatch.core.resolve import Resolution, ResolvedAddress
    from smtpwatch.core.smtp_auth import AuthRound
    from smtpwatch.core.target import Target

__all__ = ["ProbeRun", "probe"]

# A server that does not answer QUIT quickly is not waited for: QUIT is only detail.
_QUIT_WAIT_S = 2.0


def probe(
    target: Target,
    *,
    password: str | None = None,
    mask: tuple[str, ...] = (),
    env: ProbeEnvironment | None = None,
    limits: CheckLimits | None = None,
    tokens: TokenSource | None = None,
) -> ProbeResult:
    """Probe ``target`` once. Never raises for a failure of the target.

    ``mask``: more secrets to keep out of the result besides ``password`` (the old
    password, when the probe runs again after a secret rotation). ``limits``: what a
    monitoring check adds (critical time, critical certificate days, expected greeting).
    ``tokens``: the OAuth 2.0 token source that logs in instead of a password."""
    run = ProbeRun(target, password, env or default_environment(), mask, limits, tokens)
    return run.execute()


class ProbeRun:
    """The state of one probe while it runs; ``execute()`` returns the result."""

    def __init__(
        self,
        target: Target,
        password: str | None,
        env: ProbeEnvironment,
        mask: tuple[str, ...] = (),
        limits: CheckLimits | None = None,
        tokens: TokenSource | None = None,
    ) -> None:
        self.target = target
        self.env = env
        self.limits = limits
        self._password = password
        # One guard per probe sees every piece of server text (core/server_text.py).
        self.guard = ServerTextGuard((password, *mask), username=target.username)
        self.clock = env.clock
        self.t0 = env.clock()
        self.started = env.now()
        self.deadline = Deadline(target.timeout_s, clock=env.clock)
        self.tokens: ProbeTokens | None = None
        if tokens is not None:
            self.guard.add_secrets(tokens.secrets())
            self.tokens = ProbeTokens(tokens, self.deadline, self.guard, env.clock)
        self.port = target.effective_port
        self.phases = {p: PhaseRecord() for p in PHASES}
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
        return f"ProbeRun(target_id={self.target.target_id!r})"

    # ------------------------------------------------------------------ run
    def execute(self) -> ProbeResult:
        error: ErrorInfo | None = None
        crashed = False
        try:
            self._dialogue()
        except ProbeError as err:
            error = error_info(err, self.guard)
        except Exception as err:  # a bug in smtpwatch, not a failure of the target
            crashed = True
            error = crash_info(err, self.current, self.guard)
        finally:
            self._close()
        return probe_result(self, error, crashed=crashed)

    def _close(self) -> None:
        if self.client is not None:
            # not contextlib.suppress: one import less at every start of the CLI
            try:  # noqa: SIM105
                self.client.close()
            except OSError:
                pass

    # ------------------------------------------------------------------ phases
    def phase(self, phase: Phase) -> PhaseScope:
        """Time ``phase``; map whatever goes wrong in it onto a ProbeError."""
        return PhaseScope(self, phase)

    def _reply_error(self, cls: type[ProbeError], what: str, code: int, resp: bytes) -> ProbeError:
        text = self.guard.clean(reply_text(resp))
        return cls(
            f"{what}: {code} {text}".rstrip(),
            smtp_code=code,
            enhanced_code=enhanced_code(text),
        )

    def _ehlo_name(self) -> str:
        return self.target.ehlo_name or self.env.default_ehlo_name

    # ------------------------------------------------------------------ dialogue
    def _dialogue(self) -> None:
        t = self.target
        if t.login and ((self._password is None and self.tokens is None) or not t.username):
            raise ProbeConfigError(
                "login is on but no username/password was given to the probe",
                phase=None,
            )
        # Loading the resolver module (first probe of a process) is not DNS time.
        resolver = self.env.get_resolver()
        with self.phase(Phase.DNS):
            resolution = self._resolve(resolver)
        with self.phase(Phase.CONNECT):
            sock, self.address = connect_first(
                resolution.addresses,
                self.port,
                deadline=self.deadline,
                clock=self.clock,
                attempts=self.attempts,
                port25_blocked=self.env.port25_blocked,
            )
        client = SmtpClient(
            local_hostname=self._ehlo_name(), deadline=self.deadline, guard=self.guard
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
            mismatch = banner_mismatch(self.limits, code, resp)
            if mismatch is not None:
                self.warnings.append(mismatch)
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
        # A failed lookup raises the resolver's errors; the phase scope maps them.
        resolution = resolver.resolve(self.target, timeout=self.deadline.remaining())
        self.source = resolution.source
        return resolution

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
                raise self._verify_failure(err) from None
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
            warning = expiry_warning(
                facts, self.tls, now=self.env.now(), warn_days=t.cert_warn_days
            )
            if warning is not None:
                self.warnings.append(warning)

    def _verify_failure(self, err: ssl.SSLCertVerificationError) -> ProbeError:
        """Classify a failed verification, with the certificate's facts read unverified."""
        now = self.env.now()
        peer: PeerCertificate = (None, None, None)
        if self.address is not None:
            peer = read_certificate_unverified(
                self.address.ip,
                self.port,
                host=self.target.host,
                implicit_tls=self.target.encryption == "implicit",
                ehlo_name=self._ehlo_name(),
                context=self.env.ssl_contexts.get(verify=False, ca_bundle=None),
                deadline=self.deadline,
                guard=self.guard,
            )
        self.tls, error = verify_failure(
            err, peer, now=now, host=self.target.host, guard=self.guard
        )
        return error

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
                raise no_login_error(first, offered_mechanisms(client), self.target.auth_methods)
        self._starttls(client)
        with self.phase(Phase.AUTH):
            second = self._auth_round(client)
            if second is None or second.mechanism is not None:
                return
            raise no_login_error(second, offered_mechanisms(client), self.target.auth_methods)

    def _auth_round(self, client: SmtpClient) -> AuthRound | None:
        """One pass over the methods; records the mechanism that logged in."""
        assert self._password is not None or self.tokens is not None  # checked before
        result = login_round(
            client,
            self.target,
            self._password or "",
            guard=self.guard,
            tls_active=self.tls_active,
            tried=self.auth_tried,
            tokens=self.tokens,
        )
        if result is None:
            self.auth_mechanism = SIMPLE
        elif result.mechanism is not None:
            self.auth_mechanism = result.mechanism
        return result

    # ------------------------------------------------------------------ QUIT
    def _quit(self, client: SmtpClient) -> None:
        """QUIT politely; whatever happens is detail, never the probe's verdict."""
        record = self.phases[Phase.QUIT]
        record.reached = True
        self.current = Phase.QUIT
        client.phase = Phase.QUIT
        client.wait_cap = _QUIT_WAIT_S
        hook = self.env.phase_hook
        end = None if hook is None else hook(Phase.QUIT.value)
        error: BaseException | None = None
        start = self.clock()
        try:
            code, resp = client.docmd("QUIT")
            record.ok = code == 221
            if not record.ok:
                # A server may quote earlier commands (the AUTH line) back: masked.
                record.detail = one_line(self.guard.clean(f"{code} {reply_text(resp)}"))
        except (ProbeError, OSError, smtplib.SMTPException) as err:
            error = err
            record.detail = one_line(self.guard.clean(f"QUIT: {err}"))
        finally:
            record.ms = (self.clock() - start) * 1000.0
            if end is not None:
                end(error)
