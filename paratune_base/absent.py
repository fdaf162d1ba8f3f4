"""Settle, without paying for it, that an optional package is not needed.

pyarrow imports pandas at its first conversion of Python objects and numba
imports scipy when its array maths loads, each only to learn what it may use;
neither is used here, and the imports cost a recorder or an ``analyze`` most
of a second.  Inside ``absent(name)`` that package cannot be imported, as if
it were not installed; outside it imports as usual.
"""
from __future__ import annotations

import importlib.abc
import sys
from contextlib import contextmanager


class _Absent(importlib.abc.MetaPathFinder):
    def __init__(self, package: str):
        self.package = package

    def find_spec(self, name, path=None, target=None):
        if name == self.package or name.startswith(self.package + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@contextmanager
def absent(package: str):
    """Imports of ``package`` (and its submodules) fail inside the block.
    Nothing changes when it is already imported."""
    if package in sys.modules:
        yield
        return
    finder = _Absent(package)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
