"""Check that every compiled file in a Lambda artifact is built for one CPU (default aarch64).

    python .ci/artifact_arch.py DIR [DIR ...] [--machine aarch64]

A file counts as compiled when its name ends in `.so` (or `.so.N`) or it starts with the
ELF magic. Each one's ELF header is read: e_machine must be the expected machine (EM_AARCH64
0xB7 for Architectures: [arm64]). Exit 0 when all match, 1 naming each file that does not
(another machine, or a `.so` that is no ELF file), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import re
import struct
import sys
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
# e_machine values (System V ABI): the ones a wheel may plausibly carry.
MACHINES = {
    "x86": 0x03,
    "arm": 0x28,
    "x86_64": 0x3E,
    "aarch64": 0xB7,
    "riscv": 0xF3,
    "ppc64": 0x15,
    "s390": 0x16,
}
NAMES = {code: name for name, code in MACHINES.items()}
_SO = re.compile(r"\.so(\.\d+)*$")


def machine_of(header: bytes) -> int | None:
    """e_machine of an ELF header (at least 20 bytes), or None if it is not one."""
    if len(header) < 20 or header[:4] != ELF_MAGIC:
        return None
    order = {1: "<", 2: ">"}.get(header[5])  # EI_DATA: 1 little-endian, 2 big-endian
    if order is None:
        return None
    (machine,) = struct.unpack_from(order + "H", header, 18)
    return int(machine)


def _describe(machine: int) -> str:
    return f"{NAMES.get(machine, 'unknown')} (e_machine 0x{machine:02X})"


def check(root: Path, expected: int) -> tuple[int, list[str]]:
    """(compiled files seen, one problem line per file that is not for `expected`)."""
    seen, problems = 0, []
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = Path(dirpath, name)
            if path.is_symlink() or not path.is_file():
                continue
            with path.open("rb") as fh:
                header = fh.read(64)
            named_so = _SO.search(name) is not None
            if not named_so and header[:4] != ELF_MAGIC:
                continue
            seen += 1
            rel = path.relative_to(root)
            machine = machine_of(header)
            if machine is None:
                problems.append(f"{rel}: not an ELF file")
            elif machine != expected:
                problems.append(f"{rel}: {_describe(machine)}, expected {_describe(expected)}")
    return seen, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR")
    parser.add_argument("--machine", choices=sorted(MACHINES), default="aarch64")
    args = parser.parse_args(argv)
    expected = MACHINES[args.machine]
    failed = False
    for root in args.dirs:
        if not root.is_dir():
            parser.error(f"{root}: not a directory")
        seen, problems = check(root, expected)
        for line in problems:
            print(f"{root}/{line}", file=sys.stderr)
        if problems:
            failed = True
            print(f"{root}: {len(problems)} of {seen} compiled files are not {args.machine}")
        else:
            print(f"{root}: {seen} compiled files, all {args.machine}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
