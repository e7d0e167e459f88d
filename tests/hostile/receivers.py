"""What the hostile-server tests read outputs from: a loopback webhook receiver and a
log handler that keeps every record (message, arguments, extras and traceback)."""

from __future__ import annotations

import json
import logging
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["LogCapture", "WebhookReceiver"]


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that answers 204 and keeps every request it got."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                headers = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
                with receiver._lock:
                    receiver._requests.append(f"{self.path}\n{headers}\n\n{body}")
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the requests are kept, not printed

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def take(self) -> list[str]:
        """The requests received since the last ``take``."""
        with self._lock:
            got, self._requests = self._requests, []
        return got


_STANDARD = set(vars(logging.makeLogRecord({})))


class LogCapture(logging.Handler):
    """Every record as text: the formatted message, the raw message and arguments,
    the extras (``extra={...}``) and the traceback, so a secret cannot hide in a part
    a real formatter would print and this one did not."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._lines: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        parts = [f"{record.name} {record.levelname} {record.getMessage()}"]
        parts.append(repr(record.msg))
        if record.args:
            parts.append(repr(record.args))
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if extras:
            parts.append(json.dumps(extras, default=repr, ensure_ascii=False))
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(record.exc_info[1])))
        with self._guard:
            self._lines.append("\n".join(parts))

    def take(self) -> list[str]:
        with self._guard:
            got, self._lines = self._lines, []
        return got
