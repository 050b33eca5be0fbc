"""Maximum mean discrepancy: biased, unbiased and linear-time estimators, multi-kernel MMD, permutation tests.

Gaussian kernels ``k_u(x, y) = exp(−‖x−y‖²/(2·σ̄²·2^u))``, u ∈ {−2, …, 2}, with σ̄² the median off-diagonal squared
distance of the pooled sample (Eq. (58) in docs/theory.md). Estimators are Eqs. (59)–(61) in docs/theory.md;
the multi-kernel weights solve the convex program of Gretton et al. (NIPS 2012),
``min wᵀ(Q̂ + λI)w s.t. η̂ᵀw = 1, w ≥ 0`` (Eq. (62) in docs/theory.md), with cvxpy imported only when that program
is solved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phasemix._checks import as_float_array, check_choice, check_int
from phasemix.errors import SolverError

DEFAULT_EXPONENTS = (-2, -1, 0, 1, 2)


def check_samples(X, Y) -> tuple[np.ndarray, np.ndarray]:
    """Validate two samples: 2-D (1-D = one feature), non-empty, finite and with equal feature dimension."""
    out = []
    for name, v in (("X", X), ("Y", Y)):
        a = as_float_array(name, v)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array (samples x features), got shape {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"{name} must not be empty (0 samples)")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} must be finite")
        out.append(a)
    if out[0].shape[1] != out[1].shape[1]:
        raise ValueError(f"X and Y must have the same feature dimension, got {out[0].shape[1]} and {out[1].shape[1]}")
    return out[0], out[1]


def sq_dists(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances (clipped at 0 against round-off)."""
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.maximum(d, 0.0)


def median_sq_distance(X, Y, *, max_points: int = 1000, seed: int = 0) -> float:
    """σ̄²: median off-diagonal squared distance on the pooled sample (≤ max_points, seeded subsample), Eq. (58) in
    docs/theory.md."""
    X, Y = check_samples(X, Y)
    Z = np.vstack([X, Y])
    max_points = check_int("max_points", max_points, minimum=2)
    if Z.shape[0] > max_points:
        Z = Z[np.random.default_rng(seed).choice(Z.shape[0], max_points, replace=False)]
    if Z.shape[0] < 2:
        raise ValueError("need at least 2 pooled points for the median heuristic")
    d = sq_dists(Z, Z)[np.triu_indices(Z.shape[0], 1)]
    med = float(np.median(d))
    if med <= 0:
        pos = d[d > 0]
        if pos.size == 0:
            raise ValueError("all pooled points coincide: the median-heuristic bandwidth is 0")
        med = float(np.median(pos))
    return med


