"""Three-phase scaling of the memorization learner on a real/synthetic Zipf mixture.

The learner answers an item correctly iff it saw it in training, so its expected test error after |S| = S draws from
the mixture q is ``E(S) = Σ_i p_i·exp(−S·q_i)`` (Poissonised, Eq. (48) in docs/theory.md) or
``Σ_i p_i·(1 − q_i)^S`` (exact fixed-|S|, Eq. (49) in docs/theory.md). Sums use an exact head of
``M = max(k, 2000)`` ranks and a closed-form tail (incomplete gamma + Euler–Maclaurin endpoint terms, Eq. (50) in
docs/theory.md). Breakpoints, plateau height and phase exponents are Eqs. (51)–(53) in docs/theory.md; the
local-slope detector is :mod:`phasemix.theory.phasedetect`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from phasemix._checks import check_int, check_nonnegative, check_positive
from phasemix.theory.zipf import HEAD_ITEMS, ZipfLaw, check_cutoff, check_real_share

_CHUNK = 4_000_000  # matrix entries per head block


def _tail_integral(c: float, beta: float, a: np.ndarray, x: float) -> np.ndarray:
    """``∫_x^∞ c·t^(−β)·exp(−a·t^(−β)) dt = (c/β)·a^(1/β−1)·Γ(s)·P(s, a·x^(−β))``, s = 1−1/β (Eq. (50) in
    docs/theory.md)."""
    s = 1.0 - 1.0 / beta
    out = np.empty_like(a)
    pos = a > 0
    ap = a[pos]
    out[pos] = (c / beta) * ap ** (1.0 / beta - 1.0) * special.gamma(s) * special.gammainc(s, ap * x ** (-beta))
    out[~pos] = c * x ** (1.0 - beta) / (beta - 1.0)
    return out


def _f_and_df(c: float, beta: float, a: np.ndarray, x: float) -> tuple[np.ndarray, np.ndarray]:
    """``f(x) = c·x^(−β)·e^(−a·x^(−β))`` and ``f'(x) = f(x)·(−β/x + a·β·x^(−β−1))``."""
    f = c * x ** (-beta) * np.exp(-a * x ** (-beta))
    return f, f * (-beta / x + a * beta * x ** (-beta - 1.0))


