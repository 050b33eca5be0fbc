"""Report: ``report.json`` (every number of :func:`phasemix.validate.analysis.analyze`, plus the runs' summaries)
and PNG figures drawn with matplotlib's Agg backend (imported lazily)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from phasemix.validate.analysis import analyze
from phasemix.validate.experiment import SCHEMA_VERSION, read_results


def _clean(o):
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    if isinstance(o, np.integer | np.bool_):
        return o.item()
    if isinstance(o, float | np.floating):
        o = float(o)
        return o if math.isfinite(o) else None
    return o


def run_summary(r: dict) -> dict:
    f = r["final"]
    return {"run_id": r["run_id"], "group": r["spec"]["group"], "ratio": r["spec"]["ratio"],
            "tokens": r["spec"]["tokens"], "d_model": r["spec"]["d_model"], "seed": r["spec"]["seed"],
            "control": r["spec"]["control"], "individuals": r["spec"]["individuals"],
            "subsample": r["spec"]["subsample"], "params": r["params"], "realized_ratio": r["realized_ratio"],
            "exposures_mean": r["exposures"]["mean"], "web_passes": r["web_passes"],
            "accuracy": f["accuracy"], "accuracy_per_attribute": f["accuracy_per_attribute"],
            "chance": f["chance"], "marginal_floor": f["marginal_floor"], "stored_bits": f["stored_bits"],
            "learned_fraction": f["learned_fraction"], "knowledge_loss_nats": f["knowledge_loss_nats"],
            "web_loss_nats": f["web_loss_nats"], "elapsed_s": r["elapsed_s"]}


def write_report(results: str | Path, out_dir: str | Path, analysis_cfg: dict | None = None,
                 command: str = "", figures: bool = True) -> Path:
    """Analyze ``results`` and write ``report.json`` (+ PNGs) into ``out_dir``; returns the JSON path."""
    records = read_results(results)
    if not records:
        raise ValueError(f"results file {str(results)!r} holds no finished runs")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = analyze(records, analysis_cfg)
    summary["subsampling"] = subsampling_summary(records, summary)
    rep = {"schema_version": SCHEMA_VERSION, "command": command, "analysis": summary,
           "runs": [run_summary(r) for r in records], "simulation": simulation_note()}
    path = out / "report.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_clean(rep), indent=1, allow_nan=False))
    tmp.replace(path)
    if figures:
        from phasemix.validate.figures import draw_all

        rep["figures"] = draw_all(records, summary, out)
        tmp.write_text(json.dumps(_clean(rep), indent=1, allow_nan=False))
        tmp.replace(path)
    return path


def simulation_note() -> str:
    """Whether the simulation layer was run on the same settings (it is not wired here yet)."""
    return ("not done: phasemix.sim was not run on these settings by this report; the theory predictions use the "
            "closed forms of phasemix.theory.allocation")


def subsampling_summary(records: list[dict], summary: dict) -> dict | None:
    """Mitigation: measured learned fraction over the FULL set vs ρ, next to the theory curve (Eq. (28))."""
    runs = sorted([r for r in records if r["spec"]["group"] == "subsample" and r["spec"]["control"] == "none"],
                  key=lambda r: r["spec"]["subsample"])
    if not runs:
        return None
    from phasemix.theory.laws import PowerLaw
    from phasemix.theory.mitigation import best_subsampling, subsampled_fraction
    from phasemix.validate.analysis import _knowledge

    out = {"ratio": runs[0]["spec"]["ratio"], "tokens": runs[0]["spec"]["tokens"],
           "rho": [r["spec"]["subsample"] for r in runs], "learned_fraction": [r["final"]["learned_fraction"]
                                                                               for r in runs],
           "accuracy": [r["final"]["accuracy"] for r in runs]}
    law, bpp = summary.get("web_law"), summary.get("bits_per_param")
    if law and bpp:
        rec = runs[0]
        pl = PowerLaw(E=law["E"], A=law["A"], alpha=law["alpha"], unit=law["unit"], loss_units="nats")
        n = float(rec["params"]["total"])
        b = bpp["bits_per_fact_capable_param"] * rec["params"]["fact_capable"] / n
        ks = _knowledge(rec)
        grid = np.linspace(0.02, 1.0, 50)
        out["theory_rho"] = grid.tolist()
        out["theory_fraction"] = np.asarray(subsampled_fraction(grid, n, out["ratio"], ks, pl, b)).tolist()
        out["theory_best"] = best_subsampling(n, out["ratio"], ks, pl, b).to_dict()
    return out
