"""Passwords for local runs: ``env:VAR``, ``file:ID``, optionally ``ssm:``/``secretsmanager:``.

``file:ID`` reads ``secrets/ID`` beside the database (``$SMTPWATCH_SECRETS_DIR``
overrides the directory), refusing a directory or file another user owns or any group or
other permission bit; it holds the AWS secrets' document or a bare password.
``ssm:``/``secretsmanager:`` go through ``adapters.aws_secrets`` when
``SMTPWATCH_SECRETS_PREFIX`` is set. No secret value appears in an exception or a repr.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtpwatch.core.errors import SecretError
from smtpwatch.local.credentials_dir import in_credentials_directory
from smtpwatch.local.sqlite_store import data_dir

if TYPE_CHECKING:
    from smtpwatch.adapters.aws_secrets import AwsSecretResolver

__all__ = [
    "FileSecretStore",
    "LocalSecretResolver",
    "default_secrets_dir",
    "host_allowed",
    "parse_document",
]

_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+=-]{0,199}\Z")


def default_secrets_dir(db_path: Path | None = None) -> Path:
    """``$SMTPWATCH_SECRETS_DIR``, else ``secrets`` beside the database ``db_path``
    (else beside the default one, in the data dir). Beside it, so a second database
    (``--db``) keeps its own passwords: adding or removing a target with the same id
    there cannot overwrite or delete the first one's."""
    env = os.environ.get("SMTPWATCH_SECRETS_DIR")
    if env:
        return Path(env).expanduser()
    return (db_path.parent if db_path is not None else data_dir()) / "secrets"


def host_allowed(hosts: list[str] | tuple[str, ...] | None, host: str) -> bool:
    """No list: unbound (the user wrote the secret by hand into the user-only store).
    Else the host must match one entry, as on AWS (``*.d`` = one label + d)."""
    if not hosts:
        return True
    from smtpwatch.adapters.aws_secrets import host_allowed as matches

    return matches(host, hosts)


def _parse_document(text: str, where: str) -> tuple[str, list[str]]:
    """(password, hosts) from a stored value: our JSON document, or a bare password."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc: Any = json.loads(stripped)
        except json.JSONDecodeError:
            raise SecretError(f"{where}: not a valid JSON secret document") from None
        password = doc.get("password") if isinstance(doc, dict) else None
        if isinstance(doc, dict) and "oauth" in doc:
            # A token source's document: handed on whole, hosts included; it must
            # name the hosts its token may be sent to.
            password = stripped
            if not doc.get("hosts"):
                raise SecretError(f"{where}: the token source names no host ('hosts')")
        if not isinstance(password, str) or not password:
            raise SecretError(f"{where}: the JSON document has no 'password' string")
        hosts = doc.get("hosts") or []
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise SecretError(f"{where}: 'hosts' must be a list of host names")
        return password, hosts
    # A bare password: one line, the trailing newline an editor adds is not part of it.
    password = text.rstrip("\r\n")
    if not password:
        raise SecretError(f"{where}: empty")
    return password, []


parse_document = _parse_document  # (password or token source document, hosts)


class FileSecretStore:
    """The user-only directory of ``file:`` secrets (also a ``SecretWriter`` for the CLI)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_secrets_dir()

    def __repr__(self) -> str:
        return f"FileSecretStore({str(self.directory)!r})"

    def _path(self, secret_id: str) -> Path:
        if not _ID.match(secret_id):
            raise SecretError(
                f"file:{secret_id}: a secret id is letters, digits and _ . @ + = - "
                "(no '/', not starting with '.')"
            )
        return self.directory / secret_id

    def _check_private(self, path: Path, *, is_dir: bool) -> None:
        try:
            st = path.stat()
        except FileNotFoundError:
            kind = "secrets directory" if is_dir else "secret"
            raise SecretError(f"{path}: no such {kind}") from None
        if in_credentials_directory(path):
            return  # handed to this service alone by systemd (credentials_dir)
        mode = stat.S_IMODE(st.st_mode)
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise SecretError(f"refusing to read {path}: it belongs to another user")
        if mode & 0o077:
            fix = "700" if is_dir else "600"
            raise SecretError(
                f"refusing to read {path}: mode {mode:04o} lets other users read it "
                f"(chmod {fix} {path})"
            )

    # -- reading -----------------------------------------------------------------

    def read(self, secret_id: str) -> tuple[str, list[str]]:
        """(password, hosts it may be sent to) — refuses loose permissions."""
        path = self._path(secret_id)
        self._check_private(self.directory, is_dir=True)
        self._check_private(path, is_dir=False)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretError(f"{path}: cannot read ({exc.strerror})") from None
        return _parse_document(text, f"file:{secret_id}")

    # -- writing (SecretWriter for `targets add --password-prompt`) ----------------

    def ref_for(self, target_id: str) -> str:
        self._path(target_id)  # validates the id
        return f"file:{target_id}"

    def store(
        self, *, target_id: str, host: str, password: str, document: str | None = None
    ) -> str:
        """Write the secret for ``target_id`` bound to ``host`` (``document``: a token
        source's document, written whole); return its reference."""
        path = self._path(target_id)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)  # mkdir's mode is masked by the umask
        doc = document or json.dumps({"password": password, "hosts": [host]}, separators=(",", ":"))
        tmp = path.with_name(f".{path.name}.tmp")
        # O_EXCL + 0600 from the first byte: the password is never in a readable file;
        # the rename makes the update atomic.
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(doc)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return f"file:{target_id}"

    def delete(self, ref: str) -> bool:
        path = self._path(ref.removeprefix("file:"))
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True


