"""OAuth 2.0 on loopback: an SMTP server that verifies XOAUTH2 and OAUTHBEARER tokens
(with RFC 7628's error exchange) and an HTTPS token endpoint that counts its requests.

``OAuthSmtpServer.tokens``: the tokens it accepts (remove one to revoke it).
``TokenEndpoint`` issues ``tok-N`` tokens (each passed to ``on_issue``) and answers as
``mode`` says: ``ok``, ``hold`` (``ok`` once ``release`` is set), ``hang``,
``invalid_client``, ``500``, ``redirect``, ``echo_secret`` (quoting the client secret).
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

from smtpwatch.testing.servers import ServerCert, SmtpServer, _Handler

__all__ = ["ERROR_CHALLENGE", "OAuthSmtpServer", "TokenEndpoint"]

# What the server sends in its error challenge (RFC 7628 §3.2.2).
ERROR_CHALLENGE = {
    "status": "401",
    "schemes": "bearer",
    "scope": "https://outlook.office365.com/.default",
}


class _OAuthHandler(_Handler):
    """The test server's handler plus the two OAuth mechanisms."""

    def __init__(self, owner: OAuthSmtpServer) -> None:
        super().__init__(owner)
        self._oauth = owner

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._bearer(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._bearer(server, args, "OAUTHBEARER")

    async def _bearer(self, server: SMTP, args: list[str], mechanism: str) -> AuthResult:
        owner = self._oauth
        if mechanism not in owner.oauth_mechanisms:
            await server.push("504 5.5.4 Unrecognized authentication type")
            return AuthResult(success=False, handled=True)
        if len(args) < 2:
            await server.push("501 5.5.2 initial response required")
            return AuthResult(success=False, handled=True)
        try:
            text = base64.b64decode(args[1], validate=True).decode("utf-8")
        except ValueError:
            await server.push("501 5.5.2 not base64")
            return AuthResult(success=False, handled=True)
        user, token = _parse(mechanism, text)
        with owner.lock:
            owner.tokens_seen.append(token)
            ok = user == owner.user and token in owner.tokens
        if ok:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        challenge = json.dumps(ERROR_CHALLENGE).encode()
        answer = await server.challenge_auth(challenge, encode_to_b64=True)
        with owner.lock:
            owner.dummy_answers.append(b"*" if answer is MISSING else bytes(answer))
        return AuthResult(success=False, handled=False)  # 535 5.7.8


def _parse(mechanism: str, text: str) -> tuple[str, str]:
    """(user, token) of an initial client response; empty strings when malformed."""
    fields = text.split("\x01")
    if mechanism == "OAUTHBEARER":
        header, fields = fields[0], fields[1:]
        user = header.split("a=", 1)[1].rstrip(",") if "a=" in header else ""
        user = user.replace("=2C", ",").replace("=3D", "=")
    else:
        user = fields[0].removeprefix("user=") if fields[0].startswith("user=") else ""
        fields = fields[1:]
    token = ""
    for field in fields:
        if field.startswith("auth=Bearer "):
            token = field.removeprefix("auth=Bearer ")
    return user, token


class OAuthSmtpServer(SmtpServer):
    """``SmtpServer`` whose AUTH is XOAUTH2 and OAUTHBEARER for ``user``.

    ``tokens_seen``: every token presented, in order; ``dummy_answers``: the client's
    answer to each error challenge (b"" for XOAUTH2's empty line, b"\\x01" for
    OAUTHBEARER)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        user: str,
        cert: ServerCert,
        oauth_mechanisms: tuple[str, ...] = ("XOAUTH2", "OAUTHBEARER"),
        **options: Any,
    ) -> None:
        options.setdefault("starttls", True)
        super().__init__(host, cert=cert, credentials={}, mechanisms=(), **options)
        self.user = user
        self.oauth_mechanisms = oauth_mechanisms
        self.tokens: set[str] = set()
        self.tokens_seen: list[str] = []
        self.dummy_answers: list[bytes] = []
        self.lock = threading.Lock()
        self._controller.handler = _OAuthHandler(self)


class TokenEndpoint:
    """An HTTPS token endpoint on loopback (``http.server`` in a thread).

    ``url``: its token URL; ``requests``: the form of every POST, in order (so
    ``len(requests)`` counts the token requests); ``expires_in`` of the tokens issued."""

    def __init__(
        self,
        cert: ServerCert,
        *,
        on_issue: Callable[[str], None] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.mode = "ok"
        self.expires_in = 3599
        self.on_issue = on_issue
        self.requests: list[dict[str, str]] = []
        self.issued: list[str] = []
        self.release = threading.Event()  # ends a "hang"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                owner.requests.append(form)
                owner.answer(self)

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        context = cert.server_context()
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.url = f"https://{host}:{self.port}/tenant-1/oauth2/v2.0/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        mode = self.mode
        if mode == "hold":  # answer once released
            self.release.wait(30)
            mode = "ok"
        if mode == "hang":
            self.release.wait(30)
            return
        if mode == "redirect":
            self._send(handler, 302, {}, {"Location": "https://127.0.0.1:9/elsewhere"})
            return
        if mode == "500":
            self._send(handler, 500, None)
            return
        if mode == "echo_secret":  # a provider quoting what it was sent
            sent = self.requests[-1].get("client_secret", "")
            self._send(handler, 400, {"error": "invalid_request", "error_description": sent})
            return
        if mode == "invalid_client":
            self._send(
                handler,
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
            return
        token = f"tok-{len(self.issued) + 1}-{base64.urlsafe_b64encode(bytes(12)).decode()}"
        self.issued.append(token)
        if self.on_issue is not None:
            self.on_issue(token)
        self._send(
            handler,
            200,
            {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": token},
        )

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        doc: dict[str, Any] | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = b"<html>Internal Server Error</html>" if doc is None else json.dumps(doc).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)

    def start(self) -> TokenEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> TokenEndpoint:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def client_context(ca_pem: str) -> ssl.SSLContext:
    """A client context trusting the test CA, for the token client."""
    return ssl.create_default_context(cadata=ca_pem)
