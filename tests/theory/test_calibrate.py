"""Calibration and threshold estimators: recovery on synthetic data, CI coverage, bad input (Eq. (34)–(39))."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from phasemix.errors import SolverError
from phasemix.theory import allocation as al
from phasemix.theory import calibrate as ca
from phasemix.theory import thresholds as th
from phasemix.theory.capacity import KnowledgeSet
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw

SIZES = np.array([14, 31, 70, 160, 410, 1000, 2800]) * 1e6


# ------------------------------------------------------------------------------------------------- web law


@pytest.mark.parametrize("E,A,alpha", [(1.769, 4.952, 0.283), (0.5, 20.0, 0.7), (2.5, 1.0, 0.1)])
def test_web_law_exact_recovery(E, A, alpha):
    law = PowerLaw(E=E, A=A, alpha=alpha)
    fit = ca.fit_web_law(SIZES, law.value(SIZES), n_boot=0)
    assert (fit.E, fit.A, fit.alpha) == pytest.approx((E, A, alpha), rel=1e-6)
    assert fit.status == "ok" and fit.rss < 1e-18


def test_web_law_fixed_E_with_few_sizes():
    fit = ca.fit_web_law(SIZES[:3], DEFAULT_WEB_LAW.value(SIZES[:3]), fix_E=1.769, n_boot=0)
    assert fit.E_fixed and fit.E == 1.769
    assert (fit.A, fit.alpha) == pytest.approx((4.952, 0.283), rel=1e-7)
    # fixing E at 0 gives a different but decreasing law
    fit0 = ca.fit_web_law(SIZES[:4], DEFAULT_WEB_LAW.value(SIZES[:4]), fix_E=0.0, n_boot=0)
    assert fit0.A > 0 and fit0.alpha < 0.283


def test_web_law_bootstrap_ci_covers_truth():
    rng = np.random.default_rng(42)
    truth = (1.769, 4.952, 0.283)
    covered = np.zeros(3)
    reps = 10
    for rep in range(reps):
        y = DEFAULT_WEB_LAW.value(SIZES) + rng.normal(0, 0.01, SIZES.size)
        fit = ca.fit_web_law(SIZES, y, n_boot=100, seed=rep, n_starts=40)
        assert fit.n_boot_used >= 95
        for j, (ci, t) in enumerate(zip((fit.E_ci, fit.A_ci, fit.alpha_ci), truth)):
            covered[j] += ci[0] <= t <= ci[1]
            assert ci[0] <= (fit.E, fit.A, fit.alpha)[j] <= ci[1] or j == 0
    # nominal 95%; residual bootstrap with 7 points and 3 parameters is somewhat liberal
    assert np.all(covered >= 0.75 * reps), covered


def test_web_law_roundtrip(tmp_path):
    fit = ca.fit_web_law(SIZES, DEFAULT_WEB_LAW.value(SIZES) + 0.001 * np.sin(SIZES), n_boot=20)
    back = ca.WebLawFit.from_json(fit.to_json(tmp_path / "w.json"))
    assert back == fit and back.law().alpha == fit.alpha


def test_web_law_bad_input():
    with pytest.raises(ValueError, match=">= 5 distinct sizes"):
        ca.fit_web_law(SIZES[:4], DEFAULT_WEB_LAW.value(SIZES[:4]))
    with pytest.raises(ValueError, match=">= 3 distinct sizes"):
        ca.fit_web_law(SIZES[:2], DEFAULT_WEB_LAW.value(SIZES[:2]), fix_E=1.0)
    with pytest.raises(ValueError, match="params must be > 0"):
        ca.fit_web_law(-SIZES, DEFAULT_WEB_LAW.value(SIZES))
    with pytest.raises(ValueError, match="loss must not be NaN"):
        ca.fit_web_law(SIZES, np.full(SIZES.size, np.nan))
    with pytest.raises(ValueError, match="one length"):
        ca.fit_web_law(SIZES, [1.0, 2.0])
    with pytest.raises(SolverError, match="does not decrease"):
        ca.fit_web_law(SIZES, 2.0 + 1e-3 * np.log(SIZES), n_boot=0)


# ------------------------------------------------------------------------------------------------- prefactor

K = KnowledgeSet.synbio()


@pytest.mark.parametrize("phi", [0.2, 1.0, 3.0])
def test_prefactor_recovery_and_ci(phi):
    rng = np.random.default_rng(1)
    n = np.geomspace(70e6, 1e9, 8)
    q = al.target_ratio(n, K, 0.4)
    log_odds = np.log(phi) + np.log(q) - np.log1p(-q) + rng.normal(0, 0.1, n.size)
    fit = ca.fit_prefactor(n, special.expit(log_odds), K, target=0.4, seed=3)
    assert fit.phi == pytest.approx(phi, rel=0.12)
    assert fit.phi_ci[0] <= phi <= fit.phi_ci[1]
    assert fit.exponent == pytest.approx(-1.283)
    assert fit.params_scale == pytest.approx(fit.phi ** (1 / 1.283))
    assert np.allclose(fit.critical_ratio(n, K), special.expit(np.log(fit.phi) + np.log(q) - np.log1p(-q)))
    # noise-free data give phi exactly
    exact = ca.fit_prefactor(n, special.expit(np.log(phi) + np.log(q) - np.log1p(-q)), K, n_boot=0)
    assert exact.phi == pytest.approx(phi, rel=1e-10)


def test_prefactor_bad_input():
    with pytest.raises(ValueError, match="critical_ratios must lie in"):
        ca.fit_prefactor([7e7], [1.0], K)
    with pytest.raises(ValueError, match="cannot hold the fraction"):
        ca.fit_prefactor([1e6, 7e7], [0.5, 0.2], K)


def test_critical_ratios_from_grid_match_theory():
    chance = float(np.mean(1.0 / np.array(K.cardinalities)))
    sizes = np.array([70e6, 160e6, 410e6])
    ratios = special.expit(np.linspace(special.logit(0.005), special.logit(0.5), 400))
    nn, rr = np.meshgrid(sizes, ratios, indexing="ij")
    acc = al.predicted_accuracy(al.learned_fraction(nn, rr, K), K.cardinalities)
    got_n, got_r = ca.critical_ratios_from_grid(nn.ravel(), rr.ravel(), acc.ravel(), target=0.4, chance=chance)
    assert np.array_equal(got_n, sizes)
    assert got_r == pytest.approx(al.target_ratio(sizes, K, 0.4), rel=2e-3)
    # a size that never crosses gives NaN
    n2, r2 = ca.critical_ratios_from_grid([1e8, 1e8], [0.1, 0.2], [0.0, 0.1], target=0.4)
    assert np.isnan(r2).all()


# ------------------------------------------------------------------------------------------------- thresholds


def _power_law_subsets(seed, n_per=100, slope=3.0):
    q = np.arange(1, 101) ** -1.5
    freq = np.repeat(q / q.sum() / 100 * 0.01, n_per)
    group = np.repeat(np.arange(100), n_per)
    f_star = float(freq[0] / 100 * 0.3)  # true 80% crossing, in the middle of the subsets
    p = special.expit(slope * (np.log(freq) - np.log(f_star)) + special.logit(0.8))
    y = (np.random.default_rng(seed).random(freq.size) < p).astype(float)
    return freq, y, group, f_star, p


def test_first_below_target_recovers_threshold():
    freq, y, group, f_star, p = _power_law_subsets(0, n_per=2000)
    plain = th.first_below_target(freq, y, group, n_boot=300)
    uniq = np.unique(freq)[::-1]
    truth_step = uniq[np.argmax(np.unique(p)[::-1] < 0.8)]  # first subset whose true accuracy is < 0.8
    assert np.isclose(uniq, plain.estimate, rtol=1e-12).any() and plain.status == "ok"
    assert plain.ci_low * (1 - 1e-12) <= truth_step <= plain.ci_high * (1 + 1e-12)
    interp = th.first_below_target(freq, y, group, interpolate=True, n_boot=300)
    assert abs(math.log(interp.estimate / f_star)) < 0.05
    assert interp.ci_low <= f_star <= interp.ci_high
    assert abs(math.log(interp.estimate / f_star)) <= abs(math.log(plain.estimate / f_star))


def test_first_below_target_edge_cases():
    r = th.first_below_target([3.0, 2.0, 1.0], [1, 1, 1], n_boot=0)
    assert r.status == "all_above" and r.estimate == 1.0
    r = th.first_below_target([3.0, 2.0, 1.0], [0, 1, 1], n_boot=0)
    assert r.status == "all_below" and r.estimate == 3.0
    r = th.first_below_target([4.0, 4.0, 1.0, 1.0], [1, 1, 1, 0], interpolate=True, n_boot=0)
    # acc 1.0 at f=4, 0.5 at f=1: 0.8 is 0.4 of the way in log f
    assert r.estimate == pytest.approx(math.exp(math.log(4) + 0.4 * (math.log(1) - math.log(4))))


def _reference_scan(x, y, a_target, n_fail, reset):
    """The spec's literal reconstruction of Algorithm 1 (per-point steps)."""
    I = sorted(range(len(x)), key=lambda i: x[i])
    suf = [0.0] * len(I)
    s = 0
    for k in range(len(I) - 1, -1, -1):
        s += y[I[k]]
        suf[k] = s / (len(I) - k)
    j, e = len(I) - 1, 0
    while j > 0:
        k = j - 1
        if suf[k] < a_target:
            e += 1
        elif reset:
            e = 0
        if e == n_fail:
            return x[I[j]]
        j = k
    return x[I[0]]


