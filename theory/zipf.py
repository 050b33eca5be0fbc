"""Zipf laws of knowledge items, their truncation (synthetic data) and the maps from generation settings to a cutoff.

Real items follow ``p_i = i^(−β)/Z`` with ``Z = ζ(β)`` (infinite vocabulary, β > 1) or ``Z = H_{N,β}`` (finite N).
Synthetic data is the same law truncated at rank k and renormalised; a training mixture is ``q = π·p + (1−π)·p'``
(Eqs. (40)–(43) in docs/theory.md). Top-p, temperature and finite sampling each map to a cutoff k
(Eqs. (44)–(47) in docs/theory.md). Sums over ranks use a vectorized head plus an Euler–Maclaurin tail, so an
infinite vocabulary costs the same as a small one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from phasemix._checks import as_float_array, check_int, check_positive, check_unit_interval

HEAD_ITEMS = 2000  # explicit head of every rank sum; the rest is an Euler–Maclaurin tail (spec §0.1)


def check_beta(beta: float, n_items: int | None) -> float:
    """Validate a Zipf exponent: > 0 for a finite vocabulary, > 1 for an infinite one."""
    b = float(check_positive("beta (Zipf exponent)", beta))
    if n_items is None and b <= 1.0:
        raise ValueError(f"beta (Zipf exponent) must be > 1 for an infinite vocabulary (ζ(β) diverges), got {b!r}")
    return b


def check_n_items(n_items: int | None) -> int | None:
    """Validate a vocabulary size (None = infinite)."""
    if n_items is None:
        return None
    return check_int("n_items (vocabulary size)", n_items, minimum=1)


def _power_sum(beta: float, start: int, stop: int | None) -> float:
    """``Σ_{i=start}^{stop} i^(−β)`` (stop None = ∞), via the Hurwitz zeta when β > 1."""
    if stop is not None and stop < start:
        return 0.0
    if beta > 1.0:
        total = float(special.zeta(beta, start))
        if stop is not None:
            total -= float(special.zeta(beta, stop + 1))
        return total
    # finite vocabulary with β <= 1: direct sum in chunks (stop is finite here)
    total = 0.0
    for lo in range(start, stop + 1, 4_000_000):
        hi = min(stop, lo + 3_999_999)
        total += float(np.sum(np.arange(lo, hi + 1, dtype=float) ** -beta))
    return total


@dataclass(frozen=True, slots=True)
class ZipfLaw:
    """Zipf law ``p_i = i^(−β)/Z`` on ranks 1..N (``n_items=None``: infinite, ``Z = ζ(β)``), Eq. (40) in docs/theory.md.

    Examples
    --------
    >>> round(ZipfLaw(2.0).tail_mass(100), 6)
    0.006049
    """

    beta: float
    n_items: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_items", check_n_items(self.n_items))
        object.__setattr__(self, "beta", check_beta(self.beta, self.n_items))

    @property
    def norm(self) -> float:
        """``Z``: ζ(β) or ``H_{N,β}``."""
        return _power_sum(self.beta, 1, self.n_items)

    def pmf(self, ranks) -> np.ndarray:
        """``p_i`` at integer ranks (0 outside 1..N)."""
        r = as_float_array("ranks", ranks)
        out = np.where(r >= 1, np.maximum(r, 1.0) ** -self.beta / self.norm, 0.0)
        if self.n_items is not None:
            out = np.where(r > self.n_items, 0.0, out)
        return out

    def head_mass(self, k: int) -> float:
        """``Σ_{i≤k} p_i`` (Eq. (41) in docs/theory.md)."""
        k = check_int("k (cutoff rank)", k, minimum=1)
        if self.n_items is not None and k >= self.n_items:
            return 1.0
        return 1.0 - self.tail_mass(k)

    def tail_mass(self, k: int) -> float:
        """``Σ_{i>k} p_i = ζ(β, k+1)/ζ(β)`` (Eq. (41) in docs/theory.md); the plateau height of the three-phase
        curve."""
        k = check_int("k (cutoff rank)", k, minimum=0)
        if self.n_items is not None and k >= self.n_items:
            return 0.0
        return _power_sum(self.beta, k + 1, self.n_items) / self.norm

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return {"beta": self.beta, "n_items": self.n_items}


def check_cutoff(k: int, law: ZipfLaw) -> int:
    """Validate a truncation rank: an integer >= 1 and <= N for a finite vocabulary."""
    k = check_int("k (cutoff rank)", k, minimum=1)
    if law.n_items is not None and k > law.n_items:
        raise ValueError(f"k (cutoff rank) must be <= n_items = {law.n_items}, got {k}")
    return k


def check_real_share(pi: float) -> float:
    """Validate the real share π ∈ (0, 1]."""
    return float(check_unit_interval("pi (real share)", pi, low_open=True))


def truncated_pmf(law: ZipfLaw, k: int, ranks) -> np.ndarray:
    """Synthetic law ``p'_i = p_i/Σ_{j≤k} p_j`` for ``i ≤ k``, 0 beyond (Eq. (42) in docs/theory.md)."""
    k = check_cutoff(k, law)
    r = as_float_array("ranks", ranks)
    return np.where(r <= k, law.pmf(r) / law.head_mass(k), 0.0)


