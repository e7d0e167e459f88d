"""Mutation-test the modules where a silent bug hurts most, each with its own tests.

    python .ci/mutation.py                      # every module in MODULES
    python .ci/mutation.py core/deadline.py     # one module (path under functions/smtpwatch)
    python .ci/mutation.py --changed-since REV  # only the listed modules a change touched
    python .ci/mutation.py --list               # the modules and their tests

Each module runs in a scratch copy of the checkout (mutmut rewrites the code it
mutates; the checkout is never touched). Prints each module's row and surviving
mutants' diffs as it ends, then the table; exits 1 when a module scores below
--min-score.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "functions/smtpwatch"

# module (under functions/smtpwatch) -> the tests that speak for it. A module split
# into several files is listed by each file; the tests are chosen narrowly so a module
# runs in minutes.
MODULES: dict[str, tuple[str, ...]] = {
    # the AWS address guard
    "adapters/address_guard.py": (
        "tests/aws/test_address_guard.py",
        "tests/aws/test_address_guard_answers.py",
    ),
    # redaction and AUTH
    "core/smtp_auth.py": (
        "tests/probe/test_auth.py",
        "tests/probe/test_auth_outcomes.py",
        "tests/probe/test_hostile_secrets.py",
        "tests/probe/test_auth_honest_server_text.py",
        "tests/probe/test_secrets.py",
        "tests/probe/test_kills_smtp_auth.py",
    ),
    # the deadline
    "core/deadline.py": (
        "tests/probe/test_shared_deadline.py",
        "tests/probe/test_deadline_spent.py",
        "tests/probe/test_failures.py",
    ),
    # TLS verdicts
    "core/tls.py": (
        "tests/probe/test_tls.py",
        "tests/probe/test_tls_facts.py",
        "tests/probe/test_cert_diagnosis.py",
        "tests/probe/test_failures.py",
        "tests/probe/test_scoped_ipv6_tls.py",
        "tests/probe/test_kills_tls.py",
    ),
    "core/probe/cert_diagnosis.py": (
        "tests/probe/test_cert_diagnosis.py",
        "tests/probe/test_cert_diagnosis_details.py",
        "tests/probe/test_tls.py",
        "tests/probe/test_failures.py",
        "tests/probe/test_kills_tls.py",
    ),
    # the alert state machine
    "core/alerting/machine.py": ("tests/test_alerting.py", "tests/test_alerting_details.py"),
    "core/alerting/timing.py": ("tests/test_alerting.py", "tests/test_kills_timing.py"),
    "core/alerting/degraded.py": ("tests/test_alerting.py", "tests/test_kills_degraded.py"),
    # the check service
    "service/check.py": (
        "tests/test_check_service.py",
        "tests/test_check_service_outcomes.py",
        "tests/service/test_votes.py",
        "tests/service/test_votes_quorum.py",
        "tests/test_kills_check.py",
        "tests/test_oauth_check.py",
    ),
    "service/publish.py": ("tests/test_check_service.py", "tests/test_kills_publish.py"),
    "service/probing.py": (
        "tests/test_check_service.py",
        "tests/test_oauth_check.py",
        "tests/test_kills_probing.py",
    ),
    # the schedule
    "core/schedule.py": ("tests/test_schedule.py", "tests/test_schedule_edges.py"),
    # conditional writes: SQLite and DynamoDB
    "local/sqlite_store.py": (
        "tests/local/test_sqlite_store.py",
        "tests/local/test_sqlite_store_reads.py",
        "tests/local/test_sqlite_store_rollup.py",
        "tests/local/test_sqlite_store_open_errors.py",
    ),
    "adapters/dynamodb/state.py": (
        "tests/aws/test_dynamodb_stores.py",
        "tests/aws/test_dynamodb_state_reads.py",
    ),
    # Not the threaded tick-gate tests (under mutmut, moto's table iteration raced with
    # their writer threads) nor the dispatcher's (their log capture swaps the stream of
    # a handler mutmut has closed).
    "adapters/dynamodb/bookkeeping.py": (
        "tests/aws/test_dynamodb_stores.py",
        "tests/aws/test_kills_bookkeeping.py",
        "tests/aws/test_kills_bookkeeping_local.py",
    ),
    # input validation of targets
    "core/target.py": (
        "tests/test_target.py",
        "tests/test_target_fields.py",
        "tests/test_kills_target.py",
    ),
    "core/target_validators.py": (
        "tests/test_target.py",
        "tests/test_input_bounds.py",
        "tests/test_target_validation_edges.py",
    ),
    "core/coerce.py": (
        "tests/test_target.py",
        "tests/test_target_fields.py",
        "tests/test_coerce_edges.py",
    ),
    "core/target_fields.py": (
        "tests/test_target_fields.py",
        "tests/test_target.py",
        "tests/test_kills_target_fields.py",
    ),
    # delivery: signing, the outbox's sender, the webhook
    "core/webhook_signing.py": (
        "tests/local/test_webhook_sender.py",
        "tests/local/test_webhook_secret_forms.py",
    ),
    "local/delivery.py": (
        "tests/local/test_outbox.py",
        "tests/local/test_webhook_sender.py",
        "tests/local/test_sinks.py",
        "tests/local/test_kills_delivery.py",
    ),
    "local/webhook.py": (
        "tests/local/test_webhook_sender.py",
        "tests/local/test_kills_webhook.py",
    ),
    # the degraded gate: local and on AWS
    "service/gate.py": (
        "tests/local/test_gate_episode.py",
        "tests/local/test_gate_targets.py",
        "tests/local/test_gate_max_hold_across_runs.py",
        "tests/local/test_gate_rules.py",
    ),
    # In one thread, no probes: the threaded end-to-end files with real probes took
    # 35 minutes here (they ran for every mutant) and reach no code these do not.
    "adapters/tick_gate.py": ("tests/aws/test_kills_tick_gate.py",),
}


# How many of each module's surviving mutants are equivalent (no test can tell them
# from the code: SQL keywords in another case, a default no caller relies on...);
# docs/mutation.md lists each one and why. The score that must reach --min-score is
# taken over the other mutants. Recount when a module's survivors change.
EQUIVALENT: dict[str, int] = {
    "adapters/address_guard.py": 5,
    "core/smtp_auth.py": 15,
    "core/schedule.py": 11,
    "core/tls.py": 18,
    "core/probe/cert_diagnosis.py": 7,
    "core/alerting/machine.py": 25,
    "service/check.py": 14,
    "local/sqlite_store.py": 70,
    "adapters/dynamodb/state.py": 8,
    "core/webhook_signing.py": 4,
    "service/gate.py": 1,
    "core/target_validators.py": 8,
    "core/coerce.py": 5,
    "local/delivery.py": 9,
    "service/publish.py": 1,
    "local/webhook.py": 41,
    "adapters/dynamodb/bookkeeping.py": 21,
    "core/target.py": 7,
    "core/alerting/degraded.py": 1,
    "core/alerting/timing.py": 3,
    "adapters/tick_gate.py": 6,
}


@dataclass
class Score:
    module: str
    killed: int
    survived: int
    timeout: int
    no_tests: int
    total: int
    seconds: float
    survivors: list[str]
    equivalent: int = 0

    @property
    def percent(self) -> float:
        """Caught mutants of all: a timeout is caught (the tests noticed, by never
        finishing); a mutant no test reaches counts against the score."""
        caught = self.killed + self.timeout
        return 100.0 * caught / self.total if self.total else 100.0

    @property
    def net_percent(self) -> float:
        """Caught mutants of those that are not equivalent."""
        caught = self.killed + self.timeout
        rest = self.total - min(self.equivalent, self.total - caught)
        return 100.0 * caught / rest if rest else 100.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="paths under functions/smtpwatch")
    parser.add_argument("--changed-since", metavar="REV", help="only modules changed since REV")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests")
    parser.add_argument("--max-children", type=int, default=1, help="mutmut workers (default 1)")
    parser.add_argument("--min-score", type=float, default=90.0, help="percent (default 90)")
    parser.add_argument("--json", metavar="FILE", help="also write the scores as JSON")
    args = parser.parse_args(argv)

    if args.list:
        for module, tests in MODULES.items():
            print(f"{module}: {' '.join(tests)}")
        return 0
    modules = _selected(args.modules, args.changed_since)
    if not modules:
        print("mutation: no listed module changed; nothing to do")
        return 0
    scores = []
    for module in modules:
        score = _run(module, MODULES[module], args.max_children)
        scores.append(score)
        # A long run shows each module as it ends (row and survivors; JSON so far).
        print(_row(score), *score.survivors, sep="\n\n", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps([s.__dict__ for s in scores], indent=2) + "\n")
    _print_table(scores)
    low = [s.module for s in scores if s.net_percent < args.min_score]
    if low:
        print(f"mutation: below {args.min_score:g}%: {', '.join(low)}")
        return 1
    return 0


def _selected(named: list[str], since: str | None) -> list[str]:
    unknown = [m for m in named if m not in MODULES]
    if unknown:
        sys.exit(f"mutation: not a listed module: {', '.join(unknown)} (see --list)")
    if since is None:
        return named or list(MODULES)
    changed = subprocess.run(
        ["git", "diff", "--name-only", since, "--", PACKAGE],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    touched = {path.removeprefix(PACKAGE + "/") for path in changed}
    return [m for m in (named or MODULES) if m in touched]


def _run(module: str, tests: tuple[str, ...], workers: int) -> Score:
    print(f"== {module} ({len(tests)} test files)", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="smtpwatch-mutation-") as scratch:
        work = Path(scratch) / "checkout"
        _copy_checkout(work)
        # mutmut puts mutants/src first on sys.path, ahead of the installed package.
        (work / "functions").rename(work / "src")
        # setup.cfg, because mutmut reads a list there as one item a line.
        (work / "setup.cfg").write_text(
            "[mutmut]\n"
            "source_paths=src\n"
            f"only_mutate=src/smtpwatch/{module}\n"
            "pytest_add_cli_args_test_selection=\n"
            + "".join(f"    {test}\n" for test in tests)
            + "pytest_add_cli_args=\n    -p\n    no:cacheprovider\n"
            # files the tests read from the checkout (the AWS tests build their tables
            # from the template)
            + "also_copy=\n    template.yaml\n    infra\n"
        )
        mutmut = [sys.executable, "-m", "mutmut"]
        run = subprocess.run(
            [*mutmut, "run", "--max-children", str(workers)],
            cwd=work,
            capture_output=True,
            text=True,
        )
        stats_file = work / "mutants" / "mutmut-cicd-stats.json"
        subprocess.run([*mutmut, "export-cicd-stats"], cwd=work, capture_output=True)
        if run.returncode != 0 or not stats_file.exists():
            # Reported as a score of 0 (the tests did not even pass unmutated); the
            # other modules still run.
            print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
            print(f"mutation: mutmut failed on {module} (exit {run.returncode})", flush=True)
            stats = {"killed": 0, "survived": 0, "timeout": 0, "no_tests": 0, "total": 1}
        else:
            stats = json.loads(stats_file.read_text())
        survivors = _survivors(mutmut, work) if stats_file.exists() else []
    seconds = time.monotonic() - started
    return Score(
        equivalent=EQUIVALENT.get(module, 0),
        module=module,
        killed=stats["killed"],
        survived=stats["survived"],
        timeout=stats["timeout"],
        no_tests=stats["no_tests"],
        total=stats["total"],
        seconds=round(seconds, 1),
        survivors=survivors,
    )


def _copy_checkout(dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = Path(os.fsdecode(raw))
        source = ROOT / rel
        if not source.is_file():  # deleted in the working tree
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / rel)


def _survivors(mutmut: list[str], work: Path) -> list[str]:
    listing = subprocess.run([*mutmut, "results"], cwd=work, capture_output=True, text=True).stdout
    names = [
        line.split(":")[0].strip()
        for line in listing.splitlines()
        if line.rstrip().endswith(("survived", "no tests"))
    ]
    diffs = []
    for name in names:
        shown = subprocess.run(
            [*mutmut, "show", name], cwd=work, capture_output=True, text=True
        ).stdout
        diffs.append(shown.strip())
    return diffs


def _row(s: Score) -> str:
    return (
        f"{s.module:34} {s.killed:6} {s.timeout:7} {s.survived:8} {s.no_tests:8} "
        f"{s.equivalent:5} {s.total:5} {s.percent:5.1f}% {s.net_percent:5.1f}% {s.seconds:5.0f}s"
    )


def _print_table(scores: list[Score]) -> None:
    print()
    print(
        f"{'module':34} {'killed':>6} {'timeout':>7} {'survived':>8} {'no tests':>8} "
        f"{'equiv':>5} {'total':>5} {'score':>6} {'net':>6} {'time':>6}"
    )
    for s in scores:
        print(_row(s))


if __name__ == "__main__":
    sys.exit(main())
