"""Benchmark: one sweep of `smtpwatch run --once` over 1,000 targets on loopback.

    .venv/bin/python bench/local_sweep.py [--targets 1000] [--listeners 4] [--concurrency N]

The servers are a small asyncio SMTP responder in this process (greeting, EHLO,
STARTTLS with a trustme certificate, AUTH PLAIN/LOGIN, QUIT) listening on a few
loopback ports, so the figures measure smtpwatch rather than a heavyweight test
server. The targets mix what an operator watches: half `explicit` (STARTTLS, the
certificate verified against the test CA given as `ca_bundle`), a quarter of those
also logging in (password from `env:`), half `none` on a plain port.

`run --once` is a child process; its wall time and peak RSS
(`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`) are printed, with the results the
sweep stored. Goal: within 60 s on 2 cores, RSS <= 150 MB. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PASSWORD = "bench-password"
USER = "bench"


class Responder:
    """A fast, well-behaved SMTP server on loopback ports (asyncio, one thread)."""

    def __init__(self, ctx: ssl.SSLContext, listeners: int) -> None:
        self._ctx = ctx
        self._count = listeners
        self.ports: list[int] = []
        self.sessions = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="responder", daemon=True)

    def start(self) -> Responder:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def serve() -> None:
            for _ in range(self._count):
                server = await asyncio.start_server(self._session, "127.0.0.1", 0, backlog=1024)
                self.ports.append(server.sockets[0].getsockname()[1])
            self._ready.set()

        self._loop.run_until_complete(serve())
        self._loop.run_forever()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        tls = False
        try:
            writer.write(b"220 bench.smtpwatch.test ESMTP ready\r\n")
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb = line.split(b" ", 1)[0].strip().upper()
                if verb in (b"EHLO", b"HELO"):
                    ext = [b"250-bench.smtpwatch.test", b"250-PIPELINING", b"250-SIZE 10240000"]
                    if not tls:
                        ext.append(b"250-STARTTLS")
                    ext.append(b"250-AUTH PLAIN LOGIN")
                    ext.append(b"250 8BITMIME")
                    writer.write(b"\r\n".join(ext) + b"\r\n")
                elif verb == b"STARTTLS":
                    writer.write(b"220 2.0.0 go ahead\r\n")
                    await writer.drain()
                    await writer.start_tls(self._ctx)
                    tls = True
                    continue
                elif verb == b"AUTH":
                    await self._auth(line, reader, writer)
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"250 2.0.0 ok\r\n")
                await writer.drain()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _auth(
        line: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        parts = line.strip().split()
        mech = parts[1].upper() if len(parts) > 1 else b""
        if mech == b"PLAIN":
            blob = parts[2] if len(parts) > 2 else None
            if blob is None:
                writer.write(b"334 \r\n")
                await writer.drain()
                blob = (await reader.readline()).strip()
            fields = base64.b64decode(blob).split(b"\0")
            ok = fields[-2:] == [USER.encode(), PASSWORD.encode()]
        elif mech == b"LOGIN":
            if len(parts) > 2:  # smtplib sends the user name as an initial response
                user = base64.b64decode(parts[2])
            else:
                writer.write(b"334 VXNlcm5hbWU6\r\n")
                await writer.drain()
                user = base64.b64decode((await reader.readline()).strip())
            writer.write(b"334 UGFzc3dvcmQ6\r\n")
            await writer.drain()
            pw = base64.b64decode((await reader.readline()).strip())
            ok = (user, pw) == (USER.encode(), PASSWORD.encode())
        else:
            writer.write(b"504 5.5.4 mechanism not supported\r\n")
            return
        writer.write(b"235 2.7.0 ok\r\n" if ok else b"535 5.7.8 bad credentials\r\n")


def make_targets(n: int, ports: list[int], ca_pem: str) -> list[dict[str, object]]:
    targets: list[dict[str, object]] = []
    for i in range(n):
        item: dict[str, object] = {
            "target_id": f"bench-{i:05d}",
            "host": "127.0.0.1",
            "port": ports[i % len(ports)],
            "timeout_s": 30,
            "interval_s": 60,
            "ehlo_name": "bench.smtpwatch.test",
            "recheck_delay_s": 0,
        }
        if i % 2 == 0:
            item["encryption"] = "explicit"
            item["ca_bundle"] = ca_pem
            if i % 8 == 0:
                item.update(login=True, username=USER, password_ref="env:SMTPWATCH_BENCH_PW")
        else:
            item["encryption"] = "none"
        targets.append(item)
    return targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--listeners", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=None, help="run --concurrency")
    args = parser.parse_args()

    from smtpwatch.local.sqlite_store import SqliteStore
    from smtpwatch.testing.servers import Certificates

    certs = Certificates()
    responder = Responder(certs.valid().server_context(), args.listeners).start()
    with tempfile.TemporaryDirectory(prefix="smtpwatch-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        with SqliteStore(db) as store:
            store.put_items(make_targets(args.targets, responder.ports, certs.ca_pem))
        cmd = [sys.executable, "-m", "smtpwatch", "run", "--once", "--quiet", "--db", str(db)]
        if args.concurrency:
            cmd += ["--concurrency", str(args.concurrency)]
        env = dict(os.environ, SMTPWATCH_BENCH_PW=PASSWORD, XDG_DATA_HOME=tmp)
        started = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        with SqliteStore(db) as store:
            statuses: dict[str, int] = {}
            for item in store.iter_items():
                for result in store.iter_results(str(item["target_id"])):
                    statuses[result.status.value] = statuses.get(result.status.value, 0) + 1
    responder.stop()

    print(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "(no output)")
    if proc.returncode not in (0, 1):
        print(proc.stderr[-2000:], file=sys.stderr)
    figures = {
        "targets": args.targets,
        "listeners": args.listeners,
        "cpus": os.cpu_count(),
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(rss_mb, 1),
        "exit_code": proc.returncode,
        "results": statuses,
        "server_sessions": responder.sessions,
        "goal": "wall_s <= 60 and peak_rss_mb <= 150",
    }
    print(json.dumps(figures))
    print(
        f"run --once over {args.targets} targets: {wall:.1f} s wall, "
        f"peak RSS {rss_mb:.0f} MB (goal: <= 60 s, <= 150 MB); results {statuses}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
