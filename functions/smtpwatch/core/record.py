"""``Record``: the base of the value types on ``smtpwatch probe``'s start path.

The rule: a value type on that path (imported when ``smtpwatch probe`` starts) is a
``Record``; every other value type is a frozen dataclass. Fields are ``__slots__`` (in
constructor order) set with ``object.__setattr__`` in a typed ``__init__``; equality,
hash, repr, pickling, immutability, ``replace`` and a ``to_dict`` from the slots come
from here. ``plain`` turns a value into JSON-ready data for both kinds.
"""

from __future__ import annotations

from enum import Enum  # loaded anyway: re imports it

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from typing import Any, Self

__all__ = ["Record", "plain", "slots_dict"]


class Record:
    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied, through the constructor (so validated)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return type(self)(**fields)

    __replace__ = replace

    def to_dict(self) -> dict[str, Any]:
        """Every field by name, in slot order, as plain data. A subclass writes its
        own only where its document differs (and says why)."""
        return slots_dict(self)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__qualname__}({args})"

    def __setattr__(self, name: str, value: object) -> None:
        raise _frozen(name)

    def __delattr__(self, name: str) -> None:
        raise _frozen(name)

    def __getstate__(self) -> tuple[Any, ...]:
        return self._values()

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            object.__setattr__(self, name, value)


def slots_dict(value: object) -> dict[str, Any]:
    """The fields of a ``Record`` or a slotted dataclass by name, in order, as
    ``plain`` data."""
    return {name: plain(getattr(value, name)) for name in value.__slots__}  # type: ignore[attr-defined]


def plain(value: object) -> Any:
    """``value`` as JSON-ready data: a ``Record`` as its ``to_dict()``, an enum as its
    value, a tuple or list as a list of plain values, a dict as a shallow copy."""
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return dict(value)
    return value


def _frozen(name: str) -> AttributeError:
    # Only on misuse: the dataclasses import is paid then, not at every start.
    from dataclasses import FrozenInstanceError

    return FrozenInstanceError(f"cannot assign to field {name!r}")
