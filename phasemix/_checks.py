"""Input checks shared by every layer: each raises ValueError naming the argument, the rule and the value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _describe(value: Any) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return repr(arr.item())
    return f"array of shape {arr.shape}"


def as_float_array(name: str, value: Any) -> np.ndarray:
    """Convert to a float64 array, rejecting NaN and non-numeric input."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric, got {value!r}") from exc
    if np.isnan(arr).any():
        raise ValueError(f"{name} must not be NaN, got {_describe(value)}")
    return arr


def check_positive(name: str, value: Any, *, allow_inf: bool = False) -> np.ndarray:
    """Return ``value`` as a float array after checking it is finite and > 0."""
    arr = as_float_array(name, value)
    if not allow_inf and np.isinf(arr).any():
        raise ValueError(f"{name} must be finite, got {_describe(value)}")
    if (arr <= 0).any():
        bad = arr[arr <= 0].flat[0] if arr.ndim else arr.item()
        raise ValueError(f"{name} must be > 0, got {bad!r}")
    return arr


def check_nonnegative(name: str, value: Any) -> np.ndarray:
    """Return ``value`` as a float array after checking it is finite and >= 0."""
    arr = as_float_array(name, value)
    if np.isinf(arr).any():
        raise ValueError(f"{name} must be finite, got {_describe(value)}")
    if (arr < 0).any():
        bad = arr[arr < 0].flat[0] if arr.ndim else arr.item()
        raise ValueError(f"{name} must be >= 0, got {bad!r}")
    return arr


def check_unit_interval(name: str, value: Any, *, low_open: bool = False, high_open: bool = False) -> np.ndarray:
    """Return ``value`` as a float array after checking it lies in [0, 1] (ends optionally open)."""
    arr = as_float_array(name, value)
    lo_bad = arr <= 0 if low_open else arr < 0
    hi_bad = arr >= 1 if high_open else arr > 1
    bad_mask = lo_bad | hi_bad
    if bad_mask.any():
        bad = arr[bad_mask].flat[0] if arr.ndim else arr.item()
        interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise ValueError(f"{name} must lie in {interval}, got {bad!r}")
    return arr


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as int after checking it is integral and >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_choice(name: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value
