"""Consolidation chain with the exact waiting-time law of a run of k survivals (model ``chain-run``).

The chain of Eqs. (110)–(112) approximates the exposures until a fact's first run of k surviving gaps by a shifted
exponential of the right mean. The waiting time of a success run has a known law (Feller 1968, vol. I, §XIII.7).
With survival probability q = e^(−u^s) and failure probability f = 1 − q per gap, the probability S(n) that no run
has completed after n gaps is

    S(n) = 1 (n < k);   1 − q^k − (n − k)·f·q^k (k ≤ n ≤ 2k, exact);   S(2k)·x^(−(n − 2k)) (n > 2k),     (111a)
    x: the root ≠ 1/q of 1 − x + f·q^k·x^(k+1) = 0 (the dominant pole of the generating function).

It jumps by q^k at n = k (facts whose first k gaps all survive) and is exact on [k, 2k]; the geometric tail from the
exact value at 2k is within 0.6% (absolute) of the exact recursion for every n (tested). Accuracy is averaged over
the facts' attributes with k_a = k·h_a/mean(h), as in ``chain-attr``:

    A = ρ·F_static·mean_a(1 − S_a(n_eff)),   same parameters (τ0, k, s), same ceiling (Eq. (8))            (112a)

so the D → ∞ limit is the static theory. Eqs. (111a)–(112a) in docs/theory.md.
"""

from __future__ import annotations

import numpy as np

from phasemix.theory.dynamics_context import Context, allocated_fraction


def _log_fail(ctx: Context, tau0, s) -> np.ndarray:
    """``u^s = −ln q`` per gap, ``u = (1−r)·Δ/τ(N)`` (Eq. (110))."""
    tau = np.asarray(tau0, float) * (ctx.params / ctx.reference_params) ** ctx.a1
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        gap = 1.0 / ctx.p / ctx.ratio
        return ((1.0 - ctx.ratio) * gap / tau) ** np.asarray(s, float)


def run_decay(us, k) -> np.ndarray:
    """Decay rate ``ln x`` of Eq. (111a) for ``−ln q = us`` and run length ``k`` (arrays broadcast).

    In ``y = ln x``, ``H(y) = e^y − 1 − f·e^(−k·us + (k+1)·y)`` has the trivial root ``y = us`` (cancelled by the
    generating function's numerator) and an extremum at ``y_m = us − ln((k+1)·f)/k``; the wanted root lies in
    ``(0, y_m)`` when ``(k+1)·f > 1`` (H rises there) and in ``(y_m, us − ln(f)/k)`` otherwise (H falls there),
    found by safeguarded Newton.
    """
    us, k = np.broadcast_arrays(np.asarray(us, float), np.asarray(k, float))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        f = -np.expm1(-us)
        log_fq = np.log(f) - k * us  # ln(f·q^k)
        y_m = us - (np.log(f) + np.log1p(k)) / k
        rising = y_m < us
        sign = np.where(rising, 1.0, -1.0)

        flat_fq, flat_k, flat_sign = (np.ravel(x) for x in (log_fq, k, sign))

        def fun(y, idx):
            kk = flat_k[idx]
            tail = np.exp(flat_fq[idx] + (kk + 1) * y)
            return flat_sign[idx] * (np.expm1(y) - tail), flat_sign[idx] * (np.exp(y) - (kk + 1) * tail)

        lo = np.where(rising, 0.0, y_m)
        hi = np.where(rising, y_m, us - np.log(f) / k)
        x0 = np.where(rising, np.log1p(np.exp(np.minimum(log_fq, 0.0))), 0.5 * (lo + hi))
        ok = np.isfinite(lo) & np.isfinite(hi) & (us > 0)
        y = newton_active(fun, np.where(ok, lo, 0.0), np.where(ok, np.maximum(hi, lo), 1.0), np.where(ok, x0, 0.5))
    return np.where(ok, y, np.where(us > 0, 0.0, np.inf))


