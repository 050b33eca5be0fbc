"""The parametric Lemma-1 law of three-phase scaling and its fitter (Eqs. (55)–(57) in docs/theory.md).

Continuous form (phasemix's reconstruction): with ``g(N) = a·N^(1−α−β) − b·N^(1−λ−β)`` and ``T_k`` the plateau height,

- Phase 1 (S ≤ k^β): ``g(S^(1/β)) − g(k) + T_k``;
- Phase 2 (k^β < S < k^β/π): ``T_k``;
- Phase 3 (S ≥ k^β/π): ``T_k·(N₃/k)^(1−β) + g(N₃) − g(k)`` with ``N₃ = (π·S)^(1/β)``.

``signs="as_printed"`` gives the source's printed (discontinuous) Phase-1 form, the reconstruction
``k^(1−β) + a·k^(1−α−β) − b·k^(1−λ−β)`` on the plateau and the Phase-1 form in ``π·S`` for Phase 3 (Eq. (56) in
docs/theory.md).
Given (α, λ) the continuous law is linear in (a, b), so the fitter profiles (a, b) out by non-negative least squares
and searches (α, λ) from several starts (Eq. (57) in docs/theory.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from phasemix._checks import check_choice, check_int, check_nonnegative, check_positive
from phasemix.errors import SolverError
from phasemix.theory.threephase import plateau_height
from phasemix.theory.zipf import check_real_share

SCHEMA_VERSION = 1
_MIN_GAP = 0.05  # λ ≥ α + 0.05 keeps the two power terms identifiable


@dataclass(frozen=True, slots=True)
class Lemma1Params:
    """Parameters ``(a, b, α, λ)`` of the Lemma-1 law (Eq. (55) in docs/theory.md); a, b ≥ 0, α, λ ∈ [0, 5]."""

    a: float
    b: float
    alpha: float
    lam: float

    def __post_init__(self) -> None:
        check_nonnegative("a", self.a)
        check_nonnegative("b", self.b)
        check_nonnegative("alpha", self.alpha)
        check_nonnegative("lam", self.lam)

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return {"a": self.a, "b": self.b, "alpha": self.alpha, "lam": self.lam}


def _design(sizes: np.ndarray, beta: float, k: int, pi: float, alpha: float, lam: float, tk: float):
    """Columns (A, B, T) with law = a·A − b·B + T (continuous form)."""
    kb = float(k) ** beta
    n1 = sizes ** (1.0 / beta)
    n3 = np.maximum(pi * sizes, 0.0) ** (1.0 / beta)
    ea, el = 1.0 - alpha - beta, 1.0 - lam - beta
    ph1 = sizes <= kb
    ph3 = sizes >= kb / pi
    A = np.zeros_like(sizes)
    B = np.zeros_like(sizes)
    T = np.full_like(sizes, tk)
    A[ph1] = n1[ph1] ** ea - float(k) ** ea
    B[ph1] = n1[ph1] ** el - float(k) ** el
    A[ph3] = n3[ph3] ** ea - float(k) ** ea
    B[ph3] = n3[ph3] ** el - float(k) ** el
    T[ph3] = tk * (n3[ph3] / k) ** (1.0 - beta)
    return A, B, T


def lemma1_law(sizes, params: Lemma1Params, beta: float, k: int, pi: float, *, plateau: float | None = None,
               signs: str = "continuous") -> np.ndarray:
    """Lemma-1 test error at sizes S (Eqs. (55)–(56) in docs/theory.md).

    Parameters
    ----------
    sizes : S > 0.
    params : (a, b, α, λ).
    beta, k, pi : Zipf exponent (> 1), cutoff (>= 1) and real share (0, 1].
    plateau : ``T_k``; default the exact tail mass ``ζ(β, k+1)/ζ(β)``.
    signs : ``"continuous"`` (default) or ``"as_printed"``.
    """
    s = check_positive("sizes", sizes)
    check_choice("signs", signs, ("continuous", "as_printed"))
    k = check_int("k (cutoff rank)", k, minimum=1)
    pi = check_real_share(pi)
    tk = plateau_height(beta, k) if plateau is None else float(check_positive("plateau", plateau))
    beta = float(beta)
    flat = s.reshape(-1)
    if signs == "continuous":
        A, B, T = _design(flat, beta, k, pi, params.alpha, params.lam, tk)
        return (params.a * A - params.b * B + T).reshape(s.shape)
    a, b, al, lm = params.a, params.b, params.alpha, params.lam
    kb = float(k) ** beta

    def printed(x: np.ndarray) -> np.ndarray:
        return (a * x ** ((1 - al - beta) / beta) - b * x ** ((1 - lm - beta) / beta)
                + a * k ** (1 - al - beta) - b * k ** (1 - lm - beta) + k ** (1 - beta))

    out = np.where(flat <= kb, printed(flat), k ** (1 - beta) + a * k ** (1 - al - beta) - b * k ** (1 - lm - beta))
    ph3 = flat >= kb / pi
    x3 = pi * flat[ph3]
    out[ph3] = a * x3 ** ((1 - al - beta) / beta) - b * x3 ** ((1 - lm - beta) / beta) + x3 ** ((1 - beta) / beta)
    return out.reshape(s.shape)


@dataclass(frozen=True, slots=True)
class Lemma1Fit:
    """Result of :func:`fit_lemma1`: parameters, relative RMS residual and the number of starts."""

    params: Lemma1Params
    rel_rms: float
    n_starts: int
    beta: float
    k: int
    pi: float
    plateau: float
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return {"schema_version": self.schema_version, "params": self.params.to_dict(), "rel_rms": self.rel_rms,
                "n_starts": self.n_starts, "beta": self.beta, "k": self.k, "pi": self.pi, "plateau": self.plateau}

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict())


def _profile(theta: np.ndarray, s: np.ndarray, y: np.ndarray, beta: float, k: int, pi: float, tk: float):
    """Best (a, b) by NNLS for fixed (α, λ); returns (relative residual vector, a, b)."""
    alpha, lam = float(theta[0]), float(theta[0] + _MIN_GAP + theta[1])
    A, B, T = _design(s, beta, k, pi, alpha, lam, tk)
    M = np.column_stack([A / y, -B / y])
    rhs = (y - T) / y
    scale = np.maximum(np.linalg.norm(M, axis=0), 1e-300)
    coef, _ = optimize.nnls(M / scale, rhs)
    coef = coef / scale
    r = M @ coef - rhs
    penalty = max(0.0, lam - 5.0)
    return np.append(r, 10.0 * penalty), coef[0], coef[1]


def fit_lemma1(sizes, errors, beta: float, k: int, pi: float, *, plateau: float | None = None,
               n_starts: int = 12, seed: int = 0) -> Lemma1Fit:
    """Fit (a, b, α, λ) of the continuous Lemma-1 law to an error curve (Eq. (57) in docs/theory.md).

    Constraints: a, b ≥ 0 (NNLS), α ∈ [0, 5], λ ∈ [α + 0.05, 5] (λ > 5 penalised). Relative least squares,
    multi-start over a seeded grid of (α, λ − α).
    """
    s = check_positive("sizes", sizes).reshape(-1)
    y = check_positive("errors", errors).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"sizes and errors must have the same length, got {s.size} and {y.size}")
    if s.size < 5:
        raise ValueError(f"need at least 5 points to fit 4 parameters, got {s.size}")
    k = check_int("k (cutoff rank)", k, minimum=1)
    pi = check_real_share(pi)
    n_starts = check_int("n_starts", n_starts, minimum=1)
    tk = plateau_height(beta, k) if plateau is None else float(check_positive("plateau", plateau))
    rng = np.random.default_rng(seed)
    starts = np.column_stack([rng.uniform(0.0, 2.5, n_starts), rng.uniform(0.0, 2.5, n_starts)])
    best = None
    for x0 in starts:
        res = optimize.least_squares(lambda th: _profile(th, s, y, beta, k, pi, tk)[0], x0,
                                     bounds=([0.0, 0.0], [5.0, 5.0 - _MIN_GAP]), method="trf")
        if best is None or res.cost < best.cost:
            best = res
    if best is None or not np.isfinite(best.cost):
        raise SolverError("Lemma-1 fit failed", status=None if best is None else str(best.status))
    r, a, b = _profile(best.x, s, y, beta, k, pi, tk)
    params = Lemma1Params(float(a), float(b), float(best.x[0]), float(best.x[0] + _MIN_GAP + best.x[1]))
    rel = float(np.sqrt(np.mean(r[:-1] ** 2)))
    return Lemma1Fit(params, rel, n_starts, float(beta), k, pi, tk)

