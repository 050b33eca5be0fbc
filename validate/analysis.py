"""From run records to the numbers of the report: web-law fit, bits per parameter, predicted and measured critical
ratios with CIs, and the mechanism checks (iso-exposure, doubling, fresh-value control, seeds, size); Eq. (133)–(139)
in docs/theory.md.

Groups are recognized by name: ``web_law`` (r = 0, several widths), ``reference`` (r = 1, main model),
``capacity`` (r = 1 where capacity binds), ``core`` (mixed ratios), ``doubling``, ``seeds``, ``control``, ``size``,
``subsample`` (mitigation).
"""

from __future__ import annotations

import math

import numpy as np

from phasemix.validate.evaluate import stored_bits, unpack_bits


def _group(records: list[dict], name: str, control: str = "none") -> list[dict]:
    return [r for r in records if r["spec"]["group"] == name and r["spec"]["control"] == control]


def _main_d(records: list[dict]) -> int | None:
    core = _group(records, "core") or _group(records, "reference")
    return core[0]["spec"]["d_model"] if core else None


def _correct(rec: dict) -> np.ndarray | None:
    if rec.get("final_correct_hex") is None:
        return None
    return unpack_bits(rec["final_correct_hex"], (rec["knowledge"]["individuals"], 7))


def _fraction(correct: np.ndarray, rec: dict, idx: np.ndarray | None = None) -> float:
    c = correct if idx is None else correct[idx]
    kn = rec["knowledge"]
    return stored_bits(c.mean(axis=0), kn["slot_cardinalities"], kn["individuals"]) / kn["total_bits"]


def _crossing(ratios: np.ndarray, fractions: np.ndarray, target: float) -> float:
    from phasemix.theory.calibrate import critical_ratios_from_grid

    ok = (ratios > 0) & (ratios < 1)
    _, out = critical_ratios_from_grid(np.ones(ok.sum()), ratios[ok], np.clip(fractions[ok], 0, 1), target=target)
    return float(out[0])


def measured_critical_ratio(runs: list[dict], target: float, n_boot: int = 500, seed: int = 0) -> dict:
    """Ratio where the chance-corrected learned fraction first crosses ``target`` (log-odds interpolation, Eq. (37)
    of the theory layer), with a percentile CI from resampling individuals jointly across runs (Eq. (134) in
    docs/theory.md)."""
    runs = sorted(runs, key=lambda r: r["spec"]["ratio"])
    ratios = np.array([r["spec"]["ratio"] for r in runs])
    fr = np.array([r["final"]["learned_fraction"] for r in runs])
    point = _crossing(ratios, fr, target)
    cors = [_correct(r) for r in runs]
    ci, censored = (math.nan, math.nan), None
    if all(c is not None for c in cors) and len(runs) >= 2:
        k = cors[0].shape[0]
        rng = np.random.default_rng([seed, 0xC1])
        reps = []
        for _ in range(n_boot):
            idx = rng.integers(0, k, size=k)
            reps.append(_crossing(ratios, np.array([_fraction(c, r, idx) for c, r in zip(cors, runs)]), target))
        reps = np.asarray(reps)
        censored = float(np.isnan(reps).mean())
        if np.isfinite(reps).sum() >= 10:
            ci = tuple(float(v) for v in np.nanpercentile(reps, [2.5, 97.5]))
    return {"target": target, "ratio": point, "ci95": ci, "bootstrap_no_crossing_share": censored,
            "ratios": ratios.tolist(), "fractions": fr.tolist(),
            "note": "NaN: no crossing inside the tested ratios (all below target, or already above at the lowest). "
                    "The CI resamples individuals within these runs; seed-to-seed spread is in checks.seeds"}


def _interp_curve(curve: list[dict], x_key: str, x: float, y_key: str = "learned_fraction") -> tuple[float, bool]:
    xs = np.array([c[x_key] for c in curve], dtype=float)
    ys = np.array([c[y_key] for c in curve], dtype=float)
    inside = xs[0] <= x <= xs[-1]
    return float(np.interp(np.log(max(x, 1e-9)), np.log(np.maximum(xs, 1e-9)), ys)), inside


