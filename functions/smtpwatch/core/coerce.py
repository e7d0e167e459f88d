"""Generic coercers for user-typed field values: numbers, booleans, choices, text, lists.

Each takes the field's name first and raises ``ConfigError(name, message)`` naming what
is allowed, never another exception. Numbers may be ``Decimal`` (DynamoDB) or numeric
strings; booleans may be the strings ``"true"`` / ``"false"``. Stdlib only.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping

from smtpwatch.core.errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from decimal import Decimal

__all__ = [
    "CONTROL",
    "PLAIN_LIMIT",
    "is_decimal",
    "is_empty",
    "show",
    "string_list",
    "to_bool",
    "to_choice",
    "to_float",
    "to_int",
    "to_number",
    "to_text",
]

# Control characters (C0, DEL, C1), line and paragraph separators, the bidirectional
# overrides and isolates (text that reads differently from what it is) and lone
# surrogates (not text at all): never in a field that is printed or stored.
CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
PLAIN_LIMIT = 10**18  # below it a whole number prints as digits; compares exactly with a Decimal


def is_empty(value: object) -> bool:
    """None, blank text or an empty collection: a field given this way has its default."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset | dict):
        return len(value) == 0
    return False


def is_decimal(value: object) -> bool:
    # No Decimal exists unless the decimal module was imported (by a caller or here).
    decimal = sys.modules.get("decimal")
    return decimal is not None and isinstance(value, decimal.Decimal)


def to_number(name: str, value: object) -> Decimal:
    """Any accepted numeric spelling as a finite Decimal."""
    # Imported here: plain ints and floats in range never get here (see to_int/to_float),
    # and decimal costs ~1.5 ms at every start of `smtpwatch probe` (bench/import_cost.py).
    from decimal import Decimal, InvalidOperation

    if isinstance(value, bool):
        raise ConfigError(name, "must be a number, not true/false")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(name, "must be a finite number")
        return Decimal(value)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 40:
            raise ConfigError(name, f"{text[:20]!r}… is not a number")
        try:
            number = Decimal(text)
        except (InvalidOperation, ValueError):
            raise ConfigError(name, f"{text!r} is not a number") from None
    else:
        raise ConfigError(name, "must be a number")
    if not number.is_finite():
        raise ConfigError(name, "must be a finite number")
    return number


def to_int(name: str, value: object, low: int, high: int, what: str = "") -> int:
    """A whole number from ``low`` to ``high``; ``what`` replaces the range in messages."""
    if type(value) is int and low <= value <= high:
        return value  # the common case, without Decimal
    number = to_number(name, value)
    allowed = what or f"a whole number from {low} to {high}"
    # Range first: int() of Decimal("1e999999") would be a huge computation.
    if number < low or number > high:
        raise ConfigError(name, f"{_number_text(number)} is out of range; allowed: {allowed}")
    if number != number.to_integral_value():
        raise ConfigError(name, f"{_number_text(number)} is not a whole number; allowed: {allowed}")
    return int(number)


def to_float(name: str, value: object, low: float, high: float) -> float:
    # The common case without Decimal; False for NaN, and infinities are out of range.
    if isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high:
        return float(value)
    from decimal import Decimal

    number = to_number(name, value)
    if number < Decimal(str(low)) or number > Decimal(str(high)):
        raise ConfigError(
            name, f"{_number_text(number)} is out of range; allowed: {low:g} to {high:g}"
        )
    return float(number)


def _number_text(number: Decimal) -> str:
    """A number for a message or a tag: plain digits where whole and not huge."""
    if abs(number) < PLAIN_LIMIT and number == number.to_integral_value():
        return str(int(number))
    text = str(number)
    return text if len(text) <= 24 else text[:23] + "…"


def to_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "true":
            return True
        if text == "false":
            return False
    raise ConfigError(name, "must be true or false")


def to_choice(
    name: str, value: object, choices: tuple[str, ...], aliases: Mapping[str, str]
) -> str:
    """One of ``choices``, case-insensitive, ``-`` read as ``_``, ``aliases`` mapped."""
    if isinstance(value, str):
        text = value.strip().lower().replace("-", "_")
        text = aliases.get(text, text)
        if text in choices:
            return text
    raise ConfigError(name, f"{show(value)} is not allowed; choose one of: {', '.join(choices)}")


def to_text(name: str, value: object, limit: int) -> str:
    """One line of at most ``limit`` characters, stripped, without control characters."""
    if not isinstance(value, str):
        raise ConfigError(name, "must be a string")
    text = value.strip()
    if len(text) > limit:
        raise ConfigError(name, f"is too long (at most {limit} characters)")
    if CONTROL.search(text):
        raise ConfigError(name, "must not contain control characters or line breaks")
    return text


def show(value: object, limit: int = 40) -> str:
    """A bounded repr of user input for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def string_list(name: str, value: object, *, split: str) -> list[object]:
    """A list/set/tuple as a list, or a string split on ``split`` (a regex)."""
    if isinstance(value, str):
        return [p for p in re.split(split, value) if p.strip()]
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, list | tuple):
        return list(value)
    raise ConfigError(name, "must be a list of strings (or one string)")
