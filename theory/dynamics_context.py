"""Shared machinery of the finite-training models: validated broadcast inputs, vectorized root-finders, and the
static allocator with heterogeneous values (Eqs. (100)–(103) in docs/theory.md)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from phasemix._checks import as_float_array, check_positive, check_unit_interval
from phasemix.theory.capacity import DEFAULT_BITS_PER_PARAM, KnowledgeSet
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw

#: Exposures at which b(n) reaches b_max, and the floor of b(n) (Allen-Zhu & Li 2024; finite-training.md).
N_REF = 1000.0
B_MIN = 0.05
#: Reference size of the chain's retention time and of the learning clock when no calibration sets one.
DEFAULT_REFERENCE_PARAMS = 70e6
_Z_MAX = 10.0  # |z| bracket of the quantile solve: F = Φ(−z) ∈ [7.6e-24, 1 − 7.6e-24]

#: Largest size exponent of the learning clock accepted (speed per exposure ∝ N^β).
MAX_SPEED_EXPONENT = 2.0


@dataclass(frozen=True, slots=True)
class Context:
    """Broadcast inputs of one evaluation (all arrays share one shape).

    ``p`` is the value per bit of the *kept* set (occurrences per knowledge token per fact, ``c_occ/(ρ·K·T_fact)``),
    ``n`` the exposures per fact ``r·D·p`` times the learning clock ``(N/N_ref)^β``, ``H = ρ·K·h`` the kept bits.
    """

    params: np.ndarray
    ratio: np.ndarray
    p: np.ndarray
    bits: np.ndarray
    keep: np.ndarray
    tokens: np.ndarray
    clock: np.ndarray
    log_c0: float  # ln(α·A_b/unit): log web marginal at N = unit, bits per token per parameter
    a1: float  # α + 1
    unit: float
    b_max: float
    reference_params: float
    attribute_scale: tuple[float, ...] | None = None  # h_a/mean(h) of the facts' attributes, when known

    @property
    def exposures(self) -> np.ndarray:
        """Effective exposures per fact ``n·(N/N_ref)^β`` (Eq. (100))."""
        with np.errstate(invalid="ignore"):
            n = self.ratio * self.tokens * self.p * self.clock
        return np.where((self.tokens == 0) | (self.ratio == 0), 0.0, n)

    def log_marginal(self, size: np.ndarray) -> np.ndarray:
        """``ln ℓ'(M)`` (bits/token/param), +inf for M ≤ 0 (Eq. (101))."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(size > 0, self.log_c0 - self.a1 * np.log(np.maximum(size, 1e-300) / self.unit), np.inf)

    def log_size_at(self, log_marginal: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`log_marginal`: ``ln M`` where ``ln ℓ'(M)`` equals the argument."""
        return math.log(self.unit) + (self.log_c0 - log_marginal) / self.a1


def _check_tokens(tokens) -> np.ndarray:
    d = as_float_array("tokens", tokens)
    if (d < 0).any():
        raise ValueError(f"tokens must be >= 0 (training tokens; inf = converged), got {d[d < 0].flat[0]!r}")
    return d


def make_context(params, ratio, facts, bits_per_fact, tokens_per_fact, tokens, keep_fraction=1.0, occurrences=1.0,
                 *, law: PowerLaw = DEFAULT_WEB_LAW, bits_per_param: float = DEFAULT_BITS_PER_PARAM,
                 reference_params: float = DEFAULT_REFERENCE_PARAMS, speed_exponent: float = 0.0,
                 cardinalities=None) -> Context:
    """Validate and broadcast the inputs (each argument named in its error message).

    ``cardinalities`` (the attributes' value counts, shared by every row) enable per-attribute difficulty.
    """
    n = check_positive("params", params)
    r = check_unit_interval("ratio", ratio)
    k = check_positive("facts", facts)
    h = check_positive("bits_per_fact", bits_per_fact)
    tf = check_positive("tokens_per_fact", tokens_per_fact)
    occ = check_positive("occurrences", occurrences)
    d = _check_tokens(tokens)
    rho = check_unit_interval("keep_fraction", keep_fraction, low_open=True)
    b = float(check_positive("bits_per_param", bits_per_param))
    ref = float(check_positive("reference_params", reference_params))
    beta = float(as_float_array("speed_exponent", speed_exponent))
    if not 0.0 <= beta <= MAX_SPEED_EXPONENT:
        raise ValueError(f"speed_exponent must lie in [0, {MAX_SPEED_EXPONENT:g}] (learning is not slower in larger "
                         f"models), got {beta!r}")
    n, r, k, h, tf, occ, d, rho = np.broadcast_arrays(n, r, k, h, tf, occ, d, rho)
    law_b = law.in_bits()
    return Context(
        params=n, ratio=r, p=occ / (rho * k * tf), bits=rho * k * h, keep=rho, tokens=d,
        clock=(n / ref) ** beta, log_c0=math.log(law_b.alpha * law_b.A / law_b.unit), a1=law_b.alpha + 1.0,
        unit=law_b.unit, b_max=b, reference_params=ref, attribute_scale=_attribute_scale(cardinalities),
    )


def _attribute_scale(cardinalities) -> tuple[float, ...] | None:
    """``h_a / mean(h)`` with ``h_a = log2 |V_a|`` (attributes with one value carry no bits and are dropped)."""
    if cardinalities is None:
        return None
    cards = check_positive("cardinalities", list(cardinalities))
    if cards.ndim != 1 or cards.size == 0 or (cards < 1).any():
        raise ValueError(f"cardinalities must be a non-empty list of counts >= 1, got {cardinalities!r}")
    h = np.log2(cards[cards > 1])
    if h.size == 0:
        raise ValueError(f"cardinalities must include an attribute with more than one value, got {cardinalities!r}")
    return tuple(float(x) for x in h / h.mean())


def context_for(params, ratio, knowledge: KnowledgeSet, tokens, keep_fraction=1.0, **kwargs) -> Context:
    """:func:`make_context` from a :class:`~phasemix.theory.capacity.KnowledgeSet`."""
    if not isinstance(knowledge, KnowledgeSet):
        raise TypeError(f"knowledge must be a KnowledgeSet, got {type(knowledge).__name__}")
    return make_context(params, ratio, knowledge.facts, knowledge.bits_per_fact, knowledge.tokens_per_fact, tokens,
                        keep_fraction, knowledge.occurrences, cardinalities=knowledge.cardinalities, **kwargs)


def bisect_increasing(fun: Callable[[np.ndarray], np.ndarray], lo, hi, iterations: int = 56) -> np.ndarray:
    """Vectorized bisection for the root of an increasing function on ``[lo, hi]`` (clamped to the bracket)."""
    lo, hi = (np.array(x, dtype=float) for x in np.broadcast_arrays(lo, hi))
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        up = fun(mid) > 0
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    return 0.5 * (lo + hi)


def newton_increasing(fun: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], lo, hi, x0=None,
                      iterations: int = 60, xtol: float = 1e-13) -> np.ndarray:
    """Vectorized safeguarded Newton for the root of an increasing function on ``[lo, hi]``.

    ``fun`` returns ``(f, f')``; a Newton step that leaves the current bracket (or is not finite) is replaced by a
    bisection step, so it converges whenever bisection does, quadratically near a simple root. Stops when every
    step is below ``xtol·(1 + |x|)``.
    """
    lo, hi = (np.array(x, dtype=float) for x in np.broadcast_arrays(lo, hi))
    x = 0.5 * (lo + hi) if x0 is None else np.clip(np.broadcast_to(np.asarray(x0, float), lo.shape), lo, hi)
    for _ in range(iterations):
        f, df = fun(x)
        up = f > 0
        hi = np.where(up, x, hi)
        lo = np.where(up, lo, x)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = x - f / df
        ok = np.isfinite(step) & (step > lo) & (step <= hi)  # a root at the bracket's upper end is accepted
        x_new = np.where(ok, step, 0.5 * (lo + hi))
        x_new = np.where(f == 0, x, x_new)
        done = np.abs(x_new - x) <= xtol * (1.0 + np.abs(x))
        x = x_new
        if done.all():
            break
    return x


