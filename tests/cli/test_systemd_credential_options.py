"""`--webhook-secret-file` takes the signing secret systemd hands to the service in
``$CREDENTIALS_DIRECTORY`` (root's copy, mode 0440 from the ACL mask), and still refuses
the same file anywhere else. Run as root (CI does), to give the file to root's copy owner.
"""

from __future__ import annotations

import argparse
import base64
import os
from pathlib import Path

import pytest

from smtpwatch.cli.delivery_args import add_delivery_arguments, signing_key
from smtpwatch.cli.main import UsageError

KEY = b"0123456789abcdef0123456789abcdef"
SECRET_TEXT = "whsec_" + base64.b64encode(KEY).decode()

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs root to lay out the credentials directory as systemd does",
)


def _args(path: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_delivery_arguments(parser)
    return parser.parse_args(["--webhook-secret-file", str(path)])


def _credential(tmp_path: Path) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    secret = directory / "webhook-secret"
    secret.write_text(SECRET_TEXT + "\n")
    os.chown(secret, 65534, 65534)
    secret.chmod(0o440)
    directory.chmod(0o500)
    return secret


def test_the_signing_secret_from_the_credentials_directory_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = _credential(tmp_path)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(secret.parent))
    assert signing_key(_args(secret)) == KEY


def test_the_same_file_without_systemd_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = _credential(tmp_path)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(UsageError, match="readable by others"):
        signing_key(_args(secret))
