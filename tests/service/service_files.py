"""Reading infra/systemd and infra/docker as their tools do, for the service tests:
the unit's [Service] settings in order (keys repeat), the Dockerfile's instructions."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD_DIR = ROOT / "infra" / "systemd"
DOCKER_DIR = ROOT / "infra" / "docker"
INSTALLED_BIN = "/opt/smtpwatch/bin/smtpwatch"  # where both install smtpwatch


def unit_settings(path: Path, section: str = "Service") -> list[tuple[str, str]]:
    """(key, value) of one section, in order, with continuation lines joined."""
    settings: list[tuple[str, str]] = []
    current = None
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", ";"))):
            continue
        if not pending and line.startswith("["):
            current = line.strip("[]")
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if current == section:
            key, _, value = line.partition("=")
            settings.append((key.strip(), value.strip()))
    return settings


def unit_environment(settings: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value in settings:
        if key == "Environment":
            for item in shlex.split(value):
                name, _, val = item.partition("=")
                env[name] = val
    return env


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        found.append((word.upper(), " ".join(rest.split())))
    return found


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The instructions from the last FROM on: what the image is made of."""
    starts = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    return instructions[starts[-1] :]


def image_environment(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """The ENV values, except those built from another variable ($PATH)."""
    env: dict[str, str] = {}
    for word, arguments in instructions:
        if word == "ENV":
            for item in shlex.split(arguments):
                name, _, value = item.partition("=")
                if "$" not in value:
                    env[name] = value
    return env


def exec_form(arguments: str) -> list[str]:
    """An exec-form (JSON array) argument list; ValueError for the shell form."""
    value = json.loads(arguments)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"not an exec-form array: {arguments}")
    return value


def child_of(parent: int) -> int | None:
    """The pid of a process whose parent is ``parent`` (Linux /proc), if any yet."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            return int(entry.name)
    return None


def smtpwatch_here() -> list[str]:
    """This test environment's `smtpwatch`, standing in for /opt/smtpwatch's."""
    found = shutil.which("smtpwatch", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "smtpwatch"]


def local_argv(argv: list[str]) -> list[str]:
    """``argv`` with the installed smtpwatch replaced by this environment's."""
    if not argv or argv[0] != INSTALLED_BIN:
        raise ValueError(f"expected {INSTALLED_BIN} first: {argv}")
    return [*smtpwatch_here(), *argv[1:]]