@dataclass(frozen=True, slots=True)
class MultiKernel:
    """A weighted sum of Gaussian kernels ``Σ_u w_u·exp(−‖x−y‖²/(2·σ²_u))`` (Eq. (58) in docs/theory.md).

    ``fallback`` is True when optimal weights were requested but no kernel had a positive linear-time MMD² estimate,
    so uniform weights were used.
    """

    sigma2: tuple[float, ...]
    weights: tuple[float, ...]
    fallback: bool = False

    def __post_init__(self) -> None:
        s = as_float_array("sigma2", self.sigma2)
        w = as_float_array("weights", self.weights)
        if s.ndim != 1 or s.size == 0 or s.shape != w.shape:
            raise ValueError(f"sigma2 and weights must be non-empty 1-D of equal length, got {s.shape} and {w.shape}")
        if (s <= 0).any() or (w < 0).any():
            raise ValueError("sigma2 must be > 0 and weights >= 0")

    @classmethod
    def from_median(cls, X, Y, *, exponents=DEFAULT_EXPONENTS, seed: int = 0) -> MultiKernel:
        """Uniform weights on bandwidths ``σ̄²·2^u``."""
        base = median_sq_distance(X, Y, seed=seed)
        sig = tuple(base * 2.0**u for u in exponents)
        return cls(sig, tuple(1.0 / len(sig) for _ in sig))

    @classmethod
    def single(cls, sigma: float) -> MultiKernel:
        """One RBF kernel of width σ (DAVINZ uses σ = 5 on raw inputs)."""
        return cls((float(sigma) ** 2,), (1.0,))

    def grams(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Per-kernel Gram matrices, shape (d, len(A), len(B))."""
        d = sq_dists(A, B)
        return np.stack([np.exp(-d / (2.0 * s)) for s in self.sigma2])

    def gram(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Weighted Gram matrix."""
        return np.tensordot(np.asarray(self.weights), self.grams(A, B), axes=1)

    @property
    def sup_k(self) -> float:
        """``sup_x k(x, x) = Σ w_u`` (κ² of the bound)."""
        return float(np.sum(self.weights))

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return {"sigma2": list(self.sigma2), "weights": list(self.weights), "fallback": self.fallback}


def _kernel(kernel: MultiKernel | None, X: np.ndarray, Y: np.ndarray, seed: int) -> MultiKernel:
    if kernel is None:
        return MultiKernel.from_median(X, Y, seed=seed)
    if not isinstance(kernel, MultiKernel):
        raise TypeError(f"kernel must be a MultiKernel or None, got {type(kernel).__name__}")
    return kernel


def mmd2_biased(X, Y, kernel: MultiKernel | None = None, *, seed: int = 0) -> float:
    """Biased (V-statistic) MMD², ``mean K_XX + mean K_YY − 2 mean K_XY`` (Eq. (59) in docs/theory.md); always ≥ 0."""
    X, Y = check_samples(X, Y)
    kern = _kernel(kernel, X, Y, seed)
    val = kern.gram(X, X).mean() + kern.gram(Y, Y).mean() - 2.0 * kern.gram(X, Y).mean()
    return max(float(val), 0.0)


def mmd2_unbiased(X, Y, kernel: MultiKernel | None = None, *, seed: int = 0) -> float:
    """Unbiased (U-statistic) MMD² (Eq. (60) in docs/theory.md); may be negative. Needs ≥ 2 points in each sample."""
    X, Y = check_samples(X, Y)
    m, n = X.shape[0], Y.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"the unbiased MMD needs >= 2 points per sample, got {m} and {n}")
    kern = _kernel(kernel, X, Y, seed)
    kxx, kyy = kern.gram(X, X), kern.gram(Y, Y)
    val = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
           - 2.0 * kern.gram(X, Y).mean())
    return float(val)


def _linear_h(X: np.ndarray, Y: np.ndarray, kern: MultiKernel, seed: int) -> np.ndarray:
    """Per-kernel linear-time statistics h_u on m'/2 disjoint quadruples, shape (m'/2, d)."""
    m2 = 2 * (min(X.shape[0], Y.shape[0]) // 2)
    if m2 < 2:
        raise ValueError("the linear-time MMD needs >= 2 points in each sample")
    rng = np.random.default_rng(seed)
    xs = X[rng.permutation(X.shape[0])[:m2]]
    ys = Y[rng.permutation(Y.shape[0])[:m2]]
    x1, x2, y1, y2 = xs[0::2], xs[1::2], ys[0::2], ys[1::2]

    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = ((a - b) ** 2).sum(1)
        return np.stack([np.exp(-d / (2.0 * s)) for s in kern.sigma2], axis=1)

    return k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1)


def mmd2_linear(X, Y, kernel: MultiKernel | None = None, *, seed: int = 0) -> tuple[float, float]:
    """Linear-time MMD² on m' = 2⌊min(m, n)/2⌋ shuffled points (Eq. (61) in docs/theory.md); returns (estimate,
    variance of h)."""
    X, Y = check_samples(X, Y)
    kern = _kernel(kernel, X, Y, seed)
    h = _linear_h(X, Y, kern, seed) @ np.asarray(kern.weights)
    var = float(np.var(h, ddof=1)) if h.size > 1 else float("nan")
    return float(h.mean()), var


