"""Symbolic derivation (sympy) of the two-domain closed forms from the knapsack first-order condition.

For a general power-law web loss ``F_web(m) = E + A·(m/(b·N_u))^(−α)`` (A in bits) and facts worth ``p`` bits per
knowledge token per stored bit, the learner minimizes ``r·p·(H − m1) + (1−r)·F_web(b·N − m1)`` (Eq. (5)). Solving
its first-order condition with sympy gives m0(t), the stored bits, N_on(r), r*(N), r_full(N) and both exponents
(Eq. (23)–(27) in docs/theory.md). The expressions and their LaTeX are exposed; numeric use goes through cached,
lambdified functions (:func:`numeric`) or the validated wrapper :func:`evaluate`. Symbolic work runs once (cached),
never inside a hot loop.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from phasemix._checks import check_positive, check_unit_interval
from phasemix.theory.capacity import DEFAULT_BITS_PER_PARAM, KnowledgeSet
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw

#: The symbols, all positive: capacity m, marginal value t, law (E, A, alpha, N_u), bits per parameter b, value per
#: bit p, ratio r, parameters N, set size H = K·h, stored bits m1.
SYMBOLS: dict[str, sp.Symbol] = {
    name: sp.Symbol(name, positive=True) for name in ("m", "t", "E", "A", "alpha", "N_u", "b", "p", "r", "N", "H", "m1")
}

#: Argument order of every lambdified function in :func:`numeric`.
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "onset_capacity": ("t", "A", "alpha", "b", "N_u"),
    "stored_bits_interior": ("N", "r", "p", "A", "alpha", "b", "N_u"),
    "onset_params": ("r", "p", "A", "alpha", "b", "N_u"),
    "critical_ratio": ("N", "p", "A", "alpha", "b", "N_u"),
    "full_ratio": ("N", "H", "p", "A", "alpha", "b", "N_u"),
    "elasticity_ratio_vs_params": ("N", "p", "A", "alpha", "b", "N_u"),
}


@dataclass(frozen=True)
class Derivation:
    """The derived expressions (sympy).

    web_loss F_web(m); marginal g(m) = −F_web'(m); foc the knapsack first-order condition in m1; onset_capacity
    m0(t); stored_bits_interior m1 = b·N − m0(t) (before clipping to [0, H]); onset_params N_on(r); critical_ratio
    r*(N); full_ratio r_full(N); exponent_ratio d log(r*/(1−r*))/d log N; exponent_params d log N_on/d log(r/(1−r));
    elasticity_ratio_vs_params d log r*/d log N.
    """

    web_loss: sp.Expr
    marginal: sp.Expr
    foc: sp.Expr
    onset_capacity: sp.Expr
    stored_bits_interior: sp.Expr
    onset_params: sp.Expr
    critical_ratio: sp.Expr
    full_ratio: sp.Expr
    exponent_ratio: sp.Expr
    exponent_params: sp.Expr
    elasticity_ratio_vs_params: sp.Expr

    def expressions(self) -> dict[str, sp.Expr]:
        """Name → expression."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def latex(self) -> dict[str, str]:
        """Name → LaTeX string."""
        return {name: sp.latex(expr) for name, expr in self.expressions().items()}


def _solve_unique(equation: sp.Expr, symbol: sp.Symbol) -> sp.Expr:
    sols = sp.solve(equation, symbol)
    if len(sols) != 1:  # pragma: no cover - a change in sympy would surface here
        raise RuntimeError(f"expected one solution for {symbol}, sympy gave {sols}")
    return sp.simplify(sols[0])


