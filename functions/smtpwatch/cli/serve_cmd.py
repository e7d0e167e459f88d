"""`smtpwatch serve`: the dashboard (HTML pages), ``/metrics`` (Prometheus text format)
and ``/api/…`` (JSON) over the SQLite store that `smtpwatch run` fills, read-only, on
127.0.0.1 by default.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from smtpwatch.cli.main import UsageError

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from smtpwatch.local.web import ServeConfig

__all__ = [
    "PASSWORD_ENV",
    "add_arguments",
    "check_listen",
    "is_loopback",
    "parse_listen",
    "read_password",
    "run",
    "serve_beside",
    "start_server",
]

PASSWORD_ENV = "SMTPWATCH_SERVE_PASSWORD"
_DEFAULT_HOST = "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from smtpwatch.local.web import DEFAULT_PORT

    parser.add_argument(
        "--listen",
        metavar="[ADDR:]PORT",
        default=f"{_DEFAULT_HOST}:{DEFAULT_PORT}",
        help=f"address and port to listen on (default: {_DEFAULT_HOST}:{DEFAULT_PORT}; "
        "an IPv6 address in brackets, [::1]:PORT; port 0 picks a free one)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow an address other than loopback (anyone who can reach it sees every "
        "target; set a password)",
    )
    parser.add_argument(
        "--password-file",
        metavar="PATH",
        help=f"require HTTP basic auth with the password in this file's first line; "
        f"mode 600 (default: ${PASSWORD_ENV} if set; any user name)",
    )
    parser.add_argument(
        "--request-timeout",
        metavar="SECONDS",
        type=float,
        default=10.0,
        help="longest time one connection may take to send its request (default: 10)",
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="SQLite database (default: $SMTPWATCH_DB, else "
        "$XDG_DATA_HOME/smtpwatch/smtpwatch.db or ~/.local/share/smtpwatch/smtpwatch.db)",
    )


def parse_listen(text: str) -> tuple[str, int]:
    """``PORT``, ``ADDR:PORT`` or ``[IPv6]:PORT`` → (address, port); UsageError otherwise.
    The address must be an IP literal or "localhost" (127.0.0.1): no name lookup."""
    host, sep, port_text = text.rpartition(":")
    host = host if sep else _DEFAULT_HOST
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    host = {"": _DEFAULT_HOST, "localhost": _DEFAULT_HOST}.get(host, host)
    try:
        ipaddress.ip_address(host)
        port = int(port_text)
    except ValueError:
        raise UsageError(f"--listen {text!r}: give [ADDR:]PORT with an IP address") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--listen {text!r}: the port must be 0-65535")
    return host, port


def is_loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


def read_password(password_file: str | None) -> str | None:
    """The file's first line, else $SMTPWATCH_SERVE_PASSWORD, else None (no auth)."""
    if password_file:
        from smtpwatch.cli.private_file import read_private_file

        lines = read_private_file("--password-file", password_file).splitlines()
        password = lines[0] if lines else ""
        if not password:
            raise UsageError(f"--password-file {password_file}: the first line is empty")
        return password
    return os.environ.get(PASSWORD_ENV) or None


def check_listen(option: str, listen: str, allow_remote: bool) -> tuple[str, int]:
    """``parse_listen``, and a non-loopback address only with ``allow_remote``."""
    host, port = parse_listen(listen)
    if not is_loopback(host) and not allow_remote:
        raise UsageError(
            f"{option} {listen}: not a loopback address; add --allow-remote to "
            "serve every target's state to the network"
        )
    return host, port


def start_server(
    option: str, listen: str, allow_remote: bool, config: ServeConfig, say: Callable[[str], None]
) -> ThreadingHTTPServer:
    """Check the address (UsageError), bind, and say where it serves (and warn on stderr
    when that is not loopback). The caller runs ``serve_forever``."""
    from smtpwatch.local.web import make_server

    host, port = check_listen(option, listen, allow_remote)
    server = make_server(host, port, config)
    bound_port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    if not is_loopback(host):
        print(
            f"warning: serving on {shown}:{bound_port}, not loopback: anyone who can reach "
            f"it sees every target" + ("" if config.password else " (no password set)"),
            file=sys.stderr,
        )
    say(
        f"serving http://{shown}:{bound_port}/ (dashboard), /metrics and /api/targets "
        f"from {config.db} (read-only)"
    )
    sys.stdout.flush()
    return server


def serve_beside(
    listen: str, allow_remote: bool, db: Path, location: str, say: Callable[[str], None]
) -> Callable[[], None]:
    """`run --serve`: serve ``db`` on a daemon thread, the pages naming the run's
    ``location``; returns the function that stops it."""
    import threading

    from smtpwatch.local.web import ServeConfig

    config = ServeConfig(db, read_password(None), location=location)
    server = start_server("--serve", listen, allow_remote, config, say)
    threading.Thread(target=server.serve_forever, name="serve", daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop


def run(args: argparse.Namespace) -> int:
    from smtpwatch.local.sqlite_store import resolve_db_path
    from smtpwatch.local.target_views import open_readonly
    from smtpwatch.local.web import ServeConfig

    if not args.request_timeout > 0:
        raise UsageError("--request-timeout must be more than 0")
    check_listen("--listen", args.listen, args.allow_remote)  # before the database's errors
    db = resolve_db_path(args.db)
    if not db.exists():
        print(
            f"smtpwatch serve: {db}: no such database (`smtpwatch run` makes it)", file=sys.stderr
        )
        return 2
    try:
        open_readonly(db).close()  # fail now, not at the first scrape
    except Exception as exc:  # sqlite3.Error: imported lazily with the store
        print(f"smtpwatch serve: {db}: {exc}", file=sys.stderr)
        return 2
    config = ServeConfig(db, read_password(args.password_file), args.request_timeout)
    server = start_server("--listen", args.listen, args.allow_remote, config, print)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
