"""The Lambda artifact's architecture check (.ci/artifact_arch.py), and why it can hold.

The functions run on arm64 (Graviton): a compiled module built for x86-64 imports on the
build machine and fails on Lambda. `.ci/aws-lint` runs the checker on the built artifact;
these tests run it on directories holding crafted ELF headers and a real extension module
of this interpreter. The artifact's import check runs x86-64 Python, so it can only cover
pure-Python import paths: the handlers must not import `cryptography` (compiled; the
Google service-account flow imports it when it signs).
"""

from __future__ import annotations

import _ssl
import json
import platform
import shutil
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / ".ci" / "artifact_arch.py"
EM_X86_64, EM_AARCH64 = 0x3E, 0xB7


def _elf(machine: int, *, big_endian: bool = False) -> bytes:
    """A minimal 64-bit ELF header (e_ident, e_type ET_DYN, e_machine), zero-padded."""
    order, data = (">", 2) if big_endian else ("<", 1)
    ident = b"\x7fELF" + bytes([2, data, 1]) + bytes(9)
    return ident + struct.pack(order + "HH", 3, machine) + bytes(44)


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECKER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_aarch64_artifact_passes_and_says_how_many_files_it_read(tmp_path: Path) -> None:
    (tmp_path / "cryptography" / "hazmat" / "bindings").mkdir(parents=True)
    (tmp_path / "cryptography" / "hazmat" / "bindings" / "_rust.abi3.so").write_bytes(
        _elf(EM_AARCH64)
    )
    (tmp_path / "_cffi_backend.cpython-313-aarch64-linux-gnu.so").write_bytes(_elf(EM_AARCH64))
    (tmp_path / "handler.py").write_text("x = 1\n", encoding="utf-8")

    done = _run(tmp_path)

    assert done.returncode == 0, done.stderr
    assert f"{tmp_path}: 2 compiled files, all aarch64" in done.stdout


def test_an_x86_64_module_fails_the_artifact_and_is_named(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "good.abi3.so").write_bytes(_elf(EM_AARCH64))
    (tmp_path / "pkg" / "bad.cpython-313-x86_64-linux-gnu.so").write_bytes(_elf(EM_X86_64))

    done = _run(tmp_path)

    assert done.returncode == 1
    assert (
        f"{tmp_path}/pkg/bad.cpython-313-x86_64-linux-gnu.so: x86_64 (e_machine 0x3E), "
        "expected aarch64 (e_machine 0xB7)"
    ) in done.stderr
    assert "good.abi3.so" not in done.stderr
    assert f"{tmp_path}: 1 of 2 compiled files are not aarch64" in done.stdout


def test_a_real_extension_module_of_this_interpreter_is_read_as_this_machine(
    tmp_path: Path,
) -> None:
    # _ssl is compiled code every CPython here ships: a real header, not a crafted one.
    module = Path(_ssl.__file__)
    shutil.copy(module, tmp_path / module.name)
    host = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower())
    host = host or platform.machine().lower()

    as_host = _run(tmp_path, "--machine", host)
    as_aarch64 = _run(tmp_path)

    assert as_host.returncode == 0, as_host.stderr
    if host == "aarch64":
        assert as_aarch64.returncode == 0, as_aarch64.stderr
    else:
        assert as_aarch64.returncode == 1
        assert f"{tmp_path}/{module.name}: {host} " in as_aarch64.stderr


def test_a_compiled_file_without_the_so_suffix_is_checked_too(tmp_path: Path) -> None:
    # e.g. a bundled executable or a library named lib*.so.3 in a wheel's .libs folder
    (tmp_path / "cffi.libs").mkdir()
    (tmp_path / "cffi.libs" / "libffi-abc.so.8.1.2").write_bytes(_elf(EM_X86_64))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "helper").write_bytes(_elf(EM_X86_64))

    done = _run(tmp_path)

    assert done.returncode == 1
    assert f"{tmp_path}/cffi.libs/libffi-abc.so.8.1.2: x86_64" in done.stderr
    assert f"{tmp_path}/bin/helper: x86_64" in done.stderr


def test_a_so_file_that_is_no_elf_file_fails(tmp_path: Path) -> None:
    (tmp_path / "broken.so").write_bytes(b"<html>a download error page</html>")

    done = _run(tmp_path)

    assert done.returncode == 1
    assert f"{tmp_path}/broken.so: not an ELF file" in done.stderr


def test_a_big_endian_header_is_read_in_its_own_byte_order(tmp_path: Path) -> None:
    (tmp_path / "be.so").write_bytes(_elf(EM_AARCH64, big_endian=True))
    (tmp_path / "le.so").write_bytes(_elf(EM_AARCH64))

    done = _run(tmp_path)

    assert done.returncode == 0, done.stderr
    assert "2 compiled files, all aarch64" in done.stdout


def test_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    done = _run(tmp_path / "no-such-build")

    assert done.returncode == 2
    assert "not a directory" in done.stderr


def test_the_handlers_import_path_loads_no_cryptography() -> None:
    # .ci/aws-lint imports the handlers from the aarch64 artifact with x86-64 Python: any
    # compiled module on that path would fail there (and hide what it checks). cryptography
    # is installed here (trustme needs it), so an eager import would show.
    code = (
        "import importlib, json, sys\n"
        "for name in ('smtpwatch.handlers.probe', 'smtpwatch.handlers.dispatcher',\n"
        "             'smtpwatch.handlers.chat_forwarder'):\n"
        "    importlib.import_module(name)\n"
        "compiled = ('cryptography', 'cffi', '_cffi_backend')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in compiled)))\n"
    )
    env = {
        "TARGETS_TABLE": "t",
        "STATE_TABLE": "s",
        "RESULTS_TABLE": "r",
        "PROBE_FUNCTION_NAME": "p",
        "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
        "SECRETS_PREFIX": "/smtpwatch/",
        "RESULT_RETENTION_DAYS": "30",
        "POWERTOOLS_SERVICE_NAME": "smtpwatch",
        "POWERTOOLS_METRICS_NAMESPACE": "Smtpwatch",
        "SMTPWATCH_TRACING": "false",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
