"""`--webhook-secret-file`, `--webhook-url-file` and `--notify-file` take the file systemd
hands to the service in ``$CREDENTIALS_DIRECTORY`` (root's copy, mode 0440 from the ACL
mask), and still refuse the same file anywhere else. Run as root (CI does), to give the
file to root's copy owner.
"""

from __future__ import annotations

import argparse
import base64
import os
from pathlib import Path
from typing import Any

import pytest

from smtpwatch.cli.delivery_args import add_delivery_arguments, signing_key, webhook_urls
from smtpwatch.cli.main import UsageError
from smtpwatch.cli.notify_args import notify_urls

KEY = b"0123456789abcdef0123456789abcdef"
SECRET_TEXT = "whsec_" + base64.b64encode(KEY).decode()

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs root to lay out the credentials directory as systemd does",
)


WEBHOOK_URL = "http://127.0.0.1:9/hook?token=url-token"
NOTIFY_URL = "json://monitor:notify-token@127.0.0.1:9/"


def _args(path: Path, option: str = "--webhook-secret-file") -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_delivery_arguments(parser)
    return parser.parse_args([option, str(path)])


def _credential(tmp_path: Path, name: str = "webhook-secret", text: str = SECRET_TEXT) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    secret = directory / name
    secret.write_text(text + "\n")
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


def test_webhook_and_notification_urls_from_the_credentials_directory_are_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = _credential(tmp_path, "webhook-urls", WEBHOOK_URL)
    notify = urls.with_name("notify-urls")
    urls.parent.chmod(0o700)
    notify.write_text(NOTIFY_URL + "\n")
    os.chown(notify, 65534, 65534)
    notify.chmod(0o440)
    urls.parent.chmod(0o500)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(urls.parent))
    assert webhook_urls(_args(urls, "--webhook-url-file")) == [WEBHOOK_URL]
    assert notify_urls(_args(notify, "--notify-file")) == [(f"--notify-file {notify}", NOTIFY_URL)]


@pytest.mark.parametrize(
    ("option", "read"), [("--webhook-url-file", webhook_urls), ("--notify-file", notify_urls)]
)
def test_the_same_url_file_without_systemd_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, read: Any
) -> None:
    urls = _credential(tmp_path, "urls", WEBHOOK_URL)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(UsageError, match=f"{option} {urls}: readable by others; chmod 600"):
        read(_args(urls, option))
