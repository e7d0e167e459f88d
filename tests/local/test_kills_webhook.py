"""One webhook attempt against real loopback receivers, as a receiver and an operator see
it: the request as sent (headers, body, path, Host), which answers count as delivered,
and the failure texts, cut and cleaned, that the notices and ``outbox`` listing show."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import struct
import threading
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest

from smtpwatch import __version__
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.webhook import DeliveryError, WebhookSender, alert_body, display_url
from smtpwatch.testing.servers import Certificates
from smtpwatch.testing.webhook_receivers import (
    HangingReceiver,
    Reply,
    WebhookReceiver,
    _RawReceiver,
)

STAMP = 1_764_072_000  # 2025-11-25T12:00:00Z


def down_alert(**details: object) -> Alert:
    return Alert(
        alert_id="mx1-down-0001",
        event=AlertEvent.DOWN,
        target_id="mx1",
        status="down",
        created_at="2026-11-25T12:00:00Z",
        target={"target_id": "mx1", "name": "Büro MX", "host": "mx1.test"},
        since="2026-11-25T11:59:00Z",
        details=dict(details),
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(200) as r:
        yield r


class RawAnswer(_RawReceiver):
    """Answers every request with the bytes given (a status line the test writes)."""

    def __init__(self, response: bytes) -> None:
        super().__init__()
        self.response = response

    def answer(self, sock: socket.socket) -> None:
        sock.sendall(self.response)


def failure(url: str, timeout_s: float = 5) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        WebhookSender(url, timeout_s=timeout_s).send(down_alert())
    return info.value


# ---- the request as sent ------------------------------------------------------------------


def test_the_request_carries_the_alert_document_and_its_headers(
    receiver: WebhookReceiver,
) -> None:
    sender = WebhookSender(receiver.url("/in?token=t"), timeout_s=5, clock=lambda: STAMP + 0.9)
    sender.send(down_alert())
    (got,) = receiver.posts()
    assert got.method == "POST" and got.path == "/in?token=t"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert got.headers["content-type"] == "application/json; charset=utf-8"
    assert got.headers["user-agent"] == f"smtpwatch/{__version__}"
    assert got.headers["x-smtpwatch-event"] == "down"
    assert got.headers["x-smtpwatch-alert-id"] == "mx1-down-0001"
    assert got.headers["webhook-id"] == "mx1-down-0001"
    assert got.headers["content-length"] == str(len(got.body))
    assert "accept-encoding" not in got.headers  # the body is read as it comes
    # the document: UTF-8 as written (not \u escapes), late false unless said
    assert "Büro MX".encode() in got.body
    doc = json.loads(got.body.decode("utf-8"))
    assert doc["alert_id"] == "mx1-down-0001" and doc["late"] is False
    assert got.body == alert_body(down_alert())


def test_a_signed_request_is_stamped_with_the_whole_second(receiver: WebhookReceiver) -> None:
    sender = WebhookSender(receiver.url(), timeout_s=5, key=b"k" * 32, clock=lambda: STAMP + 0.9)
    sender.send(down_alert())
    (got,) = receiver.posts()
    assert got.headers["webhook-timestamp"] == str(STAMP)
    assert got.headers["webhook-signature"].startswith("v1,")


def test_a_late_alert_says_late(receiver: WebhookReceiver) -> None:
    WebhookSender(receiver.url(), timeout_s=5).send(down_alert(late=True))
    assert receiver.docs()[0]["late"] is True


def test_a_url_without_a_path_posts_to_the_root_and_userinfo_stays_out_of_host(
    receiver: WebhookReceiver,
) -> None:
    WebhookSender(f"http://hook:pw@127.0.0.1:{receiver.port}", timeout_s=5).send(down_alert())
    (got,) = receiver.posts()
    assert got.path == "/"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert "pw" not in got.headers["host"]


def test_a_password_with_an_at_sign_stays_out_of_host(receiver: WebhookReceiver) -> None:
    url = f"http://hook:p@ss@127.0.0.1:{receiver.port}/in"
    WebhookSender(url, timeout_s=5).send(down_alert())
    (got,) = receiver.posts()
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"


def test_the_scheme_is_read_in_any_case(receiver: WebhookReceiver) -> None:
    WebhookSender(f"HTTP://127.0.0.1:{receiver.port}/up", timeout_s=5).send(down_alert())
    assert [r.path for r in receiver.posts()] == ["/up"]


def test_the_request_goes_to_the_address_the_url_names() -> None:
    # 127.0.0.2 is loopback too, but nothing else listens there on this port
    with WebhookReceiver(200, host="127.0.0.2") as other:
        WebhookSender(other.url(), timeout_s=5).send(down_alert())
        assert [r.path for r in other.posts()] == ["/hook"]


# ---- what a URL is, and how it is shown --------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@hooks.test/a/b?token=x", "https://hooks.test/a/b?…"),
        ("http://hooks.test:8080/in", "http://hooks.test:8080/in"),
        ("http://[::1]:9000/in?t=1", "http://[::1]:9000/in?…"),
        ("http://[::1]/in", "http://[::1]/in"),
        ("https://hooks.test", "https://hooks.test"),
    ],
)
def test_a_url_is_shown_without_userinfo_or_query(url: str, shown: str) -> None:
    assert display_url(url) == shown
    assert repr(WebhookSender(url)) == f"WebhookSender({shown!r})"


@pytest.mark.parametrize(
    "url", ["ftp://hooks.test/x", "http:///no-host", "hooks.test/x", "http:hooks.test"]
)
def test_a_url_that_is_not_http_is_refused_and_shown_without_its_token(url: str) -> None:
    with pytest.raises(ValueError) as info:
        WebhookSender(url + "?token=s3cret")
    assert str(info.value).endswith(": expected an http:// or https:// URL")
    assert str(info.value).startswith("webhook '")
    assert "s3cret" not in str(info.value)


def test_a_url_without_a_host_is_shown_as_written() -> None:
    with pytest.raises(ValueError) as info:
        WebhookSender("http:///hook?token=s3cret")
    assert str(info.value) == "webhook 'http:///hook?…': expected an http:// or https:// URL"


@pytest.mark.parametrize("timeout_s", [0, -1])
def test_a_timeout_must_be_positive(timeout_s: float) -> None:
    with pytest.raises(ValueError, match=r"^webhook timeout: must be more than 0 seconds$"):
        WebhookSender("http://hooks.test/x", timeout_s=timeout_s)
    assert WebhookSender("http://hooks.test/x", timeout_s=0.01).timeout_s == 0.01


# ---- which answers count as delivered -----------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_any_2xx_is_delivered(receiver: WebhookReceiver, status: int) -> None:
    receiver.set_reply(status)
    WebhookSender(receiver.url(), timeout_s=5).send(down_alert())
    assert len(receiver.posts()) == 1


def test_a_300_is_a_redirect_without_a_location(receiver: WebhookReceiver) -> None:
    receiver.set_reply(300)
    error = failure(receiver.url())
    assert str(error) == (
        "HTTP 300 Multiple Choices: redirect to (no Location)"
        " — give the final URL; redirects are not followed"
    )
    assert error.status == 300 and error.location is None and not error.permanent


def test_a_redirect_names_where_it_points_without_the_token(receiver: WebhookReceiver) -> None:
    receiver.set_reply(Reply(308, {"Location": "https://new.test/in?token=s3cret"}))
    error = failure(receiver.url())
    assert str(error) == (
        "HTTP 308 Permanent Redirect: redirect to https://new.test/in?…"
        " — give the final URL; redirects are not followed"
    )
    assert error.location == "https://new.test/in?token=s3cret"
    receiver.set_reply(Reply(302, {"Location": "/elsewhere"}))
    assert str(failure(receiver.url())).startswith("HTTP 302 Found: redirect to /elsewhere — ")


@pytest.mark.parametrize(
    ("status", "permanent"), [(399, False), (400, True), (499, True), (500, False)]
)
def test_only_a_4xx_is_permanent(receiver: WebhookReceiver, status: int, permanent: bool) -> None:
    receiver.set_reply(status)
    error = failure(receiver.url())
    assert error.permanent is permanent and error.status == status


# ---- failure texts: the receiver's words, on one line, cut -------------------------------


def test_a_failures_text_has_the_receivers_explanation_on_one_line_cut(
    receiver: WebhookReceiver,
) -> None:
    body = b"field\t'late':\r\n  unknown\x00 " + b"x" * 200
    receiver.set_reply(Reply(422, body=body))
    text = str(failure(receiver.url()))
    snippet = "field 'late': unknown " + "x" * 200
    assert text == f"HTTP 422 {HTTPStatus(422).phrase}: " + snippet[:119] + "…"


def test_a_failures_text_of_exactly_the_limit_is_shown_whole(receiver: WebhookReceiver) -> None:
    receiver.set_reply(Reply(500, body=b"y" * 120))
    assert str(failure(receiver.url())) == "HTTP 500 Internal Server Error: " + "y" * 120


def test_a_failure_without_a_body_is_the_status_alone(receiver: WebhookReceiver) -> None:
    receiver.set_reply(503)
    assert str(failure(receiver.url())) == "HTTP 503 Service Unavailable"


def test_a_body_that_is_not_utf8_is_shown_with_replacement_characters(
    receiver: WebhookReceiver,
) -> None:
    receiver.set_reply(Reply(500, body=b"bad \xff byte"))
    assert str(failure(receiver.url())) == "HTTP 500 Internal Server Error: bad \ufffd byte"


def test_a_long_or_unprintable_reason_and_location_are_cleaned_and_cut() -> None:
    reason = "Nope\x07 " + "r" * 100
    location = "/" + "l" * 400
    response = (
        f"HTTP/1.1 307 {reason}\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    with RawAnswer(response) as raw:
        error = failure(raw.url())
    shown_reason = ("Nope " + "r" * 100)[:59] + "…"
    assert error.location == location[:299] + "…"
    assert str(error).startswith(f"HTTP 307 {shown_reason}: redirect to {location[:299]}… — ")


def test_a_status_without_a_reason_has_no_trailing_space() -> None:
    with RawAnswer(b"HTTP/1.1 503 \r\nContent-Length: 0\r\n\r\n") as raw:
        assert str(failure(raw.url())) == "HTTP 503"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(" 7 ", 7.0), ("0", 0.0), ("2.5", 2.5), ("-5", None), ("Wed, 21 Oct 2026 07:28:00 GMT", None)],
)
def test_retry_after_in_seconds_is_kept(
    receiver: WebhookReceiver, header: str, seconds: float | None
) -> None:
    receiver.set_reply(Reply(503, {"Retry-After": header}))
    assert failure(receiver.url()).retry_after == seconds
    receiver.set_reply(503)
    assert failure(receiver.url()).retry_after is None


# ---- failures before any answer ----------------------------------------------------------


def test_a_refused_connection_says_so() -> None:
    # a bound socket that is not listening refuses; it stays bound, so no one else answers
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        error = failure(f"http://127.0.0.1:{port}/hook")
    assert str(error) == "connection refused"
    assert error.status is None and not error.permanent


def test_a_refused_connection_is_not_tried_over_udp() -> None:
    # GIVEN the port refuses TCP while something on the same port number takes UDP
    # datagrams (and so sends back no refusal): only TCP is the webhook's transport
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
    ):
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        try:
            udp.bind(("127.0.0.1", port))
        except OSError:
            pytest.skip(f"UDP port {port} is taken on 127.0.0.1")
        assert str(failure(f"http://127.0.0.1:{port}/hook", timeout_s=2)) == ("connection refused")
        udp.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            assert udp.recv(65536) == b"", "the alert went out as a datagram"


def test_a_receiver_that_hangs_up_without_answering() -> None:
    class HangUp(_RawReceiver):
        def answer(self, sock: socket.socket) -> None:
            pass  # closes without a word

    with HangUp() as raw:
        assert str(failure(raw.url())) == "Remote end closed connection without response"


def test_a_hanging_receiver_times_out_at_the_deadline_it_names() -> None:
    with HangingReceiver() as hang:
        assert str(failure(hang.url(), timeout_s=0.5)) == "timed out after 0.5 s (deadline)"


def test_an_untrusted_certificate_names_the_reason(certs: Certificates) -> None:
    untrusted = certs.issue("127.0.0.1", trusted=False).server_context()
    with WebhookReceiver(200, tls=untrusted) as hook:
        text = str(failure(hook.url()))
    assert text in (
        "TLS certificate not accepted: unable to get local issuer certificate",
        "TLS certificate not accepted: self-signed certificate in certificate chain",
        "TLS certificate not accepted: self signed certificate in certificate chain",
    )


def test_a_reset_connection_is_named_by_the_systems_words() -> None:
    class Reset(_RawReceiver):
        def answer(self, sock: socket.socket) -> None:
            # linger 0: the close sends a reset instead of an orderly end
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with Reset() as raw:
        assert str(failure(raw.url())) == "Connection reset by peer"


def test_an_answer_that_is_not_http_is_shown_cut_on_one_line() -> None:
    with RawAnswer(b"SMTP? " + b"x" * 300 + b"\r\n\r\n") as raw:
        text = str(failure(raw.url()))
    assert text == ("SMTP? " + "x" * 300)[:199] + "…"


def test_a_receiver_too_busy_to_take_the_connection_times_out_quietly() -> None:
    # GIVEN a listener whose accept queue is full: the connection is never taken, so the
    # deadline comes while still connecting
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        queued = []
        for _ in range(3):
            waiting = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            waiting.setblocking(False)
            waiting.connect_ex(("127.0.0.1", port))
            queued.append(waiting)
        unhandled: list[BaseException | None] = []
        previous = threading.excepthook
        threading.excepthook = lambda args: unhandled.append(args.exc_value)
        try:
            error = failure(f"http://127.0.0.1:{port}/hook", timeout_s=0.5)
            for timer in [t for t in threading.enumerate() if isinstance(t, threading.Timer)]:
                timer.join(5)  # the deadline's watchdog has done what it does
        finally:
            threading.excepthook = previous
            for waiting in queued:
                waiting.close()
    assert str(error) == "timed out after 0.5 s (deadline)"
    assert unhandled == []  # the deadline's cut of a socket still connecting is no crash


# ---- the request on the wire, and a reply that never ends --------------------------------


class Recorder:
    """A one-connection HTTP listener on ``sock`` (bound by the caller) that keeps the
    request head as received and answers ``reply``, then ``then`` (bytes sent after)."""

    def __init__(self, sock: socket.socket, reply: bytes, then: bytes = b"") -> None:
        self.sock = sock
        self.reply = reply
        self.then = then
        self.head = b""
        self.done = threading.Event()
        sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            self.head = data.partition(b"\r\n\r\n")[0]
            conn.sendall(self.reply)
            with contextlib.suppress(OSError):
                conn.sendall(self.then)
            self.done.wait(10)  # holds the connection open: the reply never ends

    def header_lines(self) -> list[str]:
        return [line.split(":")[0].lower() for line in self.head.decode().split("\r\n")[1:]]


def test_the_request_head_has_each_header_once_and_nothing_more() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        rec = Recorder(listener, b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        WebhookSender(f"http://127.0.0.1:{port}/in", timeout_s=5).send(down_alert())
        rec.done.set()
    assert rec.head.split(b"\r\n")[0] == b"POST /in HTTP/1.1"
    assert sorted(rec.header_lines()) == sorted(
        ["host", "content-type", "user-agent", "x-smtpwatch-event", "x-smtpwatch-alert-id",
         "webhook-timestamp",
         "webhook-id", "content-length"]
    )  # fmt: skip


@pytest.mark.parametrize(("status", "delivered"), [(200, True), (500, False)])
def test_a_reply_body_that_never_ends_is_read_no_further_than_64_kib(
    status: int, delivered: bool
) -> None:
    # GIVEN a receiver that answers, then sends 64 KiB of a body it says is 10 MB, then
    # stalls: the status is what counts, so the attempt ends there, not at its deadline
    head = f"HTTP/1.1 {status} X\r\nContent-Length: 10000000\r\n\r\n".encode()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        rec = Recorder(listener, head, b"z" * (64 * 1024))
        sender = WebhookSender(f"http://127.0.0.1:{port}/in", timeout_s=5)
        try:
            if delivered:
                sender.send(down_alert())
            else:
                assert str(failure(f"http://127.0.0.1:{port}/in")) == "HTTP 500 X: " + (
                    "z" * 119 + "…"
                )
        finally:
            rec.done.set()


def _bind_privileged(port: int) -> socket.socket:
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as err:
        sock.close()
        if err.errno in (errno.EACCES, errno.EPERM):
            pytest.skip(f"binding port {port} needs root (CI runs these tests as root)")
        if err.errno == errno.EADDRINUSE and not os.environ.get("CI"):
            pytest.skip(f"port {port} on 127.0.0.1 is held by another program")
        raise
    return sock


def test_a_url_without_a_port_goes_to_port_80() -> None:
    with _bind_privileged(80) as listener:
        rec = Recorder(listener, b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        WebhookSender("http://127.0.0.1/in", timeout_s=5).send(down_alert())
        rec.done.set()
    assert rec.head.startswith(b"POST /in HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1\r\n" in rec.head


@pytest.fixture
def trust_test_ca(certs: Certificates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA as the system store (OpenSSL reads SSL_CERT_FILE)."""
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(certs.ca_pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))


