"""``Record``: the base of smtpwatch's small immutable value types.

Equality, hash, repr, pickling and immutability come from ``__slots__`` (the field
names, in constructor order); each subclass writes its typed ``__init__`` and sets
fields with ``object.__setattr__``.

Why not ``@dataclass(frozen=True, slots=True)``: a dataclass generates its methods
with ``exec`` when the class is created (~1 ms per class) and ``dataclasses`` imports
``inspect``, ``ast``, ``dis`` and ``tokenize`` (~7 ms). ``smtpwatch probe`` is a
monitoring-plugin check started once per check, and every class on its path would
cost that at every start. Behaviour kept from frozen dataclasses: assigning or deleting
an attribute raises ``dataclasses.FrozenInstanceError`` (an ``AttributeError``), and
``replace(**changes)`` (also ``copy.replace`` on Python 3.13+) returns a changed copy.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms)
if TYPE_CHECKING:
    from typing import Any, Self

__all__ = ["Record"]


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


def _frozen(name: str) -> AttributeError:
    # Only on misuse: the dataclasses import is paid then, not at every start.
    from dataclasses import FrozenInstanceError

    return FrozenInstanceError(f"cannot assign to field {name!r}")