@functools.lru_cache(maxsize=1)
def derive() -> Derivation:
    """Derive every closed form from the first-order condition (Eq. (23)–(27) in docs/theory.md); cached."""
    s = SYMBOLS
    m, t, E, A, alpha, N_u, b, p, r, N, H, m1 = (s[k] for k in
                                                   ("m", "t", "E", "A", "alpha", "N_u", "b", "p", "r", "N", "H", "m1"))
    web = E + A * (m / (b * N_u)) ** (-alpha)
    g = sp.simplify(-sp.diff(web, m))
    # Eq. (23): knapsack objective on the ramp, its derivative in m1 set to zero
    objective = r * p * (H - m1) + (1 - r) * web.subs(m, b * N - m1)
    foc = sp.diff(objective, m1)
    m0 = _solve_unique(sp.Eq(g, t), m)  # Eq. (24)
    stored = _solve_unique(sp.Eq(foc, 0), m1)  # Eq. (25) before clipping
    onset_params = sp.simplify(m0.subs(t, p * r / (1 - r)) / b)
    crit = _solve_unique(sp.Eq(foc.subs(m1, 0), 0), r)  # Eq. (26): FOC at m1 = 0
    full = _solve_unique(sp.Eq(foc.subs(m1, H), 0), r)
    # Eq. (27): exponents, by substituting N = e^x and r/(1−r) = e^y
    x, y = sp.symbols("x y", real=True)
    odds = sp.simplify(crit / (1 - crit))
    log_odds = sp.expand_log(sp.log(odds.subs(N, sp.exp(x))), force=True)
    exponent_ratio = sp.simplify(sp.diff(log_odds, x))
    log_non = sp.expand_log(sp.log(onset_params.subs(r, sp.exp(y) / (1 + sp.exp(y)))), force=True)
    exponent_params = sp.simplify(sp.diff(sp.simplify(log_non), y))
    elasticity = sp.simplify(sp.diff(sp.log(crit), N) * N)
    return Derivation(web, g, foc, m0, stored, onset_params, crit, full, exponent_ratio, exponent_params, elasticity)


@functools.cache
def numeric(name: str):
    """Cached numpy function of expression ``name``; arguments in the order of ``ARGUMENTS[name]``."""
    if name not in ARGUMENTS:
        raise ValueError(f"name must be one of {sorted(ARGUMENTS)}, got {name!r}")
    expr = getattr(derive(), name)
    return sp.lambdify([SYMBOLS[a] for a in ARGUMENTS[name]], expr, modules="numpy")


def evaluate(name: str, *, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
             bits_per_param: float = DEFAULT_BITS_PER_PARAM, params: Any = None, ratio: Any = None) -> np.ndarray:
    """Evaluate a derived expression with validated inputs (law converted to bits first).

    ``name`` is one of ``onset_params`` (needs ``ratio``), ``critical_ratio``, ``full_ratio``,
    ``elasticity_ratio_vs_params`` (need ``params``) or ``stored_bits`` (needs both; clipped to ``[0, K·h]``).
    Direct evaluation in linear space: use :mod:`phasemix.theory.allocation` for extreme inputs.
    """
    law_b = law.in_bits()
    b = float(check_positive("bits_per_param", bits_per_param))
    common = {"p": knowledge.value_per_bit, "A": law_b.A, "alpha": law_b.alpha, "b": b, "N_u": law_b.unit,
              "H": knowledge.total_bits}
    if params is not None:
        common["N"] = check_positive("params", params)
    if ratio is not None:
        common["r"] = check_unit_interval("ratio", ratio, low_open=True, high_open=True)
    target = "stored_bits_interior" if name == "stored_bits" else name
    if target not in ARGUMENTS:
        raise ValueError(f"name must be one of {sorted([*ARGUMENTS, 'stored_bits'])}, got {name!r}")
    missing = [a for a in ARGUMENTS[target] if a not in common]
    if missing:
        raise ValueError(f"evaluate({name!r}) needs {', '.join('params' if a == 'N' else 'ratio' for a in missing)}")
    out = np.asarray(numeric(target)(*(common[a] for a in ARGUMENTS[target])), dtype=float)
    if name == "stored_bits":
        out = np.clip(out, 0.0, knowledge.total_bits)
    return out
