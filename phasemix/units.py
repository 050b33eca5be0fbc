"""Units shared by the CLI and configs: parameter counts ("70M", 7e7), token counts, nats/bits."""

from __future__ import annotations

import math
import re

LN2 = math.log(2.0)

_SUFFIX = {"": 1.0, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "b": 1e9, "B": 1e9, "g": 1e9, "G": 1e9,
           "t": 1e12, "T": 1e12}
_COUNT = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kKmMbBgGtT]?)\s*$")


def parse_count(text: str | float | int, *, name: str = "count") -> float:
    """Parse '70M', '1.4B', '32e9' or a number into a float count.

    >>> parse_count("70M")
    70000000.0
    >>> parse_count("1.5k")
    1500.0
    """
    if isinstance(text, int | float):
        value = float(text)
    else:
        match = _COUNT.match(str(text))
        if not match:
            raise ValueError(f"{name} must be a number with an optional k/M/B/T suffix, got {text!r}")
        value = float(match.group(1)) * _SUFFIX[match.group(2)]
    if math.isnan(value):
        raise ValueError(f"{name} must not be NaN")
    return value


def format_count(value: float) -> str:
    """Format a count with a k/M/B/T suffix, 4 significant digits.

    >>> format_count(7e7)
    '70M'
    """
    if not math.isfinite(value):
        return str(value)
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.4g}{suffix}"
    return f"{value:.4g}"


def nats_to_bits(value: float) -> float:
    """Convert a loss in nats to bits (divide by ln 2)."""
    return value / LN2


def bits_to_nats(value: float) -> float:
    """Convert a loss in bits to nats (multiply by ln 2)."""
    return value * LN2


def check_loss_units(units: str) -> str:
    """Check a loss-unit name: 'nats' or 'bits'."""
    if units not in ("nats", "bits"):
        raise ValueError(f"loss units must be 'nats' or 'bits', got {units!r}")
    return units
