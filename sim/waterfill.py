"""Host side of the capacity allocation: b(n) tables, histogram water-filling, the stored-set threshold.

The kernels only count (value-key histograms with integer costs); everything with a transcendental runs here
(simulation.md §0). The water level solves ``λ* = inf{λ : λ ≥ (1−r)·G(N − Σ_{u_j>λ} P_j)}`` (Eq. (89) in
docs/theory.md) with G the web law's marginal value per parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw

U64 = np.uint64
KEY1 = 44  # level-1 key: exponent + 8 mantissa bits (0.27 % wide bins)
KEY2 = 32  # level-2 key: 12 more mantissa bits (2^-20 relative)
SUB_BINS = 1 << (KEY1 - KEY2)
COST_SCALE = float(1 << 16)
MAX_BINS = 1 << 18
STORE_NONE = (1 << 64) - 1


def web_marginal(law: PowerLaw, params_left: np.ndarray) -> np.ndarray:
    """``G(P) = −dF_web/dP`` in bits per token per parameter; +inf where no capacity is left (P ≤ 0)."""
    p = np.asarray(params_left, dtype=np.float64)
    out = np.full(p.shape, np.inf)
    ok = p > 0
    if ok.any():
        out[ok] = law.in_bits().slope(p[ok])
    return out


def b_table(b_max: float, b_min: float, n_ref: int, kappa: float, bn: bool) -> np.ndarray:
    """``b(n) = clip(b_max·(n/n_ref)^κ, b_min, b_max)`` for n = 0..n_ref (index 0 holds b(1)) (Eq. (88)).

    Without the bn proxy the table has one entry, b ≡ b_max.
    """
    if not bn or kappa == 0.0:
        return np.array([float(b_max)])
    n = np.arange(n_ref + 1, dtype=np.float64)
    n[0] = 1.0
    b = np.clip(b_max * (n / n_ref) ** kappa, b_min, b_max)
    if not (b > 0).all():
        raise ValueError(f"b(n) must be > 0 for n >= 1; got b_min={b_min!r}, b_max={b_max!r}, kappa={kappa!r}")
    return b


def cost_table(bits_per_fact: float, btab: np.ndarray) -> np.ndarray:
    """Fixed-point cost ``floor(h/b(n)·2^16)`` in parameters·2^16 (Eq. (88))."""
    return np.floor(bits_per_fact / btab * COST_SCALE).astype(np.int64)


def value_bits_np(n: np.ndarray, inv_d: float, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits of ``u = ((n·(1/D))·w)·b`` computed exactly as the kernels do (products only)."""
    u = ((np.asarray(n, dtype=np.float64) * inv_d) * np.asarray(w, dtype=np.float64)) * np.asarray(b, np.float64)
    return np.atleast_1d(u).view(U64)


def bits_to_float(bits) -> np.ndarray:
    return np.atleast_1d(np.asarray(bits, dtype=U64)).view(np.float64)


@dataclass(frozen=True, slots=True)
class Level:
    """Water-filling outcome of one setting: the stored-set threshold on value bits and diagnostics."""

    lam_bits: int
    lambda_hat: float
    capacity_used: float
    boundary_count: int


def solve_level(count: np.ndarray, cost: np.ndarray, key_lo: int, key_shift: int, params: float, ratio: float,
                law: PowerLaw, cost_above: int = 0) -> tuple[int | None, int]:
    """Scan histogram bins from the top; return (lowest fully stored bin key or None, cumulative cost index).

    ``h_b = E_b − (1−r)·G(N − C_{≥b})`` is nondecreasing in b; the answer is the smallest b (bins ``key_lo``..
    ``key_lo+len``, the last meaning 'nothing in this range') with ``h_b ≥ 0``. Returns None if even storing nothing
    from this range fails (then the caller stores nothing more).
    """
    nb = count.size
    c_ge = np.concatenate([np.cumsum(cost[::-1])[::-1], [0]]) + cost_above
    keys = np.arange(key_lo, key_lo + nb + 1, dtype=np.int64)
    edges = bits_to_float(keys.astype(U64) << U64(key_shift))
    rhs = (1.0 - ratio) * web_marginal(law, params - c_ge / COST_SCALE)
    ok = edges >= rhs
    if not ok[-1]:
        return None, int(c_ge[-1])
    first = int(np.argmax(ok))
    return int(keys[first]), int(c_ge[first])


