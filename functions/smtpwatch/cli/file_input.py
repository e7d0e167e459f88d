"""Reading a file a user named (an import file, a CA bundle) with a size bound.

Never ``read()`` without a limit: ``/dev/zero`` or a FIFO that never ends would fill
memory. Only ``os`` and ``stat`` here: `smtpwatch probe` reads its ``--ca-bundle``
through this module and pays for nothing more.
"""

from __future__ import annotations

import os
import stat
import sys

from smtpwatch.cli.main import UsageError

__all__ = ["MAX_CA_BUNDLE_BYTES", "MAX_DOCUMENT_BYTES", "read_bounded", "size_text"]

MAX_CA_BUNDLE_BYTES = 1024 * 1024  # a CA bundle file: a regular file of at most 1 MiB
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024  # an import file (or stdin): at most 32 MiB


def size_text(limit: int) -> str:
    """``1 MiB``, ``32 MiB`` or ``512 bytes`` for messages."""
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    return f"{limit} bytes"


def read_bounded(path: str, *, limit: int, label: str, regular_only: bool) -> bytes:
    """The bytes of ``path`` (``-``: stdin), refused with a ``UsageError`` naming
    ``label`` when the file is larger than ``limit`` or, with ``regular_only``, not a
    regular file (a device, a FIFO, a directory). At most ``limit + 1`` bytes are read."""
    if path == "-":
        return _checked(sys.stdin.buffer.read(limit + 1), limit, f"{label}: stdin")
    try:
        info = os.stat(path)
        if regular_only and not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{label}: {path} is not a regular file")
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise UsageError(f"{label}: {path} is larger than {size_text(limit)}")
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"{label}: cannot read {path} ({exc.strerror or exc})") from None
    return _checked(data, limit, f"{label}: {path}")


def _checked(data: bytes, limit: int, where: str) -> bytes:
    if len(data) > limit:
        raise UsageError(f"{where} is larger than {size_text(limit)}")
    return data