def _tail_sum_direct(c: float, beta: float, a: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``Σ_{i=lo}^{hi} c·i^(−β)·exp(−a·i^(−β))`` by blocks (used when β <= 1 with a finite vocabulary)."""
    total = np.zeros_like(a)
    step = max(1, _CHUNK // max(1, a.size))
    for start in range(lo, hi + 1, step):
        i = np.arange(start, min(hi, start + step - 1) + 1, dtype=float)
        w = c * i ** (-beta)
        total += np.exp(-np.outer(a, i ** (-beta))) @ w
    return total


def expected_error(sizes, beta: float, k: int, pi: float, *, n_items: int | None = None,
                   exact_binomial: bool = False, head: int | None = None) -> np.ndarray:
    """Expected test error of the memorization learner, ``E(S) = Σ_i p_i·exp(−S·q_i)`` (Eqs. (48)–(50) in
    docs/theory.md).

    Parameters
    ----------
    sizes : training-set sizes S >= 0 (any shape).
    beta : Zipf exponent (> 1 if ``n_items`` is None).
    k : synthetic cutoff rank, integer >= 1 (<= n_items).
    pi : real share π ∈ (0, 1].
    n_items : finite vocabulary N (normalised over N) or None for the infinite (ζ) law.
    exact_binomial : use ``Σ p_i·(1 − q_i)^S`` on the head (the tail, where q_i < 1e-6·head, stays Poissonised).
    head : explicit head ranks M (default ``max(k, 2000)``); ranks > M use the closed-form tail.

    Returns
    -------
    Array of errors with the shape of ``sizes``.
    """
    law = ZipfLaw(beta, n_items)
    k = check_cutoff(k, law)
    pi = check_real_share(pi)
    s = check_nonnegative("sizes", sizes)
    shape = s.shape
    s = s.reshape(-1)
    b = law.beta
    z = law.norm
    c = 1.0 / z
    zk = law.head_mass(k)
    m = max(k, HEAD_ITEMS) if head is None else max(k, int(check_positive("head", head)))
    if law.n_items is not None:
        m = min(m, law.n_items)
    out = np.zeros_like(s)
    # head: exact sum, blocked so the S x M matrix stays small
    step = max(1, _CHUNK // max(1, s.size))
    for start in range(1, m + 1, step):
        i = np.arange(start, min(m, start + step - 1) + 1, dtype=float)
        p = c * i ** (-b)
        q = pi * p + np.where(i <= k, (1.0 - pi) * p / zk, 0.0)
        if exact_binomial:
            full = q >= 1.0  # (1 − 1)^S = 0 for S > 0 and 1 for S = 0
            with np.errstate(divide="ignore"):
                lq = np.where(full, 0.0, np.log1p(-np.minimum(q, 1.0)))
            out += np.exp(np.outer(s, lq)) @ np.where(full, 0.0, p)
            out += np.where(s == 0, 1.0, 0.0) * p[full].sum()
        else:
            out += np.exp(-np.outer(s, q)) @ p
    if law.n_items is not None and m >= law.n_items:
        return out.reshape(shape)
    a = s * pi * c
    lo = float(m + 1)
    if b <= 1.0:  # finite N only
        out += _tail_sum_direct(c, b, a, m + 1, law.n_items)
        return out.reshape(shape)
    f_lo, df_lo = _f_and_df(c, b, a, lo)
    tail = _tail_integral(c, b, a, lo) + f_lo / 2 - df_lo / 12
    if law.n_items is not None:
        hi = float(law.n_items)
        f_hi, df_hi = _f_and_df(c, b, a, hi)
        tail = tail - _tail_integral(c, b, a, hi) + f_hi / 2 + df_hi / 12
    return (out + tail).reshape(shape)


def brute_force_error(sizes, beta: float, k: int, pi: float, n_items: int) -> np.ndarray:
    """Reference ``Σ_{i≤N} p_i·exp(−S·q_i)`` over every item (vectorized numpy; for tests and checks)."""
    law = ZipfLaw(beta, n_items)
    k = check_cutoff(k, law)
    pi = check_real_share(pi)
    s = np.atleast_1d(check_nonnegative("sizes", sizes))
    i = np.arange(1, law.n_items + 1, dtype=float)
    p = i ** (-law.beta)
    p /= p.sum()
    q = pi * p
    q[:k] += (1.0 - pi) * p[:k] / p[:k].sum()
    return np.array([float(np.dot(p, np.exp(-sv * q))) for sv in s])


def breakpoints(beta: float, k: int, pi: float, c1: float = 1.0, c2: float = 1.0) -> tuple[float, float]:
    """Closed-form breakpoints ``|S|₁ = c1·k^β`` and ``|S|₂ = c2·k^β/π`` (Eq. (51) in docs/theory.md).

    With the detector of Eq. (54) in docs/theory.md the measured constants are c1 ∈ [1.2, 2.5] and
    c2 ∈ [1.3, 2.5]; the defaults c1 = c2 = 1 are the paper's order-of-magnitude form.
    """
    b = float(check_positive("beta (Zipf exponent)", beta))
    k = check_int("k (cutoff rank)", k, minimum=1)
    pi = check_real_share(pi)
    c1 = float(check_positive("c1", c1))
    c2 = float(check_positive("c2", c2))
    base = float(k) ** b
    return c1 * base, c2 * base / pi


def plateau_height(beta: float, k: int, n_items: int | None = None) -> float:
    """Plateau level = real tail mass beyond k, ``ζ(β, k+1)/ζ(β)`` (Eq. (52) in docs/theory.md)."""
    law = ZipfLaw(beta, n_items)
    return law.tail_mass(check_cutoff(k, law))


def plateau_height_approx(beta: float, k: int) -> float:
    """Large-k approximation ``k^(1−β)/((β−1)·ζ(β))`` of Eq. (52) in docs/theory.md (2.5–10% off at k = 10)."""
    law = ZipfLaw(beta)
    k = check_cutoff(k, law)
    return float(k ** (1.0 - law.beta) / ((law.beta - 1.0) * law.norm))


def phase_exponents(beta: float, alpha: float | None = None, lam: float | None = None) -> dict[str, float]:
    """Local log-log slopes per phase (Eq. (53) in docs/theory.md).

    Memorization learner: ``−(β−1)/β``, 0, ``−(β−1)/β``. With Lemma-1 exponents α and λ, Phases 1 and 3 also report
    the two power terms ``(1−α−β)/β`` and ``(1−λ−β)/β`` (Phase 3 in π·|S|).
    """
    b = float(ZipfLaw(beta).beta)
    s = -(b - 1.0) / b
    out = {"rapid_learning": s, "plateau": 0.0, "tail_learning": s}
    if alpha is not None:
        out["lemma1_alpha_term"] = (1.0 - float(check_nonnegative("alpha", alpha)) - b) / b
    if lam is not None:
        out["lemma1_lambda_term"] = (1.0 - float(check_nonnegative("lam", lam)) - b) / b
    return out


def phase_of(sizes, s1: float | None, s2: float | None) -> list[str]:
    """Label each size ``"rapid_learning"`` (S < s1), ``"plateau"`` or ``"tail_learning"`` (S >= s2)."""
    s = np.atleast_1d(check_nonnegative("sizes", sizes))
    if s1 is None or s2 is None:
        return ["unresolved"] * s.size
    return ["rapid_learning" if v < s1 else ("plateau" if v < s2 else "tail_learning") for v in s]


def log_grid(lo: float, hi: float, per_decade: int = 20) -> np.ndarray:
    """Geometric grid from lo to hi with at least ``per_decade`` points per decade."""
    lo = float(check_positive("lo", lo))
    hi = float(check_positive("hi", hi))
    if hi <= lo:
        raise ValueError(f"hi must be > lo, got lo={lo!r}, hi={hi!r}")
    n = max(3, int(math.ceil(per_decade * math.log10(hi / lo))) + 1)
    return np.geomspace(lo, hi, n)


def expected_error_tempered(sizes, beta: float, temperature: float, pi: float, n_items: int) -> np.ndarray:
    """Error when the synthetic law is the tempered Zipf ``p̃ ∝ i^(−β/τ)`` (no cut): ``q = π·p + (1−π)·p̃``.

    Temperature in "exponent" mode (Eq. (45) in docs/theory.md); a direct blocked sum over a finite vocabulary (N ≤
    1e8).
    """
    from phasemix.theory.zipf import tempered_law

    law = ZipfLaw(beta, n_items)
    if law.n_items is None or law.n_items > 10**8:
        raise ValueError(f"n_items must be a finite vocabulary <= 1e8 for the tempered mixture, got {n_items!r}")
    pt = tempered_law(beta, temperature, law.n_items)
    pi = check_real_share(pi)
    s = check_nonnegative("sizes", sizes)
    shape = s.shape
    s = s.reshape(-1)
    c, ct = 1.0 / law.norm, 1.0 / pt.norm
    out = np.zeros_like(s)
    step = max(1, _CHUNK // max(1, s.size))
    for start in range(1, law.n_items + 1, step):
        i = np.arange(start, min(law.n_items, start + step - 1) + 1, dtype=float)
        p = c * i ** (-law.beta)
        q = pi * p + (1.0 - pi) * ct * i ** (-pt.beta)
        out += np.exp(-np.outer(s, q)) @ p
    return out.reshape(shape)
