"""Memorization Monte Carlo M1 (static threshold) and M2 (finite training in chunks, 'bn' and 'race' dynamics).

One call runs a batch of settings that share a population and a checkpoint list, on any backend, with the same
integer results on numpy / Numba CPU / Numba CUDA (simulation.md §1–§2; Eq. (87)–(93) in docs/theory.md):

- exposures n_j ~ Poisson(f_j·D), f_j = r·p_j/T_fact, drawn per chunk from keyed streams;
- value density u_j = (n_j/D)·w_g·b(n_j) and cost P_j = h/b(n_j); the stored set is the water-filling of the
  web's marginal value (1−r)·G(N − ΣP) (theory layer's law), or a fixed λ;
- 'race': strength x_j (Q0.32) erased at rate η·e, e = (1−r)·G(N)/2, written by (1−ω_g) per exposure; a fact is
  learned iff allocated and x_j ≥ θ.
M1 is M2 with a single checkpoint and no race.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from phasemix._checks import check_choice, check_int, check_nonnegative, check_positive, check_unit_interval
from phasemix.kernels import poisson as _poisson
from phasemix.kernels import rng as _rng
from phasemix.kernels.backend import get_kernels
from phasemix.kernels.reference import race_power_table
from phasemix.sim.population import Population, PopulationSpec, build_population
from phasemix.sim.waterfill import b_table, cost_table, fixed_level, water_fill, web_marginal
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw

SCHEMA_VERSION = 1
MODEL_VERSION = "memorization-v1"
DYNAMICS = ("none", "bn", "race", "bn+race")
THETA_HALF = 1 << 31
MAX_CHUNKS = 1 << 16


@dataclass(frozen=True, slots=True)
class Dynamics:
    """Dynamics proxy of M2 (spec simulation.md §1; finite-training.md).

    kind : ``none`` (b ≡ b_max), ``bn`` (b(n) = clip(b_max·(n/n_ref)^κ, b_min, b_max)), ``race`` (forgetting race),
        ``bn+race``.
    n_min : exposures a fact needs before it can be stored (≥ 1).
    eta, c_w : race learning rate and write constant (write per exposure ω_g = 1 − exp(−η·w_g·c_w)).
    max_step : host splits chunks so that η·e·ΔD and the largest f_j·ω·ΔD stay ≤ max_step (race only).
    theta : recall threshold on x (½).
    """

    kind: str = "none"
    n_min: int = 1
    b_max: float = 2.0
    b_min: float = 0.0
    n_ref: int = 1000
    kappa: float = 0.3
    eta: float = 0.0
    c_w: float = 1.0
    max_step: float = 0.05
    theta: float = 0.5

    def __post_init__(self) -> None:
        check_choice("dynamics.kind", self.kind, DYNAMICS)
        check_int("dynamics.n_min", self.n_min, minimum=1)
        check_positive("dynamics.b_max", self.b_max)
        check_nonnegative("dynamics.b_min", self.b_min)
        check_int("dynamics.n_ref", self.n_ref, minimum=1)
        check_nonnegative("dynamics.kappa", self.kappa)
        check_nonnegative("dynamics.eta", self.eta)
        check_positive("dynamics.c_w", self.c_w)
        check_positive("dynamics.max_step", self.max_step)
        check_unit_interval("dynamics.theta", self.theta, low_open=True, high_open=True)
        if self.race and self.eta == 0.0:
            raise ValueError("dynamics.eta must be > 0 with the race dynamics, got 0.0")

    @property
    def bn(self) -> bool:
        return self.kind in ("bn", "bn+race")

    @property
    def race(self) -> bool:
        return self.kind in ("race", "bn+race")


@dataclass(frozen=True, slots=True)
class Setting:
    """One simulated setting: model size N, knowledge token share r, checkpoints (tokens), seed, dynamics.

    ``lam`` (bits/token/param) fixes the water level (no capacity feedback); ``lam = 0`` stores every eligible fact.
    """

    params: float
    ratio: float
    tokens: tuple[float, ...]
    seed: int = 0
    tokens_per_fact: float = 100.0
    bits_per_fact: float = 45.5916
    dynamics: Dynamics = field(default_factory=Dynamics)
    lam: float | None = None

    def __post_init__(self) -> None:
        check_positive("params", self.params)
        check_unit_interval("ratio", self.ratio, high_open=True)
        # the random streams are keyed on this setting's JSON: 58048 and 58048.0 must be the same setting
        for name in ("params", "ratio", "tokens_per_fact", "bits_per_fact"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.lam is not None:
            object.__setattr__(self, "lam", float(self.lam))
        toks = tuple(float(t) for t in np.atleast_1d(self.tokens))
        if not toks:
            raise ValueError("tokens must list at least one checkpoint, got []")
        check_positive("tokens", toks)
        if any(b <= a for a, b in zip(toks, toks[1:])):
            raise ValueError(f"tokens (checkpoints) must be strictly increasing, got {list(toks)}")
        object.__setattr__(self, "tokens", toks)
        check_int("seed", self.seed, minimum=0)
        check_positive("tokens_per_fact", self.tokens_per_fact)
        check_positive("bits_per_fact", self.bits_per_fact)
        if isinstance(self.dynamics, dict):
            object.__setattr__(self, "dynamics", Dynamics(**self.dynamics))
        if self.lam is not None:
            check_nonnegative("lam", self.lam)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tokens"] = list(self.tokens)
        return d


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """Outputs at one checkpoint (all derived from integer counts; Eq. (90)–(91))."""

    tokens: float
    learned_fraction: float
    subset_accuracy: tuple[float, ...]
    lambda_hat: float
    f_thres_hat: float
    test_error: float
    eligible_fraction: float
    allocated_fraction: float
    recalled_fraction: float
    mean_strength: float
    boundary_fraction: float
    capacity_used: float
    f_thres_subset: float = math.nan


@dataclass(frozen=True, slots=True)
class MemorizationResult:
    """Result of one setting: its checkpoints' outputs plus provenance."""

    setting: dict
    population: dict
    checkpoints: tuple[CheckpointResult, ...]
    backend: str
    rng_family: str
    rng_version: int = _rng.RNG_VERSION
    model_version: str = MODEL_VERSION
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        d = asdict(self)
        d["checkpoints"] = [asdict(c) for c in self.checkpoints]
        return d

    def to_json(self, path) -> None:
        """Write JSON; non-finite floats become null (read back as NaN)."""
        from phasemix.sim.store import encode_outputs

        d = self.to_dict()
        d["checkpoints"] = [{k: v for k, v in encode_outputs(c).items() if k != "_nonfinite"}
                            for c in d["checkpoints"]]
        with open(path, "w") as fh:
            json.dump(d, fh, indent=2, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict) -> MemorizationResult:
        if d.get("schema_version", SCHEMA_VERSION) > SCHEMA_VERSION:
            raise ValueError(f"result schema_version {d['schema_version']} is newer than {SCHEMA_VERSION}")
        cps = tuple(CheckpointResult(**{**{k: (math.nan if v is None else v) for k, v in c.items()},
                                        "subset_accuracy": tuple(c["subset_accuracy"])})
                    for c in d["checkpoints"])
        return cls(**{**d, "checkpoints": cps})

    @classmethod
    def from_json(cls, path) -> MemorizationResult:
        with open(path) as fh:
            return cls.from_dict(json.load(fh))


