"""Finite-training models: accuracy after D training tokens, its D → ∞ limit and its inverse in D.

Six models, each with at most three free parameters (finite-training.md; Eqs. (100)–(119) in docs/theory.md):

- ``exposure``: exposure-dependent capacity ``b(n)`` inside the static allocator, values ``v ~ LogN(−ln c, σ)``.
- ``race``: forgetting race (write ∝ exposure rate, erase ∝ web share), mean-field closed form, ``g ~ LogN(ln g0, σ)``.
- ``chain``: consolidation chain (``k`` surviving gaps in a row), ceiling = static allocator with c = 1.
- ``chain-attr``: the chain averaged over attributes, attribute a needing ``k·h_a/mean(h)`` survivals.
- ``chain-run``: ``chain-attr`` with the exact waiting-time law of a run of k survivals (:mod:`.dynamics_runs`).
- ``static``: the static allocator with value multiplier ``c`` and spread ``σ``, times a ramp ``1 − e^(−n/n_r)``.

Shared inputs, root-finders and the heterogeneous allocator live in :mod:`phasemix.theory.dynamics_context`.

Every function is vectorized (numpy broadcasting over inputs *and* parameters) and returns the learned fraction of
the **full** set (``keep_fraction·F_kept``, chance not included). ``tokens = inf`` gives the converged limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from phasemix._checks import as_float_array
from phasemix.theory.dynamics_context import (  # noqa: F401  (re-exported: the models' public building blocks)
    B_MIN,
    DEFAULT_REFERENCE_PARAMS,
    N_REF,
    Context,
    allocated_fraction,
    bisect_increasing,
    bits_per_param_at,
    context_for,
    make_context,
    newton_increasing,
    replace_tokens,
)
from phasemix.theory.dynamics_runs import chain_run_core, chain_run_tokens

# ----------------------------------------------------------------------------------------------------------------
# Model 1: exposure-dependent capacity (c, σ, κ)
# ----------------------------------------------------------------------------------------------------------------

def exposure_core(ctx: Context, c, sigma, kappa) -> np.ndarray:
    """Exposure-dependent capacity: the allocator of Eq. (102) at ``b = b(n)`` (Eqs. (103)–(104))."""
    b = bits_per_param_at(ctx, kappa)
    return ctx.keep * allocated_fraction(ctx, b, np.log(c), sigma)


def exposure_limit(ctx: Context, c, sigma, kappa) -> np.ndarray:
    """D → ∞ limit of the exposure model: the static allocator at b_max with values LogN(−ln c, σ)."""
    return ctx.keep * allocated_fraction(ctx, ctx.b_max + 0.0 * np.asarray(kappa, float), np.log(c), sigma)


def exposure_tokens(ctx: Context, target_kept, c, sigma, kappa) -> np.ndarray:
    """Tokens until the exposure model's kept-set fraction reaches ``target_kept`` (Eq. (105)).

    At the target, ``ln b + (α+1)·ln((N − F·H/b)/unit) = ln(1−r) + ln(α·A_b/unit) + ln c − ln(r·p) − σ·z_F``; the
    left side increases in b, so b* is a bisection; then ``n* = n_ref·(b*/b_max)^(1/κ)`` and ``D = n*/(r·p·clock)``.
    """
    f = np.asarray(target_kept, float)
    c, sigma, kappa = (np.asarray(x, float) for x in (c, sigma, kappa))
    shape = np.broadcast_shapes(ctx.ratio.shape, f.shape, c.shape, sigma.shape, kappa.shape)
    r, n, p, hbits, clock, f, c, sigma, kappa = (np.broadcast_to(x, shape) for x in (
        ctx.ratio, ctx.params, ctx.p, ctx.bits, ctx.clock, f, c, sigma, kappa))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        fs = np.clip(f, 1e-300, 1.0)
        z = np.where(sigma > 0, -special.ndtri(fs), 0.0)
        sz = np.where(sigma > 0, sigma * z, 0.0)
        rhs = np.log1p(-r) + ctx.log_c0 + np.log(c) - np.log(r * p) - sz
        need = fs * hbits / n  # b must exceed F·H/N (capacity)
        lo = np.log(np.maximum(min(B_MIN, ctx.b_max), need * (1 + 1e-12)))
        hi = np.full(shape, math.log(ctx.b_max))

        def psi(lb):
            used = fs * hbits * np.exp(-lb)
            left = n - used
            value = lb + ctx.a1 * np.log(np.maximum(left, 1e-300) / ctx.unit) - rhs
            return value, np.where(left > 0, 1.0 + ctx.a1 * used / left, np.inf)

        reachable = (np.exp(lo) <= ctx.b_max) & (psi(hi)[0] >= 0) & ((sigma == 0) | (f < 1.0)) & (f <= 1.0)
        lb = newton_increasing(psi, lo, np.maximum(hi, lo))
        lb = np.where(psi(lo)[0] >= 0, lo, lb)
        b_star = np.exp(lb)
        at_floor = b_star <= min(B_MIN, ctx.b_max) * (1 + 1e-12)
        n_star = np.where(at_floor, 0.0, N_REF * (b_star / ctx.b_max) ** (1.0 / kappa))
        d = n_star / (r * p * clock)
    d = np.where(reachable & (r > 0), d, np.inf)
    return np.where(f <= 0, 0.0, d)


# ----------------------------------------------------------------------------------------------------------------
# Model 2: forgetting race, mean field (g0, η, σ)
# ----------------------------------------------------------------------------------------------------------------

def _race_rates(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Write rate per unit g, ``r·p``, and erase rate ``e = (1−r)·ℓ'(N)/b_max`` (Eq. (106))."""
    with np.errstate(over="ignore"):
        erase = (1.0 - ctx.ratio) * np.exp(ctx.log_marginal(ctx.params)) / ctx.b_max
    return ctx.ratio * ctx.p, erase