def water_fill(kern, n_dev, gclass_dev, inv_d, w, btab, ctab, nref, n_min, params, ratio, n_max,
               law: PowerLaw = DEFAULT_WEB_LAW) -> list[Level]:
    """Two-pass histogram water-filling for every setting of a batch (Eq. (89) in docs/theory.md).

    Pass 1 histograms the level-1 keys (0.27 % bins) between exact bounds, the host finds the boundary bin, pass 2
    histograms 12 more mantissa bits inside it. Facts in the final boundary sub-bin are not stored (strict >).
    """
    n_set = len(params)
    levels: list[Level | None] = [None] * n_set
    kmin = np.zeros(n_set, dtype=np.int64)
    nbins = 1
    lo_keys, hi_keys = [], []
    for s in range(n_set):
        if n_max[s] < n_min[s]:
            lo_keys.append(0)
            hi_keys.append(0)
            continue
        ii_lo = min(int(n_min[s]), int(nref[s]))
        lo = int(value_bits_np(n_min[s], inv_d[s], w[s].min(), btab[s, ii_lo])[0] >> U64(KEY1))
        hi = int(value_bits_np(n_max[s], inv_d[s], w[s].max(), btab[s, : nref[s] + 1].max())[0] >> U64(KEY1))
        lo_keys.append(lo)
        hi_keys.append(hi)
        kmin[s] = lo
        nbins = max(nbins, hi - lo + 1)
    if nbins > MAX_BINS:
        raise ValueError(f"value range needs {nbins} histogram bins (> {MAX_BINS}); narrow sigma_g or the n range")
    zero = np.zeros(n_set, dtype=U64)
    count, cost = kern.value_hist(n_dev, gclass_dev, inv_d, w, btab, ctab, nref, n_min, KEY1, False, 0, zero, kmin,
                                  nbins)
    count, cost = np.asarray(kern.get(count)), np.asarray(kern.get(cost))
    prefix = np.zeros(n_set, dtype=U64)
    kmin2 = np.zeros(n_set, dtype=np.int64)
    refine = []
    partial: dict[int, tuple[int, int]] = {}
    for s in range(n_set):
        if n_max[s] < n_min[s]:
            levels[s] = Level(STORE_NONE, math.nan, 0.0, 0)
            continue
        nb = hi_keys[s] - lo_keys[s] + 1
        b, c_hi = solve_level(count[s, :nb], cost[s, :nb], lo_keys[s], KEY1, params[s], ratio[s], law)
        if b is None:
            lam = float((1.0 - ratio[s]) * web_marginal(law, np.array([params[s]]))[0])
            levels[s] = Level(STORE_NONE, lam, 0.0, 0)
        elif b == lo_keys[s]:
            edge = float(bits_to_float(U64(b) << U64(KEY1))[0])
            levels[s] = Level((b << KEY1) - 1, edge, c_hi / COST_SCALE, 0)
        else:
            bb = b - 1
            prefix[s] = U64(bb)
            kmin2[s] = bb << (KEY1 - KEY2)
            refine.append(s)
            partial[s] = (bb, c_hi)
    if refine:
        count2, cost2 = kern.value_hist(n_dev, gclass_dev, inv_d, w, btab, ctab, nref, n_min, KEY2, True, KEY1,
                                        prefix, kmin2, SUB_BINS)
        count2, cost2 = np.asarray(kern.get(count2)), np.asarray(kern.get(cost2))
        for s in refine:
            bb, c_hi = partial[s]
            c, c_used = solve_level(count2[s], cost2[s], int(kmin2[s]), KEY2, params[s], ratio[s], law, c_hi)
            if c is None:  # cannot happen: the top edge of bb is the level-1 answer; keep the level-1 threshold
                c = (bb + 1) << (KEY1 - KEY2)
                c_used = c_hi
            edge = float(bits_to_float(U64(c) << U64(KEY2))[0])
            boundary = int(count2[s, c - 1 - kmin2[s]]) if c > kmin2[s] else 0
            levels[s] = Level((c << KEY2) - 1, edge, c_used / COST_SCALE, boundary)
    return levels  # type: ignore[return-value]


def fixed_level(lam: float) -> Level:
    """Fixed-λ mode: store iff u > λ (λ = 0 stores every eligible fact)."""
    if lam < 0 or not math.isfinite(lam):
        raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
    bits = 0 if lam == 0 else int(np.array([lam]).view(U64)[0])
    return Level(bits, float(lam), math.nan, 0)


def fixed_level_expectation(population, setting, lam: float) -> tuple[float, float]:
    """Exact mean and sd of the learned fraction at a fixed water level λ (Eq. (99) in docs/theory.md).

    The stored indicators are independent: π_j = P(n_j ≥ n_min ∧ u_j > λ) with n_j ~ Poisson(μ_j) and
    u_j = n_j·w_g·b_max/D, so π_j = P(n_j ≥ max(n_min, ⌊λ·D/(w_g·b_max)⌋ + 1)). Needs b ≡ b_max (no 'bn' proxy)
    and one checkpoint; returns (Σπ_j/J, √Σπ_j(1−π_j)/J).
    """
    from scipy import stats

    if setting.dynamics.bn:
        raise ValueError("fixed_level_expectation needs b(n) = b_max (dynamics 'none' or 'race'), got 'bn'")
    if len(setting.tokens) != 1:
        raise ValueError(f"fixed_level_expectation needs one checkpoint, got {len(setting.tokens)}")
    if not (lam > 0 and math.isfinite(lam)):
        raise ValueError(f"lam must be a finite number > 0, got {lam!r}")
    d = setting.tokens[0]
    mu = setting.ratio * population.p / setting.tokens_per_fact * d
    w = population.w_classes[population.gclass]
    need = np.maximum(np.floor(lam * d / (w * setting.dynamics.b_max)) + 1, setting.dynamics.n_min)
    pi = stats.poisson.sf(need - 1, mu)
    return float(pi.sum() / pi.size), float(math.sqrt(float((pi * (1 - pi)).sum())) / pi.size)


def theory_reference(population, setting, law: PowerLaw = DEFAULT_WEB_LAW) -> tuple[float, float]:
    """The n → ∞ limit: (learned fraction of whole facts, water level λ_th in value-density units) from the theory
    layer's water-filling (:func:`phasemix.theory.knapsack.water_fill`) with values f_j·w_g (Eq. (89), (99))."""
    from phasemix.theory.knapsack import water_fill

    f = setting.ratio * population.p / setting.tokens_per_fact * population.w_classes[population.gclass]
    res = water_fill(f, setting.bits_per_fact, setting.params, 1.0 - setting.ratio, law,
                     bits_per_param=setting.dynamics.b_max)
    return res.n_full / population.n, res.water_level * setting.dynamics.b_max
