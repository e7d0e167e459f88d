"""docs/cli.md is generated from the argparse parsers: it must say what the parsers
accept, whichever Python version generates it, and the check CI runs must catch a page
that fell behind an option change."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docs" / "gen_cli_reference.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_cli_reference_is_what_the_parsers_say() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_command_subcommand_and_option_is_on_the_page() -> None:
    from smtpwatch.cli.main import COMMANDS

    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in COMMANDS:
        assert f"## `smtpwatch {command}`" in page
    for action in ("add", "update", "list", "show", "remove", "enable", "disable", "import"):
        assert f"### `smtpwatch targets {action}`" in page
    for option in ("`--encryption MODE`", "`--password-env VAR`", "`--webhook-secret-file PATH`"):
        assert option in page


def test_a_stale_page_fails_the_check_with_a_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    generator = _generator()
    stale = tmp_path / "cli.md"
    stale.write_text(
        generator.render().replace("probe one SMTP server now", "probe a server"), "utf-8"
    )
    monkeypatch.setattr(generator, "PAGE", stale)
    assert generator.main(["--check"]) == 1
    out, err = capsys.readouterr()
    assert "-- [`smtpwatch probe`](#smtpwatch-probe): probe a server" in out
    assert "+- [`smtpwatch probe`](#smtpwatch-probe): probe one SMTP server now" in out
    assert "stale" in err
    # Without --check it rewrites the page, after which the check passes.
    assert generator.main([]) == 0
    assert generator.main(["--check"]) == 0
