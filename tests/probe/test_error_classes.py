"""The probe's exception tree: one class per failure class, named alike."""

from __future__ import annotations

import inspect

from smtpwatch.core import errors
from smtpwatch.core.kinds import ErrorKind


def _probe_error_classes() -> list[type[errors.ProbeError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.ProbeError)
    ]


def test_every_error_kind_has_exactly_one_class() -> None:
    owners: dict[ErrorKind, list[str]] = {kind: [] for kind in ErrorKind}
    for cls in _probe_error_classes():
        if "kind" in vars(cls):
            owners[cls.kind].append(cls.__name__)
    assert {kind: names for kind, names in owners.items() if len(names) != 1} == {}


def test_a_class_without_its_own_kind_is_an_abstract_base() -> None:
    bases = [cls.__name__ for cls in _probe_error_classes() if "kind" not in vars(cls)]
    assert bases == ["TlsError"]
    assert errors.TlsError.__subclasses__()


def test_every_exception_name_ends_in_error_and_has_a_docstring() -> None:
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, Exception) and cls.__module__ == errors.__name__:
            assert name.endswith("Error"), name
            assert cls.__doc__ and "\n" not in cls.__doc__.strip(), name


def test_the_kind_of_each_class_is_an_error_kind_member() -> None:
    for cls in _probe_error_classes():
        assert isinstance(cls.kind, ErrorKind), cls.__name__
        assert cls("x").error_kind is cls.kind
