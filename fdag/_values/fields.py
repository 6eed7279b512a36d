"""The rules of ``@fdag.extract_fields`` values, shared by both engines so that they record the same text.

The function's value must be a dict (or None: every field null); each declared field must be present and of
its type. A value that is not a dict is the function's error; a missing or mistyped field is its node's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fdag._values.calls import return_error
from fdag._values.types import FType, coerce_value


def not_a_dict(value: Any) -> TypeError:
    """The error of an extract_fields function returning something other than a dict or None."""
    return TypeError(f"returned value is a {type(value).__name__} ({value!r}), not a dict of fields")


def missing_field(group: str, field: str) -> LookupError:
    """The error of a declared field absent from the dict the function returned (a ``LookupError``: a
    ``KeyError``'s text would be quoted)."""
    return LookupError(f"{group} returned no field '{field}'")


def field_value(value: dict[Any, Any], group: str, field: str, ftype: FType) -> tuple[Any, BaseException | None]:
    """Field ``field`` of the dict ``value`` in the canonical form of ``ftype``, or null and the error."""
    try:
        raw = value[field]
    except KeyError:
        return None, missing_field(group, field)
    try:
        return coerce_value(raw, ftype), None
    except (TypeError, OverflowError) as exc:
        error = return_error(exc)
        return None, (TypeError(f"field '{field}' {exc}") if isinstance(error, TypeError) else error)


def split_fields(value: Any, group: str, fields: Sequence[tuple[str, FType]]
                 ) -> tuple[list[Any], BaseException | None, list[BaseException | None]]:
    """``(field values, the function's error, each field's error)`` of one returned value."""
    if value is None:
        return [None] * len(fields), None, [None] * len(fields)
    if not isinstance(value, dict):
        return [None] * len(fields), not_a_dict(value), [None] * len(fields)
    values, errors = [], []
    for field, ftype in fields:
        item, error = field_value(value, group, field, ftype)
        values.append(item)
        errors.append(error)
    return values, None, errors
