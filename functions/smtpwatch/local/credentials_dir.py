"""systemd's credentials directory: secret files the service manager gave this service.

systemd copies each ``LoadCredential=`` file into ``$CREDENTIALS_DIRECTORY``; the copy
belongs to root, with an ACL that lets the service's user read it. The owner and mode
checks on secret files would refuse that copy, so a file whose real path lies inside a
credentials directory that no other user can write or read is taken as private.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["in_credentials_directory"]


def in_credentials_directory(path: Path) -> bool:
    """True when ``path`` (symlinks followed) is inside ``$CREDENTIALS_DIRECTORY`` and
    that directory gives other users nothing and only its owner may write to it."""
    root = os.environ.get("CREDENTIALS_DIRECTORY")
    if not root:
        return False
    try:
        real_root = Path(root).resolve(strict=True)
        real = path.resolve(strict=True)
        mode = stat.S_IMODE(real_root.stat().st_mode)
    except (OSError, RuntimeError):
        return False
    # A variable pointing at a shared directory (/tmp) must not switch the checks off.
    if mode & 0o027:
        return False
    return real == real_root or real_root in real.parents
