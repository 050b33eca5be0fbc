"""Fact populations for the memorization Monte Carlo: uniform, power-law subsets, Zipf (Eq. (94) in docs/theory.md).

A population is the structure-of-arrays the kernels read (simulation.md §3): the probability ``p_j`` that a fact
occurrence in the knowledge data is fact j (Σ p = 1), the heterogeneity class ``gclass`` (uint8, 64 equiprobable
LogN(0, σ_g) quantile classes, assigned by a keyed hash of j), the frequency bin ``fbin`` (32 bins per octave
from the float bits of p, no log), and the fixed-point ``p_fp = floor(p·2^62)`` for exact error sums.
Subsets are implicit: fact j belongs to subset ``j // subset_size``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import special

from phasemix._checks import check_choice, check_int, check_nonnegative, check_positive
from phasemix.kernels.rng import splitmix64_np

KINDS = ("uniform", "power_law_subsets", "zipf")
N_GCLASS = 64
FBIN_SHIFT = 47  # bits(p) >> 47: exponent + 5 mantissa bits = 32 bins per octave
#: Largest number of distinct subset probabilities that still uses one Poisson table per mean.
MAX_TABLE_CLASSES = 4096
_GCLASS_SALT = 0x5851F42D4C957F2D


@dataclass(frozen=True, slots=True)
class PopulationSpec:
    """What population to build.

    Parameters
    ----------
    kind : ``"uniform"`` (facts equally likely), ``"power_law_subsets"`` (``subsets`` subsets of ``subset_size``
        facts, subset weights ∝ i^(−exponent), uniform within a subset; capacity-allocation §4.1), or ``"zipf"``
        (p_j ∝ j^(−exponent), real-synthetic §1).
    facts : number of facts for uniform and zipf (ignored for subsets: subsets × subset_size).
    subsets, subset_size : layout of ``power_law_subsets`` (default 100 × 100).
    exponent : power-law exponent (1.5 for the subsets, the Zipf β otherwise).
    sigma_g : log-sd of the per-fact heterogeneity factor w_g (0: every w_g = 1).
    seed : seed of the class assignment (the population is otherwise deterministic).
    """

    kind: str = "power_law_subsets"
    facts: int = 10_000
    subsets: int = 100
    subset_size: int = 100
    exponent: float = 1.5
    sigma_g: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("population.kind", self.kind, KINDS)
        check_int("population.facts", self.facts, minimum=1)
        check_int("population.subsets", self.subsets, minimum=1)
        check_int("population.subset_size", self.subset_size, minimum=1)
        check_nonnegative("population.exponent", self.exponent)
        check_nonnegative("population.sigma_g", self.sigma_g)
        check_int("population.seed", self.seed, minimum=0)
        if self.n_facts >= 1 << 40:
            raise ValueError(f"population size must be < 2^40 facts, got {self.n_facts}")

    @property
    def n_facts(self) -> int:
        return self.subsets * self.subset_size if self.kind == "power_law_subsets" else int(self.facts)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PopulationSpec:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown population keys {sorted(unknown)}; allowed: {sorted(cls.__dataclass_fields__)}")
        return cls(**data)


@dataclass(frozen=True)
class Population:
    """Arrays of a built population (read-only numpy arrays)."""

    spec: PopulationSpec
    p: np.ndarray
    gclass: np.ndarray
    w_classes: np.ndarray
    fbin: np.ndarray
    fbin_lo: int
    fbin_count: np.ndarray
    p_fp: np.ndarray
    subset_size: int
    nsubsets: int
    subset_p: np.ndarray | None = field(default=None)

    @property
    def n(self) -> int:
        return int(self.p.size)

    @property
    def table_mode(self) -> bool:
        """True when facts share ≤ 4096 distinct probabilities (one Poisson table per mean)."""
        return self.subset_p is not None

    @property
    def nfbins(self) -> int:
        return int(self.fbin_count.size)

    def fbin_center_p(self) -> np.ndarray:
        """Probability at the centre of each frequency bin (from its bit pattern)."""
        codes = (np.arange(self.nfbins, dtype=np.uint64) + np.uint64(self.fbin_lo)) << np.uint64(FBIN_SHIFT)
        return (codes | np.uint64(1 << (FBIN_SHIFT - 1))).view(np.float64)

    def subset_sizes(self) -> np.ndarray:
        sizes = np.full(self.nsubsets, self.subset_size, dtype=np.int64)
        sizes[-1] = self.n - self.subset_size * (self.nsubsets - 1)
        return sizes


def heterogeneity_classes(sigma: float) -> np.ndarray:
    """Factors of the 64 equiprobable LogN(0, σ) quantile classes: ``exp(σ·Φ⁻¹((c + ½)/64))`` (Eq. (94))."""
    s = float(check_nonnegative("sigma_g", sigma))
    q = (np.arange(N_GCLASS) + 0.5) / N_GCLASS
    return np.exp(s * special.ndtri(q))


def subset_weights(subsets: int, exponent: float) -> np.ndarray:
    """Normalised subset probabilities ``i^(−exponent)/Σ`` for i = 1..subsets."""
    w = np.arange(1, subsets + 1, dtype=np.float64) ** (-float(exponent))
    return w / w.sum()


def zipf_probabilities(facts: int, exponent: float) -> np.ndarray:
    """Normalised ``j^(−exponent)`` for j = 1..facts."""
    w = np.arange(1, facts + 1, dtype=np.float64) ** (-float(exponent))
    return w / math.fsum(w)


def _finish(spec: PopulationSpec, p: np.ndarray, subset_size: int, subset_p: np.ndarray | None) -> Population:
    check_positive("fact probabilities", p.min())
    n = p.size
    j = np.arange(n, dtype=np.uint64)
    gclass = (splitmix64_np(j ^ np.uint64(_GCLASS_SALT ^ spec.seed)) >> np.uint64(58)).astype(np.uint8)
    if spec.sigma_g == 0.0:
        gclass[:] = 0
    codes = (p.view(np.uint64) >> np.uint64(FBIN_SHIFT)).astype(np.int64)
    lo = int(codes.min())
    fbin = (codes - lo).astype(np.uint16 if codes.max() - lo < 65536 else np.int32)
    fbin_count = np.bincount(fbin.astype(np.int64))
    p_fp = np.floor(p * 2.0 ** 62).astype(np.uint64)
    w = heterogeneity_classes(spec.sigma_g) if spec.sigma_g > 0 else np.ones(N_GCLASS)
    nsub = -(-n // subset_size)
    arrays = dict(p=p, gclass=gclass, w_classes=w, fbin=fbin, fbin_count=fbin_count, p_fp=p_fp)
    for a in arrays.values():
        a.setflags(write=False)
    return Population(spec=spec, fbin_lo=lo, subset_size=subset_size, nsubsets=nsub, subset_p=subset_p, **arrays)


def build_population(spec: PopulationSpec | dict) -> Population:
    """Build the arrays of ``spec`` (Eq. (94) in docs/theory.md).

    >>> pop = build_population(PopulationSpec("power_law_subsets"))
    >>> pop.n, pop.nsubsets, round(float(pop.subset_p[0] * 100), 3)
    (10000, 100, 0.414)
    """
    if isinstance(spec, dict):
        spec = PopulationSpec.from_dict(spec)
    if spec.kind == "uniform":
        n = spec.n_facts
        return _finish(spec, np.full(n, 1.0 / n), n, np.array([1.0 / n]))
    if spec.kind == "power_law_subsets":
        if spec.subsets > MAX_TABLE_CLASSES:
            raise ValueError(f"population.subsets must be <= {MAX_TABLE_CLASSES}, got {spec.subsets}")
        q = subset_weights(spec.subsets, spec.exponent) / spec.subset_size
        p = np.repeat(q, spec.subset_size)
        return _finish(spec, p, spec.subset_size, q)
    p = zipf_probabilities(spec.n_facts, spec.exponent)
    return _finish(spec, p, spec.n_facts, None)


def mixture_population(real: np.ndarray, synthetic: np.ndarray, real_share: float) -> np.ndarray:
    """Sampling law ``q = π·p + (1−π)·p_syn`` of the real-synthetic learner (M3, Eq. (96) in docs/theory.md)."""
    return real_share * real + (1.0 - real_share) * synthetic
