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
from phasemix.results import to_jsonable, write_text_atomic

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



def write_predictions(cfg, planned: list, out_dir: Path) -> Path:
    """Write ``out_dir/predictions.json`` once; an existing file is kept (it is the record made before training)."""
    path = Path(out_dir) / PREDICTIONS
    if path.exists():
        read_predictions(path, planned)
        return path
    doc = make_predictions(cfg, planned)
    return write_text_atomic(path, json.dumps(to_jsonable(doc), indent=1, allow_nan=False) + "\n")


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


def compare(doc: dict, records: list[dict]) -> dict:
    """Prediction vs measurement for every predicted run that has finished (Eq. (139c))."""
    by_id = {r["run_id"]: r for r in records}
    best = doc["chosen_model"]
    rows = []
    for p in doc["runs"]:
        rec = by_id.get(p["run_id"])
        row = {k: p[k] for k in ("run_id", "group", "d_model", "ratio", "tokens")}
        row["params_total"] = p["params"]["total"]
        row["measured"] = None if rec is None else rec["final"]["learned_fraction"]
        for name, pr in p["by_model"].items():
            m = row["measured"]
            row.setdefault("models", {})[name] = {
                "predicted": pr["accuracy"], "low": pr["accuracy_low"], "high": pr["accuracy_high"],
                "abs_error": None if m is None else abs(pr["accuracy"] - m),
                "inside_band": None if m is None else bool(pr["accuracy_low"] - 1e-9 <= m
                                                           <= pr["accuracy_high"] + 1e-9),
                "extrapolated_in_size": pr["extrapolated_in_size"], "regime": pr["regime"]}
        rows.append(row)
    done = [r for r in rows if r["measured"] is not None]
    summary = {}
    for name in doc["runs"][0]["by_model"] if doc["runs"] else []:
        errs = [r["models"][name]["abs_error"] for r in done]
        summary[name] = {"mean_abs_error": float(np.mean(errs)) if errs else None,
                         "max_abs_error": float(np.max(errs)) if errs else None,
                         "inside_band": sum(r["models"][name]["inside_band"] for r in done), "measured": len(done)}
    return {"chosen_model": best, "runs": rows, "by_model": summary, "missing": [r["run_id"] for r in rows
                                                                                 if r["measured"] is None]}


def _statement(doc: dict, cmp_: dict) -> str:
    best = cmp_["chosen_model"]
    s = cmp_["by_model"].get(best, {})
    if not s or not s["measured"]:
        return "No predicted run has been measured yet."
    parts = [f"Chosen model {best!r} (lowest AIC on the d = {doc['calibration']['d_model']} runs): "
             f"{s['inside_band']} of {s['measured']} measured runs inside the predicted band, mean absolute error "
             f"{s['mean_abs_error']:.3f}, largest {s['max_abs_error']:.3f}."]
    for r in cmp_["runs"]:
        if r["measured"] is None:
            continue
        m = r["models"][best]
        verdict = "inside" if m["inside_band"] else "OUTSIDE"
        parts.append(f"d = {r['d_model']}, r = {r['ratio']:g}, {r['tokens'] / 1e6:g}M tokens: predicted "
                     f"{m['predicted']:.3f} [{m['low']:.3f}, {m['high']:.3f}], measured {r['measured']:.3f} "
                     f"({verdict} the band, error {m['abs_error']:.3f}).")
    others = sorted((v["mean_abs_error"], k) for k, v in cmp_["by_model"].items()
                    if k != best and v["mean_abs_error"] is not None)
    if others and others[0][0] < s["mean_abs_error"]:
        parts.append(f"In hindsight {others[0][1]!r} would have erred less (mean absolute error {others[0][0]:.3f}); "
                     "it was not chosen because the choice is made by AIC on the calibration runs, before measuring.")
    if cmp_["missing"]:
        parts.append(f"Not measured: {', '.join(cmp_['missing'])}.")
    return " ".join(parts)


def write_comparison(results: Path, out_dir: Path, cfg, planned: list, command: str = "") -> Path:
    """``report.json`` and ``README.md`` of a predict-then-measure experiment (predictions.json must exist)."""
    from phasemix.validate.experiment import SCHEMA_VERSION as RESULTS_SCHEMA
    from phasemix.validate.experiment import read_results

    out = Path(out_dir)
    doc = read_predictions(out / PREDICTIONS, planned)
    records = read_results(results)
    cmp_ = compare(doc, records)
    cmp_["statement"] = _statement(doc, cmp_)
    rep = {"schema_version": RESULTS_SCHEMA, "command": command, "predictions_created_utc": doc["created_utc"],
           "calibration": {k: v for k, v in doc["calibration"].items() if k != "rows"},
           "model_selection": doc["model_selection"], "comparison": cmp_,
           "not_blind": doc.get("not_blind", []),
           "runs": [{"run_id": r["run_id"], "learned_fraction": r["final"]["learned_fraction"],
                     "accuracy": r["final"]["accuracy"], "web_loss_nats": r["final"]["web_loss_nats"],
                     "exposures_mean": r["exposures"]["mean"], "params": r["params"], "elapsed_s": r["elapsed_s"]}
                    for r in records]}
    path = write_text_atomic(out / "report.json", json.dumps(to_jsonable(rep), indent=1, allow_nan=False) + "\n")
    (out / "README.md").write_text(comparison_readme(to_jsonable(rep), doc), encoding="utf-8")
    return path


