"""Host-built integer tables for Poisson sampling by inversion (Eq. (84)–(86) in docs/theory.md).

Every transcendental (scipy's Poisson CDF) runs here, once per table. Kernels draw a 64-bit word ``x`` and return
the smallest ``i`` with ``x < T[i]``, starting from a 256-entry guide table (Chen's method); they never touch a
float. Two table sets exist:

- one table per distinct mean (``build_tables``): one word per draw;
- the digit set (``digit_tables``): means ``d·16^e`` for digits d = 1..15 and positions e = −8..3 and 2^16, so a
  mean given as a 32.32 fixed-point integer μ_fp is drawn as a sum of independent Poissons: ``μ_fp >> 48`` draws
  of mean 2^16, then one per nonzero base-16 digit of the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

from phasemix._checks import check_nonnegative

U64 = np.uint64
TOP = U64(0xFFFFFFFFFFFFFFFF)
#: Largest mean one table draw may have; larger means are split into sub-draws by the host.
MAX_TABLE_MEAN = float(1 << 16)
#: Digit positions of the fixed-point decomposition (mean = Σ d_e·16^e, e = DIGIT_LOW..DIGIT_HIGH).
DIGIT_LOW = -8
DIGIT_HIGH = 3
N_POSITIONS = DIGIT_HIGH - DIGIT_LOW + 1
FIXED_SHIFT = 32  # μ_fp = trunc(μ·2^32)
_TAIL = 2.0 ** -60


@dataclass(frozen=True, slots=True)
class PoissonTables:
    """Concatenated inversion tables.

    Attributes
    ----------
    thr : uint64 thresholds, all tables back to back; ``thr[off[t] + i]`` is the threshold of value ``lo[t] + i``.
    off : int64 start of table t in ``thr`` (length ntab + 1).
    lo : int64 value of each table's first entry (entries below it have threshold 0 and are never drawn).
    guide : int64 [ntab, 256] absolute start index into ``thr`` for each top byte of x.
    means : float64 means of the tables.
    """

    thr: np.ndarray
    off: np.ndarray
    lo: np.ndarray
    guide: np.ndarray
    means: np.ndarray

    @property
    def ntab(self) -> int:
        return int(self.means.size)


def _one_table(mean: float) -> tuple[np.ndarray, int]:
    """Thresholds of one table and the value of its first entry (Eq. (84))."""
    if mean == 0.0:
        return np.array([TOP], dtype=U64), 0
    hi = int(mean + 12.0 * np.sqrt(mean) + 60.0)
    i = np.arange(hi + 1, dtype=np.int64)
    sf = stats.poisson.sf(i, mean)
    cut = int(np.argmax(sf < _TAIL))  # first value whose upper tail is negligible
    i, sf = i[: cut + 1], sf[: cut + 1]
    cdf = stats.poisson.cdf(i, mean)
    low = np.floor(cdf * 2.0 ** 53).astype(U64) << U64(11)
    up = TOP - (np.ceil(sf * 2.0 ** 53).astype(U64) << U64(11))
    thr = np.where(cdf < 0.5, low, up)
    thr[-1] = TOP
    if np.any(thr[1:] < thr[:-1]):
        raise AssertionError(f"Poisson table for mean {mean!r} is not monotone")
    first = int(np.argmax(thr > 0))
    return thr[first:], first


def build_tables(means) -> PoissonTables:
    """Build one inversion table per mean (Eq. (84)–(85) in docs/theory.md).

    Parameters
    ----------
    means : 1-D array of means in [0, 2^16].

    Returns
    -------
    PoissonTables
    """
    m = np.atleast_1d(check_nonnegative("means", means)).astype(np.float64).ravel()
    if m.size == 0:
        raise ValueError("means must not be empty")
    if (m > MAX_TABLE_MEAN).any():
        raise ValueError(f"means must be <= {MAX_TABLE_MEAN:g} (split larger means), got {m.max()!r}")
    parts, offs, los = [], [0], []
    for mean in m:
        thr, first = _cached_table(float(mean))
        parts.append(thr)
        offs.append(offs[-1] + thr.size)
        los.append(first)
    thr = np.concatenate(parts)
    off = np.asarray(offs, dtype=np.int64)
    edges = (np.arange(256, dtype=U64) << U64(56))
    guide = np.empty((m.size, 256), dtype=np.int64)
    for t in range(m.size):
        seg = thr[off[t]:off[t + 1]]
        guide[t] = off[t] + np.minimum(np.searchsorted(seg, edges, side="right"), seg.size - 1)
    return PoissonTables(thr=thr, off=off, lo=np.asarray(los, dtype=np.int64), guide=guide, means=m)


@lru_cache(maxsize=4096)
def _cached_table(mean: float) -> tuple[np.ndarray, int]:
    thr, first = _one_table(mean)
    thr.setflags(write=False)
    return thr, first


#: Index of the extra table of mean 2^16 in :func:`digit_tables` (one draw per whole 2^16 of a large mean).
DIGIT_BIG = N_POSITIONS * 15


@lru_cache(maxsize=1)
def digit_tables() -> PoissonTables:
    """Tables for the means ``d·16^e`` (index ``(e − DIGIT_LOW)·15 + d − 1``) plus one of mean 2^16 at
    ``DIGIT_BIG`` (Eq. (86))."""
    means = [d * 16.0 ** e for e in range(DIGIT_LOW, DIGIT_HIGH + 1) for d in range(1, 16)] + [MAX_TABLE_MEAN]
    return build_tables(means)


def digit_index(position: int, digit: int) -> int:
    """Index of the table of mean ``digit·16^position`` in :func:`digit_tables`."""
    return (position - DIGIT_LOW) * 15 + digit - 1


def table_draw_np(x: np.ndarray, tab: np.ndarray, tables: PoissonTables) -> np.ndarray:
    """Vectorized inversion draw: smallest value whose threshold exceeds ``x`` (Eq. (85))."""
    x = np.asarray(x, dtype=U64)
    tab = np.broadcast_to(np.asarray(tab, dtype=np.int64), x.shape)
    i = tables.guide[tab, (x >> U64(56)).astype(np.int64)]
    last = tables.off[tab + 1] - 1
    active = (i < last) & (x >= tables.thr[i])
    while active.any():
        i = i + active
        active = (i < last) & (x >= tables.thr[i])
    return i - tables.off[tab] + tables.lo[tab]


def split_count(max_mean: float) -> int:
    """Number of equal sub-draws needed so that each sub-draw's mean is below 2^16."""
    mx = float(check_nonnegative("max_mean", max_mean))
    return max(1, int(np.ceil(mx / (MAX_TABLE_MEAN * 0.999))))


def pmf_expected(mean: float, size: int) -> np.ndarray:
    """Poisson pmf on 0..size−1 (test helper for chi-square checks)."""
    return stats.poisson.pmf(np.arange(size), mean)
