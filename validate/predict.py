"""Prediction before measurement (issue 8's validate link; Eq. (139b)–(139c) in docs/theory.md).

1. :func:`calibration_table` turns the committed default experiment's runs of one width into a
   :class:`~phasemix.theory.datasets.CalibrationTable` (params = total parameters, the web law's basis; accuracy =
   the chance-corrected learned fraction, chance 0; controls and r = 0 runs dropped).
2. :func:`make_predictions` fits every configured model of :mod:`phasemix.theory.dynamics` with that report's web
   law and b, picks the lowest AIC (as ``phasemix calibrate --model all``), and predicts each planned run's learned
   fraction with its band (:func:`phasemix.theory.dynamics.predict_at_budget`); :func:`write_predictions` writes them
   once (never overwritten), to be committed before the runs are trained.
3. :func:`write_comparison` puts the measured runs next to the predictions: absolute error and inside/outside band.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np

from phasemix.errors import ConfigError, ResultsFileError

KIND = "phasemix.validate.predictions"
SCHEMA_VERSION = 1
PREDICTIONS = "predictions.json"
_KEYS = {"calibration_results", "calibration_report", "calibrate_d_model", "models", "bootstrap", "seed"}
CARDINALITY_MODELS = ("chain-attr", "chain-run")


def check_predict_config(pcfg: dict) -> dict:
    """Validate the ``[predict]`` table; returns it with defaults filled."""
    from phasemix.theory.dynamics_models import MODELS

    bad = set(pcfg) - _KEYS
    if bad:
        raise ConfigError(f"[predict]: unknown key(s) {sorted(bad)}; allowed: {sorted(_KEYS)}")
    out = {"calibrate_d_model": 32, "models": ["exposure", "race", "chain", "static"], "bootstrap": 200, "seed": 0,
           **pcfg}
    for key in ("calibration_results", "calibration_report"):
        if key not in out or not Path(out[key]).is_file():
            raise ConfigError(f"[predict] {key} must name an existing file, got {out.get(key)!r}")
    unknown = [m for m in out["models"] if m not in MODELS]
    if not out["models"] or unknown:
        raise ConfigError(f"[predict] models must list models of {sorted(MODELS)}, got {out['models']!r}")
    if any(m in CARDINALITY_MODELS for m in out["models"]):
        raise ConfigError(f"[predict] models: {CARDINALITY_MODELS} need the attributes' cardinalities, which the "
                          "learned-fraction table does not carry")
    for key in ("calibrate_d_model", "bootstrap", "seed"):
        if not isinstance(out[key], int) or out[key] < (1 if key == "calibrate_d_model" else 0):
            raise ConfigError(f"[predict] {key} must be an integer >= {1 if key == 'calibrate_d_model' else 0}, "
                              f"got {out[key]!r}")
    return out


def planned_runs(cfg) -> list:
    """The runs a [predict] config trains (static sweeps only: a prediction needs its run fixed in advance)."""
    from phasemix.validate.config import expand_sweep

    runs = []
    for s in cfg.sweeps:
        if "source" in s or any(isinstance(r, str) for r in (s["ratio"] if isinstance(s["ratio"], list)
                                                              else [s["ratio"]])):
            raise ConfigError(f"[[sweep]] {s['group']!r}: configs with [predict] need fixed ratios (no 'auto:')")
        runs.extend(expand_sweep(s, cfg))
    return runs


def calibration_runs(records: list[dict], d_model: int) -> list[dict]:
    """The runs a calibration uses: width ``d_model``, real bios, r > 0."""
    return [r for r in records if r["spec"]["d_model"] == d_model and r["spec"]["control"] == "none"
            and r["spec"]["ratio"] > 0]


def calibration_table(records: list[dict], d_model: int, name: str = "validate-default"):
    """CalibrationTable of the ``d_model`` runs (schema: :mod:`phasemix.theory.datasets`; Eq. (139b))."""
    from phasemix.theory.datasets import CalibrationTable

    rows = calibration_runs(records, d_model)
    if not rows:
        raise ValueError(f"calibrate_d_model: no runs with d_model = {d_model} (real bios, r > 0) to calibrate on")
    n = len(rows)

    def col(get):
        return np.array([float(get(r)) for r in rows])

    return CalibrationTable(
        name, params=col(lambda r: r["params"]["total"]), ratio=col(lambda r: r["spec"]["ratio"]),
        facts=col(lambda r: r["knowledge"]["individuals"]),
        tokens_per_fact=col(lambda r: r["knowledge"]["tokens_per_bio"]),
        bits_per_fact=col(lambda r: r["knowledge"]["bits_per_individual"]), tokens=col(lambda r: r["spec"]["tokens"]),
        accuracy=col(lambda r: r["final"]["learned_fraction"]), keep_fraction=col(lambda r: r["spec"]["subsample"]),
        occurrences=np.ones(n), chance=np.zeros(n), accuracy_std=np.full(n, math.nan),
        target=np.full(n, math.nan), tokens_to_target=np.full(n, math.nan), relation=("=",) * n)


def run_params(cfg, run, template: dict) -> dict:
    """Parameter counts of a planned run, from a recorded run of the same vocabulary (Eq. (124))."""
    from phasemix.validate.model import GPTConfig, parameter_counts

    m = template["model"]
    d0, counts = m["d_model"], template["params"]
    pos = 0 if m.get("rotary_pct", 0) > 0 else m["context"] * d0
    bio_ids = (counts["fact_capable"] - counts["non_embedding"] - pos) // d0
    if not m.get("tie_embeddings", True):
        bio_ids //= 2
    gcfg = GPTConfig(**{**m, "d_model": run.d_model, "n_layers": run.n_layers, "n_heads": run.n_heads})
    return parameter_counts(gcfg, bio_ids)


def _knowledge(rec: dict):
    from phasemix.theory.capacity import KnowledgeSet

    kn = rec["knowledge"]
    return KnowledgeSet(facts=kn["individuals"], bits_per_fact=kn["bits_per_individual"],
                        tokens_per_fact=kn["tokens_per_bio"])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_predictions(cfg, planned: list) -> dict:
    """Calibrate, select by AIC, and predict every planned run (and the recorded runs of other widths, labelled
    'not blind'). Returns the predictions document."""
    from phasemix.theory.dynamics import calibrate, predict_at_budget
    from phasemix.validate.experiment import read_results
    from phasemix.validate.simulation import law_from_fit

    p = check_predict_config(cfg.predict)
    res_path, rep_path = Path(p["calibration_results"]), Path(p["calibration_report"])
    records = read_results(res_path)
    an = json.loads(rep_path.read_text(encoding="utf-8"))["analysis"]
    if not an.get("web_law") or not an.get("bits_per_param"):
        raise ValueError(f"calibration_report {str(rep_path)!r} holds no fitted web law or bits per parameter")
    law = law_from_fit(an["web_law"])
    b_fc = an["bits_per_param"]["bits_per_fact_capable_param"]
    d0 = p["calibrate_d_model"]
    table = calibration_table(records, d0)
    template = calibration_runs(records, d0)[0]
    b0 = b_fc * template["params"]["fact_capable"] / template["params"]["total"]
    cals = sorted((calibrate(table, m, law=law, bits_per_param=b0, bootstrap=p["bootstrap"], seed=p["seed"])
                   for m in p["models"]), key=lambda c: c.aic)
    ks = _knowledge(template)
    target = float(cfg.analysis.get("target", 0.4))

    def predict_one(params: dict, ratio: float, tokens: float) -> dict:
        b = b_fc * params["fact_capable"] / params["total"]
        out = {}
        for c in cals:
            pr = predict_at_budget(float(params["total"]), ratio, ks, tokens, c, target=target, bits_per_param=b)
            out[c.model] = {k: pr[k] for k in ("accuracy", "accuracy_low", "accuracy_high", "regime",
                                               "extrapolated_in_size", "critical_ratio_at_tokens")}
        return {"params": params, "bits_per_param_law": b, "by_model": out}

    runs = []
    for run in planned:
        runs.append({"run_id": run.run_id, "group": run.group, "d_model": run.d_model, "ratio": run.ratio,
                     "tokens": run.tokens, "seed": run.seed, **predict_one(run_params(cfg, run, template), run.ratio,
                                                                            run.tokens)})
    seen = [r for r in records if r["spec"]["d_model"] != d0 and r["spec"]["control"] == "none"
            and 0 < r["spec"]["ratio"] < 1]
    not_blind = [{"run_id": r["run_id"], "group": r["spec"]["group"], "d_model": r["spec"]["d_model"],
                  "ratio": r["spec"]["ratio"], "tokens": r["spec"]["tokens"],
                  "measured": r["final"]["learned_fraction"],
                  **predict_one(r["params"], r["spec"]["ratio"], r["spec"]["tokens"])} for r in seen]
    best = cals[0]
    return {
        "kind": KIND, "schema_version": SCHEMA_VERSION,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "experiment": cfg.name, "target": target,
        "calibration": {"results": str(res_path), "results_sha256": _sha256(res_path), "report": str(rep_path),
                        "d_model": d0, "rows": [{"run_id": r["run_id"], "ratio": r["spec"]["ratio"],
                                                 "tokens": r["spec"]["tokens"], "facts": r["knowledge"]["individuals"],
                                                 "learned_fraction": r["final"]["learned_fraction"]}
                                                for r in calibration_runs(records, d0)],
                        "web_law": {k: an["web_law"][k] for k in ("E", "A", "alpha", "unit")},
                        "bits_per_fact_capable_param": b_fc, "bits_per_param_law": b0},
        "model_selection": [{"model": c.model, "aic": c.aic, "objective": c.objective, "n_points": c.n_points,
                             "loo_rmse": c.loo_rmse_accuracy, "parameters": dict(zip(c.parameter_names, c.parameters)),
                             "ci_low": dict(zip(c.parameter_names, c.ci_low)),
                             "ci_high": dict(zip(c.parameter_names, c.ci_high)),
                             "speed_exponent": c.speed_exponent, "speed_exponent_assumed": c.speed_exponent_assumed}
                            for c in cals],
        "chosen_model": best.model, "chosen_by": "lowest AIC (as `phasemix calibrate --model all`)",
        "calibration_result": best.to_dict(),
        "runs": runs, "not_blind": not_blind,
        "band": f"{best.ci_level:.0%} bootstrap band of the calibration; off the calibrated size it also spans the "
                "learning-clock size exponent beta +- 0.5 (one calibration size cannot pin beta; default 0, flagged)",
    }


def _clean(o):
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if isinstance(o, float | np.floating):
        return float(o) if math.isfinite(o) else None
    if isinstance(o, np.integer | np.bool_):
        return o.item()
    return o


def write_predictions(cfg, planned: list, out_dir: Path) -> Path:
    """Write ``out_dir/predictions.json`` once; an existing file is kept (it is the record made before training)."""
    path = Path(out_dir) / PREDICTIONS
    if path.exists():
        read_predictions(path, planned)
        return path
    doc = make_predictions(cfg, planned)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_clean(doc), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_predictions(path: Path, planned: list | None = None) -> dict:
    """Read predictions.json; reject foreign files, newer schemas, or predictions for other runs than planned."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsFileError(f"{path}: cannot read predictions ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise ResultsFileError(f"{path}: not a validate predictions file (kind must be {KIND!r})")
    if doc.get("schema_version", 0) > SCHEMA_VERSION:
        raise ResultsFileError(f"{path}: schema_version {doc['schema_version']} is newer than {SCHEMA_VERSION}")
    if planned is not None:
        want, have = sorted(r.run_id for r in planned), sorted(r["run_id"] for r in doc["runs"])
        if want != have:
            raise ResultsFileError(f"{path}: predicts runs {have}, but the config plans {want}; predictions are "
                                   "never overwritten: use another --out for another plan")
    return doc