class LocalSecretResolver:
    """``SecretResolver`` for ``smtpwatch run``/``demo``: env, file and (lazily) AWS."""

    def __init__(
        self,
        *,
        files: FileSecretStore | None = None,
        environ: Mapping[str, str] | None = None,
        aws_prefix: str | None = None,
    ) -> None:
        self.files = files or FileSecretStore()
        self._environ = environ if environ is not None else os.environ
        if aws_prefix is None:
            aws_prefix = self._environ.get("SMTPWATCH_SECRETS_PREFIX") or None
        self._aws: AwsSecretResolver | None = None
        if aws_prefix:
            from smtpwatch.adapters.aws_secrets import AwsSecretResolver

            self._aws = AwsSecretResolver(prefix=aws_prefix)
        self._cache: dict[str, tuple[str, list[str]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalSecretResolver(files={self.files!r})"

    def resolve(self, ref: str, *, host: str, refresh: bool = False) -> str:
        scheme, sep, name = ref.partition(":")
        if not sep or not name:
            raise SecretError(
                f"password_ref {ref!r}: expected env:VAR, file:ID, ssm:/path or secretsmanager:name"
            )
        with self._lock:
            cached = None if refresh else self._cache.get(ref)
        if cached is None:
            cached = self._fetch(scheme, name, ref)
            with self._lock:
                self._cache[ref] = cached
        password, hosts = cached
        if not host_allowed(hosts, host):
            token = password.startswith("{") and '"oauth"' in password  # a token source
            raise SecretError(
                f"{ref} may only be sent to {', '.join(hosts)}, not to {host}: "
                f"refusing to send {'its token' if token else 'the password'}"
            )
        return password

    def _fetch(self, scheme: str, name: str, ref: str) -> tuple[str, list[str]]:
        if scheme == "env":
            value = self._environ.get(name)
            if not value:
                raise SecretError(f"{ref}: environment variable {name} is not set")
            if value.lstrip().startswith("{") and '"oauth"' in value:
                return _parse_document(value, ref)  # a token source: bound to its hosts
            return value, []
        if scheme == "file":
            return self.files.read(name)
        if scheme in ("ssm", "secretsmanager"):
            if self._aws is None:
                raise SecretError(
                    f"{ref}: AWS secrets need their prefix: pass --secrets-prefix or set "
                    "SMTPWATCH_SECRETS_PREFIX (the stack's SecretsPrefix)"
                )
            try:
                secret = self._aws.lookup(ref, refresh=True)  # our own cache is in front
            except ModuleNotFoundError:  # Powertools and boto3 come with the aws extra
                raise SecretError(
                    f"{ref}: AWS secrets need the AWS extra: pip install 'smtpwatch[aws]'"
                ) from None
            if not secret.hosts:
                raise SecretError(f"{ref}: the secret names no host it may be sent to")
            return secret.password, list(secret.hosts)
        raise SecretError(
            f"password_ref {ref!r}: unknown scheme {scheme!r} (env:, file:, ssm:, secretsmanager:)"
        )
