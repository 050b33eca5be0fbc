"""Expected error of the memorization learner, breakpoints, plateau, detector and the Lemma-1 law."""

from __future__ import annotations

import numpy as np
import pytest

from phasemix.theory.lemma1 import Lemma1Params, fit_lemma1, lemma1_law
from phasemix.theory.phasedetect import detect_breakpoints, detect_phases
from phasemix.theory.threephase import (
    breakpoints,
    brute_force_error,
    expected_error,
    log_grid,
    phase_exponents,
    phase_of,
    plateau_height,
    plateau_height_approx,
)


@pytest.mark.parametrize(("beta", "k", "pi"), [(2.0, 100, 0.05), (1.5, 30, 0.01)])
def test_finite_mode_matches_brute_force_over_1e7_items(beta, k, pi):
    sizes = np.array([0.0, 50.0, 1e3, 1e5, 1e7, 1e9])
    exact = brute_force_error(sizes, beta, k, pi, n_items=10**7)
    fast = expected_error(sizes, beta, k, pi, n_items=10**7)
    np.testing.assert_allclose(fast, exact, rtol=1e-6)


def test_infinite_mode_invariant_to_head_size():
    sizes = np.geomspace(10, 1e10, 25)
    for beta, k in ((1.5, 10), (2.5, 500)):
        a = expected_error(sizes, beta, k, 0.05, head=max(k, 1000))
        b = expected_error(sizes, beta, k, 0.05, head=max(k, 3_000_000))
        np.testing.assert_allclose(a, b, rtol=1e-9)


def test_spec_numerical_anchor_and_limits():
    e = expected_error([1e3, 1e5, 1e8], 2.0, 100, 0.05)
    np.testing.assert_allclose(e, [0.0219, 0.00549, 3.08e-4], rtol=5e-3)
    assert expected_error(0.0, 2.0, 100, 0.05) == pytest.approx(1.0)
    assert np.all(np.diff(expected_error(np.geomspace(1, 1e9, 50), 2.0, 10, 0.1)) < 0)


def test_exact_binomial_differs_at_small_size_and_agrees_at_large():
    small = expected_error([2.0], 2.0, 10, 0.05)[0]
    small_b = expected_error([2.0], 2.0, 10, 0.05, exact_binomial=True)[0]
    # (1−q)^S <= exp(−S q): the exact form is smaller, by a lot for S = 2
    assert small_b < small - 0.05
    big = expected_error([1e6], 2.0, 10, 0.05)[0]
    big_b = expected_error([1e6], 2.0, 10, 0.05, exact_binomial=True)[0]
    assert big_b == pytest.approx(big, rel=1e-3)
    # exact form against a direct sum on a small finite vocabulary
    i = np.arange(1, 501, dtype=float)
    p = i**-2 / np.sum(i**-2)
    q = 0.05 * p
    q[:10] += 0.95 * p[:10] / p[:10].sum()
    direct = float(np.sum(p * (1 - q) ** 7))
    assert expected_error([7.0], 2.0, 10, 0.05, n_items=500, exact_binomial=True)[0] == pytest.approx(direct, rel=1e-12)


def test_detector_within_factor_three_over_the_acceptance_box():
    worst = 1.0
    for beta in (1.5, 2.0, 2.5, 3.0):
        for k in (10, 100, 1000):
            for pi in (0.01, 0.03, 0.1):
                det = detect_breakpoints(beta, k, pi)
                s1, s2 = breakpoints(beta, k, pi)
                assert det.plateau_resolved
                for found, closed in ((det.breakpoint_1, s1), (det.breakpoint_2, s2)):
                    ratio = found / closed
                    worst = max(worst, ratio, 1 / ratio)
    assert worst <= 3.0


@pytest.mark.parametrize("pi", [0.4, 0.5, 1.0])
def test_no_plateau_for_large_real_share(pi):
    for beta in (1.5, 3.0):
        for k in (10, 1000):
            det = detect_breakpoints(beta, k, pi)
            assert not det.plateau_resolved
            assert det.breakpoint_1 is None and det.breakpoint_2 is None
            assert det.peak_slope_ratio > 0.5


def test_detector_on_pure_power_law_and_unknown_beta():
    s = log_grid(10, 1e6)
    assert not detect_phases(s, 3 * s**-0.4).plateau_resolved
    det_known = detect_breakpoints(2.0, 100, 0.03)
    det_free = detect_phases(det_known.sizes, expected_error(det_known.sizes, 2.0, 100, 0.03))
    assert det_free.plateau_resolved
    assert det_free.breakpoint_1 == pytest.approx(det_known.breakpoint_1, rel=0.3)


def test_plateau_height_matches_curve_between_breakpoints():
    for beta in (1.5, 2.0, 3.0):
        for k in (10, 100):
            for pi in (0.01, 0.05, 0.1):
                det = detect_breakpoints(beta, k, pi)
                mid = np.sqrt(det.breakpoint_1 * det.breakpoint_2)
                e = expected_error(mid, beta, k, pi)
                assert e == pytest.approx(plateau_height(beta, k), rel=0.2)
    # the large-k approximation is off by a few percent at k = 10 and converges
    assert abs(plateau_height_approx(2.0, 10) / plateau_height(2.0, 10) - 1) > 0.025
    assert plateau_height_approx(2.0, 10_000) / plateau_height(2.0, 10_000) == pytest.approx(1, rel=1e-3)


