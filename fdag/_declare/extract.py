"""``@fdag.extract_fields``: one node per field of the dict a function returns.

Hamilton's ``@extract_fields``: the function returns a dict; each declared field becomes a node of its type. A
field missing from the returned dict, or of another type, is that row's error for that node (null, recorded);
the function's own exception is recorded under the function's name and makes every field null.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fdag._declare.marks import mark
from fdag.errors import DeclarationError, DeclarationTypeError

F = TypeVar("F", bound=Callable[..., Any])
EXTRACT_ATTRIBUTE = "__fdag_extract_fields__"


def extract_fields(fields: Mapping[str, Any]) -> Callable[[F], F]:
    """Make a node of each field of the dict the decorated function returns.

    The function is annotated ``-> dict`` and is not a node itself; each field's node has the declared type.
    A missing or mistyped field is an error of that field's node on that row (null, recorded with the same
    text by both engines); returning ``None`` makes every field null.

    Parameters
    ----------
    fields
        Field name → its type (``{"city": str, "postcode": str | None}``).

    Example::

        import fdag

        @fdag.extract_fields({"city": str, "postcode": str | None})
        def address_parts(address: str) -> dict:
            city, _, postcode = address.partition(",")
            return {"city": city.strip(), "postcode": postcode.strip() or None}
    """
    if not isinstance(fields, Mapping):
        raise DeclarationTypeError("fields", fields, "is not a mapping of field name to type",
                                   "pass e.g. {'city': str, 'postcode': str | None}")
    if not fields:
        raise DeclarationError("fields", {}, "names no field", "pass e.g. {'city': str}")
    for name in fields:
        if not isinstance(name, str) or not name.isidentifier():
            raise DeclarationTypeError("fields", name, "is not a valid field name (a Python identifier)",
                                       "name fields like features, e.g. 'city'")
    declared = dict(fields)

    def declare(func: F) -> F:
        mark(func, "extract_fields", EXTRACT_ATTRIBUTE, declared)
        return func

    return declare
