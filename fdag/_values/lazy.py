"""Modules loaded on first use, so that ``import fdag`` in a model service pays only for what it runs."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _Deferred(ModuleType):
    """Stands for a module until its first attribute is read, then imports it and keeps what was read.

    Unlike ``importlib.util.LazyLoader`` it puts nothing in ``sys.modules`` before the import: libraries that test
    ``"numpy" in sys.modules`` (Polars does) must not mistake it for a loaded module.
    """

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(importlib.import_module(self.__name__), attribute)
        setattr(self, attribute, value)
        return value


def lazy_module(name: str) -> Any:
    """``name`` as an object that imports the module on its first attribute access."""
    return _Deferred(name)
