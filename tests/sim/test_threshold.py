"""Threshold frequency from the simulation against the theory (Sim B of capacity-allocation §7; Eq. (14), (91)).

When the stored set is small against the capacity, f_thres = (1−r)·g(b·N) ∝ N^(−(α+1)): the log-log slope of the
simulated f̂_thres over N = 70M…410M must be −(α+1) = −1.283. Zipf(1.0) over 1e5 facts, r = 0.01, D = 1e13 (≈ 4e4
exposures at the threshold, so sampling noise in f̂ is ≈ 0.5 %); the stored bits are < 0.1 % of b·N, which shifts the
slope by < 1e-3; bins are 2–3 % wide. Tolerance 0.01 on the slope (measured deviation 7e-4).
"""

from __future__ import annotations

import numpy as np
import pytest

from phasemix.sim.memorization import Setting, simulate
from phasemix.sim.population import PopulationSpec
from phasemix.theory.allocation import threshold_frequency
from phasemix.theory.laws import DEFAULT_WEB_LAW

SIZES = [70e6, 95e6, 120e6, 160e6, 256e6, 410e6]


def test_simulated_threshold_scales_as_theory():
    res = simulate(PopulationSpec("zipf", facts=100_000, exponent=1.0),
                   [Setting(params=n, ratio=0.01, tokens=(1e13,), seed=1) for n in SIZES], backend="numba")
    f = np.array([r.checkpoints[0].f_thres_hat for r in res])
    slope = np.polyfit(np.log(SIZES), np.log(f), 1)[0]
    assert slope == pytest.approx(-(DEFAULT_WEB_LAW.alpha + 1.0), abs=0.01)
    # and the level itself: f̂ = λ*/b with λ* ≈ (1−r)·G(N) per parameter, i.e. the theory's (1−r)·g(b·N) (Eq. (14))
    theory = threshold_frequency(np.array(SIZES), 0.01)
    assert np.allclose(f, theory, rtol=0.01, atol=0.0)


def test_first_subset_below_target_on_power_law_subsets():
    """The paper's estimator: per-fact frequency of the first subset (by frequency) below 80 % accuracy."""
    pop = PopulationSpec("power_law_subsets")
    res = simulate(pop, [Setting(params=n, ratio=0.01, tokens=(1e13,), seed=2) for n in (70e6, 410e6)],
                   backend="numba")
    f70, f410 = (r.checkpoints[0].f_thres_subset for r in res)
    assert f410 < f70  # larger models store rarer facts
    for r in res:
        acc = np.array(r.checkpoints[0].subset_accuracy)
        k = int(np.argmax(acc < 0.8))
        assert r.checkpoints[0].f_thres_subset == pytest.approx(0.01 * _subset_p(k) / 100.0)
        assert np.all(acc[:k] >= 0.8)


def _subset_p(k: int) -> float:
    from phasemix.sim.population import subset_weights

    return float(subset_weights(100, 1.5)[k] / 100)