def newton_active(fun, lo, hi, x0, iterations: int = 60, xtol: float = 1e-13) -> np.ndarray:
    """:func:`~phasemix.theory.dynamics_context.newton_increasing` that iterates only on unconverged entries.

    ``fun(x, idx)`` returns ``(f, f')`` at the flat entries ``idx``; same safeguard (bisection when a Newton step
    leaves the bracket) and stopping rule per entry, so each entry's answer is what the full-array solver gives.
    """
    shape = np.broadcast_shapes(np.shape(lo), np.shape(hi), np.shape(x0))
    lo, hi, x = (np.array(np.broadcast_to(a, shape), dtype=float).ravel() for a in (lo, hi, x0))
    x = np.clip(x, lo, hi)
    active = np.arange(x.size)
    for _ in range(iterations):
        if active.size == 0:
            break
        xa = x[active]
        f, df = fun(xa, active)
        up = f > 0
        hi_a = np.where(up, xa, hi[active])
        lo_a = np.where(up, lo[active], xa)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = xa - f / df
        ok = np.isfinite(step) & (step > lo_a) & (step <= hi_a)
        xn = np.where(f == 0, xa, np.where(ok, step, 0.5 * (lo_a + hi_a)))
        x[active], lo[active], hi[active] = xn, lo_a, hi_a
        active = active[np.abs(xn - xa) > xtol * (1.0 + np.abs(xa))]
    return x.reshape(shape)


def _run_terms(ctx: Context, tau0, k, s, scales) -> tuple[np.ndarray, ...]:
    """Per-attribute constants of Eq. (111a), stacked on a leading attribute axis: ``k_a``, ``1 − q^k_a``,
    ``f·q^k_a``, ``S(2k_a)`` and the tail rate ``y_a``."""
    us = _log_fail(ctx, tau0, s)
    k = np.asarray(k, float)
    nd = max(us.ndim, k.ndim)
    us, ka = np.broadcast_arrays(us[None], np.reshape(scales, (-1,) + (1,) * nd) * k[None])
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        first = -np.expm1(-ka * us)  # 1 − q^k: P(run at the first k gaps) is q^k
        fqk = -np.expm1(-us) * np.exp(-ka * us)
        at_2k = np.maximum(first - ka * fqk, 0.0)
    return ka, first, fqk, at_2k, run_decay(us, ka)


def _survival(n, terms) -> np.ndarray:
    """P(no run of k survivals within n gaps), Eq. (111a), per attribute: 1 below k; exact ``1 − q^k − (n−k)·f·q^k``
    on [k, 2k] (a run ending at gap m ∈ (k, 2k] needs a failure at m − k then k survivals); geometric tail
    ``S(2k)·e^(−y·(n−2k))`` from the exact value at 2k on."""
    ka, first, fqk, at_2k, y = terms
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        head = np.maximum(first - (np.minimum(n, 2 * ka) - ka) * fqk, 0.0)
        tail = at_2k * np.exp(-y * np.maximum(n - 2 * ka, 0.0))
        out = np.where(n < ka, 1.0, np.where(n <= 2 * ka, head, tail))
    return np.where(np.isinf(n), 0.0, out)


def _run_root(level, terms) -> np.ndarray:
    """Smallest n with ``S(n) ≤ level`` per attribute (inverse of Eq. (111a))."""
    ka, first, fqk, at_2k, y = terms
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        linear = ka + (first - level) / fqk
        tail = 2 * ka + (np.log(at_2k) - np.log(level)) / y
    return np.where(level >= first, ka, np.where(level >= at_2k, linear, tail))


def chain_run_core(ctx: Context, tau0, k, s, scales) -> np.ndarray:
    """Accuracy ``ρ·F_static·mean_a(1 − S_a(n_eff))`` with ``S_a`` from Eq. (111a) at ``k_a`` (Eq. (112a))."""
    n = ctx.exposures
    rise = 1.0 - np.mean(_survival(n, _run_terms(ctx, tau0, k, s, scales)), axis=0)
    rise = np.where(np.isinf(n), 1.0, rise)
    ceiling = allocated_fraction(ctx, ctx.b_max, 0.0, 0.0)
    return ctx.keep * ceiling * np.where(ctx.ratio > 0, rise, 0.0)