def exposure_means(pop: Population, ratio: float, tokens_per_fact: float, tokens: float) -> np.ndarray:
    """μ_j = f_j·D with f_j = r·p_j/T_fact (Eq. (87)); per subset class in table mode."""
    p = pop.subset_p if pop.table_mode else pop.p
    return ratio * p / tokens_per_fact * tokens


def _chunk_schedule(settings: list[Setting], pop: Population,
                    law: PowerLaw = DEFAULT_WEB_LAW) -> list[tuple[float, bool]]:
    """Chunks (ΔD, ends-at-checkpoint) shared by the batch, split for the race step size (Eq. (95) in
    docs/theory.md)."""
    cps = settings[0].tokens
    out: list[tuple[float, bool]] = []
    prev = 0.0
    pmax = float(pop.p.max())
    for t in cps:
        delta = t - prev
        parts = 1
        for st in settings:
            dyn = st.dynamics
            if dyn.race:
                e = (1.0 - st.ratio) * float(web_marginal(law, np.array([st.params]))[0]) / 2.0
                wmax = float(pop.w_classes.max())
                write = st.ratio * pmax / st.tokens_per_fact * -math.expm1(-dyn.eta * wmax * dyn.c_w)
                rate = max(dyn.eta * e, write)
                parts = max(parts, math.ceil(rate * delta / dyn.max_step))
        if len(out) + parts > MAX_CHUNKS:
            raise ValueError(f"the race step limit needs more than {MAX_CHUNKS} chunks; raise dynamics.max_step "
                             "or use fewer/closer checkpoints")
        out.extend([(delta / parts, False)] * (parts - 1) + [(delta / parts, True)])
        prev = t
    return out


