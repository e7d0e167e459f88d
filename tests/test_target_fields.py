"""The field table of ``Target``: the typed ``__init__`` and the class annotations (which
mypy reads) agree with it, and every entry is usable on its own (the CLI builds its
options from it)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import smtpwatch.core.target as target_module
from smtpwatch.core.errors import ConfigError
from smtpwatch.core.target import TARGET_FIELDS, Target
from smtpwatch.core.target_fields import DEFAULTS, FIELD_NAMES, FIELDS, KINDS, FieldSpec


def typed_init() -> ast.FunctionDef:
    """The ``__init__`` written for mypy (keyword-only, one parameter per field)."""
    tree = ast.parse(Path(target_module.__file__).read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Target")
    inits = [
        node
        for node in ast.walk(cls)
        if isinstance(node, ast.FunctionDef) and node.name == "__init__" and node.args.kwonlyargs
    ]
    assert len(inits) == 1
    return inits[0]


def class_annotations() -> dict[str, str]:
    return {k: v for k, v in Target.__annotations__.items() if not k.startswith("_")}


def test_the_typed_init_takes_the_fields_of_the_table_in_its_order() -> None:
    # GIVEN the typed __init__ as written  WHEN its keyword parameters are listed
    names = [arg.arg for arg in typed_init().args.kwonlyargs]
    # THEN they are the table's fields, in the table's order
    assert names == list(FIELD_NAMES)


def test_the_typed_init_defaults_are_the_table_defaults() -> None:
    # GIVEN the typed __init__'s defaults, evaluated where they are written
    init = typed_init()
    namespace = vars(target_module)
    for arg, default in zip(init.args.kwonlyargs, init.args.kw_defaults, strict=True):
        assert default is not None, f"{arg.arg} has no default"
        value = eval(ast.unparse(default), namespace)
        expected = DEFAULTS[arg.arg]
        # THEN each is the table's default; tags take None for "no tags" (a dict
        # default in a signature would be shared), which the model reads as {}
        if arg.arg == "tags":
            assert value is None and expected == {}
        else:
            assert value == expected and type(value) is type(expected), arg.arg


def test_the_class_annotations_list_the_table_fields_with_the_init_types() -> None:
    # GIVEN the class annotations and the typed __init__'s parameter annotations
    params = {
        arg.arg: ast.unparse(arg.annotation)
        for arg in typed_init().args.kwonlyargs
        if arg.annotation
    }
    annotations = class_annotations()
    # THEN the class annotates exactly the table's fields, in its order
    assert list(annotations) == list(FIELD_NAMES)
    # AND each field takes the type it holds (tags also take any mapping, or None)
    for name, text in annotations.items():
        if name == "tags":
            assert (text, params[name]) == ("dict[str, str]", "Mapping[str, str] | None")
        else:
            assert params[name] == text, name


def test_slots_defaults_and_field_names_derive_from_the_table() -> None:
    assert Target.__slots__ == FIELD_NAMES == TARGET_FIELDS
    assert tuple(DEFAULTS) == FIELD_NAMES
    assert Target._DEFAULTS is DEFAULTS
    assert all(isinstance(spec, FieldSpec) for spec in FIELDS)


def test_a_target_given_only_its_required_fields_holds_the_table_defaults() -> None:
    # GIVEN only the required fields
    required: dict[str, Any] = {spec.name: "x" for spec in FIELDS if spec.required}
    assert list(required) == ["target_id", "host"]
    target = Target(**required)
    # THEN every other field is its default (the name falls back to the host)
    for spec in FIELDS:
        if spec.required:
            continue
        expected = "x" if spec.name == "name" else spec.default
        assert getattr(target, spec.name) == expected, spec.name


@pytest.mark.parametrize("spec", FIELDS, ids=FIELD_NAMES)
def test_each_normalizer_names_its_field_when_the_value_is_of_no_usable_type(
    spec: FieldSpec,
) -> None:
    # GIVEN a value no field accepts  WHEN the field's normaliser reads it
    with pytest.raises(ConfigError) as caught:
        spec.normalize(object())
    # THEN the error names the field
    assert caught.value.field == spec.name


@pytest.mark.parametrize("spec", FIELDS, ids=FIELD_NAMES)
def test_each_field_has_a_kind_and_a_one_line_help(spec: FieldSpec) -> None:
    assert spec.kind in KINDS
    assert spec.help and "\n" not in spec.help and len(spec.help) <= 120


def test_the_kind_agrees_with_the_default() -> None:
    by_kind: dict[str, Any] = {
        "bool": bool,
        "int": (int, type(None)),
        "float": float,
        "list": tuple,
        "map": dict,
    }
    for spec in FIELDS:
        if spec.kind in by_kind:
            assert isinstance(spec.default, by_kind[spec.kind]), spec.name
