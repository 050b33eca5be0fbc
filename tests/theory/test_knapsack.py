"""Water-filling, 0/1 knapsack and their cross-checks (Eq. (16)–(22) in docs/theory.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasemix.errors import ResultsFileError
from phasemix.theory import allocation as al
from phasemix.theory import knapsack as ks
from phasemix.theory.capacity import KnowledgeSet
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw


def _instance(seed: int, n: int, spread: float = 1.5, equal: bool = False):
    """Facts around the threshold frequency of a 1e4-parameter model, so some are stored, some split, some not."""
    rng = np.random.default_rng(seed)
    params = 1e4
    tf = float(al.threshold_frequency(params, 0.1))
    f = tf * np.exp(rng.normal(0.0, spread, n))
    h = np.full(n, 1500.0) if equal else rng.uniform(300.0, 4000.0, n)  # comparable to the 2e4-bit capacity
    return f, h, params


# ------------------------------------------------------------------------------------------------- water-filling

@pytest.mark.parametrize("ratio", [0.05, 0.12, 0.13, 0.2, 0.5, 0.99])
@pytest.mark.parametrize("params", [5e7, 7e7, 1e8])
def test_equal_facts_match_two_domain_closed_form(ratio, params):
    k = KnowledgeSet.synbio(facts=20_000)
    f = np.full(int(k.facts), ratio * k.value_per_bit)
    res = ks.water_fill(f, k.bits_per_fact, params, 1.0 - ratio)
    closed = float(al.stored_bits(params, ratio, k))
    assert abs(res.total_stored - closed) <= 1e-9 * max(2 * params, k.total_bits)
    if 0 < closed < k.total_bits:  # on the ramp the water level is the common frequency
        assert res.water_level == pytest.approx(ratio * k.value_per_bit, rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_water_fill_matches_cvxpy(seed):
    f, h, params = _instance(seed, 15)
    res = ks.water_fill(f, h, params, 0.9)
    y = ks.solve_fractional_cvxpy(f, h, params, 0.9)
    assert np.max(np.abs(y - res.stored_bits)) <= 1e-6 * 2 * params
    # and the KKT conditions hold: stored facts above the level, unstored below
    full = res.stored_bits >= h * (1 - 1e-12)
    none = res.stored_bits <= 0
    assert np.all(f[full] >= res.water_level * (1 - 1e-12))
    assert np.all(f[none] <= res.water_level * (1 + 1e-12))


def test_water_fill_objective_is_minimal_against_perturbations():
    f, h, params = _instance(7, 30)
    res = ks.water_fill(f, h, params, 0.9)
    law_b = DEFAULT_WEB_LAW.in_bits()
    rng = np.random.default_rng(0)
    for _ in range(200):
        y = np.clip(res.stored_bits + rng.normal(0, 5.0, f.size), 0, h)
        obj, _ = ks._objective(f, h, y, 2 * params, 0.9, law_b, 2.0)
        assert obj >= res.objective - 1e-12 * abs(res.objective)


def test_sim_b_threshold_slope_is_minus_alpha_plus_one():
    q = np.arange(1, 101) ** -1.5
    q /= q.sum()
    p = np.repeat(q / 100 / 100.0, 100)  # 100 subsets x 100 facts, 100 tokens per biography
    r = 0.01
    sizes = np.array([70, 95, 120, 160, 256, 410]) * 1e6
    lam = [ks.water_fill(r * p, 45.5916, n, 1 - r).water_level for n in sizes]
    slope = np.polyfit(np.log(sizes), np.log(lam), 1)[0]
    assert slope == pytest.approx(-(DEFAULT_WEB_LAW.alpha + 1), abs=2e-3)
    # the level approaches the single-fact limit (Eq. (14)) from above as Σh/(b·N) -> 0
    ratio = np.array(lam) / al.threshold_frequency(sizes, r)
    assert np.all(ratio > 1) and np.all(np.diff(ratio) < 0) and ratio[-1] < 1.001


def test_water_fill_large_n_and_roundtrip(tmp_path):
    rng = np.random.default_rng(3)
    f = rng.pareto(1.5, 200_000) * 1e-9
    res = ks.water_fill(f, rng.uniform(10, 50, f.size), 1e8, 0.9)
    assert 0 < res.n_full < f.size
    path = res.to_json(tmp_path / "wf.json")
    back = ks.WaterFillResult.from_json(path)
    assert np.array_equal(back.stored_bits, res.stored_bits) and back.water_level == res.water_level
    path.write_text(path.read_text().replace('"schema_version": 1', '"schema_version": 99'))
    with pytest.raises(ResultsFileError, match="schema_version"):
        ks.WaterFillResult.from_json(path)


def test_ties_are_stored_in_index_order():
    res = ks.water_fill([1e-6] * 4, [1e7] * 4, 1e7, 0.9)  # capacity 2e7 bits: only some fit
    y = res.stored_bits
    assert np.all(np.diff(y) <= 0) and y[0] > 0 and y[-1] == 0


# hypothesis properties ---------------------------------------------------------------------------------------

facts_st = st.lists(st.tuples(st.floats(-3, 3), st.floats(1.0, 300.0)), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None)
@given(facts=facts_st, n1=st.floats(2e3, 1e5), grow=st.floats(1.0, 10.0))
def test_monotone_in_capacity_and_level_non_increasing(facts, n1, grow):
    tf = float(al.threshold_frequency(1e4, 0.1))
    f = tf * np.exp(np.array([a for a, _ in facts]))
    h = np.array([b for _, b in facts])
    small = ks.water_fill(f, h, n1, 0.9)
    big = ks.water_fill(f, h, n1 * grow, 0.9)
    assert np.all(big.stored_bits >= small.stored_bits - 1e-9 * h)
    assert big.water_level <= small.water_level * (1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(facts=facts_st, params=st.floats(2e3, 1e5))
def test_stored_set_is_a_frequency_prefix(facts, params):
    tf = float(al.threshold_frequency(1e4, 0.1))
    f = tf * np.exp(np.array([a for a, _ in facts]))
    h = np.array([b for _, b in facts])
    res = ks.water_fill(f, h, params, 0.9)
    order = np.argsort(-f, kind="stable")
    frac = res.stored_bits[order] / h[order]
    assert np.all(np.diff(frac) <= 1e-12)  # 1, ..., 1, partial, 0, ..., 0
    assert np.sum((frac > 0) & (frac < 1 - 1e-12)) <= 1
    assert res.excess > 0 and res.total_stored <= 2 * params


# ---------------------------------------------------------------------------------------------------- 0/1 MILP

@pytest.mark.parametrize("seed", range(5))
def test_milp_matches_greedy_oracle_for_equal_sizes(seed):
    f, h, params = _instance(seed, 14, equal=True)
    res = ks.solve_binary(f, h, params, 0.9)
    sel, obj = ks.greedy_equal_sizes(f, 1500.0, params, 0.9)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(obj, rel=1e-12, abs=0)
    assert res.excess > 0 and abs(res.objective - obj) <= 1e-9 * res.excess
    assert set(np.flatnonzero(res.selected)) == set(np.flatnonzero(sel))
    assert res.integrality_gap >= -1e-12 * abs(res.objective)


@pytest.mark.parametrize("seed", range(3))
def test_milp_unequal_sizes_beats_enumeration_and_gap_nonnegative(seed):
    f, h, params = _instance(10 + seed, 10)
    res = ks.solve_binary(f, h, params, 0.9)
    law_b = DEFAULT_WEB_LAW.in_bits()
    best = math.inf
    for mask in range(1 << f.size):  # brute force over all 1024 subsets
        x = np.array([(mask >> i) & 1 for i in range(f.size)], dtype=float)
        obj, _ = ks._objective(f, h, x * h, 2 * params, 0.9, law_b, 2.0)
        best = min(best, obj)
    assert res.objective == pytest.approx(best, rel=1e-13)
    assert res.integrality_gap >= 0 and res.relative_gap >= 0
    assert res.fractional_objective <= res.objective


def test_milp_reports_positive_gap_when_a_fact_is_split():
    for seed, split_expected in ((0, True), (1, False), (3, True)):
        f, h, params = _instance(seed, 12)
        frac = ks.water_fill(f, h, params, 0.9)
        split = bool(np.sum((frac.stored_bits > 0) & (frac.stored_bits < h)))
        assert split == split_expected
        res = ks.solve_binary(f, h, params, 0.9)
        if split:
            assert res.integrality_gap > 0 and 0 < res.relative_gap < 1
        else:  # no split fact: the fractional optimum is already 0/1
            assert res.integrality_gap == pytest.approx(0, abs=1e-12 * abs(res.objective))


# ------------------------------------------------------------------------------------------------- inputs

def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="frequencies must be >= 0"):
        ks.water_fill([-1e-6], [1.0], 1e6, 0.9)
    with pytest.raises(ValueError, match="sizes must be > 0"):
        ks.water_fill([1e-6], [0.0], 1e6, 0.9)
    with pytest.raises(ValueError, match="web_ratio must lie in"):
        ks.water_fill([1e-6], [1.0], 1e6, 0.0)
    with pytest.raises(ValueError, match="params must not be NaN"):
        ks.water_fill([1e-6], [1.0], float("nan"), 0.5)
    with pytest.raises(ValueError, match="sizes must have the shape"):
        ks.water_fill([1e-6, 1e-7], [1.0, 2.0, 3.0], 1e6, 0.5)
    with pytest.raises(ValueError, match="set_ratios must sum"):
        ks.fact_frequencies([0.6, 0.5], [[1e-3], [1e-3]])


def test_fact_frequencies_and_other_laws():
    f, web = ks.fact_frequencies([0.1, 0.2], [np.full(3, 1e-6), np.full(2, 2e-6)])
    assert web == pytest.approx(0.7) and f.tolist() == pytest.approx([1e-7] * 3 + [4e-7] * 2)
    law = PowerLaw(E=2.0, A=10.0, alpha=0.5, unit=1e6, loss_units="bits")
    k = KnowledgeSet(facts=1000, bits_per_fact=20.0, tokens_per_fact=50.0)
    for r in (0.001, 0.01, 0.1):
        res = ks.water_fill(np.full(1000, r * k.value_per_bit), 20.0, 3e5, 1 - r, law=law, bits_per_param=1.0)
        closed = float(al.stored_bits(3e5, r, k, law=law, bits_per_param=1.0))
        assert res.total_stored == pytest.approx(closed, abs=1e-9 * max(3e5, k.total_bits))