@pytest.mark.parametrize("reset", [False, True])
def test_scan_matches_literal_algorithm(reset):
    rng = np.random.default_rng(5)
    for _ in range(30):
        n = int(rng.integers(2, 80))
        x = rng.integers(1, 30, n).astype(float)  # ties on purpose
        y = (rng.random(n) < rng.random()).astype(float)
        n_fail = int(rng.integers(1, 6))
        got = th.popularity_scan(x, y, target=0.6, n_fail=n_fail, reset=reset, n_boot=0).estimate
        assert got == _reference_scan(list(x), list(y), 0.6, n_fail, reset)


def test_scan_recovers_popularity_threshold_and_variants_differ_little():
    rng = np.random.default_rng(11)
    pop = np.exp(rng.uniform(np.log(10), np.log(1e6), 8000))
    p_thres = 1e4
    acc = special.expit(2.0 * (np.log(pop) - np.log(p_thres)))  # items above the threshold mostly right
    y = (rng.random(pop.size) < acc).astype(float)
    truth_x = np.sort(pop)
    order = np.argsort(pop)
    suf = np.cumsum(acc[order][::-1])[::-1] / np.arange(pop.size, 0, -1)
    true_thr = truth_x[np.argmax(suf >= 0.6)]  # where the expected suffix accuracy reaches the target
    ests = {}
    for reset in (False, True):
        for step in ("point", "value"):
            est = th.popularity_scan(pop, y, reset=reset, step=step, n_boot=60, seed=2)
            ests[(reset, step)] = est.estimate
            assert est.status == "ok" and est.ci_low <= est.estimate <= est.ci_high
            assert abs(math.log(est.estimate / true_thr)) < 0.5
    assert max(ests.values()) / min(ests.values()) < 2.0


