"""Zipf laws, truncation and the generation-setting maps against brute force and the spec's golden values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from phasemix.theory.zipf import (
    ZipfLaw,
    distinct_asymptote,
    expected_distinct,
    mixture_pmf,
    sampling_cutoff,
    temperature_cutoff,
    tempered_law,
    top_p_cutoff,
    truncated_pmf,
)


def test_norm_and_tail_mass_match_brute_force_finite():
    n = 200_000
    i = np.arange(1, n + 1, dtype=float)
    for beta in (0.7, 1.5, 2.5):
        p = i**-beta
        law = ZipfLaw(beta, n)
        assert law.norm == pytest.approx(p.sum(), rel=1e-12)
        for k in (1, 10, 1000):
            assert law.tail_mass(k) == pytest.approx(p[k:].sum() / p.sum(), rel=1e-10)


def test_infinite_tail_mass_is_hurwitz_ratio():
    law = ZipfLaw(2.0)
    assert law.tail_mass(100) == pytest.approx(special.zeta(2, 101) / (np.pi**2 / 6), rel=1e-14)
    assert law.head_mass(1) == pytest.approx(6 / np.pi**2, rel=1e-14)


def test_truncated_and_mixture_sum_to_one_and_shapes():
    law = ZipfLaw(1.5, 5000)
    r = np.arange(1, 5001)
    pt = truncated_pmf(law, 40, r)
    assert pt.sum() == pytest.approx(1.0, rel=1e-12)
    assert (pt[40:] == 0).all()
    assert np.allclose(pt[:40] / law.pmf(r[:40]), pt[0] / law.pmf(1))
    q = mixture_pmf(law, 40, 0.3, r)
    assert q.sum() == pytest.approx(1.0, rel=1e-12)
    assert np.allclose(q[40:], 0.3 * law.pmf(r[40:]))


def test_top_p_golden_values():
    assert [top_p_cutoff(2.0, p) for p in (0.90, 0.95, 0.99)] == [6, 12, 61]
    assert [top_p_cutoff(1.5, p) for p in (0.90, 0.95, 0.99)] == [59, 234, 5861]
    assert [top_p_cutoff(1.5, p, n_items=10**7) for p in (0.90, 0.95, 0.99)] == [58, 232, 5590]


def test_top_p_is_minimal_rank():
    for beta, p_top in ((2.0, 0.93), (1.3, 0.8), (3.0, 0.999)):
        k = top_p_cutoff(beta, p_top)
        law = ZipfLaw(beta)
        assert law.head_mass(k) >= p_top - 1e-12
        if k > 1:
            assert law.head_mass(k - 1) < p_top - 1e-12


def test_finite_sampling_golden_values_and_brute_force():
    assert [sampling_cutoff(2.0, n) for n in (1e3, 1e4, 1e5)] == [43, 138, 437]
    n_items = 10**6
    i = np.arange(1, n_items + 1, dtype=float)
    p = i**-2.0 / np.sum(i**-2.0)
    brute = np.sum(-np.expm1(1e4 * np.log1p(-p)))
    assert expected_distinct(2.0, 1e4, n_items) == pytest.approx(brute, rel=1e-7)


def test_distinct_asymptote_approaches_exact():
    ratio = [expected_distinct(2.0, n) / distinct_asymptote(2.0, n) for n in (1e4, 1e6, 1e8)]
    assert abs(ratio[-1] - 1) < abs(ratio[0] - 1)
    assert ratio[-1] == pytest.approx(1.0, abs=2e-3)


def test_temperature_maps():
    law = tempered_law(2.0, 0.5)
    assert law.beta == pytest.approx(4.0)
    k = temperature_cutoff(2.0, 0.8, 1e4)
    pt = tempered_law(2.0, 0.8)
    assert 1e4 * pt.pmf(k) >= 1.0 > 1e4 * pt.pmf(k + 1)
    with pytest.raises(ValueError, match="temperature"):
        tempered_law(1.5, 2.0)
    assert tempered_law(1.5, 2.0, n_items=1000).beta == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ZipfLaw(1.0), "beta"),
        (lambda: ZipfLaw(0.5), "beta"),
        (lambda: ZipfLaw(float("nan")), "beta"),
        (lambda: ZipfLaw(2.0, 0), "n_items"),
        (lambda: truncated_pmf(ZipfLaw(2.0), 0, [1]), "k"),
        (lambda: truncated_pmf(ZipfLaw(2.0, 10), 11, [1]), "k"),
        (lambda: mixture_pmf(ZipfLaw(2.0), 5, 0.0, [1]), "pi"),
        (lambda: mixture_pmf(ZipfLaw(2.0), 5, 1.5, [1]), "pi"),
        (lambda: top_p_cutoff(2.0, 1.0), "top_p"),
        (lambda: top_p_cutoff(2.0, 0.0), "top_p"),
        (lambda: expected_distinct(2.0, -5), "n_samples"),
    ],
)
def test_bad_inputs_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_expected_distinct_finite_beta_below_one_matches_brute_force():
    n_items = 30_000
    i = np.arange(1, n_items + 1, dtype=float)
    p = i**-0.9 / np.sum(i**-0.9)
    brute = np.sum(-np.expm1(5e3 * np.log1p(-p)))
    assert expected_distinct(0.9, 5e3, n_items) == pytest.approx(brute, rel=1e-10)
    assert expected_distinct(0.9, 1e9, 100) == pytest.approx(100.0, rel=1e-9)  # every item seen