def test_an_https_url_without_a_port_goes_to_443_over_verified_tls(
    certs: Certificates, trust_test_ca: None
) -> None:
    context = certs.valid().server_context()
    with _bind_privileged(443) as listener:
        tls = context.wrap_socket(listener, server_side=True)
        rec = Recorder(tls, b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        WebhookSender("HTTPS://127.0.0.1/in", timeout_s=5).send(down_alert())
        rec.done.set()
    assert rec.head.startswith(b"POST /in HTTP/1.1\r\n")


@pytest.mark.parametrize("host", ["a..b", "a" * 64 + ".test"])
def test_a_host_name_that_cannot_be_looked_up_says_so_at_once(host: str) -> None:
    # an empty label or one over 63 characters: refused before any query is sent
    unhandled: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: unhandled.append(args.exc_value)
    try:
        error = failure(f"http://{host}/hook", timeout_s=3)
    finally:
        threading.excepthook = previous
    assert str(error) == "name lookup failed: not a valid host name"
    assert unhandled == []  # no crash of the lookup's helper thread


def test_an_attempt_left_hanging_does_not_keep_the_process_alive() -> None:
    # a run that stops while an attempt hangs exits then, not at the attempt's deadline:
    # the attempt's deadline timer is a daemon thread (the attempt's own thread is too)
    errors: list[DeliveryError] = []
    with HangingReceiver() as hang:
        sender = WebhookSender(hang.url(), timeout_s=30)

        def attempt() -> None:
            with pytest.raises(DeliveryError) as info:
                sender.send(down_alert())
            errors.append(info.value)

        thread = threading.Thread(target=attempt, daemon=True)
        before = set(threading.enumerate())
        thread.start()
        pause = threading.Event()
        for _ in range(500):  # up to 10 s for the request to arrive
            if hang.requests >= 1:
                break
            pause.wait(0.02)
        assert hang.requests == 1
        timers = [t for t in set(threading.enumerate()) - before if isinstance(t, threading.Timer)]
        assert timers and all(t.daemon for t in timers)
    thread.join(10)
    assert len(errors) == 1