def race_strength(ctx: Context, g, eta) -> np.ndarray:
    """Mean-field strength ``x(D) = x*·(1 − e^(−η(a+e)D))``, ``a = r·p·g``, ``x* = a/(a+e)`` (Eq. (107))."""
    w, e = _race_rates(ctx)
    a = w * np.asarray(g, float)
    s = a + e
    with np.errstate(invalid="ignore", over="ignore"):
        x = np.where(s > 0, a / np.where(s > 0, s, 1.0), 0.0) * -np.expm1(-np.asarray(eta, float) * ctx.clock * s
                                                                         * ctx.tokens)
    return np.where(np.isinf(ctx.tokens), np.where(s > 0, a / np.where(s > 0, s, 1.0), 0.0), x)


def race_core(ctx: Context, g0, eta, sigma) -> np.ndarray:
    """Race accuracy ``P(x(D; g) ≥ ½) = Φ((ln g0 − ln g*)/σ)`` (Eq. (108)).

    ``g*`` is the smallest g recalled at D: with ``τ = η·e·D`` and ``s = η·a·D``, ``s/(s+τ)·(1 − e^(−(s+τ))) = ½``
    is increasing in s with its root in ``[max(τ, ln 2), 2τ + 2]``, solved by bisection.
    """
    w, e = _race_rates(ctx)
    eta_c = np.asarray(eta, float) * ctx.clock
    with np.errstate(invalid="ignore"):
        tau = eta_c * e * ctx.tokens
    shape = np.broadcast_shapes(tau.shape, np.shape(g0), np.shape(sigma))
    tau_b = np.broadcast_to(np.where(np.isfinite(tau), tau, 0.0), shape)

    def half(s):
        tot = s + tau_b
        grow = -np.expm1(-tot)
        return s / tot * grow - 0.5, tau_b / tot**2 * grow + s / tot * np.exp(-tot)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s_star = newton_increasing(half, np.maximum(tau_b, math.log(2.0)), 2 * tau_b + 2.0)
        log_g_star = np.log(s_star) - np.log(eta_c * ctx.tokens * w)
        # converged limit: g* = e/(r·p), the per-fact threshold of Eq. (14)
        log_g_inf = np.log(e) - np.log(w)
        log_g_star = np.where(np.isinf(ctx.tokens), log_g_inf, log_g_star)
        log_g_star = np.where((ctx.tokens == 0) | (w == 0), np.inf, log_g_star)
        sigma = np.asarray(sigma, float)
        diff = np.log(np.asarray(g0, float)) - log_g_star
        acc = np.where(sigma > 0, special.ndtr(diff / np.where(sigma > 0, sigma, 1.0)), (diff >= 0).astype(float))
    return ctx.keep * acc


def race_limit(ctx: Context, g0, eta, sigma) -> np.ndarray:
    """D → ∞ limit of the race: ``Φ((ln g0 − ln(e/(r·p)))/σ)``; σ = 0 is the threshold rule ``f·g0 ≥ f_thres``."""
    inf_ctx = replace_tokens(ctx, np.inf)
    return race_core(inf_ctx, g0, eta, sigma)


