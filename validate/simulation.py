"""The simulation layer on the validate experiment's own settings: M1 (static water-filling threshold) of
:mod:`phasemix.sim.memorization` with the report's fitted web law and measured bits per parameter, one simulated
learned fraction per (size, ratio, tokens, seed) run (Eq. (139a) in docs/theory.md).

Each run becomes a uniform population of the ρ·K bios it trains on (K individuals, subsample share ρ), one fact per
bio with h = bits per individual and T_fact = tokens per bio, exposures ~ Poisson(r·D/(ρ·K·T_fact)) from the run's
token budget D, model size N = total parameters (the law's count) and b = b_fc·N_fc/N (the theory side's b). The
learned fraction is over the full set (stored bios / K), like the measurement. Runs at r = 0 or r = 1 (no
competition; the simulation needs r < 1), fresh-value controls (nothing memorizable) and runs without a fitted law
are skipped with the reason.

M2's forgetting race is not run: its erase rate η and write constant have no measured value in this experiment, so
it would add free parameters; the finite-training comparison is the predict-then-measure report.
"""

from __future__ import annotations

import math

SIM_MODEL = "M1 (static threshold, dynamics 'none'), phasemix.sim.memorization.simulate, numpy backend"


def law_from_fit(law_fit: dict):
    """The :class:`~phasemix.theory.laws.PowerLaw` of a report's ``analysis.web_law``."""
    from phasemix.theory.laws import PowerLaw

    return PowerLaw(E=law_fit["E"], A=law_fit["A"], alpha=law_fit["alpha"], unit=law_fit["unit"], loss_units="nats")


def run_setting(rec: dict, b_fc: float):
    """(PopulationSpec, Setting) that simulate run ``rec`` (see the module docstring), or (None, reason)."""
    from phasemix.sim.memorization import Dynamics, Setting
    from phasemix.sim.population import PopulationSpec

    s = rec["spec"]
    if s["control"] != "none":
        return None, "fresh-value control: nothing memorizable"
    if not 0.0 < s["ratio"] < 1.0:
        return None, f"r = {s['ratio']:g}: no competition between the domains (the simulation needs 0 < r < 1)"
    kn = rec["knowledge"]
    shown = max(1, int(round(float(s.get("subsample", 1.0)) * kn["individuals"])))
    n = float(rec["params"]["total"])
    b_law = b_fc * rec["params"]["fact_capable"] / n
    pop = PopulationSpec(kind="uniform", facts=shown)
    setting = Setting(params=n, ratio=float(s["ratio"]), tokens=(float(s["tokens"]),), seed=int(s["seed"]),
                      tokens_per_fact=float(kn["tokens_per_bio"]), bits_per_fact=float(kn["bits_per_individual"]),
                      dynamics=Dynamics(kind="none", b_max=b_law))
    return (pop, setting), None


def simulate_run(rec: dict, law_fit: dict, b_fc: float) -> dict:
    """Simulated learned fraction (over the full set) of one run, with its setting; ``skipped`` names why not."""
    from phasemix.sim.memorization import simulate

    made, why = run_setting(rec, b_fc)
    out = {"run_id": rec["run_id"], "group": rec["spec"]["group"], "ratio": rec["spec"]["ratio"],
           "tokens": rec["spec"]["tokens"], "d_model": rec["spec"]["d_model"], "seed": rec["spec"]["seed"],
           "subsample": rec["spec"].get("subsample", 1.0)}
    if made is None:
        return {**out, "skipped": why}
    pop, setting = made
    cp = simulate(pop, [setting], backend="numpy", law=law_from_fit(law_fit))[0].checkpoints[0]
    scale = pop.facts / rec["knowledge"]["individuals"]
    return {**out, "learned_fraction": cp.learned_fraction * scale, "lambda_hat": cp.lambda_hat,
            "capacity_used_params": cp.capacity_used, "exposures_mean": setting.ratio * setting.tokens[0]
            / (pop.facts * setting.tokens_per_fact), "population": pop.to_dict(), "setting": setting.to_dict()}


def simulation_summary(records: list[dict], summary: dict) -> dict:
    """Simulated vs theory vs measured learned fraction for every run (``report.json``'s ``simulation``)."""
    from phasemix.validate.analysis import predict

    law, bpp = summary.get("web_law"), summary.get("bits_per_param")
    if not law or not bpp:
        return {"done": False, "why": "no fitted web law or bits per parameter (needs web_law and reference/"
                                      "capacity runs, or analysis.calibration_from)"}
    b_fc = bpp["bits_per_fact_capable_param"]
    rows = []
    for rec in records:
        row = simulate_run(rec, law, b_fc)
        row["measured"] = rec["final"]["learned_fraction"]
        if "skipped" not in row:
            rho = float(rec["spec"].get("subsample", 1.0))
            if rho == 1.0:
                p = predict(rec, law, b_fc, summary.get("target", 0.4), [rec["spec"]["ratio"]])
                row["theory"] = p["learned_fraction"][0]
            else:
                from phasemix.theory.mitigation import subsampled_fraction
                from phasemix.validate.analysis import _knowledge

                n = float(rec["params"]["total"])
                row["theory"] = float(subsampled_fraction(rho, n, rec["spec"]["ratio"], _knowledge(rec),
                                                          law_from_fit(law), b_fc * rec["params"]["fact_capable"] / n))
        rows.append(row)
    done = [r for r in rows if "skipped" not in r]
    err = [abs(r["learned_fraction"] - r["measured"]) for r in done]
    gap = [abs(r["learned_fraction"] - r["theory"]) for r in done]
    return {"done": True, "model": SIM_MODEL, "law": {k: law[k] for k in ("E", "A", "alpha", "unit")},
            "bits_per_fact_capable_param": b_fc,
            "population": "uniform, one fact per shown bio (h = bits per individual, T_fact = tokens per bio); "
                          "exposures ~ Poisson(r·D/(rho·K·T_fact)) (the real stream shows each bio a near-equal "
                          "number of times, min and max within 1)",
            "race": "not run: the race's erase rate and write constant are not measured in this experiment",
            "runs": rows, "max_abs_sim_minus_measured": max(err) if err else math.nan,
            "max_abs_sim_minus_theory": max(gap) if gap else math.nan}
