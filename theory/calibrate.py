"""Calibration: fit the web-loss law and the prefactor of r*(N); the theory fixes exponents, not prefactors.

- :func:`fit_web_law`: ``L(N) = E + A·(N/unit)^(−α)`` by variable projection ((E, A) linear given α; α by a log grid
  and bounded refinement from every grid minimum), residual-bootstrap CIs (Eq. (34)–(35) in docs/theory.md).
- :func:`fit_prefactor`: ``odds_obs = φ·q_a(N)`` with the exponent held at −(α+1) (Eq. (36)).
- :func:`critical_ratios_from_grid`: the measured critical ratio at target ``a`` from an (N, r, accuracy) grid
  (Eq. (37)).

Threshold estimators from per-item correctness live in :mod:`phasemix.theory.thresholds`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from phasemix._checks import as_float_array, check_int, check_positive, check_unit_interval
from phasemix.errors import SolverError
from phasemix.results import SCHEMA_VERSION, ResultIO
from phasemix.theory import allocation as al
from phasemix.theory.capacity import DEFAULT_BITS_PER_PARAM, KnowledgeSet
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw
from phasemix.units import check_loss_units

# ---------------------------------------------------------------------------------------------- web-loss law


@dataclass(frozen=True, slots=True)
class WebLawFit(ResultIO):
    """Fitted ``L(N) = E + A·(N/unit)^(−α)`` with percentile bootstrap CIs (``(low, high)`` at ``confidence``).

    E_fixed : True when E was given, not fitted. rss : weighted residual sum of squares. status : 'ok' or
    'alpha_at_bound' (α hit ``alpha_bounds``: widen them or add sizes). n_boot_used : replicates that fitted.
    """

    E: float
    A: float
    alpha: float
    unit: float
    loss_units: str
    E_fixed: bool
    n_points: int
    n_sizes: int
    rss: float
    E_ci: tuple[float, float]
    A_ci: tuple[float, float]
    alpha_ci: tuple[float, float]
    confidence: float
    n_boot: int
    n_boot_used: int
    seed: int
    status: str
    schema_version: int = SCHEMA_VERSION

    def law(self) -> PowerLaw:
        """The fitted law as a :class:`PowerLaw`."""
        return PowerLaw(E=self.E, A=self.A, alpha=self.alpha, unit=self.unit, loss_units=self.loss_units)


def _linear_given_alpha(X: np.ndarray, y: np.ndarray, w: np.ndarray, fix_e: float | None):
    """(E, A, rss) for every column of ``X = x^(−α)``; ``y`` may be (n,) or (B, n). A is constrained >= 0."""
    sw = w.sum()
    if fix_e is None:
        xm = (w[:, None] * X).sum(0) / sw                          # (G,)
        ym = (y * w).sum(-1, keepdims=True) / sw                  # (…, 1)
        xc = X - xm
        sxx = (w[:, None] * xc**2).sum(0)
        sxy = np.einsum("...n,n,ng->...g", y - ym, w, xc)
        A = np.maximum(sxy / sxx, 0.0)
        E = ym - A * xm
    else:
        sxx = (w[:, None] * X**2).sum(0)
        A = np.maximum(np.einsum("...n,n,ng->...g", y - fix_e, w, X) / sxx, 0.0)
        E = np.full_like(A, fix_e)
    resid = y[..., :, None] - E[..., None, :] - A[..., None, :] * X
    rss = np.einsum("...ng,n->...g", resid**2, w)
    return E, A, rss


def _fit_one(x, y, w, fix_e, grid, bounds):
    """Variable projection for one data vector: best grid point, then bounded refinement of every local minimum."""
    X = x[:, None] ** (-grid[None, :])
    _, _, rss = _linear_given_alpha(X, y, w, fix_e)
    is_min = np.r_[True, rss[1:-1] <= np.minimum(rss[:-2], rss[2:]), True] & np.isfinite(rss)
    best = (math.inf, math.nan, math.nan, math.nan)

    def profile(a: float) -> float:
        return float(_linear_given_alpha(x[:, None] ** (-np.array([a])), y, w, fix_e)[2][0])

    for i in np.flatnonzero(is_min):
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        res = optimize.minimize_scalar(profile, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10 * hi})
        a = float(res.x) if res.fun <= rss[i] else float(grid[i])
        E, A, r = (float(v[0]) for v in _linear_given_alpha(x[:, None] ** (-np.array([a])), y, w, fix_e))
        if r < best[0]:
            best = (r, E, A, a)
    return best


def fit_web_law(params, loss, *, unit: float = 1e6, loss_units: str = "nats", fix_E: float | None = None,
                weights=None, alpha_bounds: tuple[float, float] = (1e-3, 3.0), n_starts: int = 200,
                n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> WebLawFit:
    """Fit ``L(N) = E + A·(N/unit)^(−α)`` by variable projection with many starts; CIs by residual bootstrap.

    Eq. (34) and Eq. (35) in docs/theory.md.

    Parameters
    ----------
    params, loss : measured sizes (> 0) and losses (finite), same length. ≥ 5 distinct sizes to fit E; with 3–4
        sizes pass ``fix_E`` (the irreducible loss, or 0) and (A, α) are fitted.
    weights : optional positive weights of the least squares (default unweighted).
    alpha_bounds : search interval of α (> 0). n_starts : log-grid points of α whose local minima are refined.
    n_boot, confidence, seed : bootstrap replicates, CI level, RNG seed.

    Raises
    ------
    ValueError naming the argument for bad input; SolverError if the loss does not decrease with size (A = 0).
    """
    n = check_positive("params", params)
    y = as_float_array("loss", loss)
    if n.ndim != 1 or y.shape != n.shape or n.size == 0:
        raise ValueError(f"params and loss must be non-empty 1-D arrays of one length, got {n.shape} and {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("loss must be finite")
    check_loss_units(loss_units)
    unit = float(check_positive("unit", unit))
    w = np.ones_like(y) if weights is None else check_positive("weights", weights)
    if w.shape != y.shape:
        raise ValueError(f"weights must have the shape of loss {y.shape}, got {w.shape}")
    n_sizes = int(np.unique(n).size)
    if fix_E is None and n_sizes < 5:
        raise ValueError(f"params: fitting E, A and alpha needs >= 5 distinct sizes, got {n_sizes}; pass fix_E "
                         "(the irreducible loss, or 0) to fit A and alpha only")
    if fix_E is not None:
        fix_E = float(as_float_array("fix_E", fix_E))
        if n_sizes < 3:
            raise ValueError(f"params: fitting A and alpha needs >= 3 distinct sizes, got {n_sizes}")
    lo, hi = (float(v) for v in check_positive("alpha_bounds", alpha_bounds))
    if not lo < hi:
        raise ValueError(f"alpha_bounds must be increasing, got {alpha_bounds!r}")
    n_starts = check_int("n_starts", n_starts, minimum=8)
    n_boot = check_int("n_boot", n_boot, minimum=0)
    conf = float(check_unit_interval("confidence", confidence, low_open=True, high_open=True))
    x = n / unit
    grid = np.geomspace(lo, hi, n_starts)
    rss, E, A, alpha = _fit_one(x, y, w, fix_E, grid, (lo, hi))
    if not A > 0:
        raise SolverError("web-law fit: the loss does not decrease with params (best A = 0)", status="A_zero")
    status = "alpha_at_bound" if (alpha <= lo * (1 + 1e-6) or alpha >= hi * (1 - 1e-6)) else "ok"
    cis, used = ((math.nan, math.nan),) * 3, 0
    if n_boot:
        rng = np.random.default_rng(seed)
        fitted = E + A * x ** (-alpha)
        n_par = 2 if fix_E is not None else 3
        resid = (y - fitted) * math.sqrt(y.size / max(y.size - n_par, 1))
        boot = []
        for _ in range(n_boot):
            y_star = fitted + rng.choice(resid, size=y.size, replace=True)
            r_b = _fit_one(x, y_star, w, fix_E, grid[:: max(1, n_starts // 50)], (lo, hi))
            if r_b[2] > 0:
                boot.append(r_b[1:])
        used = len(boot)
        if used:
            b_arr = np.asarray(boot)
            q = [(1 - conf) / 2 * 100, (1 + conf) / 2 * 100]
            cis = tuple(tuple(float(v) for v in np.percentile(b_arr[:, j], q)) for j in range(3))
    return WebLawFit(float(E), float(A), float(alpha), unit, loss_units, fix_E is not None, int(y.size), n_sizes,
                     float(rss), cis[0], cis[1], cis[2], conf, n_boot, used, int(seed), status)


# ---------------------------------------------------------------------------------------------- prefactor of r*


@dataclass(frozen=True, slots=True)
class PrefactorFit(ResultIO):
    """``odds_obs = φ·q_a(N)`` with the exponent fixed at −(α+1) (Eq. (36) in docs/theory.md).

    phi and its bootstrap CI ``phi_ci``; log_phi_se : standard error of the mean of the log residuals;
    params_scale : φ^(1/(α+1)), the factor on N_on and N_a; residuals : log odds_obs − log φ − log q_a per point.
    """

    phi: float
    log_phi: float
    log_phi_se: float
    phi_ci: tuple[float, float]
    params_scale: float
    target: float
    exponent: float
    n_points: int
    residuals: np.ndarray
    confidence: float
    n_boot: int
    seed: int
    schema_version: int = SCHEMA_VERSION
    _array_fields = ("residuals",)

    def critical_ratio(self, params, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                       bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
        """Calibrated ratio at the fitted target: ``expit(log φ + log q_a(N))``."""
        r = al.target_ratio(params, knowledge, self.target, law, bits_per_param)
        return special.expit(self.log_phi + np.log(r) - np.log1p(-r))


def fit_prefactor(params, critical_ratios, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                  bits_per_param: float = DEFAULT_BITS_PER_PARAM, *, target: float = 0.4, n_boot: int = 2000,
                  confidence: float = 0.95, seed: int = 0) -> PrefactorFit:
    """``log φ = mean(log odds_obs − log q_a(N))`` (Eq. (36) in docs/theory.md); percentile bootstrap CI over points.

    ``critical_ratios`` are measured ratios where the learned fraction crosses ``target`` (see
    :func:`critical_ratios_from_grid`); they are compared with ``r_a`` of Eq. (11), never with ``r_on`` unless
    ``target = 0``.
    """
    n = check_positive("params", params)
    r = check_unit_interval("critical_ratios", critical_ratios, low_open=True, high_open=True)
    if n.ndim != 1 or r.shape != n.shape or n.size == 0:
        raise ValueError(f"params and critical_ratios must be non-empty 1-D arrays of one length, got {n.shape} "
                         f"and {r.shape}")
    a = float(check_unit_interval("target", target, high_open=True))
    r_a = al.target_ratio(n, knowledge, a, law, bits_per_param)
    if np.isnan(r_a).any():
        bad = float(n[np.isnan(r_a)][0])
        raise ValueError(f"params: a model of {bad:.4g} parameters cannot hold the fraction target={a} of the set "
                         "(b·N <= a·K·h)")
    resid = (np.log(r) - np.log1p(-r)) - (np.log(r_a) - np.log1p(-r_a))
    log_phi = float(resid.mean())
    se = float(resid.std(ddof=1) / math.sqrt(resid.size)) if resid.size > 1 else math.nan
    n_boot = check_int("n_boot", n_boot, minimum=0)
    conf = float(check_unit_interval("confidence", confidence, low_open=True, high_open=True))
    ci = (math.nan, math.nan)
    if n_boot and resid.size > 1:
        rng = np.random.default_rng(seed)
        means = resid[rng.integers(0, resid.size, size=(n_boot, resid.size))].mean(1)
        lo, hi = np.percentile(means, [(1 - conf) / 2 * 100, (1 + conf) / 2 * 100])
        ci = (math.exp(lo), math.exp(hi))
    return PrefactorFit(math.exp(log_phi), log_phi, se, ci, math.exp(log_phi / (law.alpha + 1.0)), a,
                        -(law.alpha + 1.0), int(n.size), resid - log_phi, conf, n_boot, int(seed))


def critical_ratios_from_grid(params, ratios, accuracy, *, target: float = 0.4, chance: float = 0.0):
    """Measured critical ratio per size: the chance-corrected learned fraction crosses ``target``.

    Eq. (37) in docs/theory.md.

    ``F = (accuracy − chance)/(1 − chance)``; for each distinct size the ratios are sorted and the first crossing of
    ``target`` is interpolated linearly in log-odds of r. Returns ``(sizes, ratios)``; NaN where no crossing.
    """
    n = check_positive("params", params)
    r = check_unit_interval("ratios", ratios, low_open=True, high_open=True)
    acc = check_unit_interval("accuracy", accuracy)
    if not (n.shape == r.shape == acc.shape) or n.ndim != 1 or n.size == 0:
        raise ValueError(f"params, ratios and accuracy must be 1-D of one length, got {n.shape}, {r.shape}, "
                         f"{acc.shape}")
    c = float(check_unit_interval("chance", chance, high_open=True))
    a = float(check_unit_interval("target", target, low_open=True, high_open=True))
    frac = (acc - c) / (1.0 - c)
    sizes = np.unique(n)
    out = np.full(sizes.shape, np.nan)
    for i, s in enumerate(sizes):
        sel = n == s
        order = np.argsort(r[sel])
        rr, ff = r[sel][order], frac[sel][order]
        above = np.flatnonzero(ff >= a)
        if above.size == 0:
            continue
        j = int(above[0])
        if j == 0:
            out[i] = rr[0] if ff[0] == a else np.nan  # crossing below the smallest ratio measured: censored
            continue
        lo, hi = special.logit(rr[j - 1]), special.logit(rr[j])
        w = (a - ff[j - 1]) / (ff[j] - ff[j - 1])
        out[i] = special.expit(lo + w * (hi - lo))
    return sizes, out