def race_tokens(ctx: Context, target_kept, g0, eta, sigma) -> np.ndarray:
    """Closed-form tokens to target: ``D = ln(2a/(a−e))/(η(a+e))`` at ``g_A = g0·e^(−σ·Φ⁻¹(F))`` (Eq. (109))."""
    w, e = _race_rates(ctx)
    f = np.asarray(target_kept, float)
    sigma = np.asarray(sigma, float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = np.where(sigma > 0, special.ndtri(np.clip(f, 0.0, 1.0)), 0.0)
        g_a = np.asarray(g0, float) * np.exp(-np.where(sigma > 0, sigma * z, 0.0))
        a = w * g_a
        d = np.log(2 * a / (a - e)) / (np.asarray(eta, float) * ctx.clock * (a + e))
        ok = (a > e) & (((sigma > 0) & (f < 1.0)) | ((sigma == 0) & (f <= 1.0)))
    return np.where(f <= 0, 0.0, np.where(ok, d, np.inf))


# ----------------------------------------------------------------------------------------------------------------
# Model 3: consolidation chain (τ0, k, s)
# ----------------------------------------------------------------------------------------------------------------

def _chain_log_mean(ctx: Context, tau0, k, s) -> np.ndarray:
    """``ln M`` with ``M = (q^(−k) − 1)/(1 − q)``, ``q = exp(−u^s)``, ``u = (1−r)·Δ/τ(N)`` (Eq. (110))."""
    tau = np.asarray(tau0, float) * (ctx.params / ctx.reference_params) ** ctx.a1
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        gap = 1.0 / ctx.p / ctx.ratio  # Δ = K·T_fact/(r·c_occ) tokens between two exposures
        us = ((1.0 - ctx.ratio) * gap / tau) ** np.asarray(s, float)  # −ln q
        x = np.asarray(k, float) * us
        log_num = np.where(x > 30, x + np.log1p(-np.exp(-np.minimum(x, 700))), np.log(np.expm1(np.minimum(x, 30))))
        log_den = np.log(-np.expm1(-us))
        return np.where(us > 0, log_num - log_den, np.log(np.asarray(k, float)))


def chain_core(ctx: Context, tau0, k, s) -> np.ndarray:
    """Chain accuracy ``F_static(c=1)·(1 − exp(−(n − k)₊/(M − k + 1)))`` (Eq. (111)); the ceiling is [I]."""
    k = np.asarray(k, float)
    with np.errstate(over="ignore", invalid="ignore"):
        denom = np.exp(_chain_log_mean(ctx, tau0, k, s)) - k + 1.0
        n = ctx.exposures
        rise = -np.expm1(-np.maximum(n - k, 0.0) / denom)
        rise = np.where(np.isinf(n), 1.0, np.where(np.isfinite(denom), rise, 0.0))
    ceiling = allocated_fraction(ctx, ctx.b_max, 0.0, 0.0)
    return ctx.keep * ceiling * np.where(ctx.ratio > 0, rise, 0.0)


def chain_limit(ctx: Context, tau0, k, s) -> np.ndarray:
    """D → ∞ limit of the chain: the static allocator of Eq. (8) (c = 1, b = b_max)."""
    shape = np.broadcast_shapes(np.shape(tau0), np.shape(k), np.shape(s))
    return ctx.keep * allocated_fraction(ctx, ctx.b_max, 0.0, 0.0) * np.ones(shape)


def chain_tokens(ctx: Context, target_kept, tau0, k, s) -> np.ndarray:
    """Tokens to target: ``n = k + (M − k + 1)·(−ln(1 − F/F_static))``, ``D = n/(r·p·clock)`` (Eq. (112))."""
    k = np.asarray(k, float)
    f = np.asarray(target_kept, float)
    ceiling = allocated_fraction(ctx, ctx.b_max, 0.0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = f / ceiling
        denom = np.exp(_chain_log_mean(ctx, tau0, k, s)) - k + 1.0
        n = k + denom * -np.log1p(-np.minimum(y, 1.0))
        d = n / (ctx.ratio * ctx.p * ctx.clock)
    return np.where(f <= 0, 0.0, np.where((y < 1) & (ctx.ratio > 0), d, np.inf))


# ----------------------------------------------------------------------------------------------------------------
# Model 3b: consolidation chain with per-attribute difficulty (τ0, k, s; k_a = k·h_a/mean(h))
# ----------------------------------------------------------------------------------------------------------------

def _scales(ctx: Context) -> tuple[float, ...]:
    if ctx.attribute_scale is None:
        raise ValueError("models 'chain-attr' and 'chain-run' need the attributes' cardinalities "
                         "(KnowledgeSet.cardinalities, or "
                         "the CSV column 'cardinalities', the same on every row)")
    return ctx.attribute_scale


def chain_attr_core(ctx: Context, tau0, k, s) -> np.ndarray:
    """Chain accuracy averaged over attributes, attribute a needing ``k_a = k·h_a/mean(h)`` survivals (Eq. (111))."""
    scales = _scales(ctx)
    return sum(chain_core(ctx, tau0, np.asarray(k, float) * d, s) for d in scales) / len(scales)


def chain_attr_tokens(ctx: Context, target_kept, tau0, k, s) -> np.ndarray:
    """Tokens to target of the attribute mixture: safeguarded Newton in n between the attributes' own roots."""
    scales = _scales(ctx)
    k = np.asarray(k, float)
    f = np.asarray(target_kept, float)
    ceiling = allocated_fraction(ctx, ctx.b_max, 0.0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = np.minimum(f / ceiling, 1.0)
        ks = [k * d for d in scales]
        dens = [np.exp(_chain_log_mean(ctx, tau0, ka, s)) - ka + 1.0 for ka in ks]
        # an attribute whose M overflows never learns: the others must then reach y·A/m (m = how many can)
        live = [np.isfinite(den) & (den < 1e300) for den in dens]
        y_eff = y * len(ks) / np.maximum(sum(live), 1)
        roots = [np.where(lv, ka + den * -np.log1p(-y), np.inf) for ka, den, lv in zip(ks, dens, live)]
        lo = np.minimum.reduce(roots)
        hi = np.maximum.reduce([np.where(lv, ka + den * -np.log1p(-np.minimum(y_eff, 1.0)), 0.0)
                                for ka, den, lv in zip(ks, dens, live)])
        ok = (y < 1) & (y_eff < 1) & (ctx.ratio > 0) & np.isfinite(hi) & np.isfinite(lo)

        def gap(n):
            vals = [(-np.expm1(-np.maximum(n - ka, 0.0) / den), np.where(n > ka, np.exp(-(n - ka) / den) / den, 0.0))
                    for ka, den in zip(ks, dens)]
            return (sum(v for v, _ in vals) / len(vals) - y, sum(g for _, g in vals) / len(vals))

        safe_lo, safe_hi = np.where(ok, lo, 0.0), np.where(ok, hi, 1.0)
        n = newton_increasing(gap, safe_lo, np.maximum(safe_hi, safe_lo))
        d = n / (ctx.ratio * ctx.p * ctx.clock)
    return np.where(f <= 0, 0.0, np.where(ok, d, np.inf))


def chain_run_attr_core(ctx: Context, tau0, k, s) -> np.ndarray:
    """Chain with the exact run-waiting-time law, averaged over attributes (Eqs. (111a)–(112a))."""
    return chain_run_core(ctx, tau0, k, s, _scales(ctx))


def chain_run_attr_tokens(ctx: Context, target_kept, tau0, k, s) -> np.ndarray:
    """Smallest D where the ``chain-run`` accuracy reaches the target (bisection in n, Eq. (112a))."""
    return chain_run_tokens(ctx, target_kept, tau0, k, s, _scales(ctx))


# ----------------------------------------------------------------------------------------------------------------
# Model 4: static allocator with a ramp (c, σ, n_r)
# ----------------------------------------------------------------------------------------------------------------

def static_core(ctx: Context, c, sigma, n_r) -> np.ndarray:
    """Static baseline ``F_static(b_max; c, σ)·(1 − e^(−n/n_r))`` (Eq. (113)); ``n_r = 0`` is the static theory."""
    n_r = np.asarray(n_r, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ramp = np.where(n_r > 0, -np.expm1(-ctx.exposures / np.where(n_r > 0, n_r, 1.0)), 1.0)
    ramp = np.where(np.isinf(ctx.exposures), 1.0, ramp)
    return ctx.keep * allocated_fraction(ctx, ctx.b_max, np.log(c), sigma) * ramp


def static_limit(ctx: Context, c, sigma, n_r) -> np.ndarray:
    """D → ∞ limit of the static baseline: ``F_static(b_max; c, σ)``."""
    return ctx.keep * allocated_fraction(ctx, ctx.b_max + 0.0 * np.asarray(n_r, float), np.log(c), sigma)


def static_tokens(ctx: Context, target_kept, c, sigma, n_r) -> np.ndarray:
    """Tokens to target: ``n = −n_r·ln(1 − F/F_static)`` (Eq. (114))."""
    f = np.asarray(target_kept, float)
    ceiling = allocated_fraction(ctx, ctx.b_max, np.log(c), sigma)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = f / ceiling
        n = -np.asarray(n_r, float) * np.log1p(-np.minimum(y, 1.0))
        d = n / (ctx.ratio * ctx.p * ctx.clock)
    return np.where(f <= 0, 0.0, np.where((y < 1) & (ctx.ratio > 0), d, np.inf))


# ----------------------------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DynamicsModel:
    """One finite-training model: parameter names, fit bounds (log-scaled where ``log_scale``) and its functions."""

    name: str
    description: str
    parameter_names: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    log_scale: tuple[bool, ...]
    reference: tuple[float, ...]  # the spec's reference fit on gu2025-70m (a multi-start seed)
    core: Callable[..., np.ndarray]
    limit: Callable[..., np.ndarray]
    tokens: Callable[..., np.ndarray]

    def accuracy(self, ctx: Context, theta) -> np.ndarray:
        """Learned fraction of the full set at the context's tokens."""
        self.check_parameters(theta)
        return self.core(ctx, *theta)

    def limit_accuracy(self, ctx: Context, theta) -> np.ndarray:
        """Learned fraction as D → ∞."""
        self.check_parameters(theta)
        return self.limit(ctx, *theta)

    def tokens_to_target(self, ctx: Context, target, theta) -> np.ndarray:
        """Tokens until the full-set learned fraction reaches ``target`` (inf if never; closed form or bisection)."""
        self.check_parameters(theta)
        kept = np.asarray(target, float) / ctx.keep
        return np.where(kept > 1.0, np.inf, self.tokens(ctx, kept, *theta))

    def check_parameters(self, theta) -> None:
        """Parameters must be finite and non-negative where the model allows 0, positive otherwise."""
        if len(theta) != len(self.parameter_names):
            raise ValueError(f"model {self.name!r} takes {len(self.parameter_names)} parameters "
                             f"{self.parameter_names}, got {len(theta)}")
        for name, value, logged in zip(self.parameter_names, theta, self.log_scale):
            arr = as_float_array(name, value)
            strict = logged and name != "n_r"  # n_r = 0: no ramp (the static theory itself)
            if not np.isfinite(arr).all() or (arr < 0).any() or (strict and (arr <= 0).any()):
                rule = "> 0" if strict else ">= 0"
                raise ValueError(f"{self.name} parameter {name} must be finite and {rule}, got {value!r}")


MODELS: dict[str, DynamicsModel] = {
    "exposure": DynamicsModel(
        "exposure", "exposure-dependent capacity b(n) in the static allocator", ("c", "sigma", "kappa"),
        (0.05, 1e-3, 0.02), (200.0, 3.0, 3.0), (True, False, False), (3.17, 0.32, 0.474),
        exposure_core, exposure_limit, exposure_tokens),
    "race": DynamicsModel(
        "race", "forgetting race, mean field", ("g0", "eta", "sigma"),
        (1e-4, 1e-7, 1e-3), (1e3, 1e2, 3.0), (True, True, False), (0.30, 8.2e-3, 0.30),
        race_core, race_limit, race_tokens),
    "chain": DynamicsModel(
        "chain", "forgetting race, consolidation chain", ("tau0", "k", "s"),
        (1e5, 1.0, 0.2), (1e15, 1e5, 5.0), (True, True, False), (1.1e9, 147.0, 1.30),
        chain_core, chain_limit, chain_tokens),
    "chain-attr": DynamicsModel(
        "chain-attr", "consolidation chain, per-attribute difficulty from cardinalities", ("tau0", "k", "s"),
        (1e5, 1.0, 0.2), (1e15, 1e5, 5.0), (True, True, False), (1.0e9, 170.0, 1.37),
        chain_attr_core, chain_limit, chain_attr_tokens),
    "chain-run": DynamicsModel(
        "chain-run", "consolidation chain, exact run-waiting-time law, per-attribute difficulty",
        ("tau0", "k", "s"), (1e5, 1.0, 0.2), (1e15, 1e5, 5.0), (True, True, False), (1.0e9, 170.0, 1.37),
        chain_run_attr_core, chain_limit, chain_run_attr_tokens),
    "static": DynamicsModel(
        "static", "static allocator with value multiplier and exposure ramp", ("c", "sigma", "n_r"),
        (0.05, 1e-3, 1.0), (200.0, 3.0, 1e6), (True, False, True), (3.04, 0.25, 614.0),
        static_core, static_limit, static_tokens),
}


def get_model(name: str) -> DynamicsModel:
    """The model called ``name`` (``exposure``, ``race``, ``chain``, ``chain-attr``, ``chain-run``, ``static``)."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {', '.join(map(repr, MODELS))}, got {name!r}")
    return MODELS[name]
