"""Shared tiny cases for the bit-identity tests (numpy vs Numba CPU vs CUDA simulator); not a test module."""

from __future__ import annotations

from phasemix.sim.memorization import Dynamics, Setting, simulate
from phasemix.sim.realsynth import MixtureSpec, simulate_m3

SUBSETS = {"kind": "power_law_subsets", "subsets": 16, "subset_size": 128, "sigma_g": 0.7, "seed": 3}
ZIPF = {"kind": "zipf", "facts": 2048, "exponent": 0.8, "sigma_g": 0.4}


def m1_case(backend: str, facts_scale: int = 1, settings: int = 4) -> list[dict]:
    """M1 with capacity feedback: S settings × 3 token budgets, table mode and digit mode populations."""
    out = []
    for pop in (SUBSETS, ZIPF):
        if facts_scale != 1:
            key = "subset_size" if "subset_size" in pop else "facts"
            pop = {**pop, key: pop[key] // facts_scale}
        for tokens in (3e6, 3e7, 3e8)[: 3 if settings > 2 else 1]:
            sts = [Setting(params=p, ratio=0.05, tokens=(tokens,), seed=i, dynamics=Dynamics(kind="bn", n_ref=50))
                   for i, p in enumerate([3e4, 1e5, 3e5, 1e6][:settings])]
            out += [r.to_dict() for r in simulate(pop, sts, backend=backend)]
    return out


def m2_case(backend: str, facts_scale: int = 1, settings: int = 4, feedback: bool = True) -> list[dict]:
    """M2 bn+race over 3 checkpoints (S settings)."""
    pop = {**SUBSETS, "subset_size": SUBSETS["subset_size"] // facts_scale}
    dyn = Dynamics(kind="bn+race", eta=0.05, n_ref=50, max_step=10.0)
    sts = [Setting(params=p, ratio=0.1, tokens=(1e6, 2e6, 1e8), seed=i, dynamics=dyn, lam=None if feedback else 1e-8)
           for i, p in enumerate([1e5, 3e5, 1e6, 3e6][:settings])]
    return [r.to_dict() for r in simulate(pop, sts, backend=backend)]


def m3_case(backend: str, items: int = 2048) -> list[dict]:
    res = simulate_m3(MixtureSpec(items=items, exponent=1.5, cutoff=64, real_share=0.1), [1e2, 1e3, 1e4, 1e5],
                      [0, 1, 2, 3], backend=backend)
    return [{k: v for k, v in r.to_dict().items() if k != "backend"} for r in res]


def strip_backend(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "backend"} for r in records]
