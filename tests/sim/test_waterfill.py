"""Histogram water-filling (Eq. (89)) against a brute-force water level on the same exposure counts."""

from __future__ import annotations

import numpy as np
import pytest

from phasemix.sim.memorization import Dynamics, Setting, simulate
from phasemix.sim.population import PopulationSpec, build_population
from phasemix.sim.waterfill import COST_SCALE, b_table, bits_to_float, cost_table, solve_level, web_marginal
from phasemix.theory.laws import DEFAULT_WEB_LAW


def _brute_force_count(u: np.ndarray, cost: np.ndarray, params: float, ratio: float) -> int:
    """Largest stored set S(λ) = {u > λ} with λ ≥ (1−r)·G(N − ΣP): over distinct values, descending."""
    vals, inv = np.unique(u, return_inverse=True)
    vals = vals[::-1]
    cnt = np.bincount(inv, minlength=vals.size)[::-1]
    cst = np.bincount(inv, weights=cost, minlength=vals.size)[::-1]
    cum_c, cum_n = np.cumsum(cst), np.cumsum(cnt)
    rhs = (1 - ratio) * web_marginal(DEFAULT_WEB_LAW, params - cum_c)
    # storing every value >= vals[i] is consistent iff the next value is not above the level it creates and the
    # stored values are: vals[i] > rhs_i (rhs grows with i, vals fall)
    ok = vals > rhs
    return int(cum_n[np.nonzero(ok)[0].max()]) if ok.any() else 0


@pytest.mark.parametrize("kind, sigma, dyn", [("zipf", 0.6, "bn"), ("power_law_subsets", 0.0, "none"),
                                               ("uniform", 0.4, "none")])
def test_simulated_stored_count_equals_brute_force(kind, sigma, dyn):
    spec = PopulationSpec(kind, facts=3000, subsets=30, subset_size=100, sigma_g=sigma, exponent=0.8)
    pop = build_population(spec)
    dynamics = Dynamics(kind=dyn, n_ref=200, kappa=0.4)
    settings = [Setting(params=p, ratio=0.1, tokens=(3e8,), seed=4, dynamics=dynamics) for p in (3e5, 1e6, 3e6)]
    states = {}
    res = simulate(pop, settings, backend="numpy", on_checkpoint=lambda t, n, x, lam: states.update(n=n, lam=lam))
    btab = b_table(2.0, 0.0, 200, 0.4, dyn == "bn")
    ctab = cost_table(45.5916, btab)
    checked = 0
    for i, (st, r) in enumerate(zip(settings, res)):
        n = states["n"][i].astype(np.int64)
        elig = n >= 1
        idx = np.minimum(n[elig], btab.size - 1)
        u = ((n[elig].astype(float) * (1.0 / 3e8)) * pop.w_classes[pop.gclass[elig]]) * btab[idx]
        want = _brute_force_count(u, ctab[idx] / COST_SCALE, st.params, st.ratio)
        cp = r.checkpoints[0]
        got = round(cp.learned_fraction * pop.n)
        assert want - cp.boundary_fraction * pop.n <= got <= want, (kind, st.params, got, want)
        # the threshold the kernels used separates stored from unstored values exactly
        lam = int(states["lam"][i])
        assert got == int(np.count_nonzero(u.view(np.uint64) > np.uint64(lam)))
        checked += 0 < got < pop.n
    assert checked >= 1  # at least one setting has a non-trivial boundary


def test_solve_level_scan_on_a_hand_histogram():
    k0 = int(np.array([1e-9]).view(np.uint64)[0] >> np.uint64(44))
    edges = bits_to_float(np.arange(k0, k0 + 4, dtype=np.uint64) << np.uint64(44))
    count = np.array([5, 5, 5])
    cost = np.array([1, 1, 1]) * int(COST_SCALE) * 1000  # 1000 params per bin
    assert np.all(np.diff(edges) > 0)
    # a huge model: the web's marginal value is far below 1e-9, everything is stored
    assert solve_level(count, cost, k0, 44, 1e15, 0.5, DEFAULT_WEB_LAW) == (k0, 3000 * int(COST_SCALE))
    # too small for even one bin (G = +inf once the capacity is used): nothing from this range
    assert solve_level(count, cost, k0, 44, 500.0, 0.5, DEFAULT_WEB_LAW)[0] is None
    # in between: with the top bin stored (1000 params used), (1−r)·G = (e1 + e2)/2: the top bin's lower edge e2 is
    # above that level, the next bin's e1 is below it -> bins >= k0 + 2 are stored whole, bin k0 + 1 is the boundary
    g_mid = 0.5 * (edges[1] + edges[2]) / 0.5
    n_mid = float(DEFAULT_WEB_LAW.in_bits().size_at_slope(g_mid)) + 1000.0
    assert solve_level(count, cost, k0, 44, n_mid, 0.5, DEFAULT_WEB_LAW)[0] == k0 + 2
