"""Opening a store where its directory cannot be made says why, in one line that names
the path and the system's reason (what `smtpwatch` then prints)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtpwatch.local.sqlite_store import SqliteStore, StoreError


def test_a_parent_that_is_a_file_is_named_with_the_reason(tmp_path: Path) -> None:
    plain = tmp_path / "plain-file"
    plain.write_text("not a directory\n")
    db = plain / "sub" / "x.db"
    with pytest.raises(StoreError) as caught:
        SqliteStore(db)
    assert str(caught.value) == f"{db}: cannot make its directory (Not a directory)"