def comparison_readme(rep: dict, doc: dict) -> str:
    """Markdown: the calibration, the model selection, and the prediction-vs-measurement table."""
    cal, cmp_ = rep["calibration"], rep["comparison"]
    best = cmp_["chosen_model"]
    lines = ["# Prediction before measurement", "", "Reproduce with:", "", "```bash",
             "phasemix validate --config predict_then_measure --out DIR --predict-only   # writes predictions.json",
             (rep.get("command") or "phasemix validate --config predict_then_measure --out DIR")
             + "   # trains the predicted runs, then compares", "```", "",
             f"Predictions (`predictions.json`, written {rep['predictions_created_utc']} and committed before the runs "
             "were trained; see `git log -- predictions.json results.jsonl`) come from the finite-training models of "
             f"`phasemix.theory.dynamics` calibrated on the committed default experiment's d = {cal['d_model']} runs "
             f"only (`{cal['results']}`, sha256 {cal['results_sha256'][:12]}...), with its fitted web law "
             f"(alpha = {cal['web_law']['alpha']:.3f}) and b = {cal['bits_per_fact_capable_param']:.3f} bits per "
             "fact-capable parameter. The model was chosen by AIC among the models that apply (no cardinalities in "
             "the table, so no chain-attr/chain-run). Learned fraction = chance-corrected stored bits / K·h.", "",
             "## Statement", "", cmp_["statement"], "", "## Model selection (calibration runs only)", "",
             "| model | AIC | objective | LOO RMSE | parameters |", "|---|---|---|---|---|"]
    for m in rep["model_selection"]:
        pars = ", ".join(f"{k} = {v:.4g}" for k, v in m["parameters"].items())
        lines.append(f"| {m['model']}{' (chosen)' if m['model'] == best else ''} | {m['aic']:.2f} | "
                     f"{m['objective']:.4f} | {_f(m['loo_rmse'])} | {pars} |")
    lines += ["", f"One calibration size: the learning clock's size exponent is the default "
              f"{rep['model_selection'][0]['speed_exponent']:g} (assumed); predictions for other widths are flagged "
              "as extrapolated and their band spans the exponent +- 0.5.", "",
              "## Predicted vs measured (learned fraction)", "",
              "| run | d | r | tokens | measured | " + " | ".join(
                  f"{name}{' (chosen)' if name == best else ''}: predicted [band]" for name in cmp_["by_model"])
              + " |", "|---|---|---|---|---|" + "---|" * len(cmp_["by_model"])]
    for r in cmp_["runs"]:
        cells = []
        for name in cmp_["by_model"]:
            m = r["models"][name]
            flag = "" if m["inside_band"] is None else (" in" if m["inside_band"] else " **out**")
            cells.append(f"{m['predicted']:.3f} [{m['low']:.3f}, {m['high']:.3f}]{flag}")
        lines.append(f"| {r['group']} | {r['d_model']} | {r['ratio']:g} | {r['tokens'] / 1e6:g}M | "
                     f"{_f(r['measured'])} | " + " | ".join(cells) + " |")
    lines += ["", "| model | measured runs | inside band | mean abs error | max abs error |", "|---|---|---|---|---|"]
    for name, s in cmp_["by_model"].items():
        lines.append(f"| {name} | {s['measured']} | {s['inside_band']} | {_f(s['mean_abs_error'])} | "
                     f"{_f(s['max_abs_error'])} |")
    if rep.get("not_blind"):
        lines += ["", "Not blind (measured in the default experiment before these predictions were made, but not "
                  "used by the calibration):", ""]
        for r in rep["not_blind"]:
            m = r["by_model"][best]
            lines.append(f"- d = {r['d_model']}, r = {r['ratio']:g}, {r['tokens'] / 1e6:g}M tokens: {best} predicted "
                         f"{m['accuracy']:.3f} [{m['accuracy_low']:.3f}, {m['accuracy_high']:.3f}], measured "
                         f"{r['measured']:.3f}")
    return "\n".join(lines) + "\n"


def _f(x, fmt: str = ".3f") -> str:
    return "n/a" if x is None else format(x, fmt)