def test_phase_exponents_match_far_slopes():
    det = detect_breakpoints(2.0, 100, 0.05)
    ex = phase_exponents(2.0)
    assert det.slopes[0] == pytest.approx(ex["rapid_learning"], abs=0.03)
    assert det.slopes[-1] == pytest.approx(ex["tail_learning"], abs=0.03)
    assert phase_of([1, 50, 500], 10, 100) == ["rapid_learning", "plateau", "tail_learning"]
    lem = phase_exponents(2.0, alpha=0.0, lam=0.5)
    assert lem["lemma1_alpha_term"] == pytest.approx(ex["rapid_learning"])  # α = 0 is the memorization slope
    assert lem["lemma1_lambda_term"] == pytest.approx(-0.75)


def test_lemma1_continuous_and_printed_forms():
    p = Lemma1Params(1.0, 0.8, 0.8, 1.5)
    beta, k, pi = 2.0, 30, 0.05
    kb = k**beta
    eps = 1e-9
    for edge in (kb, kb / pi):
        lo, hi = lemma1_law([edge * (1 - eps), edge * (1 + eps)], p, beta, k, pi)
        assert lo == pytest.approx(hi, rel=1e-6)
        assert lo == pytest.approx(plateau_height(beta, k), rel=1e-6)
    printed = lemma1_law([kb * (1 - eps), kb * (1 + eps), kb / pi * (1 - eps), kb / pi * (1 + eps)], p, beta, k, pi,
                         signs="as_printed")
    assert abs(printed[0] - printed[1]) > 1e-3  # the printed form jumps at |S|₁ (its k-terms count twice)
    assert printed[2] == pytest.approx(printed[3], rel=1e-6)


def test_lemma1_parameter_recovery_with_one_percent_noise():
    true = Lemma1Params(1.0, 0.8, 0.8, 1.5)
    s = log_grid(1, 1e6, 20)
    y = lemma1_law(s, true, 2.0, 30, 0.05)
    exact = fit_lemma1(s, y, 2.0, 30, 0.05)
    assert exact.params.alpha == pytest.approx(0.8, abs=1e-3)
    assert exact.params.lam == pytest.approx(1.5, abs=1e-2)
    for seed in (1, 2, 3):
        noisy = y * (1 + 0.01 * np.random.default_rng(seed).standard_normal(y.size))
        fit = fit_lemma1(s, noisy, 2.0, 30, 0.05, seed=seed)
        assert fit.params.alpha == pytest.approx(0.8, abs=0.05)
        assert fit.params.lam == pytest.approx(1.5, abs=0.15)
        assert fit.params.a == pytest.approx(1.0, rel=0.25)
        assert fit.params.b == pytest.approx(0.8, rel=0.25)
        assert fit.rel_rms < 0.013


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: expected_error([1.0], 1.0, 10, 0.1), "beta"),
        (lambda: expected_error([1.0], 2.0, 0, 0.1), "k"),
        (lambda: expected_error([1.0], 2.0, 10, 0.0), "pi"),
        (lambda: expected_error([1.0], 2.0, 10, 1.2), "pi"),
        (lambda: expected_error([-1.0], 2.0, 10, 0.1), "sizes"),
        (lambda: expected_error([1.0], 2.0, 20, 0.1, n_items=10), "k"),
        (lambda: breakpoints(2.0, 0, 0.1), "k"),
        (lambda: detect_phases([1, 2], [1, 0.5]), "at least 3"),
        (lambda: fit_lemma1([1, 2, 3], [1, 1, 1], 2.0, 3, 0.1), "at least 5"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_finite_vocabulary_with_beta_below_one_uses_direct_sums():
    n = 50_000
    sizes = np.array([10.0, 1e4, 1e6])
    exact = brute_force_error(sizes, 0.8, 30, 0.2, n_items=n)
    np.testing.assert_allclose(expected_error(sizes, 0.8, 30, 0.2, n_items=n), exact, rtol=1e-10)


def test_tempered_mixture_at_unit_temperature_is_the_real_law():
    from phasemix.theory.threephase import expected_error_tempered

    sizes = np.array([10.0, 1e3, 1e5])
    n = 20_000
    # τ = 1: p̃ = p, so q = p, the same as truncating at k = N
    a = expected_error_tempered(sizes, 1.5, 1.0, 0.3, n)
    b = expected_error(sizes, 1.5, n, 0.3, n_items=n)
    np.testing.assert_allclose(a, b, rtol=1e-10)
    # a colder generator (τ < 1) concentrates on the head: less tail coverage, higher error at large |S|
    assert expected_error_tempered([1e5], 1.5, 0.5, 0.3, n)[0] > a[-1]


def test_exact_binomial_handles_certain_items():
    # one item with q = 1: error 1 before any sample, 0 after
    np.testing.assert_allclose(expected_error([0, 1, 5], 2.0, 1, 1.0, n_items=1, exact_binomial=True), [1, 0, 0])
