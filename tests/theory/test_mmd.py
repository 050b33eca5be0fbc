"""MMD estimators against the closed form for Gaussians, kernel weights, permutation tests, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from phasemix.theory.mmd import (
    MultiKernel,
    median_sq_distance,
    mk_mmd,
    mmd2_biased,
    mmd2_linear,
    mmd2_unbiased,
    mmd_deviation,
    optimal_kernel,
    permutation_pvalue,
)


def _gauss_kernel_mean(mean_diff: np.ndarray, var: float, sigma2: float) -> float:
    """E exp(−‖z‖²/(2σ²)) for z ~ N(mean_diff, var·I)."""
    d = mean_diff.size
    return (sigma2 / (sigma2 + var)) ** (d / 2) * np.exp(-mean_diff @ mean_diff / (2 * (sigma2 + var)))


def _true_mmd2(mu: np.ndarray, s1: float, s2: float, sigma2: float) -> float:
    z = np.zeros_like(mu)
    return (_gauss_kernel_mean(z, 2 * s1**2, sigma2) + _gauss_kernel_mean(z, 2 * s2**2, sigma2)
            - 2 * _gauss_kernel_mean(mu, s1**2 + s2**2, sigma2))


def test_unbiased_mean_matches_closed_form_and_biased_is_biased_up():
    rng = np.random.default_rng(0)
    mu = np.array([0.5, 0.0])
    kern = MultiKernel((1.0,), (1.0,))
    true = _true_mmd2(mu, 1.0, 1.2, 1.0)
    ub, b, lin = [], [], []
    for r in range(300):
        X = rng.standard_normal((40, 2))
        Y = mu + 1.2 * rng.standard_normal((40, 2))
        ub.append(mmd2_unbiased(X, Y, kern))
        b.append(mmd2_biased(X, Y, kern))
        lin.append(mmd2_linear(X, Y, kern, seed=r)[0])
    ub, b, lin = map(np.asarray, (ub, b, lin))
    se = ub.std(ddof=1) / np.sqrt(ub.size)
    assert abs(ub.mean() - true) < 4 * se
    se_lin = lin.std(ddof=1) / np.sqrt(lin.size)
    assert abs(lin.mean() - true) < 4 * se_lin
    assert b.mean() - true > 10 * se  # the V-statistic carries a positive O(1/m) bias
    assert (b >= 0).all()


def test_unbiased_is_near_zero_for_equal_distributions():
    rng = np.random.default_rng(1)
    vals = [mmd2_unbiased(rng.standard_normal((30, 3)), rng.standard_normal((30, 3))) for _ in range(100)]
    vals = np.asarray(vals)
    assert abs(vals.mean()) < 4 * vals.std(ddof=1) / 10
    assert (vals < 0).any()  # unbiased estimates do go negative


def test_symmetry_and_translation_invariance():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((25, 4)), rng.standard_normal((30, 4)) + 0.3
    kern = MultiKernel.from_median(X, Y)
    assert mmd2_unbiased(X, Y, kern) == pytest.approx(mmd2_unbiased(Y, X, kern), rel=1e-12)
    assert mmd2_biased(X + 7, Y + 7, kern) == pytest.approx(mmd2_biased(X, Y, kern), rel=1e-9)
    assert mk_mmd(X, X, kern, estimator="biased") == pytest.approx(0.0, abs=1e-7)


def test_median_heuristic_and_bandwidths():
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((200, 5)), rng.standard_normal((200, 5))
    med = median_sq_distance(X, Y)
    # for standard normals ‖x−y‖² ~ 2·χ²_5 with median ≈ 2·4.35
    assert med == pytest.approx(2 * 4.351, rel=0.1)
    kern = MultiKernel.from_median(X, Y)
    assert kern.sigma2 == pytest.approx(tuple(med * 2.0**u for u in (-2, -1, 0, 1, 2)))
    assert sum(kern.weights) == pytest.approx(1.0)


def test_optimal_weights_are_a_distribution_and_favor_informative_kernels():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((400, 2))
    Y = rng.standard_normal((400, 2)) * np.array([1.0, 1.6])
    kern = optimal_kernel(X, Y, seed=0)
    w = np.asarray(kern.weights)
    assert not kern.fallback
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
    # the optimal weights do at least as well as uniform on the power criterion eta/sd measured on fresh data
    Xn, Yn = rng.standard_normal((2000, 2)), rng.standard_normal((2000, 2)) * np.array([1.0, 1.6])
    def ratio(k):
        est, var = mmd2_linear(Xn, Yn, k, seed=1)
        return est / np.sqrt(var)
    assert ratio(kern) >= 0.9 * ratio(MultiKernel.from_median(X, Y))


def test_optimal_falls_back_to_uniform_when_no_signal():
    # one quadruple from two identical two-point samples: every h_u is 0 or 2k_u(0, 1) − 2 < 0
    X = np.array([[0.0], [1.0]])
    Y = X.copy()
    kern = optimal_kernel(X, Y, seed=0)
    assert kern.fallback
    assert np.allclose(kern.weights, 0.2)


def test_permutation_pvalues_are_calibrated_and_powerful():
    rng = np.random.default_rng(5)
    null_p = [permutation_pvalue(rng.standard_normal((40, 2)), rng.standard_normal((40, 2)), n_permutations=50,
                                 weights="uniform", seed=s) for s in range(40)]
    # under H0 the p-value is ~uniform: the share below 0.1 is small (binomial(40, 0.1) ≤ 10 at 0.999)
    assert sum(p <= 0.1 for p in null_p) <= 10
    alt = permutation_pvalue(rng.standard_normal((60, 2)), rng.standard_normal((60, 2)) + 1.0, n_permutations=100)
    assert alt <= 0.02


def test_deviation_bound_shrinks_with_sample_size():
    assert mmd_deviation(1000, 1000, 0.05) < mmd_deviation(100, 100, 0.05)
    assert mmd_deviation(100, 100, 0.01) > mmd_deviation(100, 100, 0.1)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mmd2_biased(np.zeros((0, 2)), np.ones((3, 2))), "X must not be empty"),
        (lambda: mmd2_biased(np.ones((3, 2)), np.ones((3, 3))), "same feature dimension"),
        (lambda: mmd2_unbiased(np.ones((1, 2)), np.ones((3, 2))), ">= 2"),
        (lambda: mmd2_biased(np.array([[np.nan]]), np.ones((3, 1))), "NaN"),
        (lambda: mk_mmd(np.ones((3, 2)), np.ones((3, 2)), estimator="nope"), "estimator"),
        (lambda: mmd_deviation(10, 10, 1.5), "delta"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
