"""smtpwatch: an SMTP server monitor.

``from smtpwatch import Target, probe`` — ``probe(target, *, password=None)`` returns a
``ProbeResult``. Imports are lazy so that light commands (and the dispatcher Lambda)
do not pay for ssl/smtplib/dnspython.
"""

from __future__ import annotations

# typing.TYPE_CHECKING without importing typing (~3.5 ms at every start of the CLI,
# bench/import_cost.py)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ConfigError", "ProbeResult", "Target", "probe"]
__version__ = "0.1.0"  # the one place: the package metadata and --version read it

if TYPE_CHECKING:
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.probe import probe
    from smtpwatch.core.result import ProbeResult
    from smtpwatch.core.target import Target


def __getattr__(name: str) -> Any:
    if name == "Target":
        from smtpwatch.core.target import Target

        return Target
    if name == "probe":
        from smtpwatch.core.probe import probe

        return probe
    if name == "ProbeResult":
        from smtpwatch.core.result import ProbeResult

        return ProbeResult
    if name == "ConfigError":
        from smtpwatch.core.errors import ConfigError

        return ConfigError
    raise AttributeError(name)
