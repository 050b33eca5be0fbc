"""Subsampling and CKM predictions against brute force through allocation.py (Eq. (28)–(33) in docs/theory.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasemix.theory import allocation as al
from phasemix.theory import mitigation as mi
from phasemix.theory.capacity import KnowledgeSet
from phasemix.theory.laws import PowerLaw

K128 = KnowledgeSet.synbio(facts=1_280_000)


def _brute_force(rho, params, ratio, k, law=None, b=2.0):
    """Keep ρ·K facts (so p → p/ρ), learn with the two-domain closed form, count over all K facts."""
    kept = KnowledgeSet(facts=rho * k.facts, bits_per_fact=k.bits_per_fact, tokens_per_fact=k.tokens_per_fact,
                        occurrences=k.occurrences)
    kw = {} if law is None else {"law": law}
    return float(al.learned_fraction(params, ratio, kept, bits_per_param=b, **kw)) * rho


@settings(max_examples=60, deadline=None)
@given(rho=st.floats(1e-3, 1.0), params=st.floats(1e7, 1e10), ratio=st.floats(1e-3, 0.999),
       alpha=st.floats(0.05, 1.5))
def test_subsampling_matches_brute_force(rho, params, ratio, alpha):
    law = PowerLaw(E=1.769, A=4.952, alpha=alpha)
    got = float(mi.subsampled_fraction(rho, params, ratio, K128, law))
    assert got == pytest.approx(_brute_force(rho, params, ratio, K128, law), abs=1e-10)


@pytest.mark.parametrize("ratio", [0.01, 0.02, 0.03, 0.05, 0.2])
def test_best_rho_is_the_grid_maximum_and_shape(ratio):
    res = mi.best_subsampling(410e6, ratio, K128)
    grid = np.linspace(1e-4, 1.0, 20001)
    acc = mi.subsampled_fraction(grid, 410e6, ratio, K128)
    assert res.fraction_best == pytest.approx(acc.max(), abs=1e-4)
    assert res.rho_best == pytest.approx(grid[np.argmax(acc)], abs=1e-4)
    rising = grid <= res.rho_best
    assert np.allclose(acc[rising], grid[rising])  # every kept fact is learned up to ρ_best
    assert np.all(np.diff(acc[~rising]) <= 1e-15)  # then it falls
    if res.rho_collapse < 1:
        assert float(mi.subsampled_fraction(res.rho_collapse, 410e6, ratio, K128)) == pytest.approx(0, abs=1e-9)
        assert float(mi.subsampled_fraction(res.rho_collapse * 0.99, 410e6, ratio, K128)) > 0
        assert res.fraction_full == 0
    else:
        assert res.fraction_full > 0


def test_subsampling_limits_and_roundtrip(tmp_path):
    assert float(mi.subsampled_fraction(0.5, 410e6, 0.0, K128)) == 0.0  # r = 0: nothing at any ρ
    r1 = float(mi.subsampled_fraction(0.5, 1e6, 1.0, K128))  # r = 1: linear law, min(ρ, b·N/(K·h))
    assert r1 == pytest.approx(min(0.5, 2e6 / K128.total_bits))
    res = mi.best_subsampling(410e6, 0.0, K128)
    assert np.isnan(res.rho_best) and res.fraction_best == 0
    res = mi.best_subsampling(410e6, 0.03, K128)
    back = mi.SubsamplingResult.from_json(res.to_json(tmp_path / "s.json"))
    assert back == res


def test_accuracy_adds_chance():
    acc = mi.subsampled_accuracy(0.25, 410e6, 0.03, K128)
    chance = np.mean(1.0 / np.array(K128.cardinalities))
    assert float(acc) == pytest.approx(0.25 + 0.75 * chance)


def test_ckm_wikibio_multipliers():
    lam = mi.ckm_token_ratio(150, 18)
    got = mi.ckm_multiplier(np.array([0.1, 0.3, 0.6]), lam)
    assert np.round(got, 2).tolist() == [1.67, 2.69, 3.75]
    assert float(mi.ckm_multiplier(0.0, lam)) == 1.0
    # the spec's direct count: (11 + tuples per person)/11/(1+τ) with tuples = τ·11·150/18
    tau = 0.3
    assert float(mi.ckm_multiplier(tau, lam)) == pytest.approx((11 + tau * 11 * 150 / 18) / 11 / (1 + tau))


@pytest.mark.parametrize("tau", [0.1, 0.3, 0.6])
def test_ckm_predictions_match_allocation(tau):
    k = KnowledgeSet(facts=275_000, bits_per_fact=14.0, tokens_per_fact=150 * 11, occurrences=11)
    lam = 150 / 18
    g = float(mi.ckm_multiplier(tau, lam))
    boosted = KnowledgeSet(facts=275_000, bits_per_fact=14.0, tokens_per_fact=150 * 11 / g, occurrences=11)
    for params in (1e8, 4.1e8, 1e9):
        assert float(mi.ckm_learned_fraction(params, 0.1, k, tau, lam)) == pytest.approx(
            float(al.learned_fraction(params, 0.1, boosted)), abs=1e-12)
        base = float(al.critical_ratio(params, k))
        new = float(mi.ckm_critical_ratio(params, k, tau, lam))
        assert (new / (1 - new)) == pytest.approx(base / (1 - base) / g, rel=1e-12)
    assert float(mi.ckm_accuracy(4.1e8, 0.1, k, tau, lam)) >= float(al.learned_fraction(4.1e8, 0.1, k))


def test_bad_inputs():
    with pytest.raises(ValueError, match="rho must lie in"):
        mi.subsampled_fraction(0.0, 1e8, 0.1, K128)
    with pytest.raises(ValueError, match="tau must be >= 0"):
        mi.ckm_multiplier(-0.1, 8.0)
    with pytest.raises(ValueError, match="token_ratio must be > 0"):
        mi.ckm_multiplier(0.1, 0.0)
    with pytest.raises(ValueError, match="ratio must lie in"):
        mi.subsampled_fraction(0.5, 1e8, 1.2, K128)