def mixture_pmf(law: ZipfLaw, k: int, pi: float, ranks) -> np.ndarray:
    """Training mixture ``q_i = π·p_i + (1−π)·p'_i`` (Eq. (43) in docs/theory.md)."""
    pi = check_real_share(pi)
    return pi * law.pmf(ranks) + (1.0 - pi) * truncated_pmf(law, k, ranks)


def top_p_cutoff(beta: float, top_p: float, n_items: int | None = None) -> int:
    """Nucleus sampling → cutoff: ``k = min{m : Σ_{i≤m} p_i ≥ p_top − 1e-12}`` (Eq. (44) in docs/theory.md).

    Examples
    --------
    >>> [top_p_cutoff(2.0, p) for p in (0.90, 0.95, 0.99)]
    [6, 12, 61]
    """
    law = ZipfLaw(beta, n_items)
    p_top = float(check_unit_interval("top_p", top_p, low_open=True))
    if law.n_items is None and p_top >= 1.0:
        raise ValueError("top_p must be < 1 for an infinite vocabulary (no finite rank holds all the mass), got 1.0")
    target = p_top - 1e-12
    if law.n_items is not None and p_top >= 1.0:
        return law.n_items

    def ok(m: int) -> bool:
        return law.head_mass(m) >= target

    hi = 1
    while not ok(hi):
        hi *= 2
        if law.n_items is not None and hi >= law.n_items:
            hi = law.n_items
            break
    lo = max(1, hi // 2)
    if ok(lo):
        return lo
    while hi - lo > 1:  # invariant: not ok(lo), ok(hi)
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def tempered_law(beta: float, temperature: float, n_items: int | None = None) -> ZipfLaw:
    """Temperature τ sharpens ``p_i^(1/τ)``: a Zipf law with exponent ``β/τ`` (Eq. (45) in docs/theory.md); needs
    β/τ > 1 if N = ∞."""
    b = check_beta(beta, n_items)
    tau = float(check_positive("temperature", temperature))
    if n_items is None and b / tau <= 1.0:
        raise ValueError(
            f"temperature must give beta/temperature > 1 for an infinite vocabulary, got beta={b!r}, "
            f"temperature={tau!r} (beta/temperature = {b / tau:.4g}); use a finite n_items or a lower temperature"
        )
    return ZipfLaw(b / tau, n_items)


def temperature_cutoff(beta: float, temperature: float, n_samples: float, n_items: int | None = None) -> int:
    """Temperature in "cut" mode: ``k = max{i : n·p̃_i ≥ 1}`` with the tempered law p̃ (Eq. (46) in docs/theory.md)."""
    law = tempered_law(beta, temperature, n_items)
    n = float(check_positive("n_samples", n_samples))
    # n·i^(−β')/Z ≥ 1  <=>  i ≤ (n/Z)^(1/β')
    x = (n / law.norm) ** (1.0 / law.beta)
    k = int(math.floor(x * (1 + 1e-12)))
    if k < 1:
        raise ValueError(f"n_samples = {n!r} is too small: even the top item has n·p̃_1 < 1 (no cutoff >= 1)")
    if law.n_items is not None:
        k = min(k, law.n_items)
    return k


def _distinct_tail_integral(a: float, beta: float, x: float) -> float:
    """``∫_x^∞ (1 − exp(−a·t^(−β))) dt = a^(1/β)·[Γ(s)·P(s, U) − (1 − e^(−U))·U^(−1/β)]``, s = 1−1/β, U = a·x^(−β)."""
    s = 1.0 - 1.0 / beta
    u = a * x ** (-beta)
    return a ** (1.0 / beta) * (special.gamma(s) * special.gammainc(s, u) - (-np.expm1(-u)) * u ** (-1.0 / beta))


def expected_distinct(beta: float, n_samples: float, n_items: int | None = None) -> float:
    """Expected number of distinct items in n i.i.d. draws, ``Σ_i [1 − (1−p_i)^n]`` (Eq. (47) in docs/theory.md).

    Head ranks ≤ 2000 exactly (log1p/expm1); the tail uses the Poisson form with an Euler–Maclaurin integral
    (relative error of the Poisson step ~ n·Σ_{i>M} p_i², below 1e-9 of the count here).
    """
    law = ZipfLaw(beta, n_items)
    n = float(check_positive("n_samples", n_samples))
    z = law.norm
    m = HEAD_ITEMS if law.n_items is None else min(HEAD_ITEMS, law.n_items)
    i = np.arange(1, m + 1, dtype=float)
    p = i ** -law.beta / z
    head = float(np.sum(-np.expm1(n * np.log1p(-p))))
    if law.n_items is not None and m == law.n_items:
        return head
    a = n / z
    b = law.beta

    def f(x: float) -> float:
        return -math.expm1(-a * x ** -b)

    def fp(x: float) -> float:
        return math.exp(-a * x ** -b) * a * b * x ** (-b - 1)

    lo = m + 1.0
    if law.n_items is None:
        if b <= 1.0:  # unreachable: infinite vocabularies need β > 1
            raise ValueError("beta must be > 1 for an infinite vocabulary")
        tail = _distinct_tail_integral(a, b, lo) + f(lo) / 2 - fp(lo) / 12
    else:
        hi = float(law.n_items)
        if b > 1.0:
            integral = _distinct_tail_integral(a, b, lo) - _distinct_tail_integral(a, b, hi)
            tail = integral + (f(lo) + f(hi)) / 2 + (fp(hi) - fp(lo)) / 12
        else:  # direct chunked sum: ranks beyond the head
            tail = 0.0
            for start in range(m + 1, law.n_items + 1, 4_000_000):
                j = np.arange(start, min(law.n_items, start + 3_999_999) + 1, dtype=float)
                tail += float(np.sum(-np.expm1(n * np.log1p(-(j**-b) / z))))
    return head + float(tail)


def sampling_cutoff(beta: float, n_samples: float, n_items: int | None = None) -> int:
    """Finite sampling of n items → cutoff ``k(n) = round(E[#distinct])`` (Eq. (47) in docs/theory.md).

    Examples
    --------
    >>> [sampling_cutoff(2.0, n) for n in (1e3, 1e4, 1e5)]
    [43, 138, 437]
    """
    return max(1, int(round(expected_distinct(beta, n_samples, n_items))))


def distinct_asymptote(beta: float, n_samples: float) -> float:
    """Large-n law of the distinct count, ``Γ(1−1/β)·(n/ζ(β))^(1/β)`` (Eq. (47) in docs/theory.md)."""
    b = check_beta(beta, None)
    n = float(check_positive("n_samples", n_samples))
    return float(special.gamma(1 - 1 / b) * (n / special.zeta(b, 1)) ** (1 / b))
