"""M3 real-synthetic learner (spec §6.6): simulated test error within 5·sd of its exact Poissonised expectation."""

from __future__ import annotations

import numpy as np
import pytest

from phasemix.sim.realsynth import MixtureSpec, expected_error, simulate_m3


@pytest.mark.parametrize("synthetic", ["truncate", "tempered", "uniform"])
def test_error_within_five_sd_of_expectation(synthetic):
    mix = MixtureSpec(items=50_000, exponent=1.5, synthetic=synthetic, cutoff=200, temperature=0.8, real_share=0.05)
    samples = [1e2, 1e3, 1e4, 1e5, 1e6]
    res = simulate_m3(mix, samples, seeds=[7, 8, 9, 10, 11], backend="numba")
    for r in res:
        assert abs(r.test_error - r.expected_error) <= 5 * r.error_sd, r
    errs = [r.expected_error for r in res]
    assert all(a > b for a, b in zip(errs, errs[1:]))  # more samples, lower error


def test_expected_error_brute_force():
    p = np.array([0.5, 0.3, 0.2])
    q = np.array([0.2, 0.3, 0.5])
    e, sd = expected_error(p, q, 3.0)
    z = np.exp(-3 * q)
    assert e == pytest.approx(float((p * z).sum()), rel=1e-14)
    assert sd == pytest.approx(float(np.sqrt((p * p * z * (1 - z)).sum())), rel=1e-12)


def test_laws_are_normalised_and_mix():
    p, q = MixtureSpec(items=1000, cutoff=10, real_share=0.3).laws()
    assert p.sum() == pytest.approx(1.0) and q.sum() == pytest.approx(1.0)
    assert q[500] == pytest.approx(0.3 * p[500])  # beyond the cutoff only the real share samples


def test_seed_changes_results_and_repeats_exactly():
    mix = MixtureSpec(items=5000)
    a = simulate_m3(mix, 1e3, [1, 1, 2], backend="numpy")
    assert a[0].test_error == a[1].test_error != a[2].test_error


@pytest.mark.parametrize("kwargs, name", [({"items": 0}, "m3.items"), ({"real_share": 1.5}, "m3.real_share"),
                                          ({"cutoff": 10**6}, "m3.cutoff"), ({"synthetic": "gan"}, "m3.synthetic")])
def test_bad_mixture_names_the_key(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MixtureSpec(**kwargs)


def test_bad_samples():
    with pytest.raises(ValueError, match="samples"):
        simulate_m3(MixtureSpec(items=100), -5.0, backend="numpy")
