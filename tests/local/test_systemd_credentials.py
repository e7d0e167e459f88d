"""Secrets systemd hands to the service: the copy in ``$CREDENTIALS_DIRECTORY`` belongs
to root and is readable through an ACL (its group bits show the ACL mask), so the
``file:`` store's owner and mode checks must take it, and only it.

Run as root (CI does): the files are given to another user with chown.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smtpwatch.core.errors import SecretError
from smtpwatch.local.secrets import FileSecretStore

NOBODY = 65534

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs root to give the credential files to another user, as systemd does",
)


def _credentials(tmp_path: Path, *, dir_mode: int = 0o500) -> Path:
    """A credentials directory as systemd leaves it: the secret is another user's,
    mode 0440 (an ACL's mask in the group bits)."""
    directory = tmp_path / "credentials" / "smtpwatch.service"
    directory.mkdir(parents=True)
    secret = directory / "mx1"
    secret.write_text('{"password": "s3cret-from-systemd", "hosts": ["mx1.example.com"]}\n')
    os.chown(secret, NOBODY, NOBODY)
    secret.chmod(0o440)
    directory.chmod(dir_mode)
    return directory


def test_the_store_takes_a_credential_systemd_handed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _credentials(tmp_path)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))
    assert FileSecretStore(directory).read("mx1") == ("s3cret-from-systemd", ["mx1.example.com"])


def test_the_same_files_outside_a_credentials_directory_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _credentials(tmp_path)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(SecretError, match="belongs to another user"):
        FileSecretStore(directory).read("mx1")


def test_a_shared_directory_named_as_credentials_directory_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _credentials(tmp_path, dir_mode=0o777)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))
    with pytest.raises(SecretError, match="refusing to read"):
        FileSecretStore(directory).read("mx1")


def test_a_link_out_of_the_credentials_directory_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    loose = elsewhere / "mx1"
    loose.write_text("not-private-at-all\n")
    os.chown(loose, NOBODY, NOBODY)
    loose.chmod(0o444)
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "mx1").symlink_to(loose)
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o500)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    with pytest.raises(SecretError, match="refusing to read"):
        FileSecretStore(secrets).read("mx1")
