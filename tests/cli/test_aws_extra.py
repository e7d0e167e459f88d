"""Without the `aws` extra (boto3, Powertools) the CLI still probes and runs locally, and
an AWS option says in one line which extra it needs — never a traceback.

The interpreter here sees this environment's packages minus boto3, botocore and
Powertools: a directory of links to everything else, with `python -S` so that the
real site-packages is not on the path. Python finds no such module, exactly as after
`pip install smtpwatch`. (tests/test_install_modes.py installs the real wheel.)
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import smtpwatch
from smtpwatch.testing.servers import SmtpServer

AWS_TOPS = ("boto3", "botocore", "aws_lambda_powertools")
EXTRA_HINT = "needs the AWS extra: pip install 'smtpwatch[aws]'"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"


def _is_aws(entry: str) -> bool:
    top = entry.split("-", 1)[0].split(".", 1)[0].lower()
    return top in AWS_TOPS


@pytest.fixture(scope="module")
def no_aws_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PYTHONPATH for `python -S`: the package's source and links to every installed
    distribution except the AWS ones."""
    links = tmp_path_factory.mktemp("site-without-aws")
    for packages in site.getsitepackages():
        for entry in os.listdir(packages):
            if not _is_aws(entry) and not (links / entry).exists():
                (links / entry).symlink_to(Path(packages) / entry)
    source = Path(smtpwatch.__file__).resolve().parents[1]
    return os.pathsep.join([str(source), str(links)])


class Cli:
    def __init__(self, pythonpath: str, tmp_path: Path) -> None:
        self.db = tmp_path / "smtpwatch.db"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "SMTPWATCH_", "PYTHON")) and k != "XDG_DATA_HOME"
        }
        self.env |= {
            "PYTHONPATH": pythonpath,
            "XDG_DATA_HOME": str(tmp_path / "xdg"),
            "SMTPWATCH_SECRETS_DIR": str(tmp_path / "secrets"),
            "SMTPWATCH_DB": str(self.db),  # the local store, where a command uses one
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # were AWS reached, it goes nowhere
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-S", "-m", "smtpwatch", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )


@pytest.fixture
def cli(no_aws_path: str, tmp_path: Path) -> Cli:
    return Cli(no_aws_path, tmp_path)


def test_the_interpreter_really_has_no_aws_packages(cli: Cli) -> None:
    proc = subprocess.run(
        [sys.executable, "-S", "-c", "import boto3"],
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "No module named 'boto3'" in proc.stderr


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("targets", "list", "--stack", "prod"), "--stack"),
        (("targets", "add", "mx", "mx.example.com", "--table", "t"), "--table"),
        (("status", "--stack", "prod"), "--stack"),
        (("history", "mx", "--table", "t", "--results-table", "r"), "--table"),
        (("alerts", "test", "--stack", "prod"), "--stack"),
        (("alerts", "test", "--sns-topic-arn", TOPIC), "--sns-topic-arn"),
        (("run", "--once", "--sns-topic-arn", TOPIC), "--sns-topic-arn"),
        (("run", "--once", "--secrets-prefix", "/smtpwatch/"), "--secrets-prefix"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v[:2]),
)
def test_an_aws_option_without_the_extra_says_so_in_one_line(
    cli: Cli, args: tuple[str, ...], option: str
) -> None:
    # WHEN a command is asked for an AWS feature in an install without the aws extra
    proc = cli(*args)
    # THEN one line names the option and the install command: exit 3 (bad usage)
    assert proc.stderr == f"smtpwatch: {option} {EXTRA_HINT}\n"
    assert proc.returncode == 3
    assert proc.stdout == ""
    # AND nothing was done: not even the local database was created
    assert not cli.db.exists()


def test_probe_and_local_mode_work_without_the_extra(
    cli: Cli, smtp_server: Callable[..., SmtpServer]
) -> None:
    # GIVEN a plain SMTP server on loopback
    server = smtp_server()
    address = f"127.0.0.1:{server.port}"
    # WHEN it is probed, added as a local target, checked once, and reported on
    probe = cli("probe", address, "--encryption", "none")
    added = cli("targets", "add", "mx", address, "--encryption", "none")
    listed = cli("targets", "list")
    ran = cli("run", "--once")
    status = cli("status")
    history = cli("history", "mx")
    outbox = cli("alerts", "list")
    version = cli("--version")
    # THEN each works as with the extra
    for proc in (probe, added, listed, ran, status, history, outbox, version):
        assert proc.returncode == 0, (proc.args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert probe.stdout.startswith("SMTP OK")
    assert "mx" in listed.stdout and address in listed.stdout
    assert added.stdout.startswith(f"added mx ({address})")
    assert "swept 1 target" in ran.stdout and "1 ok" in ran.stdout
    assert "1 target: 1 up" in status.stdout
    assert "uptime 100.00% over 1 check" in history.stdout
    assert outbox.stdout.startswith("no alerts recorded")
    assert version.stdout == f"{smtpwatch.__version__}\n"


def test_an_aws_password_ref_without_the_extra_is_that_targets_config_error(
    cli: Cli, smtp_server: Callable[..., SmtpServer]
) -> None:
    # GIVEN a local target whose password is in SSM, the prefix set in the environment
    server = smtp_server(credentials={"u": "p"})
    address = f"127.0.0.1:{server.port}"
    cli.env["SMTPWATCH_SECRETS_PREFIX"] = "/smtpwatch/"
    ref = "ssm:/smtpwatch/mx"
    added = cli(
        "targets", "add", "mx", address, "--encryption", "none", "--allow-plaintext-auth",
        "--username", "u", "--password-ref", ref,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    # WHEN it is checked in an install without the aws extra
    ran = cli("run", "--once")
    status = cli("status", "--json")
    # THEN the check fails as a configuration error naming the extra, no traceback
    assert "Traceback" not in ran.stderr + status.stderr
    message = f"{ref}: AWS secrets need the AWS extra: pip install 'smtpwatch[aws]'"
    assert message in ran.stdout
    (row,) = json.loads(status.stdout)
    assert row["status"] == "down"
    assert row["error"]["kind"] == "config"
    assert row["error"]["message"] == f"password_ref: {message}"