def optimal_kernel(X, Y, *, exponents=DEFAULT_EXPONENTS, method: str = "optimal", seed: int = 0) -> MultiKernel:
    """Multi-kernel weights (Eq. (62) in docs/theory.md): ``"optimal"`` (Gretton et al. 2012) or ``"uniform"``.

    Optimal: from the linear-time statistics, ``min wᵀ(Q̂ + λI)w s.t. η̂ᵀw = 1, w ≥ 0`` with ``λ = 1e-4·tr(Q̂)/d``,
    then ``Σ w = 1``. If no η̂_u > 0, uniform weights are returned with ``fallback=True``.
    """
    check_choice("method", method, ("optimal", "uniform"))
    X, Y = check_samples(X, Y)
    base = MultiKernel.from_median(X, Y, exponents=exponents, seed=seed)
    if method == "uniform":
        return base
    h = _linear_h(X, Y, base, seed)
    eta = h.mean(0)
    d = eta.size
    if not (eta > 0).any():
        return MultiKernel(base.sigma2, base.weights, fallback=True)
    Q = np.cov(h, rowvar=False).reshape(d, d) if h.shape[0] > 1 else np.zeros((d, d))
    lam = 1e-4 * float(np.trace(Q)) / d if np.trace(Q) > 0 else 1e-8
    import cvxpy as cp  # heavy import, only here

    w = cp.Variable(d)
    P = (Q + Q.T) / 2 + lam * np.eye(d)
    prob = cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(P))), [eta @ w == 1, w >= 0])
    try:
        prob.solve()
    except cp.error.SolverError as exc:  # pragma: no cover - solver failure path
        raise SolverError("MK-MMD kernel-weight program failed", status=str(exc)) from exc
    if prob.status not in ("optimal", "optimal_inaccurate") or w.value is None:
        raise SolverError("MK-MMD kernel-weight program failed", status=prob.status)
    wv = np.maximum(np.asarray(w.value, dtype=float), 0.0)
    wv = wv / wv.sum()
    return MultiKernel(base.sigma2, tuple(float(v) for v in wv))


def mk_mmd(X, Y, kernel: MultiKernel | None = None, *, estimator: str = "unbiased", root: bool = True,
           seed: int = 0) -> float:
    """Multi-kernel MMD with a fixed kernel: unbiased MMD² clipped at 0 then rooted (the valuation default)."""
    check_choice("estimator", estimator, ("unbiased", "biased", "linear"))
    if estimator == "unbiased":
        v = mmd2_unbiased(X, Y, kernel, seed=seed)
    elif estimator == "biased":
        v = mmd2_biased(X, Y, kernel, seed=seed)
    else:
        v = mmd2_linear(X, Y, kernel, seed=seed)[0]
    v = max(v, 0.0)
    return float(np.sqrt(v)) if root else float(v)


def permutation_pvalue(X, Y, *, n_permutations: int = 200, weights: str = "optimal", seed: int = 0) -> float:
    """Permutation-test p-value of H0: P_X = P_Y with the unbiased MK-MMD² statistic (Eq. (64) in docs/theory.md).

    Kernel weights are learned on the first half of each sample and the test runs on the second half, so the
    p-value stays valid. ``p = (1 + #{perm stat ≥ observed}) / (1 + n_permutations)``.
    """
    X, Y = check_samples(X, Y)
    n_permutations = check_int("n_permutations", n_permutations, minimum=1)
    rng = np.random.default_rng(seed)
    X = X[rng.permutation(X.shape[0])]
    Y = Y[rng.permutation(Y.shape[0])]
    hx, hy = X.shape[0] // 2, Y.shape[0] // 2
    if hx < 2 or hy < 2:
        raise ValueError(f"the permutation test needs >= 4 points per sample, got {X.shape[0]} and {Y.shape[0]}")
    kern = optimal_kernel(X[:hx], Y[:hy], method=weights, seed=seed)
    Xt, Yt = X[hx:], Y[hy:]
    Z = np.vstack([Xt, Yt])
    K = kern.gram(Z, Z)
    m, n = Xt.shape[0], Yt.shape[0]

    def stat(idx: np.ndarray) -> float:
        a, b = idx[:m], idx[m:]
        kxx, kyy, kxy = K[np.ix_(a, a)], K[np.ix_(b, b)], K[np.ix_(a, b)]
        return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                - 2.0 * kxy.mean())

    obs = stat(np.arange(m + n))
    count = sum(stat(rng.permutation(m + n)) >= obs for _ in range(n_permutations))
    return float((1 + count) / (1 + n_permutations))


def mmd_deviation(m: int, n: int, delta: float, sup_k: float = 1.0) -> float:
    """Deviation of the biased MMD estimate (Gretton et al. 2012, JMLR, Thm 7), Eq. (63) in docs/theory.md.

    With probability ≥ 1−δ, ``|MMD_b − MMD| ≤ 2(√(K/m) + √(K/n)) + √(2K(m+n)·log(2/δ)/(m·n))``, K = sup k(x, x).
    """
    m = check_int("m", m, minimum=1)
    n = check_int("n", n, minimum=1)
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}")
    if not sup_k > 0:
        raise ValueError(f"sup_k must be > 0, got {sup_k!r}")
    spread = np.sqrt(2 * sup_k * (m + n) * np.log(2 / delta) / (m * n))
    return float(2 * (np.sqrt(sup_k / m) + np.sqrt(sup_k / n)) + spread)
