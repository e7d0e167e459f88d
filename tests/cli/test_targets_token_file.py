"""``smtpwatch targets add|update … --token-file PATH`` as a user runs it: the token
source document is stored as the target's secret (like --password-prompt stores a
password) and the target keeps only token_ref. What the user relies on: the stored
secret is the document whole, private, and read back by the checks' resolver bound to
its hosts; a readable file, a document for another host or a broken document is
refused before anything is stored; remove deletes the secret it created."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from targets_helpers import Cli, make_cli

from smtpwatch.core.oauth_token import token_source_of_secret
from smtpwatch.local.secrets import FileSecretStore, LocalSecretResolver
from smtpwatch.local.sqlite_store import SqliteStore

USER = "monitor@contoso.com"
CLIENT_SECRET = "Cl1ent~Secret.Value-never-shown"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return make_cli(tmp_path)


def stored(cli: Cli) -> dict[str, Any]:
    with SqliteStore(cli.db) as store:
        return {str(i["target_id"]): i for i in store.iter_items()}


def document_file(tmp_path: Path, hosts: list[str], mode: int = 0o600, **oauth: Any) -> Path:
    doc = {
        "oauth": {
            "tenant": "contoso.onmicrosoft.com",
            "client_id": "client-1",
            "client_secret": CLIENT_SECRET,
            **oauth,
        },
        "hosts": hosts,
    }
    path = tmp_path / "o365.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    path.chmod(mode)
    return path


def test_add_stores_the_token_source_as_the_targets_secret(cli: Cli, tmp_path: Path) -> None:
    path = document_file(tmp_path, ["smtp.office365.com"])
    out = cli("add", "o365", "smtp.office365.com", "--username", USER, "--token-file", str(path))
    assert out.returncode == 0, out.stderr
    item = stored(cli)["o365"]
    assert (item["login"], item["token_ref"], item["auth_methods"]) == (
        True,
        "file:o365",
        ["XOAUTH2", "OAUTHBEARER"],
    )
    assert "password_ref" not in item
    secret = tmp_path / "secrets" / "o365"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert json.loads(secret.read_text(encoding="utf-8")) == json.loads(path.read_text())
    resolver = LocalSecretResolver(files=FileSecretStore(tmp_path / "secrets"), environ={})
    source = token_source_of_secret(
        resolver.resolve("file:o365", host="smtp.office365.com"), "file:o365"
    )
    assert source.client_id == "client-1"
    assert CLIENT_SECRET not in out.stdout + out.stderr
    removed = cli("remove", "o365")
    assert removed.returncode == 0, removed.stderr
    assert not secret.exists()


@pytest.mark.parametrize(
    ("hosts", "mode", "oauth", "message"),
    [
        (["smtp.office365.com"], 0o644, {}, "other users may read it (chmod 600"),
        (["smtp.attacker.example"], 0o600, {}, "its token may only be sent to"),
        (["smtp.office365.com"], 0o600, {"client_id": None}, "oauth needs client_id"),
    ],
)
def test_a_token_file_that_cannot_be_used_is_refused_before_anything_is_stored(
    cli: Cli, tmp_path: Path, hosts: list[str], mode: int, oauth: dict[str, Any], message: str
) -> None:
    path = document_file(tmp_path, hosts, mode, **oauth)
    out = cli("add", "o365", "smtp.office365.com", "--username", USER, "--token-file", str(path))
    assert out.returncode != 0
    assert message in out.stderr
    assert CLIENT_SECRET not in out.stdout + out.stderr
    assert stored(cli) == {}
    assert not (tmp_path / "secrets" / "o365").exists()


def test_update_turns_a_password_login_into_a_token_login(cli: Cli, tmp_path: Path) -> None:
    added = cli(
        "add",
        "o365",
        "smtp.office365.com",
        "--username",
        USER,
        "--password-env",
        "PW",
        env={"PW": "an-old-password"},
    )
    assert added.returncode == 0, added.stderr
    path = document_file(tmp_path, ["smtp.office365.com"])
    out = cli("update", "o365", "--token-file", str(path))
    assert out.returncode == 0, out.stderr
    item = stored(cli)["o365"]
    assert (item["token_ref"], "password_ref" in item) == ("file:o365", False)
    secret = json.loads((tmp_path / "secrets" / "o365").read_text(encoding="utf-8"))
    assert "password" not in secret and secret["oauth"]["client_id"] == "client-1"
