"""Power laws and knowledge-set accounting against independent routes."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasemix.theory.capacity import KnowledgeSet, bits_per_fact_from_cardinalities, capacity_bits
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw


def test_default_law_matches_published_410m_loss():
    assert DEFAULT_WEB_LAW.value(410e6) == pytest.approx(2.671, abs=5e-4)


@given(st.floats(1e3, 1e12), st.floats(0.05, 2.0), st.floats(0.01, 100.0))
def test_slope_is_the_negative_derivative(n, alpha, a):
    law = PowerLaw(E=1.0, A=a, alpha=alpha)
    h = 1e-5
    numeric = -(law.value(n * (1 + h)) - law.value(n * (1 - h))) / (2 * h * n)
    assert float(law.slope(n)) == pytest.approx(float(numeric), rel=1e-6)
    assert float(law.size_at_slope(law.slope(n))) == pytest.approx(n, rel=1e-10)


def test_in_bits_divides_by_ln2_and_keeps_alpha():
    b = DEFAULT_WEB_LAW.in_bits()
    assert b.E == pytest.approx(1.769 / math.log(2)) and b.A == pytest.approx(4.952 / math.log(2))
    assert b.alpha == DEFAULT_WEB_LAW.alpha and b.in_bits() is b
    assert float(b.value(7e7)) == pytest.approx(float(DEFAULT_WEB_LAW.value(7e7)) / math.log(2), rel=1e-14)


@pytest.mark.parametrize("cards", [(2, 3), (5, 7, 2), (12, 28, 3)])
def test_entropy_matches_brute_force_count(cards):
    outcomes = sum(1 for _ in itertools.product(*(range(c) for c in cards)))
    assert bits_per_fact_from_cardinalities(cards) == pytest.approx(math.log2(outcomes), rel=1e-14)


def test_synbio_accounting():
    k = KnowledgeSet.synbio()
    assert k.bits_per_fact == pytest.approx(45.5916, abs=1e-4)
    assert k.total_bits == pytest.approx(1.4589e7, rel=1e-4)
    assert k.value_per_bit == pytest.approx(1 / 32e6)
    assert float(capacity_bits(70e6)) == 1.4e8


@pytest.mark.parametrize("cards", [(), (0, 3), (2.5,), (-1,)])
def test_bad_cardinalities(cards):
    with pytest.raises(ValueError, match="cardinalities"):
        bits_per_fact_from_cardinalities(cards)


def test_vectorized_value():
    sizes = np.array([1e6, 1e7, 1e8])
    assert np.all(np.diff(DEFAULT_WEB_LAW.value(sizes)) < 0)
