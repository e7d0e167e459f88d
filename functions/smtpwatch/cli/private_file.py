"""Reading a secret or a list of URLs from a file the command line names.

One rule for every such option: a regular UTF-8 file of at most 64 KiB that no other
user can read (mode 600), or a file systemd handed to this service in a private
``$CREDENTIALS_DIRECTORY``. Errors name the option and the path, never the content.
"""

from __future__ import annotations

import stat
from pathlib import Path

from smtpwatch.cli.main import UsageError
from smtpwatch.local.credentials_dir import in_credentials_directory

__all__ = ["MAX_FILE_BYTES", "read_private_file"]

MAX_FILE_BYTES = 64 * 1024


def read_private_file(option: str, path: str) -> str:
    """The file's text, or a UsageError naming ``option`` and ``path``."""
    file = Path(path).expanduser()
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{option} {path}: not a regular file")
        if info.st_mode & 0o077 and not in_credentials_directory(file):
            raise UsageError(f"{option} {path}: readable by others; chmod 600 {path}")
        if info.st_size > MAX_FILE_BYTES:
            raise UsageError(f"{option} {path}: larger than {MAX_FILE_BYTES // 1024} KiB")
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{option} {path}: not UTF-8 text") from None
