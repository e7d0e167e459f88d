"""What shell completion knows of the CLI, read from the argparse parsers themselves:
every command (``targets`` with its actions), its options and what their values are.

Built only by `smtpwatch completion`: no command's start imports this module.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

from smtpwatch.cli.vocabulary import ALIASES, VALUES

__all__ = ["Command", "Option", "Positional", "commands"]

FILE_METAVARS = frozenset({"PATH", "FILE"})


@dataclass(frozen=True)
class Option:
    """One option: its canonical flags, its aliases, and its value (if it takes one)."""

    flags: tuple[str, ...]
    aliases: tuple[str, ...]
    help: str
    takes_value: bool
    metavar: str = ""
    choices: tuple[str, ...] = ()
    files: bool = False
    repeatable: bool = False


@dataclass(frozen=True)
class Positional:
    name: str
    choices: tuple[str, ...] = ()
    files: bool = False


@dataclass
class Command:
    """A command (``probe``) or a ``targets`` action (key ``targets_add``)."""

    key: str
    words: tuple[str, ...]
    help: str
    options: list[Option] = field(default_factory=list)
    positionals: list[Positional] = field(default_factory=list)
    actions: list[Command] = field(default_factory=list)


def commands() -> list[Command]:
    """Every command in ``COMMANDS`` order, each parser built as `smtpwatch` builds it."""
    from smtpwatch.cli.main import COMMANDS, _Parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "1000"  # help texts unwrapped
    try:
        out = []
        for name, (module_name, help_text) in COMMANDS.items():
            module = __import__(module_name, fromlist=["add_arguments"])
            parser = _Parser(prog=f"smtpwatch {name}", description=help_text)
            module.add_arguments(parser)
            out.append(_command(parser, (name,), help_text))
        return out
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def _command(parser: argparse.ArgumentParser, words: tuple[str, ...], help_text: str) -> Command:
    command = Command("_".join(words), words, help_text)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: str(a.help or "") for a in action._choices_actions}
            for name, sub in action.choices.items():
                command.actions.append(_command(sub, (*words, name), helps.get(name, "")))
        elif action.help == argparse.SUPPRESS:
            continue
        elif action.option_strings:
            command.options.append(_option(parser, action))
        else:
            metavar = str(action.metavar or action.dest)
            choices = tuple(str(c) for c in action.choices or ())
            command.positionals.append(Positional(metavar, choices, metavar in FILE_METAVARS))
    return command


def _option(parser: argparse.ArgumentParser, action: argparse.Action) -> Option:
    flags = tuple(f for f in action.option_strings if f not in ALIASES)
    aliases = tuple(f for f in action.option_strings if f in ALIASES)
    choices: tuple[str, ...] = tuple(str(c) for c in action.choices or ())
    for flag in flags:
        choices = choices or VALUES.get(flag, ())
    help_text = parser._get_formatter()._expand_help(action) if action.help else ""
    return Option(
        flags=flags,
        aliases=aliases,
        help=" ".join(help_text.split()),
        takes_value=action.nargs != 0,
        metavar=str(action.metavar or action.dest.upper()),
        choices=choices,
        files=str(action.metavar) in FILE_METAVARS,
        repeatable=isinstance(action, argparse._AppendAction),
    )
