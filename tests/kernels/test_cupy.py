"""CuPy backend: equal in distribution to the numpy reference (spec §6.7). Skipped without a usable GPU."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from phasemix.kernels.backend import cupy_status

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not cupy_status()[0], reason=f"no usable CuPy: {cupy_status()[1]}")]


def _exposures(backend: str, seed: int) -> np.ndarray:
    from phasemix.kernels import poisson
    from phasemix.kernels.backend import get_kernels
    from phasemix.kernels.rng import setting_base

    kern = get_kernels(backend)
    j = 100_000
    p = np.full(j, 1.0 / j)
    n = kern.put(np.zeros((1, j), dtype=np.uint32))
    x = kern.put(np.zeros((1, 1), dtype=np.uint32))
    tables = poisson.build_tables([7.5])
    kern.advance(n, x, np.array([setting_base(seed, 1)], dtype=np.uint64), kern.put(p),
                 kern.put(np.zeros(j, dtype=np.uint8)), j, 0, np.zeros((1, 1), dtype=np.int64), np.zeros(1),
                 np.ones((1, 1), dtype=np.int64), tables, 0, 0, False, np.zeros(1, dtype=np.uint64),
                 np.zeros((1, 64, 2), dtype=np.uint64))
    return np.asarray(kern.get(n))[0].astype(np.int64)


def test_exposure_counts_same_distribution():
    a, b = _exposures("numpy", 1), _exposures("cupy", 1)
    assert stats.ks_2samp(a, b).pvalue > 1e-6  # α = 1e-6 (discrete data make KS conservative)
    assert abs(b.mean() - 7.5) < 5 * np.sqrt(7.5 / b.size)


def test_learned_fraction_and_error_agree_in_distribution():
    from phasemix.sim.memorization import Setting, simulate

    pop = {"kind": "power_law_subsets", "subsets": 100, "subset_size": 200}
    seeds = range(12)
    outs = {}
    for be in ("numpy", "cupy"):
        res = simulate(pop, [Setting(params=3e6, ratio=0.05, tokens=(3e9,), seed=s) for s in seeds], backend=be)
        outs[be] = np.array([[r.checkpoints[0].learned_fraction, r.checkpoints[0].test_error] for r in res])
    for k in range(2):
        a, b = outs["numpy"][:, k], outs["cupy"][:, k]
        se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        assert se == 0 or abs(a.mean() - b.mean()) / se <= 5  # two-sample z-test, |z| <= 5