def time_to_target(curve: list[dict], target: float, key: str = "tokens") -> float:
    """First ``key`` (tokens or exposures) at which the learned fraction reaches ``target`` (linear interpolation
    between evaluations); NaN if never (Eq. (137) in docs/theory.md)."""
    prev = None
    for c in curve:
        f = c["learned_fraction"]
        if f >= target:
            if prev is None:
                return float(c[key])
            w = (target - prev["learned_fraction"]) / max(1e-12, f - prev["learned_fraction"])
            return float(prev[key] + w * (c[key] - prev[key]))
        prev = c
    return math.nan


def fit_web_law(records: list[dict], fix_E: float | None, n_boot: int = 500) -> dict | None:
    """Web-loss law ``L(N) = E + A·(N/unit)^(−α)`` (nats/token, N = total parameters) from the r = 0 runs
    via :func:`phasemix.theory.calibrate.fit_web_law` (E fixed with 3–4 sizes; Eq. (133) in docs/theory.md)."""
    from phasemix.theory.calibrate import fit_web_law as _fit

    pts = _group(records, "web_law")
    if len({r["params"]["total"] for r in pts}) < 3:
        return None
    n = np.array([r["params"]["total"] for r in pts], dtype=float)
    y = np.array([r["final"]["web_loss_nats"] for r in pts])
    n_sizes = len(np.unique(n))
    fixE = fix_E if (fix_E is not None or n_sizes < 5) else None
    fit = _fit(n, y, unit=1e3, loss_units="nats", fix_E=(0.0 if fixE is None and n_sizes < 5 else fixE),
               n_boot=n_boot, seed=0)
    out = fit.to_dict()
    order = np.argsort(n)
    rising = [i for i in range(1, len(order)) if y[order[i]] > y[order[i - 1]]]
    if rising and rising[0] >= 3:  # a wider model with higher loss is undertrained, not on the capacity law
        keep = order[:rising[0]]
        alt = _fit(n[keep], y[keep], unit=1e3, loss_units="nats", fix_E=0.0 if fixE is None else fixE,
                   n_boot=n_boot, seed=0)
        out["monotone_subset_fit"] = {"E": alt.E, "A": alt.A, "alpha": alt.alpha, "unit": alt.unit,
                                      "alpha_ci": alt.alpha_ci, "excluded_params_total": n[order[rising[0]:]].tolist(),
                                      "why": "sensitivity: drops the widths from the first one whose r = 0 loss is "
                                             "above a narrower width's (undertrained at this token budget)"}
    out.update({"points": {"params_total": n.tolist(), "web_loss_nats": y.tolist(),
                           "d_model": [r["spec"]["d_model"] for r in pts],
                           "tokens": [r["spec"]["tokens"] for r in pts]},
                "param_count": "total parameters (token + position embeddings + blocks), unit 1e3"})
    return out


def bits_per_param(records: list[dict]) -> dict | None:
    """Stored bits per fact-capable parameter at r = 1 (Eq. (135) in docs/theory.md); a lower bound when the whole
    set is stored."""
    src = _group(records, "capacity") or _group(records, "reference")
    if not src:
        return None
    rec = max(src, key=lambda r: r["spec"]["tokens"])
    f = rec["final"]
    b = f["stored_bits"] / rec["params"]["fact_capable"]
    cor = _correct(rec)
    ci = (math.nan, math.nan)
    if cor is not None:
        rng = np.random.default_rng(7)
        reps = [_fraction(cor, rec, rng.integers(0, len(cor), len(cor))) * rec["knowledge"]["total_bits"]
                / rec["params"]["fact_capable"] for _ in range(300)]
        ci = tuple(float(v) for v in np.percentile(reps, [2.5, 97.5]))
    return {"run_id": rec["run_id"], "group": rec["spec"]["group"], "stored_bits": f["stored_bits"],
            "learned_fraction": f["learned_fraction"], "fact_capable_params": rec["params"]["fact_capable"],
            "total_params": rec["params"]["total"], "bits_per_fact_capable_param": b, "ci95": ci,
            "lower_bound": bool(f["learned_fraction"] > 0.95), "exposures": rec["exposures"]["mean"]}


