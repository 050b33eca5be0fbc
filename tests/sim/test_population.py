"""Fact populations (Eq. (94)): weights, classes, frequency bins, fixed-point probabilities, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from phasemix.sim.population import (
    N_GCLASS,
    PopulationSpec,
    build_population,
    heterogeneity_classes,
    subset_weights,
)


def test_power_law_subsets_match_spec_values():
    q = subset_weights(100, 1.5)
    assert q[:3] == pytest.approx([0.414, 0.147, 0.080], abs=6e-4)  # capacity-allocation §4.1
    pop = build_population(PopulationSpec("power_law_subsets"))
    assert pop.n == 10_000 and pop.nsubsets == 100 and pop.table_mode
    assert pop.p.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(pop.p[:100] == pop.p[0]) and pop.p[100] < pop.p[99]


def test_zipf_and_uniform():
    z = build_population(PopulationSpec("zipf", facts=1000, exponent=1.0))
    assert not z.table_mode and z.p[0] / z.p[9] == pytest.approx(10.0)
    u = build_population(PopulationSpec("uniform", facts=7))
    assert u.table_mode and np.all(u.p == 1 / 7) and u.nsubsets == 1


def test_fixed_point_probabilities_sum_below_one():
    pop = build_population(PopulationSpec("zipf", facts=100_000, exponent=1.2))
    total = int(pop.p_fp.sum(dtype=np.uint64))
    assert total <= 2**62 and 2**62 - total <= pop.n  # floor loses < 1 unit per fact


def test_frequency_bins_are_32_per_octave_and_monotone():
    pop = build_population(PopulationSpec("zipf", facts=5000, exponent=1.0))
    assert np.all(np.diff(pop.fbin.astype(int)) <= 0)  # p decreasing -> bins non-increasing
    centers = pop.fbin_center_p()
    ratio = centers[1:] / centers[:-1]
    assert np.all((ratio > 1.0) & (ratio <= 33 / 32 + 1e-12))  # bins linear in the mantissa: 32 per octave
    assert pop.fbin_count.sum() == pop.n


def test_heterogeneity_classes_are_lognormal_quantiles_and_uniformly_assigned():
    w = heterogeneity_classes(0.5)
    assert np.median(np.log(w)) == pytest.approx(0.0, abs=1e-12) and np.all(np.diff(w) > 0)
    pop = build_population(PopulationSpec("uniform", facts=64_000, sigma_g=0.5, seed=4))
    counts = np.bincount(pop.gclass, minlength=N_GCLASS)
    # chi-square uniformity of the hash-assigned classes, alpha = 1e-4
    assert stats.chisquare(counts).pvalue > 1e-4
    other = build_population(PopulationSpec("uniform", facts=64_000, sigma_g=0.5, seed=5))
    assert not np.array_equal(pop.gclass, other.gclass)
    assert not build_population(PopulationSpec("uniform", facts=10)).gclass.any()  # sigma 0: one class


@pytest.mark.parametrize("kwargs, name", [
    ({"kind": "lognormal"}, "population.kind"), ({"facts": 0, "kind": "zipf"}, "population.facts"),
    ({"subsets": 0}, "population.subsets"), ({"sigma_g": -1.0}, "population.sigma_g"),
    ({"exponent": float("nan")}, "population.exponent"),
])
def test_bad_specs_name_the_key(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PopulationSpec(**kwargs)


def test_too_many_subsets_for_tables():
    with pytest.raises(ValueError, match="population.subsets"):
        build_population(PopulationSpec("power_law_subsets", subsets=5000, subset_size=1))
