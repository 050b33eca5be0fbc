"""M2 'race' limit (spec §6.5): with the race only and no capacity binding, the mean strength over J = 1e5 facts
follows the race model's mean-field closed form x(D) = x*(1 − e^(−η(a+e)D)) (finite-training.md;
:func:`phasemix.theory.dynamics_models.race_strength`) within 5σ + 1e-3 at 5 checkpoints.

The Monte Carlo writes once per exposure with ω = 1 − e^(−η·c_w), so its mean-field write rate per unit g is exact
with g = ω/η (= c_w up to O(η·c_w)); exposures are Poisson, so E[(1−ω)^Δn] = e^(−μω) exactly. σ is the exact
standard deviation of the mean over facts of the discrete Strang-split recursion (x_{k+1} is affine in x_k with a
random factor Q = q^Δn independent of x_k), so the tolerance is derived, not guessed; the 1e-3 covers the
difference between the discrete steps (η(a+e)ΔD ≤ 0.05) and the continuous closed form.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from phasemix.sim.memorization import Dynamics, Setting, simulate
from phasemix.sim.population import PopulationSpec
from phasemix.sim.waterfill import web_marginal
from phasemix.theory.dynamics_models import make_context, race_strength
from phasemix.theory.laws import DEFAULT_WEB_LAW

J, N, R, T_FACT, H = 100_000, 70e6, 0.2, 100.0, 45.5916
ETA, C_W = 0.01, 0.3


def _discrete_moments(f, e, schedule, eta, c_w):
    """Exact mean and variance of x after each chunk of the Strang-split race with Poisson exposures."""
    q = math.exp(-eta * c_w)
    m1 = m2 = 0.0
    out = []
    for delta, at_cp in schedule:
        rho = math.exp(-eta * e * delta / 2.0)
        mu = f * delta
        eq, eq2 = math.exp(-mu * (1 - q)), math.exp(-mu * (1 - q * q))
        # x' = ρ(1 − Q) + ρ²·Q·x
        new1 = rho * (1 - eq) + rho**2 * eq * m1
        new2 = rho**2 * (1 - 2 * eq + eq2) + 2 * rho**3 * (eq - eq2) * m1 + rho**4 * eq2 * m2
        m1, m2 = new1, new2
        if at_cp:
            out.append((m1, m2 - m1 * m1))
    return out


@pytest.fixture(scope="module")
def race_run():
    e = (1 - R) * float(web_marginal(DEFAULT_WEB_LAW, np.array([N]))[0]) / 2
    f = R / (J * T_FACT)
    g = -math.expm1(-ETA * C_W) / ETA
    a = f * g
    tau = 1.0 / (ETA * (a + e))
    cps = tuple(tau * m for m in (0.25, 0.5, 1.0, 2.0, 4.0))
    dyn = Dynamics(kind="race", eta=ETA, c_w=C_W, max_step=0.05)
    st = Setting(params=N, ratio=R, tokens=cps, seed=3, tokens_per_fact=T_FACT, bits_per_fact=H, dynamics=dyn, lam=0.0)
    res = simulate(PopulationSpec("uniform", facts=J), st, backend="numba")[0]
    return res, cps, f, e, g


def test_mean_strength_follows_mean_field_formula(race_run):
    res, cps, f, e, g = race_run
    from phasemix.sim.memorization import _chunk_schedule, build_population

    sched = _chunk_schedule([Setting(params=N, ratio=R, tokens=cps, tokens_per_fact=T_FACT,
                                     dynamics=Dynamics(kind="race", eta=ETA, c_w=C_W, max_step=0.05))],
                            build_population(PopulationSpec("uniform", facts=J)))
    moments = _discrete_moments(f, e, sched, ETA, C_W)
    ctx = make_context(N, R, J, H, T_FACT, np.array(cps))
    closed = race_strength(ctx, g, ETA)
    for cp, want, (m_disc, var) in zip(res.checkpoints, closed, moments):
        sigma = math.sqrt(var / J)
        assert abs(cp.mean_strength - want) <= 5 * sigma + 1e-3, (cp.tokens, cp.mean_strength, want, sigma)
        assert abs(cp.mean_strength - m_disc) <= 5 * sigma + 1e-6  # the exact discrete expectation, tighter
    assert 0.3 < closed[-1] < 0.8


def test_recall_fraction_and_learned_agree_without_capacity(race_run):
    res = race_run[0]
    for cp in res.checkpoints:
        assert cp.allocated_fraction == pytest.approx(cp.eligible_fraction)
        assert cp.learned_fraction <= cp.recalled_fraction + 1e-12
    assert res.checkpoints[0].recalled_fraction < res.checkpoints[-1].recalled_fraction


def test_race_without_eta_is_rejected():
    with pytest.raises(ValueError, match="dynamics.eta"):
        Dynamics(kind="race", eta=0.0)


def test_recalled_fraction_matches_theory_race_accuracy():
    """Cross-layer check with the finite-training model (theory.dynamics_models.race_core, Eq. (108)): g ~ LogN(ln g0,
    σ) is the population's 64-class heterogeneity times c_w = g0. Tolerance: the 64 quantile classes move the CDF by
    ≤ 1/128, binomial noise 5·√(¼/K), and 0.005 for the exposure noise around the mean field (measured max 0.004)."""
    from phasemix.theory.dynamics_models import race_core

    k, r, n, g0, eta, sigma = 200_000, 0.3, 70e6, 0.3, 8.2e-3, 0.3
    cps = tuple(np.geomspace(2e9, 2e11, 6))
    st = Setting(params=n, ratio=r, tokens=cps, seed=1, tokens_per_fact=T_FACT, bits_per_fact=H, lam=0.0,
                 dynamics=Dynamics(kind="race", eta=eta, c_w=g0))
    res = simulate(PopulationSpec("uniform", facts=k, sigma_g=sigma), st, backend="numba")[0]
    theory = race_core(make_context(n, r, k, H, T_FACT, np.array(cps)), g0, eta, sigma)
    tol = 1 / 128 + 5 * math.sqrt(0.25 / k) + 0.005
    got = np.array([cp.recalled_fraction for cp in res.checkpoints])
    assert np.all(np.abs(got - theory) <= tol), (got, theory)
    assert got[0] < 0.01 and got[-1] > 0.85  # the ramp is inside the checkpoints