def _exposure_args(pop: Population, settings: list[Setting], delta: np.ndarray):
    """Host tables for one chunk: (mode, tab_of [S, C], scale [S], nsub [S, C], tables) (Eq. (85)–(86)).

    Table mode: class c of setting s draws ``nsub[s, c]`` times from a table of mean μ_c/nsub (≤ 2^16). Digit mode:
    ``scale = r·ΔD/T_fact·2^32`` so that μ_fp = trunc(p_j·scale) is the 32.32 fixed-point mean.
    """
    n_set = len(settings)
    if pop.table_mode:
        means = np.stack([exposure_means(pop, s.ratio, s.tokens_per_fact, d) for s, d in zip(settings, delta)])
        nsub = np.maximum(1, np.ceil(means / (_poisson.MAX_TABLE_MEAN * 0.999))).astype(np.int64)
        per = means / nsub
        uniq, inv = np.unique(per, return_inverse=True)
        tables = _poisson.build_tables(uniq)
        return 0, inv.reshape(per.shape).astype(np.int64), np.zeros(n_set), nsub, tables
    scale = np.array([s.ratio / s.tokens_per_fact * d * 2.0 ** _poisson.FIXED_SHIFT for s, d in zip(settings, delta)])
    if float(pop.p.max()) * scale.max() >= 2.0 ** 63:
        raise ValueError("an exposure mean exceeds 2^31 per chunk; use more checkpoints (M2) or fewer tokens")
    return 1, np.zeros((n_set, 1), dtype=np.int64), scale, np.zeros((n_set, 1), dtype=np.int64), \
        _poisson.digit_tables()


def _fthres(pop: Population, fb_cnt: np.ndarray, ratio: float, tokens_per_fact: float) -> float:
    """Frequency where the per-bin learned fraction first drops through ½ scanning down, interpolated linearly in
    log f between bin centres (Eq. (91) in docs/theory.md)."""
    nonempty = np.nonzero(pop.fbin_count)[0][::-1]
    frac = fb_cnt[nonempty] / pop.fbin_count[nonempty]
    logf = np.log(ratio * pop.fbin_center_p()[nonempty] / tokens_per_fact)
    if frac.size == 0 or frac[0] < 0.5:
        return math.nan
    below = np.nonzero(frac < 0.5)[0]
    if below.size == 0:
        return math.nan
    i = int(below[0])
    t = (0.5 - frac[i - 1]) / (frac[i] - frac[i - 1])
    return float(math.exp(logf[i - 1] + t * (logf[i] - logf[i - 1])))


SUBSET_TARGET = 0.8


def _fthres_subset(pop: Population, accuracy: np.ndarray, ratio: float, tokens_per_fact: float) -> float:
    """'First subset below 80 %' estimator of capacity-allocation §4.1: the per-fact frequency r·p/T_fact of the
    most frequent subset whose learned fraction is < 0.8 (NaN without subsets or if none is below)."""
    if not pop.table_mode or pop.nsubsets < 2:
        return math.nan
    order = np.argsort(-pop.subset_p, kind="stable")
    below = np.nonzero(accuracy[order] < SUBSET_TARGET)[0]
    if below.size == 0:
        return math.nan
    return float(ratio * pop.subset_p[order[below[0]]] / tokens_per_fact)


def _single_shot(settings: list[Setting]) -> bool:
    """M1 batches: one checkpoint each and no race, so every setting may have its own D (one chunk)."""
    return all(len(s.tokens) == 1 and not s.dynamics.race for s in settings)


def _check_batch(settings: list[Setting]) -> None:
    if not settings:
        raise ValueError("settings must not be empty")
    if _single_shot(settings):
        return
    first = settings[0]
    for s in settings[1:]:
        if s.tokens != first.tokens:
            raise ValueError(f"settings in one batch must share checkpoints (unless each has one checkpoint and no "
                             f"race), got {first.tokens} and {s.tokens}")


