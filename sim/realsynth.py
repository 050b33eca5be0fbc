"""M3: the real-vs-synthetic memorisation learner, Monte Carlo (simulation.md §1 M3; Eq. (96)–(98) in docs/theory.md).

Items i = 1..I with real law p_i ∝ i^(−β); training samples come from the mixture q = π·p + (1−π)·p_syn, where the
synthetic law p_syn is p truncated at k and renormalised (``truncate``), a tempered Zipf i^(−β/τ) (``tempered``) or
uniform on the first k items (``uniform``). Poissonised sampling: c_i ~ Poisson(|S|·q_i) independently; item i is
known iff c_i ≥ 1; test error err = Σ p_i·1[c_i = 0]. The counts use the same keyed streams and digit tables as
M1/M2, so every xoro backend gives the same integers.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np

from phasemix._checks import check_choice, check_int, check_positive, check_unit_interval
from phasemix.kernels import poisson as _poisson
from phasemix.kernels import rng as _rng
from phasemix.kernels.backend import get_kernels
from phasemix.sim.population import zipf_probabilities

MODEL_VERSION = "realsynth-v1"
SCHEMA_VERSION = 1
SYNTHETIC = ("truncate", "tempered", "uniform")


@dataclass(frozen=True, slots=True)
class MixtureSpec:
    """Item laws of M3: ``items`` I, Zipf ``exponent`` β, synthetic law, its ``cutoff`` k / ``temperature`` τ, and
    the real share π."""

    items: int = 10_000
    exponent: float = 2.0
    synthetic: str = "truncate"
    cutoff: int = 100
    temperature: float = 1.0
    real_share: float = 0.05

    def __post_init__(self) -> None:
        check_int("m3.items", self.items, minimum=1)
        check_positive("m3.exponent", self.exponent)
        check_choice("m3.synthetic", self.synthetic, SYNTHETIC)
        check_int("m3.cutoff", self.cutoff, minimum=1)
        if self.cutoff > self.items:
            raise ValueError(f"m3.cutoff must be <= m3.items ({self.items}), got {self.cutoff}")
        check_positive("m3.temperature", self.temperature)
        check_unit_interval("m3.real_share", self.real_share)

    def to_dict(self) -> dict:
        return asdict(self)

    def laws(self) -> tuple[np.ndarray, np.ndarray]:
        """(p, q): the real law and the training mixture (Eq. (96))."""
        p = zipf_probabilities(self.items, self.exponent)
        if self.synthetic == "truncate":
            syn = np.where(np.arange(self.items) < self.cutoff, p, 0.0)
        elif self.synthetic == "uniform":
            syn = (np.arange(self.items) < self.cutoff).astype(np.float64)
        else:
            syn = np.arange(1, self.items + 1, dtype=np.float64) ** (-self.exponent / self.temperature)
        syn = syn / math.fsum(syn)
        return p, self.real_share * p + (1.0 - self.real_share) * syn


@dataclass(frozen=True, slots=True)
class M3Result:
    """Simulated and exact-expected test error of one (mixture, |S|, seed)."""

    mixture: dict
    samples: float
    seed: int
    test_error: float
    expected_error: float
    error_sd: float
    known_fraction: float
    backend: str
    rng_family: str
    rng_version: int = _rng.RNG_VERSION
    model_version: str = MODEL_VERSION
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, path) -> None:
        with open(path, "w") as fh:
            json.dump(self.to_dict(), fh, indent=2)

    @classmethod
    def from_json(cls, path) -> M3Result:
        with open(path) as fh:
            return cls(**json.load(fh))


def expected_error(p: np.ndarray, q: np.ndarray, samples: float) -> tuple[float, float]:
    """Poissonised E[err] = Σ p_i·e^(−|S|q_i) and sd = √(Σ p_i²·e^(−|S|q_i)(1 − e^(−|S|q_i))) (Eq. (98))."""
    z = np.exp(-samples * q)
    return float(np.sum(p * z)), float(np.sqrt(np.sum(p * p * z * -np.expm1(-samples * q))))


def simulate_m3(mixture: MixtureSpec | dict, samples, seeds=0, backend: str = "auto") -> list[M3Result]:
    """Simulate the learner for each (|S|, seed) pair of a mixture (Eq. (97) in docs/theory.md).

    ``samples`` and ``seeds`` broadcast against each other (scalars or equal-length sequences).
    """
    mix = mixture if isinstance(mixture, MixtureSpec) else MixtureSpec(**mixture)
    s_arr = np.atleast_1d(np.asarray(samples, dtype=np.float64))
    seed_arr = np.atleast_1d(np.asarray(seeds))
    s_arr, seed_arr = np.broadcast_arrays(s_arr, seed_arr)
    check_positive("samples", s_arr)
    kern = get_kernels(backend)
    p, q = mix.laws()
    n_set, n_items = s_arr.size, mix.items
    uid_body = {"model": MODEL_VERSION, "mixture": mix.to_dict()}
    bases = np.array([_rng.setting_base(int(sd), _rng.setting_uid({**uid_body, "samples": float(sv)}))
                      for sv, sd in zip(s_arr, seed_arr)], dtype=np.uint64)
    if float(q.max()) * float(s_arr.max()) >= 2.0 ** 31:
        raise ValueError(f"samples × largest item probability must be < 2^31, got {float(q.max() * s_arr.max())!r}")
    nsub = np.zeros((n_set, 1), dtype=np.int64)
    scale = s_arr * 2.0 ** _poisson.FIXED_SHIFT
    n = kern.put(np.zeros((n_set, n_items), dtype=np.uint32))
    x = kern.put(np.zeros((n_set, 1), dtype=np.uint32))
    gclass = kern.put(np.zeros(n_items, dtype=np.uint8))
    p_fp = kern.put(np.floor(p * 2.0 ** 62).astype(np.uint64))
    kern.advance(n, x, bases, kern.put(q), gclass, n_items, 1, np.zeros((n_set, 1), dtype=np.int64), scale, nsub,
                 _poisson.digit_tables(), 0, _rng.PURPOSE_SAMPLE, False, np.zeros(n_set, dtype=np.uint64),
                 np.zeros((n_set, 64, 2), dtype=np.uint64))
    ones = np.ones(n_set)
    sub_cnt, _, err, _ = (np.asarray(kern.get(a)) for a in kern.final_reduce(
        n, x, gclass, kern.put(np.zeros(n_items, dtype=np.uint16)), p_fp, n_items, 1, 1, ones, np.ones((n_set, 64)),
        np.ones((n_set, 1)), np.zeros(n_set, dtype=np.int64), np.ones(n_set, dtype=np.int64),
        np.zeros(n_set, dtype=np.uint64), False, 0))
    out = []
    for i in range(n_set):
        e, sd = expected_error(p, q, float(s_arr[i]))
        out.append(M3Result(mixture=mix.to_dict(), samples=float(s_arr[i]), seed=int(seed_arr[i]),
                            test_error=float(int(err[i]) / 2.0 ** 62), expected_error=e, error_sd=sd,
                            known_fraction=float(sub_cnt[i].sum() / n_items), backend=kern.name,
                            rng_family=kern.rng_family))
    return out
