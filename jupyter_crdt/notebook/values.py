"""Strict equality of plain JSON values: ``True`` is not ``1``, ``1`` is not ``1.0``, NaN equals NaN.

Python's ``==`` says ``True == 1 == 1.0``, but the three are written differently to an ``.ipynb``, so a
change from one to another is a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    ta, tb = type(a), type(b)
    if ta is str or tb is str:
        return ta is tb and a == b
    if isinstance(a, Mapping):
        if not isinstance(b, Mapping) or len(a) != len(b):
            return False
        for k, v in a.items():
            if k not in b or not same(v, b[k]):
                return False
        return True
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            if not same(x, y):
                return False
        return True
    if ta is not tb:
        return False
    if ta is float:
        return a == b or (a != a and b != b)
    return a == b
