"""Acceptance: the simulated learned fraction converges to the theory's closed form as exposures grow (spec §1, §6.4).

Population: Zipf, J = 20 000 facts, exponent 0.5 (every fact has its own frequency, so the n → ∞ water level falls
between two facts); N = 10M, r = 0.1, b ≡ 2, n_min = 1. L_th is the theory layer's water-filling with n → ∞
(:func:`phasemix.theory.knapsack.water_fill`, facts stored whole counted). D_m = D_0·4^m, m = 0..4, where D_0 gives
μ* = λ_th·D_0/b = 4 exposures at the threshold frequency.

(i) fixed λ = λ_th: stored indicators are independent Bernoulli(π_j), π_j = P(Poisson(μ_j) > λ_th·D/b) exactly (scipy),
    so |L_sim − E_D[L]| ≤ 5·sd + 1/J (false-failure rate 5.7e-7 per assertion, normal approximation).
(ii) with capacity feedback: |L_sim − L_th| ≤ e(D_m) + 5·sd_m + β_m, e(D) = |E_D[L] − L_th|, β = the boundary bin's
    facts in L units; the band shrinks and e(D_4) < 1e-3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from phasemix.sim.memorization import Setting, simulate
from phasemix.sim.population import PopulationSpec, build_population
from phasemix.sim.waterfill import fixed_level_expectation, theory_reference
from phasemix.theory.allocation import learned_fraction
from phasemix.theory.capacity import KnowledgeSet
from phasemix.theory.knapsack import water_fill

J, EXPONENT, N, R, T_FACT, H, B = 20_000, 0.5, 1e7, 0.1, 100.0, 45.5916, 2.0
POP = PopulationSpec("zipf", facts=J, exponent=EXPONENT)


@pytest.fixture(scope="module")
def theory():
    pop = build_population(POP)
    f = R * pop.p / T_FACT
    wf = water_fill(f, H, N, 1.0 - R)
    lam = wf.water_level * B  # value density of the threshold fact, bits/token/param
    l_th = wf.n_full / J
    d0 = 4.0 * B / lam
    return pop, f, lam, l_th, [d0 * 4.0**m for m in range(5)]


def _expected(f, lam, d):
    mu = f * d
    pi = stats.poisson.sf(np.floor(lam * d / B), mu)  # P(n > λD/b): u = n·b/D > λ
    return pi.sum() / J, math.sqrt(float((pi * (1 - pi)).sum())) / J


def test_library_expectations_match_this_module(theory):
    pop, f, lam, l_th, ds = theory
    st = Setting(params=N, ratio=R, tokens=(ds[1],))
    assert theory_reference(pop, st) == pytest.approx((l_th, lam), rel=1e-12)
    assert fixed_level_expectation(pop, st, lam) == pytest.approx(_expected(f, lam, ds[1]), rel=1e-12)


def test_fixed_level_matches_exact_expectation(theory):
    pop, f, lam, _, ds = theory
    settings = [Setting(params=N, ratio=R, tokens=(d,), seed=11, lam=lam) for d in ds]
    res = [simulate(pop, s, backend="numba")[0].checkpoints[0] for s in settings]
    for d, cp in zip(ds, res):
        mean, sd = _expected(f, lam, d)
        assert abs(cp.learned_fraction - mean) <= 5 * sd + 1.0 / J, (d, cp.learned_fraction, mean, sd)


def test_feedback_converges_to_water_filling(theory):
    pop, f, lam, l_th, ds = theory
    res = [simulate(pop, Setting(params=N, ratio=R, tokens=(d,), seed=5), backend="numba")[0].checkpoints[0]
           for d in ds]
    bands = []
    for d, cp in zip(ds, res):
        mean, sd = _expected(f, lam, d)
        e = abs(mean - l_th)
        band = e + 5 * sd + cp.boundary_fraction
        bands.append(band)
        assert abs(cp.learned_fraction - l_th) <= band, (d, cp.learned_fraction, l_th, band)
    assert abs(_expected(f, lam, ds[-1])[0] - l_th) < 1e-3  # e(D_4)
    assert bands[-1] < bands[0] / 4  # the band shrinks
    assert 0.1 < l_th < 0.9  # a non-trivial boundary


def test_uniform_set_tends_to_two_domain_closed_form():
    """Equal facts: the learned fraction approaches allocation.learned_fraction (Eq. (8)) as D grows."""
    k = 20_000
    ks = KnowledgeSet(k, H, T_FACT)
    n_params, r = 1e7, 0.1
    target = float(learned_fraction(n_params, r, ks))
    gaps = []
    for d in (1e11, 1e13, 1e15):
        cp = simulate(PopulationSpec("uniform", facts=k), Setting(params=n_params, ratio=r, tokens=(d,), seed=2),
                      backend="numba")[0].checkpoints[0]
        gaps.append(abs(cp.learned_fraction - target))
    assert 0.5 < target < 1.0
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.005  # the gap falls like D^(-1/2): ~0.026 at 1e13


def test_another_web_law_moves_the_simulation_with_the_theory():
    """``simulate(..., law=...)`` uses that law's marginal value: at large D it tracks Eq. (8) under the same law."""
    from phasemix.theory.laws import PowerLaw

    k, n_params, r, d = 20_000, 1e7, 0.1, 1e15
    ks = KnowledgeSet(k, H, T_FACT)
    steep = PowerLaw(E=1.769, A=3 * 4.952, alpha=0.283)  # a 3× larger web marginal value: less is stored
    default_target = float(learned_fraction(n_params, r, ks))
    steep_target = float(learned_fraction(n_params, r, ks, law=steep))
    assert steep_target < default_target - 0.1
    cp = simulate(PopulationSpec("uniform", facts=k), Setting(params=n_params, ratio=r, tokens=(d,), seed=2),
                  backend="numba", law=steep)[0].checkpoints[0]
    assert abs(cp.learned_fraction - steep_target) < 0.005
    with pytest.raises(TypeError, match="law"):
        simulate(PopulationSpec("uniform", facts=k), Setting(params=n_params, ratio=r, tokens=(d,)), law=(1, 2, 3))