def stream_uid(setting: Setting, pop_spec: dict) -> int:
    """Stream id of a setting: blake2b of (model version, population, setting without its seed) (Eq. (81))."""
    body = setting.to_dict()
    body.pop("seed")
    return _rng.setting_uid({"model": MODEL_VERSION, "population": pop_spec, "setting": body})


def simulate(population, settings, backend: str = "auto", progress=None,
             on_checkpoint=None, law: PowerLaw = DEFAULT_WEB_LAW) -> list[MemorizationResult]:
    """Run M1/M2 for a batch of settings sharing a population and checkpoints (Eq. (87)–(93) in docs/theory.md).

    Parameters
    ----------
    population : a :class:`Population` or a :class:`PopulationSpec` / dict to build one.
    settings : one :class:`Setting` or a list of them: the same ``tokens`` checkpoints, or (M1) one checkpoint each
        and no race, with any tokens.
    backend : ``auto``, ``numpy``, ``numba``, ``cuda`` or ``cupy``.
    progress : optional callable ``(done_chunks, total_chunks)``.
    on_checkpoint : optional callable ``(tokens [S], n, x, lam_bits)`` called at each checkpoint with host copies of the
        per-fact state (exposures ``n`` [S, J] uint32, strengths ``x`` [S, J] Q0.32 or [S, 1] without the race) and
        the stored-set thresholds on value bits [S]; for per-fact analyses (costs a device-to-host copy).
    law : the web-loss law whose marginal value G sets the water level and the race's erase rate (default: the
        Pythia FineWeb-Edu fit); pass a law fitted on your own runs to simulate them.

    Returns
    -------
    list of :class:`MemorizationResult`, one per setting, in input order.
    """
    if not isinstance(population, Population | PopulationSpec | dict):
        raise TypeError(f"population must be a Population, PopulationSpec or dict, got {type(population).__name__}")
    pop = population if isinstance(population, Population) else build_population(population)
    settings = [settings] if isinstance(settings, Setting) else list(settings)
    bad = [type(s).__name__ for s in settings if not isinstance(s, Setting)]
    if bad:
        raise TypeError(f"settings must be Setting objects, got {bad[0]}")
    _check_batch(settings)
    kern = get_kernels(backend)
    n_set, n_fact = len(settings), pop.n
    pop_spec = pop.spec.to_dict()
    bases = np.array([_rng.setting_base(s.seed, stream_uid(s, pop_spec)) for s in settings], dtype=np.uint64)
    race = any(s.dynamics.race for s in settings)
    if race and not all(s.dynamics.race for s in settings):
        raise ValueError("settings in one batch must all use the race dynamics or none of them")
    n = kern.put(np.zeros((n_set, n_fact), dtype=np.uint32))
    x = kern.put(np.zeros((n_set, n_fact) if race else (n_set, 1), dtype=np.uint32))
    pmix, gclass = kern.put(pop.p), kern.put(pop.gclass)
    fbin, p_fp = kern.put(pop.fbin), kern.put(pop.p_fp)
    w = np.stack([pop.w_classes] * n_set)
    btabs = [b_table(s.dynamics.b_max, s.dynamics.b_min, s.dynamics.n_ref, s.dynamics.kappa, s.dynamics.bn)
             for s in settings]
    width = max(b.size for b in btabs)
    btab = np.stack([np.pad(b, (0, width - b.size), mode="edge") for b in btabs])
    ctab = np.stack([cost_table(s.bits_per_fact, b) for s, b in zip(settings, btab)])
    nref = np.array([b.size - 1 for b in btabs], dtype=np.int64)
    n_min = np.array([s.dynamics.n_min for s in settings], dtype=np.int64)
    params = np.array([s.params for s in settings])
    ratio = np.array([s.ratio for s in settings])
    theta = np.array([s.dynamics.theta for s in settings])
    if race and np.ptp(theta) > 0:
        raise ValueError("settings in one batch must share dynamics.theta")
    theta_fp = int(round(theta[0] * 2 ** 32))
    if not isinstance(law, PowerLaw):
        raise TypeError(f"law must be a PowerLaw, got {type(law).__name__}")
    e_rate = np.array([(1.0 - s.ratio) * float(web_marginal(law, np.array([s.params]))[0]) / 2.0
                       for s in settings])
    eta = np.array([s.dynamics.eta for s in settings])
    qw = race_power_table(np.stack([np.minimum(np.floor(np.exp(-s.dynamics.eta * pop.w_classes * s.dynamics.c_w)
                                                         * 2.0 ** 32), 2.0 ** 32).astype(np.uint64)
                                    for s in settings]))
    if _single_shot(settings):  # M1: one chunk, each setting with its own D
        schedule = [(np.array([s.tokens[0] for s in settings]), True)]
    else:
        schedule = [(np.full(n_set, d), at) for d, at in _chunk_schedule(settings, pop, law)]
    cp_index = 0
    outputs: list[list[CheckpointResult]] = [[] for _ in settings]
    table_cache: dict[bytes, tuple] = {}
    for k, (delta, at_cp) in enumerate(schedule):
        if delta.tobytes() not in table_cache:
            table_cache[delta.tobytes()] = _exposure_args(pop, settings, delta)
        mode, tab_of, scale, nsub, tables = table_cache[delta.tobytes()]
        rho_half = np.minimum(np.floor(np.exp(-eta * e_rate * delta / 2.0) * 2.0 ** 32), 2.0 ** 32).astype(np.uint64)
        kern.advance(n, x, bases, pmix, gclass, pop.subset_size, mode, tab_of, scale, nsub, tables, k,
                     _rng.PURPOSE_EXPOSURE, race, rho_half, qw)
        if progress is not None:
            progress(k + 1, len(schedule))
        if not at_cp:
            continue
        tokens = np.array([s.tokens[cp_index] for s in settings])
        cp_index += 1
        inv_d = 1.0 / tokens
        levels = [fixed_level(s.lam) if s.lam is not None else None for s in settings]
        free = [i for i, lv in enumerate(levels) if lv is None]
        if free:
            n_max = np.asarray(kern.get(kern.row_max(n)), dtype=np.int64)
            solved = water_fill(kern, n, gclass, inv_d, w, btab, ctab, nref, n_min, params, ratio, n_max, law=law)
            for i in free:
                levels[i] = solved[i]
        lam_bits = np.array([lv.lam_bits for lv in levels], dtype=np.uint64)
        if on_checkpoint is not None:
            on_checkpoint(tokens.copy(), np.array(kern.get(n)), np.array(kern.get(x)), lam_bits.copy())
        sub_cnt, fb_cnt, err, totals = (np.asarray(kern.get(a)) for a in kern.final_reduce(
            n, x, gclass, fbin, p_fp, pop.subset_size, pop.nsubsets, pop.nfbins, inv_d, w, btab, nref, n_min,
            lam_bits, race, theta_fp))
        sizes = pop.subset_sizes()
        for i, s in enumerate(settings):
            outputs[i].append(CheckpointResult(
                tokens=float(tokens[i]),
                learned_fraction=float(sub_cnt[i].sum() / n_fact),
                subset_accuracy=tuple(float(v) for v in sub_cnt[i] / sizes),
                lambda_hat=levels[i].lambda_hat,
                f_thres_hat=_fthres(pop, fb_cnt[i], s.ratio, s.tokens_per_fact),
                test_error=float(int(err[i]) / 2.0 ** 62),
                eligible_fraction=float(totals[i, 0] / n_fact),
                allocated_fraction=float(totals[i, 1] / n_fact),
                recalled_fraction=float(totals[i, 2] / n_fact),
                mean_strength=float(totals[i, 3] / (n_fact * 2.0 ** 32)) if race else math.nan,
                boundary_fraction=float(levels[i].boundary_count / n_fact),
                capacity_used=levels[i].capacity_used,
                f_thres_subset=_fthres_subset(pop, sub_cnt[i] / sizes, s.ratio, s.tokens_per_fact),
            ))
    return [MemorizationResult(setting=s.to_dict(), population=pop_spec, checkpoints=tuple(outputs[i]),
                               backend=kern.name, rng_family=kern.rng_family) for i, s in enumerate(settings)]


def with_seed(setting: Setting, seed: int) -> Setting:
    """Copy of ``setting`` with another seed."""
    return replace(setting, seed=seed)


def timed(fn, *args, **kwargs):
    """(result, wall seconds) of ``fn(*args, **kwargs)``."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0
