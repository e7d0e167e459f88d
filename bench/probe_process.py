"""Whole process: ``smtpwatch probe`` vs the minimal client run as a script.

What a Nagios/Icinga check costs per run: interpreter start, imports, one probe, exit.
Both sides talk to the same local aiosmtpd server; the probe maps the certificate's
name to 127.0.0.1 with ``--dns-host`` (no DNS), the minimal client connects to
127.0.0.1 and checks the same name. Median wall time of N runs each, alternating.
Prints figures; asserts nothing. Goal: ratio ≤ 1.2.

    .venv/bin/python bench/probe_process.py [-n 40] [--importtime]

``--importtime`` also prints the slowest imports of ``smtpwatch probe``
(``python -X importtime``), cumulative microseconds.

Both sides run from bytecode, as an installed package does: the package and the
minimal client are compiled with ``compileall`` into a temporary
``PYTHONPYCACHEPREFIX`` first (warm-up runs add the standard library's), and
``PYTHONDONTWRITEBYTECODE`` is dropped. A checkout that sets it would otherwise
recompile every smtpwatch module on every start (+30 ms) and measure the checkout,
not the product.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe_inprocess import PASSWORD, USER, server_process
from smtpwatch.testing.servers import DEFAULT_HOSTNAME

HERE = Path(__file__).resolve().parent
PW_VAR = "SMTPWATCH_BENCH_PW"


def run_ms(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms = user + system of the child). CPU time barely moves when other
    processes load the machine; wall time is what a monitoring system waits for."""
    before = _children_cpu_ms()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = (time.perf_counter() - t0) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return wall, _children_cpu_ms() - before


def _children_cpu_ms() -> float:
    # Counts children once they are reaped: the server child is reaped only at the end.
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (ru.ru_utime + ru.ru_stime) * 1000


def compile_bytecode(env: dict[str, str]) -> None:
    """Compile smtpwatch and the minimal client into env's PYTHONPYCACHEPREFIX."""
    import smtpwatch

    package = Path(smtpwatch.__file__).resolve().parent
    cmd = [sys.executable, "-m", "compileall", "-q", str(package), str(HERE / "minimal_client.py")]
    subprocess.run(cmd, env=env, check=True)


def smtpwatch_cmd() -> list[str]:
    # The console script is what a monitoring system runs; fall back to -m.
    script = Path(sys.executable).with_name("smtpwatch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "smtpwatch"]


def commands(mode: str, port: int, ca_file: str, login: bool) -> tuple[list[str], list[str]]:
    probe = [
        *smtpwatch_cmd(),
        "probe",
        f"{DEFAULT_HOSTNAME}:{port}",
        "--encryption",
        mode,
        "--dns-host",
        f"127.0.0.1 {DEFAULT_HOSTNAME}",
        "--ehlo-name",
        "bench.smtpwatch.test",
    ]
    minimal = [sys.executable, str(HERE / "minimal_client.py"), mode, "127.0.0.1", str(port)]
    if mode != "none":
        probe += ["--ca-bundle", ca_file]
        minimal += ["--server-name", DEFAULT_HOSTNAME, "--ca-file", ca_file]
    if login:
        probe += ["--user", USER, "--password-env", PW_VAR, "--auth-methods", "PLAIN"]
        minimal += ["--user", USER, "--password-env", PW_VAR]
    return probe, minimal


Row = tuple[str, float, float, float, float]  # label, wall probe/minimal, CPU probe/minimal


def bench(
    label: str, mode: str, port: int, ca_file: str, login: bool, n: int, env: dict[str, str]
) -> Row:
    probe, minimal = commands(mode, port, ca_file, login)
    for _ in range(3):  # warm the page cache and the bytecode cache
        run_ms(probe, env)
        run_ms(minimal, env)
    p: list[tuple[float, float]] = []
    m: list[tuple[float, float]] = []
    for i in range(n):
        if i % 2:
            p.append(run_ms(probe, env))
            m.append(run_ms(minimal, env))
        else:
            m.append(run_ms(minimal, env))
            p.append(run_ms(probe, env))
    return (
        label,
        statistics.median(x[0] for x in p),
        statistics.median(x[0] for x in m),
        statistics.median(x[1] for x in p),
        statistics.median(x[1] for x in m),
    )


def import_profile(port: int, ca_file: str, env: dict[str, str], top: int = 20) -> None:
    probe, _ = commands("explicit", port, ca_file, True)
    cmd = [sys.executable, "-X", "importtime", *probe]
    if cmd[3:4] == ["-m"]:  # no console script: python -X importtime -m smtpwatch
        cmd = [sys.executable, "-X", "importtime", *probe[1:]]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header, or not an importtime line
        rows.append((int(parts[1]), int(parts[0]), parts[2].rstrip()))
    total_self = sum(r[1] for r in rows)
    print(f"\nslowest imports of `smtpwatch probe` (sum of self times {total_self / 1000:.1f} ms):")
    for cum, own, name in sorted(rows, reverse=True)[:top]:
        print(f"  {cum / 1000:7.1f} ms cumulative {own / 1000:6.1f} ms self  {name}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=40, help="runs per side and mode")
    ap.add_argument("--importtime", action="store_true", help="also profile the imports")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # Installed packages run from compiled bytecode; a checkout with
        # PYTHONDONTWRITEBYTECODE would recompile every module on every run. Cache the
        # bytecode of both sides under tmp (warm-up runs fill it), never in the tree.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update({PW_VAR: PASSWORD, "PYTHONPYCACHEPREFIX": os.path.join(tmp, "pycache")})
        compile_bytecode(env)
        ca_file = os.path.join(tmp, "ca.pem")
        for mode, label in (
            ("explicit", "explicit+AUTH PLAIN"),
            ("implicit", "implicit"),
            ("none", "none"),
        ):
            with server_process(mode) as (port, ca_pem):
                Path(ca_file).write_text(ca_pem, encoding="ascii")
                login = mode == "explicit"
                rows.append(bench(label, mode, port, ca_file, login, args.n, env))
                if args.importtime and login:
                    import_profile(port, ca_file, env)

    print(f"\nwhole process, median of {args.n} runs (Python {sys.version.split()[0]}),")
    print("both sides from bytecode (compileall into a temporary PYTHONPYCACHEPREFIX):")
    print(f"  {'mode':<21} {'wall: smtpwatch':>15} {'minimal':>8} {'ratio':>6}", end="")
    print(f"   {'CPU: smtpwatch':>14} {'minimal':>8} {'ratio':>6}")
    for label, pw, mw, pc, mc in rows:
        print(f"  {label:<21} {pw:>13.1f}ms {mw:>6.1f}ms {pw / mw:>5.2f}x", end="")
        print(f"   {pc:>12.1f}ms {mc:>6.1f}ms {pc / mc:>5.2f}x")
    print("  goal: ratio <= 1.2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
