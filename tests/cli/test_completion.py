"""`smtpwatch completion bash|zsh|fish` prints a script the shell loads and that offers
what a user types next: commands, `targets` actions, the canonical option names (not
their aliases) and an option's values. Bash and fish are asked for the candidates
themselves, zsh through a line typed with TAB in a pty. Each shell's tests skip when the
shell is not installed; zsh's and fish's are marked `once` (CI installs both)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_probe_startup import imported_modules

from smtpwatch.cli.main import COMMANDS
from smtpwatch.testing.servers import SmtpServer


def script(shell: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "smtpwatch", "completion", shell],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def needs(shell: str) -> str:
    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"{shell} is not installed (apt-get install {shell})")
    return path


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "smtpwatch.bash"
    path.write_text(script("bash"), encoding="utf-8")
    return path


def bash_candidates(loaded: Path, line: str) -> list[str]:
    """What bash's completion function offers for ``line`` (the cursor at its end),
    called the way bash calls it on TAB: COMP_WORDS split as bash splits them."""
    code = f"""
source {loaded}
complete -p smtpwatch >&2
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
split="${{COMP_LINE//=/ = }}"  # bash breaks words at = too (COMP_WORDBREAKS)
read -r -a COMP_WORDS <<< "$split"
[[ $split == *' ' ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
func=$(complete -p smtpwatch | sed -E 's/.*-F ([^ ]+).*/\\1/')
"$func" smtpwatch "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(
        [needs("bash"), "--norc", "--noprofile", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "complete -F _smtpwatch smtpwatch"
    return sorted(word for word in done.stdout.splitlines() if word)


def test_the_bash_script_parses(bash_script: Path) -> None:
    done = subprocess.run([needs("bash"), "-n", str(bash_script)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_bash_completes_a_command_and_an_option(bash_script: Path) -> None:
    assert bash_candidates(bash_script, "smtpwatch tar") == ["targets"]
    assert bash_candidates(bash_script, "smtpwatch probe --enc") == ["--encryption"]


def test_bash_offers_every_command_and_every_targets_action(bash_script: Path) -> None:
    offered = bash_candidates(bash_script, "smtpwatch ")
    assert set(COMMANDS) <= set(offered)
    actions = bash_candidates(bash_script, "smtpwatch targets ")
    assert {"add", "update", "list", "show", "remove", "enable", "disable", "import"} <= set(
        actions
    )


def test_bash_offers_an_options_values(bash_script: Path) -> None:
    assert bash_candidates(bash_script, "smtpwatch probe --encryption ") == [
        "auto", "explicit", "implicit", "none",
    ]  # fmt: skip
    assert bash_candidates(bash_script, "smtpwatch probe --encryption=im") == ["implicit"]
    assert bash_candidates(bash_script, "smtpwatch targets add --ip-family ") == [
        "any", "ipv4", "ipv6",
    ]  # fmt: skip
    assert bash_candidates(bash_script, "smtpwatch history --color ") == [
        "always", "auto", "never",
    ]  # fmt: skip
    assert bash_candidates(bash_script, "smtpwatch completion ") == ["bash", "fish", "zsh"]


def test_bash_offers_the_canonical_name_not_the_alias(bash_script: Path) -> None:
    # --timeout-s, --interval-s and --user still work (tests/cli/test_vocabulary.py);
    # completion teaches the one name.
    assert bash_candidates(bash_script, "smtpwatch targets add --timeo") == ["--timeout"]
    assert bash_candidates(bash_script, "smtpwatch targets update --interv") == ["--interval"]
    assert bash_candidates(bash_script, "smtpwatch probe --user") == ["--username"]
    assert bash_candidates(bash_script, "smtpwatch demo --no-") == []


def test_bash_completes_file_names_for_a_path(bash_script: Path, tmp_path: Path) -> None:
    (tmp_path / "targets.yaml").write_text("[]\n", encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert bash_candidates(bash_script, "smtpwatch targets import targ") == ["targets.yaml"]
        assert bash_candidates(bash_script, "smtpwatch status --db targ") == ["targets.yaml"]
    finally:
        os.chdir(cwd)


@pytest.mark.once
def test_the_zsh_script_parses() -> None:
    zsh = needs("zsh")
    text = script("zsh")
    assert text.startswith("#compdef smtpwatch\n")
    done = subprocess.run([zsh, "-n"], input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # Loaded into an interactive-style zsh with its completion system, it registers.
    code = (
        "autoload -Uz compinit && compinit -u -D\nsource /dev/stdin\nprint -r -- $_comps[smtpwatch]"
    )
    done = subprocess.run(
        [zsh, "-f", "-c", code], input=text, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "_smtpwatch"


# A zsh in a pty (zpty) with the completion system and the script loaded, where
# `smtpwatch` is a function that prints its arguments: each line is typed with a TAB
# after it, then Enter, so the printed arguments are what completion made of the line.
ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z 'PS1="%% "; autoload -Uz compinit; compinit -u -D; source '${(q)1}'; '\
'smtpwatch() { print -r -- "ARGS:[$*]" }'
for line in "${@[2,-1]}"; do
  zpty -w -n z "$line"$'\t'
  zpty -w -n z $'\n'
done
zpty -w z 'exit'
out=""
while zpty -r z chunk; do out+=$chunk; done
print -r -- "$out" | grep -a -o 'ARGS:\[[^]]*\]' | tail -n +2
"""


def zsh_completed(loaded: Path, *lines: str) -> list[str]:
    driver = loaded.with_name("driver.zsh")
    driver.write_text(ZSH_DRIVER, encoding="utf-8")
    done = subprocess.run(
        [needs("zsh"), "-f", str(driver), str(loaded), *lines],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [row[len("ARGS:[") : -1] for row in done.stdout.splitlines()]


@pytest.mark.once
def test_zsh_completes_commands_options_values_and_files(tmp_path: Path) -> None:
    loaded = tmp_path / "_smtpwatch"
    loaded.write_text(script("zsh"), encoding="utf-8")
    (tmp_path / "targets.yaml").write_text("[]\n", encoding="utf-8")
    typed = [
        "smtpwatch tar",
        "smtpwatch probe --enc",  # an option where HOST[:PORT] could also go
        "smtpwatch probe --encryption=imp",
        "smtpwatch targets add mx1 mx1.example.com --ip-family ipv",  # two: no insert
        "smtpwatch targets add mx1 mx1.example.com --ip-family ipv6 --recheck-d",
        f"smtpwatch targets import {tmp_path}/targ",
        "smtpwatch completion fi",
    ]
    assert zsh_completed(loaded, *typed) == [
        "targets",
        "probe --encryption",
        "probe --encryption=implicit",
        "targets add mx1 mx1.example.com --ip-family ipv",
        "targets add mx1 mx1.example.com --ip-family ipv6 --recheck-delay",
        f"targets import {tmp_path}/targets.yaml",
        "completion fish",
    ]


def fish_candidates(loaded: Path, line: str) -> list[str]:
    code = f"source {loaded}; complete -C{line!r}"
    done = subprocess.run(
        [needs("fish"), "--no-config", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return sorted(row.split("\t")[0] for row in done.stdout.splitlines() if row)


@pytest.mark.once
def test_the_fish_script_parses_and_completes(tmp_path: Path) -> None:
    fish = needs("fish")
    loaded = tmp_path / "smtpwatch.fish"
    loaded.write_text(script("fish"), encoding="utf-8")
    done = subprocess.run([fish, "-n", str(loaded)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert fish_candidates(loaded, "smtpwatch tar") == ["targets"]
    assert fish_candidates(loaded, "smtpwatch probe --enc") == ["--encryption"]
    assert fish_candidates(loaded, "smtpwatch targets add --ip-family ") == [
        "any", "ipv4", "ipv6",
    ]  # fmt: skip
    assert "import" in fish_candidates(loaded, "smtpwatch targets ")


def test_probe_loads_nothing_of_completion_or_colour(
    smtp_server: Callable[..., SmtpServer],
) -> None:
    # `smtpwatch probe` starts once per check: the completion generator, the vocabulary
    # table and the colour decision are modules it never imports.
    server = smtp_server()
    code, modules = imported_modules(f"127.0.0.1:{server.port}", "--encryption", "none")
    assert code == 0
    assert "smtpwatch.cli.probe_cmd" in modules
    assert (
        not {
            "smtpwatch.cli.completion_cmd",
            "smtpwatch.cli.completion_model",
            "smtpwatch.cli.vocabulary",
            "smtpwatch.cli.color",
            "json",
        }
        & modules
    )
