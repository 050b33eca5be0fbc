"""Many knowledge sets plus web, facts with their own frequencies and sizes: the optimal learner as a knapsack.

Fact ``j`` occurs ``f_j`` times per training token (``f_j = r_s·p_j`` for set ``s``) and holds ``h_j`` bits; the web
has token share ``r_web = 1 − Σ r_s``. The learner stores ``y_j ∈ [0, h_j]`` bits of each fact and minimizes
``Σ f_j·(h_j − y_j) + r_web·F_web(b·N − Σ y_j)`` (Eq. (16) in docs/theory.md). This module gives

- :func:`water_fill`: the exact fractional optimum, O(n log n), vectorized (Eq. (17)–(19));
- :func:`solve_binary`: the 0/1 knapsack by outer approximation with HiGHS MILPs (Eq. (20)–(21));
- :func:`greedy_equal_sizes`: the exact 0/1 optimum for equal sizes (top-k by frequency, 1-D search; Eq. (22));
- :func:`solve_fractional_cvxpy`: a generic convex solve of Eq. (16), the cross-check of :func:`water_fill`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import optimize

from phasemix._checks import as_float_array, check_nonnegative, check_positive, check_unit_interval
from phasemix.errors import SolverError
from phasemix.results import SCHEMA_VERSION, ResultIO
from phasemix.theory.allocation import log_web_marginal
from phasemix.theory.capacity import DEFAULT_BITS_PER_PARAM
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw


def _web_loss(capacity, law_b: PowerLaw, b: float) -> np.ndarray:
    m = np.asarray(capacity, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(m > 0, law_b.E + law_b.A * (np.maximum(m, 1e-300) / (b * law_b.unit)) ** (-law_b.alpha),
                        np.inf)


def _check_facts(frequencies, sizes, params, web_ratio, bits_per_param):
    f = check_nonnegative("frequencies", frequencies)
    h = check_positive("sizes", sizes)
    if f.ndim != 1 or f.size == 0:
        raise ValueError(f"frequencies must be a non-empty 1-D array, got shape {f.shape}")
    if h.ndim == 0:
        h = np.full(f.shape, float(h))
    if h.shape != f.shape:
        raise ValueError(f"sizes must have the shape of frequencies {f.shape}, got {h.shape}")
    n = float(check_positive("params", params))
    rw = float(check_unit_interval("web_ratio", web_ratio, low_open=True))
    b = float(check_positive("bits_per_param", bits_per_param))
    return f, h, n, rw, b


def fact_frequencies(set_ratios, per_set_frequencies) -> tuple[np.ndarray, float]:
    """Frequencies ``f_j = r_s·p_j`` of all facts and the web share ``r_web = 1 − Σ r_s`` (Eq. (16) in docs/theory.md).

    ``per_set_frequencies[s]`` holds ``p_j``, the occurrences of each fact of set ``s`` per token of that set.
    """
    r = check_unit_interval("set_ratios", set_ratios)
    if r.ndim != 1 or len(per_set_frequencies) != r.size:
        raise ValueError(f"set_ratios ({r.size}) and per_set_frequencies ({len(per_set_frequencies)}) must match")
    web = 1.0 - float(r.sum())
    if web <= 0:
        raise ValueError(f"set_ratios must sum to < 1 (the web needs a share), got sum {float(r.sum())!r}")
    parts = [r[s] * check_nonnegative(f"per_set_frequencies[{s}]", p).ravel()
             for s, p in enumerate(per_set_frequencies)]
    return np.concatenate(parts), web


@dataclass(frozen=True, slots=True)
class WaterFillResult(ResultIO):
    """Fractional optimum of Eq. (16) in docs/theory.md.

    stored_bits : bits stored of each fact, input order. water_level : λ = f_thres (Eq. (19)). objective : Eq. (16) in
    bits per token (set constants dropped). excess : objective − r_web·F_web(b·N), the loss caused by finite
    capacity (> 0). n_full : facts stored whole. boundary : input index of the partial/first-unstored fact (−1 if all
    stored). status : 'optimal'.
    """

    stored_bits: np.ndarray
    water_level: float
    objective: float
    excess: float
    total_stored: float
    n_full: int
    boundary: int
    capacity_bits: float
    web_ratio: float
    status: str = "optimal"
    schema_version: int = SCHEMA_VERSION
    _array_fields: ClassVar[tuple[str, ...]] = ("stored_bits",)


def _objective(f, h, y, cap, rw, law_b, b) -> tuple[float, float]:
    stored = float(np.sum(y))
    lost = float(np.sum(f * (h - y)))
    web_now = float(_web_loss(cap - stored, law_b, b))
    web_full = float(_web_loss(cap, law_b, b))
    return lost + rw * web_now, lost + rw * (web_now - web_full)


def water_fill(frequencies, sizes, params, web_ratio, law: PowerLaw = DEFAULT_WEB_LAW,
               bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> WaterFillResult:
    """Exact fractional optimum of Eq. (16) by water-filling (Eq. (17)–(19) in docs/theory.md), O(n log n).

    Facts are sorted by frequency (descending, ties in index order). Fact ``k`` is stored whole iff
    ``f_k ≥ r_web·g(b·N − H_{k+1})`` with ``H_{k+1}`` the bits of the first ``k+1`` facts; this test is monotone in
    ``k`` and is evaluated for all facts at once. The first failing fact gets ``y`` bits from
    ``f_k = r_web·g(b·N − H_k − y)`` (brentq), then nothing more is stored.

    Parameters
    ----------
    frequencies : f_j ≥ 0, occurrences of each fact per training token.
    sizes : h_j > 0, bits per fact (scalar or array).
    params : N, parameters. web_ratio : r_web in (0, 1]. law : web-loss law. bits_per_param : b.

    Examples
    --------
    >>> res = water_fill([1e-6, 1e-9], [45.6, 45.6], 70e6, 0.9)
    >>> res.stored_bits.tolist(), res.n_full
    ([45.6, 0.0], 1)
    """
    f, h, n, rw, b = _check_facts(frequencies, sizes, params, web_ratio, bits_per_param)
    law_b = law.in_bits()
    cap = b * n
    order = np.argsort(-f, kind="stable")
    fs, hs = f[order], h[order]
    cum = np.cumsum(hs)  # H_{k+1}
    log_rw = math.log(rw)
    with np.errstate(divide="ignore"):
        log_f = np.log(fs)
        whole = log_f >= log_rw + log_web_marginal(cap - cum, law_b, b)
    k = int(np.argmin(whole)) if not whole.all() else fs.size
    y = np.zeros_like(fs)
    y[:k] = hs[:k]
    if k < fs.size:
        used = float(cum[k - 1]) if k > 0 else 0.0

        def foc(x: float) -> float:  # increasing in x
            return log_rw + float(log_web_marginal(np.asarray(cap - used - x), law_b, b)) - float(log_f[k])

        if fs[k] > 0 and foc(0.0) < 0.0:
            upper = min(float(hs[k]), (cap - used) * (1 - 1e-15))
            if foc(upper) <= 0.0:
                y[k] = upper
            else:
                try:
                    y[k] = optimize.brentq(foc, 0.0, upper, xtol=4e-16 * max(cap, 1.0), rtol=1e-15, maxiter=500)
                except (RuntimeError, ValueError) as exc:  # pragma: no cover
                    raise SolverError(f"brentq failed on the partial fact: {exc}") from exc
    stored = float(y.sum())
    if k < fs.size and 0.0 < y[k] < hs[k]:
        level = float(fs[k])
    else:
        level = rw * float(np.exp(log_web_marginal(np.asarray(cap - stored), law_b, b)))
    out = np.empty_like(y)
    out[order] = y
    obj, excess = _objective(f, h, out, cap, rw, law_b, b)
    return WaterFillResult(out, level, obj, excess, stored, int(k), int(order[k]) if k < fs.size else -1, cap, rw)


def threshold_frequency_exact(frequencies, sizes, params, web_ratio, law: PowerLaw = DEFAULT_WEB_LAW,
                              bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> float:
    """``f_thres(N) = λ``, the water level (Eq. (19) in docs/theory.md); → ``r_web·g(b·N)`` when ``Σh ≪ b·N``."""
    return water_fill(frequencies, sizes, params, web_ratio, law, bits_per_param).water_level


@dataclass(frozen=True, slots=True)
class BinaryResult(ResultIO):
    """0/1 optimum of Eq. (16) (Eq. (20)–(21) in docs/theory.md).

    selected : 1.0 where a fact is stored whole. objective/excess : as in :class:`WaterFillResult` at the 0/1 point.
    fractional_objective : the water-filling optimum. integrality_gap : objective − fractional_objective (≥ 0);
    relative_gap : integrality_gap / fractional excess. bound_gap : final outer-approximation gap (relative).
    """

    selected: np.ndarray
    objective: float
    excess: float
    fractional_objective: float
    integrality_gap: float
    relative_gap: float
    bound_gap: float
    iterations: int
    n_tangents: int
    status: str
    schema_version: int = SCHEMA_VERSION
    _array_fields: ClassVar[tuple[str, ...]] = ("selected",)


def solve_binary(frequencies, sizes, params, web_ratio, law: PowerLaw = DEFAULT_WEB_LAW,
                 bits_per_param: float = DEFAULT_BITS_PER_PARAM, *, n_tangents: int = 128, tol: float = 1e-9,
                 max_iter: int = 60) -> BinaryResult:
    """0/1 knapsack of Eq. (16) by outer approximation: HiGHS MILPs with tangent refinement.

    Eq. (20)–(21) in docs/theory.md.

    The web term ``D(s) = F_web(s) − F_web(b·N)`` of the free web capacity ``s = b·N − Σ h_j x_j`` is replaced by
    ``w ≥ D(s_k) − g(s_k)·(s − s_k)`` at ``n_tangents`` log-spaced ``s_k`` in ``[b·N − Σh, b·N]``; each MILP gives
    a lower bound, the exact objective at its ``x`` an upper bound, and a tangent is added at the incumbent until
    ``(upper − lower) ≤ tol·upper`` (objectives as excess loss, scaled by ``Σ f_j·h_j``) or the MILP returns a point
    whose tangent is already present (the bound is then exact up to solver tolerance). If ``Σh ≥ b·N`` the free
    capacity is kept ≥ 1e-6·b·N. For small ``n`` (the MILP is exponential in the worst case).
    """
    import cvxpy as cp

    f, h, n, rw, b = _check_facts(frequencies, sizes, params, web_ratio, bits_per_param)
    if f.size > 5000:
        raise ValueError(f"frequencies: solve_binary is for small n (<= 5000), got {f.size}")
    law_b = law.in_bits()
    cap = b * n
    scale = float(np.sum(f * h))
    if scale <= 0:
        raise ValueError("frequencies must not all be 0 (nothing has value)")
    s_lo = max(cap - float(h.sum()), 1e-6 * cap)

    def d_exact(s: np.ndarray) -> np.ndarray:  # scaled excess web loss r_web·D(s)/scale
        return rw * (_web_loss(s, law_b, b) - _web_loss(cap, law_b, b)) / scale

    def g_scaled(s: np.ndarray) -> np.ndarray:
        return rw * np.exp(log_web_marginal(s, law_b, b)) / scale

    pts = list(np.geomspace(s_lo, cap, n_tangents))
    x = cp.Variable(f.size, boolean=True)
    w = cp.Variable(nonneg=True)
    hx = h @ x
    lost = 1.0 - (f * h / scale) @ x
    best_x, best_ub, lb, status = None, math.inf, -math.inf, "max_iter"
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        s_k = np.asarray(pts)
        cons = [w >= d_exact(s_k) + g_scaled(s_k) * (s_k - cap) + g_scaled(s_k) * hx]
        if cap - float(h.sum()) < s_lo:
            cons.append(hx <= cap - s_lo)
        prob = cp.Problem(cp.Minimize(lost + w), cons)
        try:
            prob.solve(solver=cp.HIGHS, output_flag=False, mip_rel_gap=1e-12, mip_abs_gap=1e-14,
                       primal_feasibility_tolerance=1e-10, mip_feasibility_tolerance=1e-10)
        except cp.error.SolverError as exc:
            raise SolverError("HiGHS failed on the outer-approximation MILP", status=str(exc)) from exc
        if prob.status not in ("optimal", "optimal_inaccurate") or x.value is None:
            raise SolverError("HiGHS did not solve the outer-approximation MILP", status=prob.status)
        xv = np.round(x.value) + 0.0
        lb = max(lb, float(prob.value))
        s_x = cap - float(h @ xv)
        ub = 1.0 - float((f * h / scale) @ xv) + float(d_exact(np.asarray(s_x)))
        if ub < best_ub:
            best_x, best_ub = xv, ub
        if best_ub - lb <= tol * max(abs(best_ub), 1e-300):
            status = "optimal"
            break
        if any(math.isclose(s_x, p, rel_tol=1e-15, abs_tol=0.0) for p in pts):
            status = "optimal"  # tangent already at the MILP's point: the bound is exact there
            break
        pts.append(s_x)
    assert best_x is not None
    obj, excess = _objective(f, h, best_x * h, cap, rw, law_b, b)
    frac = water_fill(f, h, n, rw, law, b)
    gap = obj - frac.objective
    return BinaryResult(best_x.astype(float), obj, excess, frac.objective, gap, gap / frac.excess,
                        (best_ub - lb) / max(abs(best_ub), 1e-300), it, len(pts), status)


def greedy_equal_sizes(frequencies, size: float, params, web_ratio, law: PowerLaw = DEFAULT_WEB_LAW,
                       bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> tuple[np.ndarray, float]:
    """Exact 0/1 optimum for equal sizes: the top ``k`` facts by frequency, ``k`` by 1-D search.

    Eq. (22) in docs/theory.md.

    Returns ``(selected, objective)``; ``selected`` is 1.0 for stored facts (input order, ties in index order).
    """
    h = float(check_positive("size", size))
    f, hh, n, rw, b = _check_facts(frequencies, h, params, web_ratio, bits_per_param)
    law_b = law.in_bits()
    cap = b * n
    order = np.argsort(-f, kind="stable")
    fs = f[order]
    k = np.arange(fs.size + 1)
    tail = np.concatenate([np.cumsum(fs[::-1])[::-1], [0.0]])  # Σ_{j≥k} f_j
    objs = tail * h + rw * _web_loss(cap - k * h, law_b, b)
    best = int(np.argmin(objs))
    sel = np.zeros(fs.size)
    sel[order[:best]] = 1.0
    return sel, float(objs[best])


def solve_fractional_cvxpy(frequencies, sizes, params, web_ratio, law: PowerLaw = DEFAULT_WEB_LAW,
                           bits_per_param: float = DEFAULT_BITS_PER_PARAM, *, solver: str = "SCS") -> np.ndarray:
    """Generic convex solve of Eq. (16) in docs/theory.md (cross-check of :func:`water_fill`): stored bits per fact.

    Rescaled: bits in units of ``b·N`` (``u_j = y_j/(b·N)``), objective divided by ``r_web·α·A_b·n^(−α)`` so that the
    web term is ``z^(−α)/α`` with ``z = 1 − Σ u_j``; the power is exact (``approx=False``). Accurate to ~1e-6.
    """
    import cvxpy as cp

    f, h, n, rw, b = _check_facts(frequencies, sizes, params, web_ratio, bits_per_param)
    law_b = law.in_bits()
    cap = b * n
    c0 = rw * law_b.alpha * law_b.A * (n / law_b.unit) ** (-law_b.alpha)
    u = cp.Variable(f.size)
    z = 1.0 - cp.sum(u)
    obj = -(f * cap / c0) @ u + cp.power(z, -law_b.alpha, approx=False) / law_b.alpha
    prob = cp.Problem(cp.Minimize(obj), [u >= 0, u <= h / cap])
    try:
        kwargs = {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 200_000} if solver == "SCS" else {}
        prob.solve(solver=solver, **kwargs)
    except cp.error.SolverError as exc:
        raise SolverError(f"cvxpy/{solver} failed on the fractional knapsack", status=str(exc)) from exc
    if prob.status not in ("optimal", "optimal_inaccurate") or u.value is None:
        raise SolverError(f"cvxpy/{solver} did not solve the fractional knapsack", status=prob.status)
    return np.clip(np.asarray(u.value) * cap, 0.0, h)


def per_document_frequency(frequencies, tokens_per_document: float) -> np.ndarray:
    """Occurrences per document = ``f_j`` × tokens per document (an [I] conversion, Eq. (19) in docs/theory.md)."""
    return as_float_array("frequencies", frequencies) * float(check_positive("tokens_per_document",
                                                                             tokens_per_document))
