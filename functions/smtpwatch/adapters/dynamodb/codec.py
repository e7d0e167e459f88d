"""DynamoDB's typed attribute values ↔ plain Python values (the low-level client's form).

One codec for the Lambda functions and the CLI, so an imported item reads back alike.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["from_attr", "from_item", "plain", "to_attr", "to_item"]


def to_attr(value: Any) -> dict[str, Any]:
    """Python value → DynamoDB AttributeValue (JSON-like values only)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        # repr() is the shortest exact text; DynamoDB rejects NaN/inf like JSON does.
        return {"N": repr(value)}
    if isinstance(value, dict):
        return {"M": {str(k): to_attr(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attr(v) for v in value]}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, set | frozenset):
        return {"SS": sorted(str(v) for v in value)}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


def from_attr(av: dict[str, Any]) -> Any:
    """DynamoDB AttributeValue → Python value. Numbers stay ``Decimal`` (the target model
    accepts them, as in a stored item); ``plain()`` turns them into int/float for JSON."""
    ((kind, raw),) = av.items()
    if kind == "S":
        return raw
    if kind == "N":
        return Decimal(raw)
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attr(v) for k, v in raw.items()}
    if kind == "L":
        return [from_attr(v) for v in raw]
    if kind == "SS":
        return list(raw)
    if kind == "NS":
        return [Decimal(v) for v in raw]
    if kind == "B":
        return bytes(raw)
    if kind == "BS":
        return [bytes(v) for v in raw]
    raise TypeError(f"unknown DynamoDB type {kind}")


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: from_attr(v) for k, v in item.items()}


def plain(value: Any) -> Any:
    """Decimals → int (when integral) or float, recursively: what ``from_dict``s expect."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