def _calibration_from(path: str) -> tuple[dict | None, dict | None]:
    """Web law and bits per parameter from an earlier report.json (the mitigation config uses the default's)."""
    import json
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"analysis.calibration_from must name an existing report.json, got {path!r}")
    rep = json.loads(p.read_text(encoding="utf-8"))
    an = rep.get("analysis", {})
    return an.get("web_law"), an.get("bits_per_param")


def _knowledge(rec: dict):
    from phasemix.theory.capacity import KnowledgeSet

    kn = rec["knowledge"]
    return KnowledgeSet(facts=kn["individuals"], bits_per_fact=kn["bits_per_individual"],
                        tokens_per_fact=kn["tokens_per_bio"], occurrences=1.0,
                        cardinalities=tuple(kn["cardinalities"]))


def predict(rec: dict, law_fit: dict, b_fc: float, target: float, ratios=None,
            alpha_ci=None, b_ci=None) -> dict:
    """Theory for the model of ``rec``: r_on, r_a, predicted learned fraction/accuracy at ``ratios`` (Eq. (138) in
    docs/theory.md).

    ``b`` is rescaled to the law's count: ``b_law = b_fc·N_fc/N_total`` (§0.2). The sensitivity range varies α over
    its CI with the fitted loss at this size held fixed, and b over its CI.
    """
    from phasemix.theory import allocation as al
    from phasemix.theory.laws import PowerLaw

    ks = _knowledge(rec)
    n = float(rec["params"]["total"])
    law = PowerLaw(E=law_fit["E"], A=law_fit["A"], alpha=law_fit["alpha"], unit=law_fit["unit"], loss_units="nats")
    b_law = b_fc * rec["params"]["fact_capable"] / n
    out = {"params_total": n, "bits_per_param_law": b_law, "capacity_bits": b_law * n,
           "knowledge_bits": ks.total_bits, "value_per_bit": ks.value_per_bit,
           "onset_ratio": float(al.critical_ratio(n, ks, law, b_law)),
           "target_ratio": float(al.target_ratio(n, ks, target, law, b_law)), "target": target}
    if ratios is not None:
        r = np.asarray(ratios, dtype=float)
        fr = al.learned_fraction(n, r, ks, law, b_law)
        out["ratios"] = r.tolist()
        out["learned_fraction"] = np.asarray(fr).tolist()
        out["accuracy"] = np.asarray(al.predicted_accuracy(fr, ks.cardinalities)).tolist()
    lo_hi = []
    level = float(law.value(n))
    for a in (alpha_ci or (law.alpha,)):
        if a is None or not np.isfinite(a) or a <= 0:
            continue
        law_a = PowerLaw(E=law.E, A=max(1e-12, (level - law.E) * (n / law.unit) ** a), alpha=a, unit=law.unit)
        for bb in (b_ci or (b_fc,)):
            if bb is None or not np.isfinite(bb) or bb <= 0:
                continue
            lo_hi.append(float(al.target_ratio(n, ks, target, law_a, bb * rec["params"]["fact_capable"] / n)))
    finite = [v for v in lo_hi if np.isfinite(v)]
    out["target_ratio_range"] = (min(finite), max(finite)) if finite else (math.nan, math.nan)
    return out


def predicted_web_cost(rec: dict, law_fit: dict, b_fc: float, stored: float) -> float:
    """Web-loss increase (nats/token) the fitted law predicts for storing ``stored`` bits: F(bN − m1) − F(bN)."""
    from phasemix.theory.laws import PowerLaw

    law = PowerLaw(E=law_fit["E"], A=law_fit["A"], alpha=law_fit["alpha"], unit=law_fit["unit"], loss_units="nats")
    n = float(rec["params"]["total"])
    b = b_fc * rec["params"]["fact_capable"] / n
    left = max(b * n - stored, 1e-9)
    return float(law.value(left / b) - law.value(n))