def test_threshold_bad_input_and_roundtrip(tmp_path):
    with pytest.raises(ValueError, match="correct must hold only 0/1"):
        th.popularity_scan([1.0, 2.0], [0.5, 1.0])
    with pytest.raises(ValueError, match="popularity must be > 0"):
        th.popularity_scan([0.0, 2.0], [0, 1])
    with pytest.raises(ValueError, match="n_fail must be >= 1"):
        th.popularity_scan([1.0, 2.0], [0, 1], n_fail=0)
    with pytest.raises(ValueError, match="step must be one of"):
        th.popularity_scan([1.0, 2.0], [0, 1], step="bin")
    with pytest.raises(ValueError, match="non-empty"):
        th.first_below_target([], [])
    with pytest.raises(ValueError, match="group must have one label per item"):
        th.first_below_target([1.0, 2.0], [0, 1], group=[1])
    est = th.first_below_target([3.0, 2.0, 1.0], [1, 0, 1], n_boot=10)
    assert th.ThresholdEstimate.from_json(est.to_json(tmp_path / "t.json")) == est


def test_sim_b_first_below_rule_is_quantized():
    """Sim B end to end: water-filling per fact, then the 'first subset below 80%' rule on 100 subsets.

    The exact level has slope −(α+1) = −1.283; the quantized rule gives about −1.252 over 70–410M (spec §0.8).
    """
    from phasemix.theory import knapsack as ks

    q = np.arange(1, 101) ** -1.5
    q /= q.sum()
    freq = np.repeat(0.01 * q / 100 / 100.0, 100)
    group = np.repeat(np.arange(100), 100)
    sizes = np.array([70, 95, 120, 160, 256, 410]) * 1e6
    est = []
    for n in sizes:
        stored = ks.water_fill(freq, 45.5916, n, 0.99).stored_bits >= 45.5916 * (1 - 1e-12)
        est.append(th.first_below_target(freq, stored.astype(float), group, n_boot=0).estimate)
    slope = np.polyfit(np.log(sizes), np.log(est), 1)[0]
    assert slope == pytest.approx(-1.252, abs=3e-3)
