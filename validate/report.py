"""Report: ``report.json`` (every number of :func:`phasemix.validate.analysis.analyze`, plus the runs' summaries)
and PNG figures drawn with matplotlib's Agg backend (imported lazily)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from phasemix.results import to_jsonable, write_text_atomic
from phasemix.validate.analysis import analyze
from phasemix.validate.experiment import SCHEMA_VERSION, read_results


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
    from phasemix.validate.simulation import simulation_summary

    rep = {"schema_version": SCHEMA_VERSION, "command": command, "analysis": summary,
           "runs": [run_summary(r) for r in records], "simulation": simulation_summary(records, summary)}
    path = write_text_atomic(out / "report.json", json.dumps(to_jsonable(rep), indent=1, allow_nan=False))
    if figures:
        from phasemix.validate.figures import draw_all

        rep["figures"] = draw_all(records, summary, out, rep["simulation"])
        write_text_atomic(path, json.dumps(to_jsonable(rep), indent=1, allow_nan=False))
    (out / "README.md").write_text(readme(to_jsonable(rep)), encoding="utf-8")
    return path


def _f(x, fmt=".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def readme(rep: dict) -> str:
    """A short Markdown summary of a report: the command, the runs table and the headline numbers."""
    an = rep["analysis"]
    lines = [f"# validate report ({len(rep['runs'])} runs)", "", "Reproduce with:", "", "```bash",
             rep.get("command") or "phasemix validate", "```", "",
             "Numbers: `report.json` (`analysis` holds every derived number). Figures: "
             + ", ".join(f"`{f}`" for f in rep.get("figures", [])) + ".", "", "## Mechanism statement", "",
             an.get("statement", ""), "", "## Headline numbers", ""]
    law = an.get("web_law")
    if law:
        lines.append(f"- web law (r = 0, {law['n_sizes']} widths, E fixed = {law['E']}): A = {law['A']:.3f}, "
                     f"alpha = {law['alpha']:.3f} (95% CI {_f(law['alpha_ci'][0])}-{_f(law['alpha_ci'][1])}), "
                     f"N in units of {law['unit']:g} total parameters")
    b = an.get("bits_per_param")
    if b:
        lines.append(f"- bits per fact-capable parameter at r = 1 ({b['group']} run, K·h stored "
                     f"{b['learned_fraction']:.2f}): {b['bits_per_fact_capable_param']:.3f}"
                     + (" (lower bound)" if b["lower_bound"] else ""))
    cmp_ = an.get("comparison")
    if cmp_:
        lines.append(f"- critical ratio at learned fraction {an['target']} ({cmp_['budget_tokens'] / 1e6:g}M tokens): "
                     f"measured {_f(cmp_['measured'])} (95% CI {_f(cmp_['measured_ci95'][0])}-"
                     f"{_f(cmp_['measured_ci95'][1])}), predicted {_f(cmp_['predicted'])} (sensitivity "
                     f"{_f(cmp_['predicted_range'][0])}-{_f(cmp_['predicted_range'][1])}), measured/predicted "
                     f"{_f(cmp_['ratio_measured_over_predicted'], '.2f')}")
    sub = an.get("subsampling")
    if sub:
        k = int(np.argmax(sub["learned_fraction"]))
        lines.append(f"- subsampling at r = {sub['ratio']:g}, {sub['tokens'] / 1e6:g}M tokens: learned fraction of "
                     "the full set " + ", ".join(f"{f:.3f} (rho {p:g})"
                                                 for p, f in zip(sub["rho"], sub["learned_fraction"]))
                     + f"; best measured rho {sub['rho'][k]:g}")
        tb = sub.get("theory_best")
        if tb:
            lines.append(f"- theory (web law and b from `{an.get('calibration_from')}`): rho_best = "
                         f"{tb['rho_best']:.3f} (fraction {tb['fraction_best']:.3f}), collapse rho* = "
                         f"{tb['rho_collapse']:.3f}, fraction at rho = 1: {tb['fraction_full']:.3f}")
    lines += simulation_lines(rep.get("simulation") or {})
    lines += ["", "## Runs", "", "| group | r | tokens | d | seed | control | exposures | learned fraction | "
              "accuracy | web loss (nats) | web passes |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rep["runs"]:
        lines.append(f"| {r['group']} | {r['ratio']:g} | {r['tokens'] / 1e6:g}M | {r['d_model']} | {r['seed']} | "
                     f"{r['control']} | {r['exposures_mean']:.0f} | {r['learned_fraction']:.3f} | "
                     f"{r['accuracy']:.3f} | {r['web_loss_nats']:.3f} | {r['web_passes']:.2f} |")
    return "\n".join(lines) + "\n"


def simulation_lines(sim: dict) -> list[str]:
    """README lines of the simulation column: one per simulated run, simulated vs theory vs measured."""
    if not sim.get("done"):
        return [f"- simulation: not run ({sim.get('why', 'no simulation summary')})"]
    lines = [f"- simulation ({sim['model']}; fitted web law, b = {sim['bits_per_fact_capable_param']:.3f} per "
             f"fact-capable parameter; {sim['population']}; race {sim['race']}). Learned fraction simulated / "
             "theory / measured:"]
    for r in sim["runs"]:
        if "skipped" in r:
            continue
        sub = f", rho {r['subsample']:g}" if r.get("subsample", 1.0) != 1.0 else ""
        lines.append(f"  - {r['group']} r = {r['ratio']:g}, {r['tokens'] / 1e6:g}M tokens, d = {r['d_model']}, "
                     f"seed {r['seed']}{sub}: {r['learned_fraction']:.3f} / {r['theory']:.3f} / {r['measured']:.3f}")
    return lines


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
