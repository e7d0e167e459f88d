"""The CLI's one vocabulary: the older spellings every command still accepts, each with
the name it stands for, and the values an option takes when its parser does not list
them (for shell completion). docs/cli-vocabulary.md has the table and the rules.
"""

from __future__ import annotations

from smtpwatch.core.target_validators import DNS_MODES, ENCRYPTIONS, IP_FAMILIES

__all__ = ["ALIASES", "VALUES"]

# alias -> the canonical spelling it stands for. Aliases work wherever the canonical
# name does; help shows them beside it; completion offers only the canonical name.
ALIASES: dict[str, str] = {
    "--timeout-s": "--timeout",
    "--interval-s": "--interval",
    "--recheck-delay-s": "--recheck-delay",
    "--remind-every-s": "--remind-every",
    "--user": "--username",
    "--use-ipv4": "-4",
    "--use-ipv6": "-6",
    "--no-color": "--color never",
}

# option -> the values it takes, where the model checks them rather than argparse (so
# that the model's message names the option).
VALUES: dict[str, tuple[str, ...]] = {
    "--encryption": ENCRYPTIONS,
    "--dns-mode": DNS_MODES,
    "--ip-family": IP_FAMILIES,
}
