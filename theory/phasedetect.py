"""Phase detection from any error curve by local log-log slopes (Eq. (54) in docs/theory.md).

The local slope ``s(S) = d log E / d log S`` is taken by central differences. With the reference slope ``s∞``
(``−(β−1)/β`` when β is known, else the median slope over the first decade of the grid), the plateau is where
``s(S) > s∞/2``; breakpoint 1 is the first upward crossing of ``s∞/2`` and breakpoint 2 the last downward one, both
log-linearly interpolated. A curve whose slope never exceeds ``s∞/2`` has no resolved plateau.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from phasemix._checks import as_float_array
from phasemix.theory.threephase import expected_error, log_grid

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class PhaseDetection:
    """Result of :func:`detect_phases`.

    Attributes
    ----------
    plateau_resolved : whether the slope rises above ``s∞/2`` anywhere.
    breakpoint_1, breakpoint_2 : sizes of the first upward / last downward crossing (None if not found).
    reference_slope : ``s∞``.
    peak_slope_ratio : ``max_S s(S) / s∞`` (the flattest point relative to s∞; < 0.5 means a plateau).
    sizes, slopes : the grid and its local slopes.
    """

    plateau_resolved: bool
    breakpoint_1: float | None
    breakpoint_2: float | None
    reference_slope: float
    peak_slope_ratio: float
    sizes: tuple[float, ...]
    slopes: tuple[float, ...]
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return {
            "schema_version": self.schema_version,
            "plateau_resolved": self.plateau_resolved,
            "breakpoint_1": self.breakpoint_1,
            "breakpoint_2": self.breakpoint_2,
            "reference_slope": self.reference_slope,
            "peak_slope_ratio": self.peak_slope_ratio,
            "sizes": list(self.sizes),
            "slopes": list(self.slopes),
        }

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> PhaseDetection:
        """Inverse of :meth:`to_json` (rejects a newer schema)."""
        d = json.loads(text)
        if d.get("schema_version", 0) > SCHEMA_VERSION:
            raise ValueError(f"schema_version {d.get('schema_version')} is newer than {SCHEMA_VERSION}")
        d["sizes"] = tuple(d["sizes"])
        d["slopes"] = tuple(d["slopes"])
        return cls(**d)


def local_slopes(sizes, errors) -> np.ndarray:
    """Central-difference ``d log E / d log S`` (one-sided at the ends)."""
    s = as_float_array("sizes", sizes)
    e = as_float_array("errors", errors)
    if s.ndim != 1 or s.shape != e.shape:
        raise ValueError(f"sizes and errors must be 1-D of equal length, got shapes {s.shape} and {e.shape}")
    if s.size < 3:
        raise ValueError(f"sizes must hold at least 3 points, got {s.size}")
    if (s <= 0).any() or (e <= 0).any():
        raise ValueError("sizes and errors must be > 0 for log-log slopes")
    if (np.diff(s) <= 0).any():
        raise ValueError("sizes must be strictly increasing")
    return np.gradient(np.log(e), np.log(s))


def _crossing(ls: np.ndarray, sl: np.ndarray, j: int, thr: float) -> float:
    """Log-linear interpolation of the threshold crossing between grid points j and j+1."""
    t = (thr - sl[j]) / (sl[j + 1] - sl[j])
    return float(np.exp(ls[j] + t * (ls[j + 1] - ls[j])))


def detect_phases(sizes, errors, beta: float | None = None) -> PhaseDetection:
    """Find the plateau and the two breakpoints of an error curve (Eq. (54) in docs/theory.md).

    Parameters
    ----------
    sizes, errors : 1-D increasing sizes and positive errors (≥ 20 points per decade recommended).
    beta : Zipf exponent for ``s∞ = −(β−1)/β``; None uses the median slope of the first decade.
    """
    s = as_float_array("sizes", sizes)
    sl = local_slopes(s, errors)
    ls = np.log(s)
    if beta is not None:
        if not beta > 1:
            raise ValueError(f"beta must be > 1, got {beta!r}")
        ref = -(beta - 1.0) / beta
    else:
        first = s <= s[0] * 10.0
        ref = float(np.median(sl[first]))
    if not ref < 0:
        raise ValueError(f"the reference slope must be negative (a falling curve), got {ref:.4g}")
    thr = ref / 2.0
    above = sl > thr
    peak_ratio = float(np.max(sl) / ref)
    if not above.any():
        return PhaseDetection(False, None, None, ref, peak_ratio, tuple(map(float, s)), tuple(map(float, sl)))
    idx = np.flatnonzero(above)
    first, last = int(idx[0]), int(idx[-1])
    b1 = _crossing(ls, sl, first - 1, thr) if first > 0 else None
    b2 = _crossing(ls, sl, last, thr) if last < s.size - 1 else None
    return PhaseDetection(True, b1, b2, ref, peak_ratio, tuple(map(float, s)), tuple(map(float, sl)))


def detect_breakpoints(beta: float, k: int, pi: float, *, n_items: int | None = None,
                       per_decade: int = 20) -> PhaseDetection:
    """Run :func:`detect_phases` on the exact curve over ``[max(10, k^β/100), 100·k^β/π]`` (Eq. (54) in
    docs/theory.md)."""
    base = float(k) ** float(beta)
    grid = log_grid(max(10.0, base / 100.0), 100.0 * base / float(pi), per_decade)
    err = expected_error(grid, beta, k, pi, n_items=n_items)
    return detect_phases(grid, err, beta=beta)