# ----------------------------------------------------------------------------------------------------------------
# The static allocator with heterogeneous values (shared by exposure, static and chain)
# ----------------------------------------------------------------------------------------------------------------

def allocated_fraction(ctx: Context, b, log_c, sigma) -> np.ndarray:
    """Fraction F of the kept set stored by the allocator at ``b`` bits/param, values ``LogN(−ln c, σ)`` (Eq. (102)).

    F solves ``r·p·b·v_F = (1−r)·ℓ'(N − F·H/b)`` with ``v_F`` the (1−F)-quantile of the values; σ = 0 is the
    closed form ``F = clip((N − N')·b/H, 0, 1)`` with ``ℓ'(N') = r·p·b/(c·(1−r))``, i.e. Eq. (8) with p → p/c.
    """
    r, n, p, hbits = ctx.ratio, ctx.params, ctx.p, ctx.bits
    b, log_c, sigma = np.broadcast_arrays(np.asarray(b, float), np.asarray(log_c, float), np.asarray(sigma, float))
    shape = np.broadcast_shapes(r.shape, b.shape)
    r, n, p, hbits, b, log_c, sigma = (np.broadcast_to(x, shape) for x in (r, n, p, hbits, b, log_c, sigma))
    interior = (r > 0) & (r < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rs = np.where(interior, r, 0.5)
        base = np.log(rs) + np.log(p) + np.log(b) - log_c - np.log1p(-rs)  # ln(r·p·b/(c·(1−r)))
        closed = np.clip((n - np.exp(ctx.log_size_at(base))) * b / hbits, 0.0, 1.0)
        spread = sigma > 0
        if spread.any():
            sig = np.where(spread, sigma, 1.0)

            cost = hbits / b  # parameters the whole kept set takes at b

            def phi(z):  # increasing in z; F = Φ(−z)
                left = n - special.ndtr(-z) * cost
                value = base + sig * z - ctx.log_marginal(left)
                slope = sig + ctx.a1 * cost * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) / left
                return value, np.where(left > 0, slope, np.inf)

            with np.errstate(over="ignore"):
                z0 = np.nan_to_num((ctx.log_marginal(n) - base) / sig, nan=0.0)
            z = newton_increasing(phi, np.full(shape, -_Z_MAX), np.full(shape, _Z_MAX), z0)
            het = special.ndtr(-z)
            closed = np.where(spread, het, closed)
    full = np.minimum(1.0, n * b / hbits)
    return np.where(r == 0, 0.0, np.where(r == 1, full, closed))


def bits_per_param_at(ctx: Context, kappa) -> np.ndarray:
    """``b(n) = clip(b_max·(n/n_ref)^κ, b_min, b_max)`` (Eq. (103))."""
    with np.errstate(divide="ignore", over="ignore"):
        raw = ctx.b_max * (ctx.exposures / N_REF) ** np.asarray(kappa, float)
    return np.clip(raw, min(B_MIN, ctx.b_max), ctx.b_max)


def replace_tokens(ctx: Context, tokens) -> Context:
    d = np.broadcast_to(np.asarray(tokens, float), ctx.params.shape)
    return Context(ctx.params, ctx.ratio, ctx.p, ctx.bits, ctx.keep, d, ctx.clock, ctx.log_c0, ctx.a1, ctx.unit,
                   ctx.b_max, ctx.reference_params, ctx.attribute_scale)
