"""Two-domain allocation: golden values, closed forms against independent numerics, limits and invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasemix.theory import allocation as al
from phasemix.theory.capacity import KnowledgeSet
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw

SYNBIO = KnowledgeSet.synbio()


# ---------------------------------------------------------------- golden values (capacity-allocation §0.4)
def test_golden_onset_and_full_ratio_at_70m():
    assert al.critical_ratio(70e6, SYNBIO) == pytest.approx(0.12193, abs=5e-6)
    odds = al.critical_ratio(70e6, SYNBIO) / (1 - al.critical_ratio(70e6, SYNBIO))
    assert odds == pytest.approx(0.1389, abs=5e-5)
    assert al.full_ratio(70e6, SYNBIO) == pytest.approx(0.13788, abs=5e-6)


@pytest.mark.parametrize(
    ("ratio", "n_on", "n_full"),
    [(0.1, 83.29, 90.58), (0.2, 44.27, 51.56), (0.3, 29.08, 36.38), (0.4, 20.61, 27.90)],
)
def test_golden_onset_and_full_sizes(ratio, n_on, n_full):
    assert al.onset_params(ratio, SYNBIO) / 1e6 == pytest.approx(n_on, abs=0.006)
    assert al.full_params(ratio, SYNBIO) / 1e6 == pytest.approx(n_full, abs=0.006)


def test_golden_synbio_1_28m_at_410m():
    assert al.critical_ratio(410e6, KnowledgeSet.synbio(1.28e6)) == pytest.approx(0.05438, abs=5e-6)


def test_bits_per_param_moves_odds_as_one_over_b():
    r1 = float(al.critical_ratio(70e6, SYNBIO, bits_per_param=1.0))
    r2 = float(al.critical_ratio(70e6, SYNBIO, bits_per_param=2.0))
    assert r1 == pytest.approx(0.217, abs=5e-4)
    # odds ∝ g(bN) ∝ b^-(α+1) · b^α ... at fixed N: g(bN) = slope(N)/b, so odds scale exactly as 1/b
    assert (r1 / (1 - r1)) / (r2 / (1 - r2)) == pytest.approx(2.0, rel=1e-12)


def test_local_elasticities_at_0_3():
    assert al.elasticity_ratio_vs_params(0.3) == pytest.approx(-0.898, abs=1e-3)
    assert al.elasticity_params_vs_ratio(0.3) == pytest.approx(-1.113, abs=1e-3)


# ---------------------------------------------------------------- closed forms vs independent solvers
laws = st.builds(
    PowerLaw,
    E=st.floats(0.0, 5.0),
    A=st.floats(1e-3, 1e3),
    alpha=st.floats(0.05, 2.0),
    unit=st.sampled_from([1.0, 1e6]),
    loss_units=st.sampled_from(["nats", "bits"]),
)
knowledge_sets = st.builds(
    KnowledgeSet,
    facts=st.floats(1.0, 1e7),
    bits_per_fact=st.floats(0.5, 200.0),
    tokens_per_fact=st.floats(1.0, 1e3),
    occurrences=st.floats(0.5, 20.0),
)
params_st = st.floats(1e3, 1e13)
ratios = st.floats(1e-6, 1 - 1e-6)
bits_st = st.floats(0.1, 8.0)


@given(params_st, ratios, knowledge_sets, laws, bits_st)
def test_closed_form_matches_first_order_condition(n, r, k, law, b):
    closed = float(al.stored_bits(n, r, k, law, b))
    kkt = al.stored_bits_kkt(n, r, k, law, b)
    assert abs(closed - kkt) <= 1e-9 * max(b * n, k.total_bits)


@given(params_st, ratios, knowledge_sets, laws, bits_st)
def test_closed_form_is_no_worse_than_a_bounded_minimizer(n, r, k, law, b):
    closed = float(al.stored_bits(n, r, k, law, b))
    m_min, obj_min = al.stored_bits_minimize(n, r, k, law, b)
    obj_closed = float(al.objective(closed, n, r, k, law, b))
    assert obj_closed <= obj_min + 1e-12 * abs(obj_min) + 1e-300
    # the minimizer places its argmin only to ~sqrt(eps) of the scale where the objective is flat
    assert abs(closed - m_min) <= 1e-6 * max(b * n, k.total_bits) or obj_closed <= obj_min


@given(ratios, knowledge_sets, laws, bits_st, st.floats(1.0001, 10.0))
def test_nothing_below_onset_everything_above_full_size(r, k, law, b, factor):
    n_on = float(al.onset_params(r, k, law, b))
    n_full = float(al.full_params(r, k, law, b))
    if n_on / factor > 0 and math.isfinite(n_full * factor):
        assert al.learned_fraction(n_on / factor, r, k, law, b) == 0.0
        assert al.learned_fraction(n_full * factor, r, k, law, b) == 1.0


@given(ratios, knowledge_sets, laws, bits_st, st.lists(params_st, min_size=2, max_size=8))
def test_learned_fraction_monotone_in_params(r, k, law, b, sizes):
    sizes = np.sort(np.asarray(sizes))
    frac = al.learned_fraction(sizes, r, k, law, b)
    assert np.all(np.diff(frac) >= -1e-12)
    assert np.all((frac >= 0) & (frac <= 1))


@given(params_st, knowledge_sets, laws, bits_st, st.lists(st.floats(0.0, 1.0), min_size=2, max_size=8))
def test_learned_fraction_monotone_in_ratio(n, k, law, b, rs):
    rs = np.sort(np.asarray(rs))
    frac = al.learned_fraction(n, rs, k, law, b)
    assert np.all(np.diff(frac) >= -1e-12)


@given(params_st, knowledge_sets, laws, bits_st)
def test_ratio_one_gives_linear_law_and_zero_gives_nothing(n, k, law, b):
    assert float(al.stored_bits(n, 1.0, k, law, b)) == pytest.approx(min(b * n, k.total_bits), rel=1e-15)
    assert float(al.stored_bits(n, 0.0, k, law, b)) == 0.0
    assert float(al.onset_params(0.0, k, law, b)) == math.inf
    assert float(al.onset_params(1.0, k, law, b)) == 0.0


@given(params_st, knowledge_sets, laws, bits_st)
def test_onset_ratio_and_onset_size_are_inverse(n, k, law, b):
    r_star = float(al.critical_ratio(n, k, law, b))
    if 1e-300 < r_star < 0.99:  # near 1, 1 − r* keeps too few digits to invert
        assert float(al.onset_params(r_star, k, law, b)) == pytest.approx(n, rel=1e-8)
        # at the onset, the knowledge value per bit equals the single-fact threshold frequency
        assert r_star * k.value_per_bit == pytest.approx(float(al.threshold_frequency(n, r_star, law, b)), rel=1e-8)


@given(knowledge_sets, laws, bits_st, st.floats(1e4, 1e11))
def test_log_odds_exponents_are_exact(k, law, b, n):
    h = 1e-3
    exact = lambda x: float(al.target_log_odds(x, k, 0.0, law, b))  # noqa: E731
    slope = (exact(n * math.exp(h)) - exact(n * math.exp(-h))) / (2 * h)
    assert slope == pytest.approx(al.exponent_ratio_vs_params(law), rel=1e-9)
    r_star = float(al.critical_ratio(n, k, law, b))
    if 1e-200 < r_star < 0.9:  # the ratio itself carries the same slope while 1 − r* keeps its digits
        lo = lambda x: math.log(al.critical_ratio(x, k, law, b)) - math.log1p(-al.critical_ratio(x, k, law, b))  # noqa: E731
        slope = (lo(n * math.exp(h)) - lo(n * math.exp(-h))) / (2 * h)
        assert slope == pytest.approx(al.exponent_ratio_vs_params(law), rel=1e-6)
    for odds in (1e-4, 0.1, 3.0):
        r_lo, r_hi = odds * math.exp(-h) / (1 + odds * math.exp(-h)), odds * math.exp(h) / (1 + odds * math.exp(h))
        s = (math.log(al.onset_params(r_hi, k, law, b)) - math.log(al.onset_params(r_lo, k, law, b))) / (2 * h)
        assert s == pytest.approx(al.exponent_params_vs_ratio(law), rel=1e-6)


@given(params_st, ratios, knowledge_sets, bits_st, st.floats(0.01, 0.99))
def test_target_ratio_reaches_exactly_the_target(n, r, k, b, a):
    r_a = float(al.target_ratio(n, k, a, DEFAULT_WEB_LAW, b))
    if b * n <= a * k.total_bits:
        assert math.isnan(r_a)
    elif 1e-12 < r_a < 1 - 1e-9:
        # m1 = b·N − m0 cancels: its absolute error is ~1e-16·b·N bits
        tol = 1e-6 + 1e-12 * b * n / k.total_bits
        assert float(al.learned_fraction(n, r_a, k, DEFAULT_WEB_LAW, b)) == pytest.approx(a, abs=tol)


@given(params_st, ratios, knowledge_sets, laws, bits_st)
def test_web_loss_increase_nonnegative_and_zero_without_storage(n, r, k, law, b):
    inc = float(al.web_loss_increase(n, r, k, law, b))
    assert inc >= 0.0
    if float(al.stored_bits(n, r, k, law, b)) == 0.0:
        assert inc == 0.0


def test_vectorized_grid_matches_scalar_calls():
    sizes = np.logspace(6, 10, 7)
    rs = np.linspace(0, 1, 5)
    grid = al.learned_fraction(sizes[:, None], rs[None, :], SYNBIO)
    for i, n in enumerate(sizes):
        for j, r in enumerate(rs):
            assert grid[i, j] == float(al.learned_fraction(n, r, SYNBIO))


def test_predicted_accuracy_includes_chance():
    cards = (2, 4)
    assert al.predicted_accuracy(0.0, cards) == pytest.approx(np.mean([0.5, 0.25]))
    assert al.predicted_accuracy(1.0, cards) == 1.0


# ---------------------------------------------------------------- bad input names the argument
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: al.learned_fraction(0.0, 0.2, SYNBIO), "params"),
        (lambda: al.learned_fraction(-5.0, 0.2, SYNBIO), "params"),
        (lambda: al.learned_fraction(70e6, 1.2, SYNBIO), "ratio"),
        (lambda: al.learned_fraction(70e6, -0.1, SYNBIO), "ratio"),
        (lambda: al.learned_fraction(float("nan"), 0.2, SYNBIO), "params"),
        (lambda: al.learned_fraction(70e6, float("nan"), SYNBIO), "ratio"),
        (lambda: al.learned_fraction(70e6, 0.2, SYNBIO, bits_per_param=0.0), "bits_per_param"),
        (lambda: al.critical_ratio(70e6, SYNBIO, bits_per_param=-1.0), "bits_per_param"),
        (lambda: al.target_ratio(70e6, SYNBIO, target=1.5), "target"),
        (lambda: PowerLaw(E=1.0, A=1.0, alpha=0.0), "alpha"),
        (lambda: PowerLaw(E=1.0, A=-1.0, alpha=0.3), "A"),
        (lambda: PowerLaw(E=float("nan"), A=1.0, alpha=0.3), "E"),
        (lambda: PowerLaw(E=1.0, A=1.0, alpha=0.3, loss_units="furlongs"), "units"),
        (lambda: KnowledgeSet(facts=0, bits_per_fact=1.0, tokens_per_fact=1.0), "facts"),
        (lambda: KnowledgeSet(10, 40.0, 100.0, cardinalities=(2, 2)), "inconsistent"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_non_numeric_input_is_a_type_error():
    with pytest.raises(TypeError, match="params"):
        al.learned_fraction("seventy", 0.2, SYNBIO)
