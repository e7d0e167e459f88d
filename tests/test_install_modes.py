"""The wheel users get, installed as they install it: `pip install smtpwatch` and
`pip install 'smtpwatch[aws]'`, each into a fresh virtual environment, not editable.

The base install must probe and run locally with no AWS package present; the aws
extra brings boto3 and Powertools for --stack/--table, SNS and the Lambda handlers.

Slower than most (a wheel build and two real dependency resolutions: about 10 s
with pip's cache warm), hence the `install` mark: `pytest -m install` runs just this,
`-m "not install"` leaves it out. pip resolves the dependencies from the configured
index, as for a user; its cache makes a second run (the next Python version) fast.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import smtpwatch
from smtpwatch.testing.servers import SmtpServer

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parents[1]
EXTRA_LINE = "smtpwatch: --stack needs the AWS extra: pip install 'smtpwatch[aws]'\n"


def _pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # This interpreter's pip, told which environment to work on (--python): the fresh
    # environments need no pip of their own.
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@dataclass
class Built:
    wheel: Path
    log: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The wheel, built once from a copy of the working tree's package files (in
    pip's isolated build environment, with the setuptools pyproject.toml asks for).
    A copy: setuptools builds in the source tree, and a build/ directory left there
    could carry a deleted module into a later wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    source, out = tmp / "source", tmp / "dist"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "functions",
        source / "functions",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "requirements.txt"),
    )
    proc = _pip("wheel", "--no-deps", "--verbose", "--wheel-dir", str(out), str(source), cwd=tmp)
    (wheel,) = out.glob("smtpwatch-*.whl")
    return Built(wheel, proc.stdout + proc.stderr)


@dataclass
class Installed:
    root: Path
    home: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "SMTPWATCH_", "PYTHON", "VIRTUAL_ENV"))
            and k not in ("XDG_DATA_HOME", "HOME")
        }
        return env | {
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / "data"),
            "SMTPWATCH_DB": str(self.home / "smtpwatch.db"),
            # Were AWS reached, it goes to a closed loopback port, with fake keys.
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def smtpwatch(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bin / "smtpwatch"), *args])

    def python(self, code: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bin / "python"), "-c", code], env)

    def _run(
        self, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        # cwd is the environment's home, never the checkout: only the installed copy
        # can be imported.
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=self.env() | (env or {}),
            cwd=self.home,
            timeout=120,
        )


def _install(tmp: Path, requirement: str) -> Installed:
    root = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(root)
    _pip("--python", str(root / "bin" / "python"), "install", "--quiet", requirement, cwd=tmp)
    home = tmp / "home"
    home.mkdir()
    return Installed(root, home)


@pytest.fixture(scope="module")
def base(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return _install(tmp_path_factory.mktemp("base"), str(built.wheel))


@pytest.fixture(scope="module")
def with_aws(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return _install(tmp_path_factory.mktemp("aws"), f"{built.wheel}[aws]")


@pytest.fixture(scope="module")
def server() -> Iterator[SmtpServer]:
    started = SmtpServer("127.0.0.1").start()
    yield started
    started.stop()


def test_the_wheel_builds_without_deprecation_warnings(built: Built) -> None:
    assert "Building wheel for smtpwatch" in built.log  # the backend's output is here
    assert "deprecat" not in built.log.lower()


def test_the_base_install_holds_no_aws_package(base: Installed) -> None:
    # WHEN the installed package and the AWS SDK are imported in the base environment
    installed = base.python("import smtpwatch; print(smtpwatch.__file__)")
    boto3 = base.python("import boto3")
    powertools = base.python("import aws_lambda_powertools")
    # THEN smtpwatch is the installed copy, and neither AWS package is there
    assert installed.returncode == 0, installed.stderr
    assert Path(installed.stdout.strip()).is_relative_to(base.root)
    assert boto3.returncode == 1 and "No module named 'boto3'" in boto3.stderr
    assert powertools.returncode == 1
    assert "No module named 'aws_lambda_powertools'" in powertools.stderr


def test_the_base_install_probes_and_runs_locally(base: Installed, server: SmtpServer) -> None:
    address = f"127.0.0.1:{server.port}"
    # WHEN a user probes a server, adds it as a local target, checks it once and asks
    probe = base.smtpwatch("probe", address, "--encryption", "none")
    added = base.smtpwatch("targets", "add", "mx", address, "--encryption", "none")
    ran = base.smtpwatch("run", "--once")
    status = base.smtpwatch("status")
    version = base.smtpwatch("--version")
    # THEN each works, with the exit codes and lines a monitoring setup relies on
    for proc in (probe, added, ran, status, version):
        assert proc.returncode == 0, (proc.args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert probe.stdout.startswith("SMTP OK")
    assert added.stdout.startswith(f"added mx ({address})")
    assert "swept 1 target" in ran.stdout and "1 ok" in ran.stdout
    assert "1 target: 1 up" in status.stdout
    assert version.stdout == f"{smtpwatch.__version__}\n"
    assert (base.home / "smtpwatch.db").is_file()


def test_the_installed_metadata_carries_the_packages_version(base: Installed) -> None:
    # One version source: the wheel's metadata is read from smtpwatch.__version__.
    proc = base.python("from importlib.metadata import version; print(version('smtpwatch'))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{smtpwatch.__version__}\n"


def test_the_base_install_has_time_zones_where_the_system_has_none(base: Installed) -> None:
    # GIVEN a machine without a system zone database (Windows, Alpine, distroless):
    # here zoneinfo is pointed at an empty directory instead of /usr/share/zoneinfo
    empty = base.home / "no-zoneinfo"
    empty.mkdir()
    code = (
        "from datetime import datetime, UTC\n"
        "from smtpwatch.core.target import Target\n"
        "from smtpwatch.core.maintenance import in_maintenance\n"
        "window = {'days': ['mon'], 'start': '09:00', 'end': '10:00', 'tz': 'Europe/Berlin'}\n"
        "item = {'target_id': 'mx', 'host': 'mx.example.com', 'maintenance': [window]}\n"
        "target, _ = Target.from_item(item, strict=True)\n"
        "print(in_maintenance(target, datetime(2026, 12, 7, 8, 30, tzinfo=UTC)))\n"
        "import sys; print('tzdata' in sys.modules)\n"
    )
    # WHEN a weekly window in a named zone is evaluated (Monday 09:30 in Berlin)
    proc = base.python(code, PYTHONTZPATH=str(empty))
    # THEN the zone comes from the tzdata package and the window applies
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "True\nTrue\n"


def test_the_base_install_names_the_extra_for_an_aws_option(base: Installed) -> None:
    proc = base.smtpwatch("targets", "list", "--stack", "prod")
    assert proc.returncode == 3
    assert proc.stderr == EXTRA_LINE
    assert proc.stdout == ""


def test_the_base_install_names_the_extra_for_a_notification_url(base: Installed) -> None:
    # GIVEN the install without the notify extra WHEN a notification URL is given
    proc = base.smtpwatch("alerts", "test", "--notify", "json://127.0.0.1:9/")
    # THEN the command stops before sending anything and says what to install
    assert proc.returncode == 3
    assert proc.stderr == (
        "smtpwatch alerts: error: --notify: notifications need Apprise, which is not"
        " installed: pip install 'smtpwatch[notify]'\n"
    )
    assert proc.stdout == ""


def test_the_aws_install_probes_and_reaches_for_aws(
    with_aws: Installed, server: SmtpServer
) -> None:
    # GIVEN the install with the aws extra
    # WHEN the probe runs, the Lambda handlers are imported and --stack is asked for
    probe = with_aws.smtpwatch("probe", f"127.0.0.1:{server.port}", "--encryption", "none")
    handlers = with_aws.python("import smtpwatch.handlers.probe, smtpwatch.handlers.dispatcher")
    stack = with_aws.smtpwatch("targets", "list", "--stack", "prod")
    # THEN the probe passes, the handlers load, and --stack goes to AWS (here a closed
    # loopback port, so it fails as a usage error naming the stack, not the extra)
    assert probe.returncode == 0 and probe.stdout.startswith("SMTP OK"), probe.stderr
    assert handlers.returncode == 0, handlers.stderr
    assert stack.returncode == 3
    assert stack.stderr.startswith("smtpwatch targets list: error: --stack prod: ")
    assert "AWS extra" not in stack.stderr and "Traceback" not in stack.stderr


def test_the_extra_adds_the_aws_packages(with_aws: Installed) -> None:
    proc = with_aws.python("import boto3, botocore, aws_lambda_powertools")
    assert proc.returncode == 0, proc.stderr
