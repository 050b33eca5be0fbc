"""Experiment configuration from TOML: shared sections and ``[[sweep]]`` tables expanded into run specs.

Every ``[[sweep]]`` names a ``group``; list-valued keys (``ratio``, ``tokens``, ``d_model``, ``seed``, ...) expand as
a product. ``ratio = "auto:null"`` / ``"auto:partial"`` is resolved at run time from the finished runs of the group
named by ``source`` (the doubling test and the second seed use it); ``tokens_factor`` multiplies its tokens.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path

from phasemix._checks import check_choice, check_int, check_positive
from phasemix.errors import ConfigError
from phasemix.validate.synbio import SynBioConfig

AUTO_RATIOS = ("auto:null", "auto:partial")
_RUN_KEYS = {"ratio", "tokens", "d_model", "n_layers", "n_heads", "seed", "control", "individuals", "subsample",
             "power_law_subsets", "power_law_exponent",
             "schedule", "lr"}
_SWEEP_KEYS = _RUN_KEYS | {"group", "source", "tokens_factor", "note"}
_TOP = {"experiment", "synbio", "web", "model", "train", "analysis", "sweep", "predict"}


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One training run."""

    group: str
    ratio: float
    tokens: float
    d_model: int
    n_layers: int
    n_heads: int
    seed: int
    control: str = "none"
    individuals: int = 1000
    subsample: float = 1.0
    power_law_subsets: int = 0
    power_law_exponent: float = 1.5
    schedule: str = "cosine"
    lr: float = 1e-2
    note: str = ""

    def __post_init__(self) -> None:
        r = float(self.ratio)
        if math.isnan(r) or not 0.0 <= r <= 1.0:
            raise ConfigError(f"[[sweep]] group {self.group!r}: ratio must lie in [0, 1], got {self.ratio!r}")
        check_positive("tokens", self.tokens)
        for k in ("d_model", "n_layers", "n_heads", "individuals"):
            check_int(k, getattr(self, k), minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_choice("control", self.control, ("none", "fresh"))
        check_int("power_law_subsets", self.power_law_subsets, minimum=0)
        if self.power_law_subsets > self.individuals:
            raise ConfigError(f"[[sweep]] group {self.group!r}: power_law_subsets must be <= individuals "
                              f"({self.individuals}), got {self.power_law_subsets}")
        if self.control == "fresh" and r == 0:
            raise ConfigError(f"[[sweep]] group {self.group!r}: control='fresh' needs ratio > 0")

    @property
    def run_id(self) -> str:
        d = asdict(self)
        d.pop("note")
        if not self.power_law_subsets:  # uniform exposures: ids stay those of configs written before the variant
            d.pop("power_law_subsets")
            d.pop("power_law_exponent")
        h = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]
        ctl = "" if self.control == "none" else f"-{self.control}"
        return (f"{self.group}-r{self.ratio:g}-t{self.tokens / 1e6:g}M-d{self.d_model}-K{self.individuals}"
                f"-s{self.seed}{ctl}-{h}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ExperimentConfig:
    """A whole experiment: shared settings plus the raw sweep tables (expanded lazily, in order)."""

    name: str
    synbio: dict
    web: dict
    model: dict
    train: dict
    analysis: dict
    sweeps: tuple[dict, ...] = field(default_factory=tuple)
    seed: int = 0
    threads: int = 2
    predict: dict = field(default_factory=dict)

    def synbio_config(self, individuals: int | None = None) -> SynBioConfig:
        d = dict(self.synbio)
        if individuals is not None:
            d["individuals"] = individuals
        return SynBioConfig(**d)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _as_list(v):
    return list(v) if isinstance(v, list) else [v]


def expand_sweep(sweep: dict, cfg: ExperimentConfig, ratios_override: list[float] | None = None,
                 tokens_override: float | None = None) -> list[RunSpec]:
    """Expand one ``[[sweep]]`` table into run specs (``auto:`` ratios must be overridden)."""
    base = {"d_model": cfg.model.get("d_model", 32), "n_layers": cfg.model.get("n_layers", 2),
            "n_heads": cfg.model.get("n_heads", 2), "seed": 0, "control": "none",
            "individuals": cfg.synbio.get("individuals", 1000), "subsample": 1.0, "power_law_subsets": 0,
            "power_law_exponent": 1.5,
            "schedule": cfg.train.get("schedule", "cosine"), "lr": cfg.train.get("lr", 1e-2)}
    keys = [k for k in _RUN_KEYS if k in sweep]
    values = {k: _as_list(sweep[k]) for k in keys}
    if ratios_override is not None:
        values["ratio"] = ratios_override
    if tokens_override is not None:
        values["tokens"] = [tokens_override]
    for req in ("ratio", "tokens"):
        if req not in values:
            raise ConfigError(f"[[sweep]] group {sweep.get('group')!r} must set {req!r}")
    names = sorted(values)
    runs = []
    for combo in itertools.product(*(values[k] for k in names)):
        d = dict(base, **dict(zip(names, combo)))
        d["seed"] = int(d["seed"]) + cfg.seed
        if isinstance(d["ratio"], str):
            raise ConfigError(f"[[sweep]] group {sweep['group']!r}: ratio {d['ratio']!r} must be a number or "
                              f"one of {AUTO_RATIOS} with 'source' set")
        runs.append(RunSpec(group=sweep["group"], note=sweep.get("note", ""), **d))
    return runs


def parse_config(data: dict, name: str = "experiment") -> ExperimentConfig:
    """Validate a parsed TOML document; unknown keys or bad values raise ConfigError naming them."""
    unknown = set(data) - _TOP
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(_TOP)}")
    exp = data.get("experiment", {})
    sweeps = data.get("sweep", [])
    if not sweeps:
        raise ConfigError("the config must hold at least one [[sweep]] table")
    groups = []
    for i, s in enumerate(sweeps):
        bad = set(s) - _SWEEP_KEYS
        if bad:
            raise ConfigError(f"[[sweep]] #{i}: unknown key(s) {sorted(bad)}; allowed: {sorted(_SWEEP_KEYS)}")
        if "group" not in s:
            raise ConfigError(f"[[sweep]] #{i} must set 'group'")
        if not isinstance(s["group"], str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", s["group"]):
            raise ConfigError(f"[[sweep]] #{i}: group must be 1-64 letters, digits, '_' or '-' (it names files), "
                              f"got {s['group']!r}")
        for r in _as_list(s.get("ratio", [])):
            if isinstance(r, str):
                if r not in AUTO_RATIOS or "source" not in s:
                    raise ConfigError(f"[[sweep]] {s['group']!r}: ratio {r!r} must be a number in [0, 1] or one "
                                      f"of {AUTO_RATIOS} together with 'source'")
            elif not isinstance(r, int | float) or math.isnan(r) or not 0.0 <= r <= 1.0:
                raise ConfigError(f"[[sweep]] {s['group']!r}: ratio must lie in [0, 1], got {r!r}")
        if "source" in s and s["source"] not in groups:
            raise ConfigError(f"[[sweep]] {s['group']!r}: source {s['source']!r} must name an earlier group")
        groups.append(s["group"])
    cfg = ExperimentConfig(name=str(exp.get("name", name)), synbio=dict(data.get("synbio", {})),
                           web=dict(data.get("web", {})), model=dict(data.get("model", {})),
                           train=dict(data.get("train", {})), analysis=dict(data.get("analysis", {})),
                           sweeps=tuple(sweeps), seed=int(exp.get("seed", 0)), threads=int(exp.get("threads", 2)),
                           predict=dict(data.get("predict", {})))
    try:
        cfg.synbio_config()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[synbio]: {exc}") from exc
    for s in sweeps:  # check every static run up front (sizes that do not fit, bad values)
        if not any(isinstance(r, str) for r in _as_list(s.get("ratio", []))):
            for run in expand_sweep(s, cfg):
                check_fits(run, cfg)
    return cfg


def check_fits(run: RunSpec, cfg: ExperimentConfig) -> None:
    """Raise ConfigError when a run cannot be built (names unavailable, context too short, ...)."""
    try:
        cfg.synbio_config(run.individuals)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"run {run.run_id}: {exc}") from exc
    context = int(cfg.model.get("context", 60))
    if run.d_model % run.n_heads:
        raise ConfigError(f"run {run.run_id}: d_model ({run.d_model}) must be divisible by n_heads ({run.n_heads})")
    if run.ratio > 0 and context < 15:
        raise ConfigError(f"[model] context must be >= 15 (one compact bio), got {context}")
    batch = int(cfg.train.get("batch", 32))
    if run.tokens < batch * context:
        raise ConfigError(f"run {run.run_id}: tokens ({run.tokens:g}) must be >= one batch ({batch * context})")


def load_config(path: str | Path | None = None) -> ExperimentConfig:
    """Load a TOML config; ``None`` loads the shipped ``default.toml``."""
    if path is None:
        text = resources.files("phasemix.validate").joinpath("configs", "default.toml").read_text()
        name = "default"
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        text, name = p.read_text(encoding="utf-8"), p.stem
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {name!r} is not valid TOML: {exc}") from exc
    return parse_config(data, name)


def shipped_config(name: str) -> Path:
    """Path of a shipped config (``default``, ``smoke``, ``mitigation``)."""
    return Path(str(resources.files("phasemix.validate").joinpath("configs", f"{name}.toml")))