def analyze(records: list[dict], analysis_cfg: dict | None = None) -> dict:
    """All report numbers: setup, web law, bits/param, theory vs measurement, mechanism checks, statement."""
    acfg = analysis_cfg or {}
    a = float(acfg.get("target", 0.4))
    null = float(acfg.get("null_level", 0.05))
    d_main = _main_d(records)
    main = [r for r in records if r["spec"]["d_model"] == d_main]
    out: dict = {"target": a, "null_level": null, "runs": len(records)}
    law = fit_web_law(records, acfg.get("web_law_E", 0.0), int(acfg.get("n_boot", 300)))
    bpp = bits_per_param(records)
    if law is None and acfg.get("calibration_from"):
        law, bpp = _calibration_from(acfg["calibration_from"])
        out["calibration_from"] = acfg["calibration_from"]
    out["web_law"] = law
    out["bits_per_param"] = bpp
    core = [r for r in _group(main, "core")]
    seeds0 = min((r["spec"]["seed"] for r in core), default=0)
    budgets = sorted({r["spec"]["tokens"] for r in core})
    out["budgets"] = budgets
    crit = {}
    for t in budgets:
        runs = [r for r in core if r["spec"]["tokens"] == t and r["spec"]["seed"] == seeds0]
        if len(runs) >= 2:
            crit[f"{t:g}"] = measured_critical_ratio(runs, a, int(acfg.get("n_boot", 300)))
    out["measured"] = crit
    dbl = [r for r in _group(main, "doubling") if r["spec"]["seed"] == seeds0]
    for t in sorted({r["spec"]["tokens"] for r in dbl}):
        runs = [r for r in dbl if r["spec"]["tokens"] == t]
        if len(runs) >= 2:  # the doubled ratios bracket a crossing at the longer budget
            out.setdefault("measured_doubled", {})[f"{t:g}"] = measured_critical_ratio(
                runs, a, int(acfg.get("n_boot", 300)))
    ref = _group(main, "reference")
    pred = None
    if law is not None and bpp is not None and (core or ref):
        rec0 = (core or ref)[0]
        ratios = np.linspace(0.01, 0.99, 99)
        pred = predict(rec0, law, bpp["bits_per_fact_capable_param"], a, ratios,
                       alpha_ci=tuple(law.get("alpha_ci") or ()) + (law["alpha"],),
                       b_ci=tuple(bpp["ci95"]) + (bpp["bits_per_fact_capable_param"],))
        out["predicted"] = pred
        sizes = {}
        for r in records:
            if r["spec"]["group"] in ("core", "size", "reference") and r["spec"]["control"] == "none":
                d = r["spec"]["d_model"]
                if d not in sizes:
                    p = predict(r, law, bpp["bits_per_fact_capable_param"], a)
                    sizes[d] = {"params_total": p["params_total"], "onset_ratio": p["onset_ratio"],
                                "target_ratio": p["target_ratio"]}
        out["predicted_by_size"] = sizes
        if law.get("monotone_subset_fit"):
            alt = dict(law, **law["monotone_subset_fit"])
            p_alt = predict(rec0, alt, bpp["bits_per_fact_capable_param"], a)
            out["predicted_monotone_subset"] = {"onset_ratio": p_alt["onset_ratio"],
                                                "target_ratio": p_alt["target_ratio"]}
    if pred is not None and crit:
        t = max(crit)
        m = crit[t]["ratio"]
        out["comparison"] = {"budget_tokens": float(t), "measured": m, "measured_ci95": crit[t]["ci95"],
                             "predicted": pred["target_ratio"], "predicted_range": pred["target_ratio_range"],
                             "ratio_measured_over_predicted": (m / pred["target_ratio"]) if np.isfinite(m) else None,
                             "odds_prefactor_phi": (m / (1 - m)) / (pred["target_ratio"] / (1 - pred["target_ratio"]))
                             if np.isfinite(m) and np.isfinite(pred["target_ratio"]) else None}
    from phasemix.validate.mechanism import mechanism_checks, mechanism_statement

    out["checks"] = mechanism_checks(records, main, ref, a, null, law, bpp)
    out["time_to_target"] = [
        {"run_id": r["run_id"], "ratio": r["spec"]["ratio"], "tokens_budget": r["spec"]["tokens"],
         "d_model": r["spec"]["d_model"],
         "tokens_to_target": time_to_target(r["curve"], a),
         "exposures_to_target": time_to_target(r["curve"], a, "exposures_mean")}
        for r in records if r["spec"]["control"] == "none" and r["spec"]["ratio"] > 0
        and r["spec"]["group"] not in ("capacity",)]
    out["statement"] = mechanism_statement(out)
    return out
