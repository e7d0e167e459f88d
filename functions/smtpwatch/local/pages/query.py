"""The query strings the pages take: ``?state=…&tag=key=value`` on the overview and
``?window=…`` on a target's page. A value the page cannot use is a ``QueryError``
naming the parameter (the server answers 400 with it)."""

from __future__ import annotations

from dataclasses import dataclass

from smtpwatch.core.target_validators import MAX_STORED_TAGS
from smtpwatch.local.page_model import WINDOWS, OverviewRow
from smtpwatch.local.target_views import STATES

__all__ = ["OverviewFilter", "QueryError", "overview_filter", "target_window"]

Query = dict[str, list[str]]  # urllib.parse.parse_qs(..., keep_blank_values=True)
# The longest key=value a stored tag can be: a key of 128 characters, a value of 256.
_TAG_CHARS = 128 + 1 + 256
_SHOWN = 40  # characters of a refused value quoted back


def _shown(value: str) -> str:
    """A refused value as the message quotes it: at most _SHOWN characters."""
    return repr(value) if len(value) <= _SHOWN else repr(value[:_SHOWN]) + "…"


class QueryError(ValueError):
    """A query parameter the page cannot use; ``str()`` is the message for a person."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class OverviewFilter:
    """Targets in any of ``states`` (all when empty) carrying every tag of ``tags``."""

    states: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()

    def matches(self, row: OverviewRow) -> bool:
        view = row.view
        if self.states and view.state not in self.states:
            return False
        return all(view.tags.get(key) == value for key, value in self.tags)

    @property
    def state(self) -> str:
        """The state the form shows as chosen ("" when none or several)."""
        return self.states[0] if len(self.states) == 1 else ""

    @property
    def tag_texts(self) -> list[str]:
        """The tags as the form gives them back ("env=prod"), in the order given."""
        return [f"{key}={value}" for key, value in self.tags]


def _unknown(query: Query, known: tuple[str, ...]) -> None:
    for name in query:
        if name not in known:
            raise QueryError(name, f"unknown parameter; this page takes {', '.join(known)}")


def overview_filter(query: Query) -> OverviewFilter:
    """The overview's filter. Empty values (what the form sends for "any") are no filter."""
    _unknown(query, ("state", "tag"))
    states: list[str] = []
    for value in query.get("state", []):
        if value and value not in STATES:
            choices = ", ".join(STATES)
            raise QueryError("state", f"unknown state {_shown(value)}; choose one of {choices}")
        if value and value not in states:
            states.append(value)
    given = [value for value in query.get("tag", []) if value]
    if len(given) > MAX_STORED_TAGS:
        raise QueryError(
            "tag", f"at most {MAX_STORED_TAGS} tags (a target carries no more); {len(given)} given"
        )
    tags: list[tuple[str, str]] = []
    for value in given:
        if len(value) > _TAG_CHARS:
            raise QueryError(
                "tag", f"{_shown(value)} is longer than a tag can be ({_TAG_CHARS} characters)"
            )
        key, sep, tag_value = value.partition("=")
        if not sep or not key:
            raise QueryError("tag", f"{_shown(value)} is not key=value (for example env=prod)")
        if (key, tag_value) not in tags:
            tags.append((key, tag_value))
    return OverviewFilter(tuple(states), tuple(tags))


def target_window(query: Query) -> str:
    """The window of a target's page: a key of WINDOWS, the first one by default."""
    _unknown(query, ("window",))
    given = query.get("window", [])
    choices = ", ".join(WINDOWS)
    if len(given) > 1:
        raise QueryError("window", f"give one window, not {len(given)}; choose one of {choices}")
    if not given or not given[0]:
        return next(iter(WINDOWS))
    if given[0] not in WINDOWS:
        raise QueryError("window", f"unknown window {_shown(given[0])}; choose one of {choices}")
    return given[0]