def chain_run_tokens(ctx: Context, target_kept, tau0, k, s, scales) -> np.ndarray:
    """Smallest D with accuracy ≥ target: bracketed root search in ln n between the attributes' own roots.

    Each attribute alone reaches ``y = F*/F_static`` at its root of ``S_a(n) = 1 − y`` (closed form); the mixture
    is non-decreasing in n (with jumps at the k_a) and crosses y between the smallest and the largest of these
    roots. A crossing at a jump is returned exactly; otherwise the jumps narrow the bracket to a smooth piece,
    where safeguarded Newton in ln n converges (to 1e-13 relative). Beyond D = 1e300 tokens the answer is inf.
    """
    f = np.asarray(target_kept, float)
    ceiling = allocated_fraction(ctx, ctx.b_max, 0.0, 0.0)
    terms = _run_terms(ctx, tau0, k, s, scales)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = np.minimum(f / ceiling, 1.0)
        roots = _run_root(1.0 - y, terms)
        # attributes too slow for the float range: search up to the exposures of D = 1e300 tokens at most
        cap = 1e300 * ctx.ratio * ctx.p * ctx.clock
        lo = roots.min(axis=0)
        hi = np.where(roots.max(axis=0) <= cap, roots.max(axis=0), cap)
        reach = 1.0 - np.mean(_survival(hi, terms), axis=0) >= y
        ok = (y < 1) & (ctx.ratio > 0) & np.isfinite(hi) & (lo > 0) & (lo <= hi) & reach
        lo, hi = np.log(np.where(ok, lo, 1.0)), np.log(np.where(ok, hi, 1.0))

        def gap(n):
            return 1.0 - np.mean(_survival(n, terms), axis=0) - y

        jump_n = np.zeros_like(lo)
        for ka in terms[0]:  # jumps sit at the k_a: answer one exactly, or narrow the bracket to a smooth piece
            left = np.nextafter(ka, 0.0)
            g_at, g_left = gap(ka), gap(left)
            inside = (np.log(ka) >= lo - 1e-12) & (np.log(ka) <= hi + 1e-12)
            jump = inside & (g_at >= 0) & (g_left < 0)
            jump_n = np.where(jump, ka, jump_n)
            lo = np.where(inside & (g_at < 0), np.maximum(lo, np.log(ka)), lo)
            hi = np.where(inside & (g_left >= 0), np.minimum(hi, np.log(left)), hi)
        done = (jump_n > 0) | (hi <= lo)

        flat_terms = tuple(np.broadcast_to(t, terms[0].shape).reshape(len(t), -1) for t in terms)
        flat_y = np.broadcast_to(y, lo.shape).ravel()

        def gap_slope(ln_n, idx):  # smooth between the jumps: safeguarded Newton in ln n
            n = np.exp(ln_n)
            sub = tuple(t[:, idx] for t in flat_terms)
            surv = _survival(n, sub)
            ka, _, fqk, _, rate = sub
            slope = np.where(n < ka, 0.0, np.where(n <= 2 * ka, fqk, rate * surv))
            return 1.0 - np.mean(surv, axis=0) - flat_y[idx], n * np.mean(slope, axis=0)

        lo = np.where(done, hi, lo)  # a single point: Newton returns it
        n = np.where(jump_n > 0, jump_n, np.exp(newton_active(gap_slope, np.minimum(lo, hi), hi, 0.5 * (lo + hi))))
        d = n / (ctx.ratio * ctx.p * ctx.clock)
        for _ in range(2):  # D's exposures (Context.exposures) must not round below n: a jump sits at n
            d = np.where(ctx.ratio * d * ctx.p * ctx.clock < n, np.nextafter(d, np.inf), d)
    return np.where(f <= 0, 0.0, np.where(ok, d, np.inf))

