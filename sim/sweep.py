"""Sweeps: a grid of settings from a TOML config, run through an executor, stored incrementally, resumable.

Config (TOML; every key optional except the grid; unknown keys are errors)::

    [sweep]       name, model ("m1" | "m2" | "m3"), backend, seeds = [..], batch (settings per task),
                  executor ("serial" | "local" | "ray"), workers
    [population]  PopulationSpec fields (m1/m2)
    [grid]        m1: params, ratio, tokens (one setting per value); m2: params, ratio, tokens = checkpoints;
                  m3: samples, real_share       (counts accept "70M", "1B", 1e9)
    [setting]     fixed Setting fields (tokens_per_fact, bits_per_fact, lam)
    [dynamics]    Dynamics fields (m1/m2)
    [m3]          MixtureSpec fields except real_share (m3)

The driver expands the grid, skips the keys already in the store, groups the rest into tasks of ≤ ``batch``
compatible settings, hands them to an :class:`phasemix.sim.executors.Executor` and appends each returned record
(it is the only writer). Progress goes to stderr.
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phasemix import __version__
from phasemix.errors import ConfigError
from phasemix.kernels import rng as _rng
from phasemix.sim.executors import EXECUTORS, Executor, make_executor
from phasemix.sim.plots import learned_table, plot_learned  # noqa: F401 - part of the sweep API
from phasemix.sim.store import ResultStore, encode_outputs, record_key, utc_now
from phasemix.units import parse_count

log = logging.getLogger(__name__)

MODELS = ("m1", "m2", "m3")
SECTIONS = ("sweep", "population", "grid", "setting", "dynamics", "m3")
SWEEP_KEYS = ("name", "model", "backend", "seeds", "batch", "executor", "workers")
GRID_KEYS = {"m1": ("params", "ratio", "tokens"), "m2": ("params", "ratio", "tokens"), "m3": ("samples", "real_share")}
COUNT_KEYS = ("params", "tokens", "samples")
EXAMPLE_CONFIG = Path(__file__).parent / "configs" / "example.toml"


def _fail(msg: str) -> ConfigError:
    return ConfigError(msg)


def _counts(section: str, key: str, values: Any) -> list[float]:
    vals = values if isinstance(values, list) else [values]
    if not vals:
        raise _fail(f"{section}.{key} must not be empty")
    out = []
    for v in vals:
        try:
            x = parse_count(v, name=f"{section}.{key}")
        except ValueError as exc:
            raise _fail(str(exc)) from exc
        if not math.isfinite(x) or x <= 0:
            raise _fail(f"{section}.{key} must be positive counts, got {v!r}")
        out.append(x)
    return out


@dataclass(frozen=True)
class SweepConfig:
    """A parsed, validated sweep config (see the module docstring)."""

    name: str = "sweep"
    model: str = "m1"
    backend: str = "auto"
    seeds: tuple[int, ...] = (0,)
    batch: int = 16
    executor: str = "serial"
    workers: int = 2
    population: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    setting: dict = field(default_factory=dict)
    dynamics: dict = field(default_factory=dict)
    m3: dict = field(default_factory=dict)

    @classmethod
    def from_toml(cls, path: str | Path) -> SweepConfig:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError as exc:
            raise _fail(f"config file {str(p)!r} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise _fail(f"config file {str(p)!r} is not valid TOML: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> SweepConfig:
        unknown = set(data) - set(SECTIONS)
        if unknown:
            raise _fail(f"unknown config sections {sorted(unknown)}; allowed: {list(SECTIONS)}")
        sw = dict(data.get("sweep", {}))
        bad = set(sw) - set(SWEEP_KEYS)
        if bad:
            raise _fail(f"unknown keys {sorted('sweep.' + k for k in bad)}; allowed: {list(SWEEP_KEYS)}")
        model = sw.get("model", "m1")
        if model not in MODELS:
            raise _fail(f"sweep.model must be one of {list(MODELS)}, got {model!r}")
        from phasemix.kernels.backend import BACKENDS

        backend = sw.get("backend", "auto")
        if backend not in BACKENDS:
            raise _fail(f"sweep.backend must be one of {list(BACKENDS)}, got {backend!r}")
        seeds = sw.get("seeds", [0])
        seeds = seeds if isinstance(seeds, list) else [seeds]
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
            raise _fail(f"sweep.seeds must be a non-empty list of integers >= 0, got {seeds!r}")
        for key in ("batch", "workers"):
            v = sw.get(key, 16 if key == "batch" else 2)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise _fail(f"sweep.{key} must be an integer >= 1, got {v!r}")
        if sw.get("executor", "serial") not in EXECUTORS:
            raise _fail(f"sweep.executor must be one of {', '.join(EXECUTORS)}, got {sw.get('executor')!r}")
        grid = dict(data.get("grid", {}))
        need = GRID_KEYS[model]
        bad = set(grid) - set(need)
        if bad:
            raise _fail(f"unknown grid keys {sorted(bad)} for model {model}; allowed: {list(need)}")
        missing = [k for k in need if k not in grid]
        if missing:
            raise _fail(f"grid is missing {missing} for model {model}")
        norm: dict[str, list[float]] = {}
        for k in need:
            if k in COUNT_KEYS:
                norm[k] = _counts("grid", k, grid[k])
            else:
                vals = grid[k] if isinstance(grid[k], list) else [grid[k]]
                if not vals or any(isinstance(v, bool) or not isinstance(v, int | float) for v in vals):
                    raise _fail(f"grid.{k} must be a non-empty list of numbers, got {grid[k]!r}")
                if any(not (0.0 <= v < 1.0) or math.isnan(v) for v in vals):
                    raise _fail(f"grid.{k} values must lie in [0, 1), got {vals!r}")
                norm[k] = [float(v) for v in vals]
        cfg = cls(name=str(sw.get("name", "sweep")), model=model, backend=backend, seeds=tuple(seeds),
                  batch=sw.get("batch", 16), executor=sw.get("executor", "serial"), workers=sw.get("workers", 2),
                  population=dict(data.get("population", {})), grid=norm, setting=dict(data.get("setting", {})),
                  dynamics=dict(data.get("dynamics", {})), m3=dict(data.get("m3", {})))
        cfg.tasks()  # validates every setting eagerly
        return cfg

    def to_dict(self) -> dict:
        d = asdict(self)
        d["seeds"] = list(self.seeds)
        return d

    def identity(self) -> dict:
        """What a results folder is about: model, population, fixed setting fields, dynamics. The grid and the seeds
        may grow between runs (records are keyed per setting), how it runs (backend, batch, executor) may change."""
        d = self.to_dict()
        for k in ("backend", "batch", "executor", "workers", "name", "grid", "seeds"):
            d.pop(k)
        return d

    # ---- grid expansion ------------------------------------------------------------------------------------
    def points(self) -> list[dict]:
        """Every setting of the grid as a plain dict (with seed)."""
        g = self.grid
        if self.model == "m3":
            return [{"samples": s, "real_share": pi, "seed": sd}
                    for s, pi, sd in itertools.product(g["samples"], g["real_share"], self.seeds)]
        toks = [[t] for t in g["tokens"]] if self.model == "m1" else [sorted(g["tokens"])]
        return [{**self.setting, "params": n, "ratio": r, "tokens": t, "seed": sd, "dynamics": self.dynamics}
                for n, r, t, sd in itertools.product(g["params"], g["ratio"], toks, self.seeds)]

    def tasks(self, skip: set[str] | None = None, rng_family: str = _rng.RNG_FAMILY) -> list[dict]:
        """Picklable tasks of ≤ batch compatible settings, leaving out keys in ``skip``."""
        skip = skip or set()
        pop = self._population_dict()
        groups: dict[str, list[tuple[str, dict]]] = {}
        for pt in self.points():
            self._validate_point(pt)
            key = point_key(self.model, pt, pop, rng_family)
            if key in skip:
                continue
            if self.model == "m3":
                gk = repr(pt["real_share"])
            elif self.model == "m1" and self.dynamics.get("kind", "none") in ("none", "bn"):
                gk = "m1"  # one checkpoint each, no race: any token budgets share a launch
            else:
                gk = repr(pt.get("tokens"))
            groups.setdefault(gk, []).append((key, pt))
        tasks = []
        for items in groups.values():
            for i in range(0, len(items), self.batch):
                chunk = items[i:i + self.batch]
                tasks.append({"model": self.model, "population": pop, "backend": self.backend,
                              "keys": [k for k, _ in chunk], "points": [p for _, p in chunk]})
        return tasks

    def _population_dict(self) -> dict:
        if self.model == "m3":
            from phasemix.sim.realsynth import MixtureSpec

            bad = set(self.m3) - (set(MixtureSpec.__dataclass_fields__) - {"real_share"})
            if bad:
                raise _fail(f"unknown m3 keys {sorted(bad)}")
            try:
                return MixtureSpec(**self.m3).to_dict() | {"real_share": None}
            except (TypeError, ValueError) as exc:
                raise _fail(f"invalid [m3] section: {exc}") from exc
        from phasemix.sim.population import PopulationSpec

        try:
            return PopulationSpec.from_dict(self.population).to_dict()
        except (TypeError, ValueError) as exc:
            raise _fail(f"invalid [population] section: {exc}") from exc

    def _validate_point(self, pt: dict) -> None:
        if self.model == "m3":
            return
        try:
            _setting_from_point(pt)
        except (TypeError, ValueError) as exc:
            raise _fail(f"invalid setting {({k: v for k, v in pt.items() if k != 'dynamics'})}: {exc}") from exc


def _setting_from_point(pt: dict):
    from phasemix.sim.memorization import Dynamics, Setting

    unknown = set(pt) - set(Setting.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown setting keys {sorted(unknown)}")
    dyn = pt.get("dynamics", {})
    bad = set(dyn) - set(Dynamics.__dataclass_fields__)
    if bad:
        raise ValueError(f"unknown dynamics keys {sorted(bad)}")
    return Setting(**{**pt, "tokens": tuple(pt["tokens"]), "dynamics": Dynamics(**dyn)})


def point_key(model: str, point: dict, population: dict, rng_family: str) -> str:
    """Store key of one setting: sha256 of (model version, setting incl. seed, population, rng family/version)."""
    if model == "m3":
        from phasemix.sim.realsynth import MODEL_VERSION
    else:
        from phasemix.sim.memorization import MODEL_VERSION
    return record_key({"model": model, "model_version": MODEL_VERSION, "setting": point, "population": population,
                       "rng_family": rng_family, "rng_version": _rng.RNG_VERSION})


def run_task(task: dict) -> list[dict]:
    """Point function for executors: simulate one task (a batch of settings) and return its records."""
    t0 = time.perf_counter()
    pts, keys = task["points"], task["keys"]
    records = []
    if task["model"] == "m3":
        from phasemix.sim.realsynth import simulate_m3

        mix = {k: v for k, v in task["population"].items() if k != "real_share"}
        mix["real_share"] = pts[0]["real_share"]
        res = simulate_m3(mix, [p["samples"] for p in pts], [p["seed"] for p in pts], backend=task["backend"])
        outs = [{k: v for k, v in r.to_dict().items() if k not in ("mixture", "backend", "rng_family")} for r in res]
        meta = [(r.backend, r.rng_family) for r in res]
    else:
        from phasemix.sim.memorization import simulate

        res = simulate(task["population"], [_setting_from_point(p) for p in pts], backend=task["backend"])
        outs = [{"checkpoints": [_cp(c) for c in r.checkpoints]} for r in res]
        meta = [(r.backend, r.rng_family) for r in res]
    wall = (time.perf_counter() - t0) / max(1, len(pts))
    for key, pt, out, (backend, family) in zip(keys, pts, outs, meta):
        records.append({"schema_version": 1, "key": key, "setting": pt, "outputs": encode_outputs(out),
                        "backend": backend, "rng_family": family, "rng_version": _rng.RNG_VERSION,
                        "pkg_version": __version__, "wall_s": wall, "utc": utc_now(), "model": task["model"]})
    return records


def _cp(c) -> dict:
    return {k: getattr(c, k) for k in c.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class SweepSummary:
    """What a sweep run did."""

    total: int
    already_done: int
    ran: int
    failed: int
    out_dir: str
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


class _Progress:
    def __init__(self, total: int, done: int, enabled: bool):
        self.total, self.done, self.enabled = total, done, enabled
        self.failed = 0
        self.t0 = time.monotonic()
        self.start_done = done
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def update(self, ok: int, failed: int) -> None:
        self.done += ok
        self.failed += failed
        now = time.monotonic()
        if not self.enabled or (not self.tty and now - self.last < 2.0 and self.done < self.total):
            return
        self.last = now
        el = now - self.t0
        rate = (self.done - self.start_done) / el if el > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else math.inf
        msg = (f"[sweep] {self.done}/{self.total} settings, {self.failed} failed, {el:.1f} s elapsed, "
               f"eta {eta:.0f} s")
        print(("\r" + msg) if self.tty else msg, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=sys.stderr)


def run_sweep(cfg: SweepConfig, out_dir: str | Path, executor: Executor | None = None, backend: str | None = None,
              progress: bool = True, max_tasks: int | None = None) -> SweepSummary:
    """Run (or resume) a sweep into ``out_dir``; returns a :class:`SweepSummary`.

    The store's manifest must match the config's result-determining part; finished keys are skipped; each task's
    records are appended as soon as it returns. ``max_tasks`` stops early (tests of resume).
    """
    from dataclasses import replace

    from phasemix.kernels.backend import get_kernels

    if backend is not None:
        cfg = replace(cfg, backend=backend)
    family = get_kernels(cfg.backend).rng_family  # resolves the backend now: an unusable one fails before running
    store = ResultStore(out_dir)
    own = executor is None
    ex = executor or make_executor(cfg.executor, cfg.workers)
    errors: list[str] = []
    try:
        with store:
            manifest = store.read_manifest()
            if manifest is not None and manifest.get("identity") != _jsonable(cfg.identity()):
                raise ConfigError(f"results folder {str(out_dir)!r} holds a different sweep; use another --out")
            if manifest is None or manifest.get("config") != _jsonable(cfg.to_dict()):
                store.write_manifest({"identity": _jsonable(cfg.identity()), "config": _jsonable(cfg.to_dict()),
                                      "created": (manifest or {}).get("created", utc_now()), "updated": utc_now(),
                                      "pkg_version": __version__})
            done = store.completed_keys()
            all_keys = {point_key(cfg.model, pt, cfg._population_dict(), family) for pt in cfg.points()}
            tasks = cfg.tasks(skip=done, rng_family=family)
            if max_tasks is not None:
                tasks = tasks[:max_tasks]
            already = len(all_keys & done)
            prog = _Progress(len(all_keys), already, progress)
            ran = failed = 0
            for outcome in ex.map(run_task, tasks):
                if outcome.ok:
                    for rec in outcome.value:
                        store.append(rec)
                    ran += len(outcome.value)
                    prog.update(len(outcome.value), 0)
                else:
                    n_bad = len(tasks[outcome.index]["points"])
                    failed += n_bad
                    errors.append(f"task {outcome.index}: {type(outcome.error).__name__}: {outcome.error}")
                    log.error("sweep task %d failed:\n%s", outcome.index, outcome.traceback)
                    prog.update(0, n_bad)
            prog.close()
    finally:
        if own:
            ex.close()
    return SweepSummary(total=len(all_keys), already_done=already, ran=ran, failed=failed, out_dir=str(out_dir),
                        errors=tuple(errors))


def _jsonable(obj: Any) -> Any:
    import json

    return json.loads(json.dumps(obj, sort_keys=True))


def load_records(out_dir: str | Path) -> list[dict]:
    """Valid records of a results folder."""
    return ResultStore(out_dir).records()
