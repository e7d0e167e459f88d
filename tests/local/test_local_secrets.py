"""Local secrets: env:, file: (user-only store, bound to hosts), refusal texts without secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smtpwatch.core.errors import SecretError
from smtpwatch.local.secrets import FileSecretStore, LocalSecretResolver

PASSWORD = "s3cr3t-Pa55-word"


@pytest.fixture
def files(tmp_path: Path) -> FileSecretStore:
    return FileSecretStore(tmp_path / "secrets")


def test_env_ref_reads_the_variable() -> None:
    resolver = LocalSecretResolver(environ={"MX_PW": PASSWORD})
    assert resolver.resolve("env:MX_PW", host="mx1.example.com") == PASSWORD


def test_missing_env_variable_is_a_secret_error_naming_it() -> None:
    resolver = LocalSecretResolver(environ={})
    with pytest.raises(SecretError, match="MX_PW is not set"):
        resolver.resolve("env:MX_PW", host="mx1.example.com")


def test_stored_file_secret_is_user_only_and_resolves_for_its_host(
    files: FileSecretStore,
) -> None:
    ref = files.store(target_id="mx1", host="mx1.example.com", password=PASSWORD)
    assert ref == "file:mx1"
    assert files.directory.stat().st_mode & 0o777 == 0o700
    assert (files.directory / "mx1").stat().st_mode & 0o777 == 0o600
    resolver = LocalSecretResolver(files=files)
    assert resolver.resolve(ref, host="MX1.example.com.") == PASSWORD


def test_file_secret_is_refused_for_another_host_without_leaking_it(
    files: FileSecretStore,
) -> None:
    ref = files.store(target_id="mx1", host="mx1.example.com", password=PASSWORD)
    with pytest.raises(SecretError) as info:
        LocalSecretResolver(files=files).resolve(ref, host="evil.example.net")
    assert "evil.example.net" in str(info.value)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize(
    ("dir_mode", "file_mode", "needle"),
    [(0o700, 0o644, "chmod 600"), (0o755, 0o600, "chmod 700"), (0o700, 0o640, "0640")],
)
def test_file_secret_with_loose_permissions_is_refused(
    files: FileSecretStore, dir_mode: int, file_mode: int, needle: str
) -> None:
    files.store(target_id="mx1", host="mx1.example.com", password=PASSWORD)
    os.chmod(files.directory / "mx1", file_mode)
    os.chmod(files.directory, dir_mode)
    with pytest.raises(SecretError, match="refusing to read") as info:
        LocalSecretResolver(files=files).resolve("file:mx1", host="mx1.example.com")
    assert needle in str(info.value)
    assert PASSWORD not in str(info.value)


def test_hand_written_bare_password_file_is_accepted_unbound(files: FileSecretStore) -> None:
    files.directory.mkdir(mode=0o700)
    path = files.directory / "handmade"
    path.write_text(PASSWORD + "\n")
    os.chmod(path, 0o600)
    assert LocalSecretResolver(files=files).resolve("file:handmade", host="any") == PASSWORD


@pytest.mark.parametrize("ref", ["file:../etc/passwd", "file:.hidden", "file:a/b"])
def test_file_ids_cannot_escape_the_store(files: FileSecretStore, ref: str) -> None:
    with pytest.raises(SecretError, match="secret id"):
        LocalSecretResolver(files=files).resolve(ref, host="h")


@pytest.mark.parametrize("ref", ["nothing", "vault:x", "env:"])
def test_malformed_reference_is_refused(ref: str) -> None:
    with pytest.raises(SecretError):
        LocalSecretResolver(environ={}).resolve(ref, host="h")


def test_refresh_rereads_a_rotated_secret(files: FileSecretStore) -> None:
    files.store(target_id="mx1", host="h", password="old")
    resolver = LocalSecretResolver(files=files)
    assert resolver.resolve("file:mx1", host="h") == "old"
    files.store(target_id="mx1", host="h", password="new")
    assert resolver.resolve("file:mx1", host="h") == "old"  # cached
    assert resolver.resolve("file:mx1", host="h", refresh=True) == "new"
    assert files.delete("file:mx1") is True
    assert files.delete("file:mx1") is False
