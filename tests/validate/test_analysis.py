"""Analysis on synthetic run records: critical-ratio crossing, time to target, and the mechanism decision rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from phasemix.validate.analysis import analyze, measured_critical_ratio, time_to_target
from phasemix.validate.evaluate import pack_bits
from phasemix.validate.mechanism import mechanism_statement
from phasemix.validate.synbio import SynBioConfig

CFG = SynBioConfig(individuals=200)
KN = {"individuals": 200, "bits_per_individual": CFG.bits_per_individual, "total_bits": CFG.total_bits,
      "tokens_per_bio": 15, "cardinalities": list(CFG.cardinalities),
      "slot_cardinalities": list(CFG.slot_cardinalities)}


def _record(group, ratio, tokens, learned, web=3.0, seed=0, control="none", exposures=100.0, d=32, curve=None):
    k = 200
    correct = np.zeros((k, 7), dtype=bool)
    correct[: int(round(learned * k))] = True  # whole individuals learned: fraction of bits ≈ learned
    from phasemix.validate.analysis import _fraction

    rec = {"run_id": f"{group}-{ratio}-{tokens}-{seed}-{control}-{d}",
           "spec": {"group": group, "ratio": ratio, "tokens": tokens, "seed": seed, "control": control, "d_model": d,
                    "individuals": k, "subsample": 1.0},
           "params": {"total": 58000, "fact_capable": 41000, "non_embedding": 25000}, "knowledge": KN,
           "exposures": {"mean": exposures}, "final_correct_hex": pack_bits(correct)}
    f = _fraction(correct, rec)
    rec["final"] = {"learned_fraction": f, "accuracy": f, "web_loss_nats": web, "stored_bits": f * KN["total_bits"],
                    "chance": 0.02, "marginal_floor": 0.05}
    rec["curve"] = curve or [{"exposures_mean": exposures, "tokens": tokens, "learned_fraction": f}]
    return rec


def test_crossing_is_log_odds_interpolation_with_ci():
    runs = [_record("core", 0.2, 4e6, 0.2), _record("core", 0.4, 4e6, 0.6)]
    f = [r["final"]["learned_fraction"] for r in runs]
    w = (0.4 - f[0]) / (f[1] - f[0])
    want = special.expit(special.logit(0.2) + w * (special.logit(0.4) - special.logit(0.2)))
    out = measured_critical_ratio(runs, 0.4, n_boot=100)
    assert out["ratio"] == pytest.approx(want, rel=1e-9)
    lo, hi = out["ci95"]
    assert 0.2 <= lo <= out["ratio"] <= hi <= 0.4
    none = measured_critical_ratio([_record("core", 0.2, 4e6, 0.1), _record("core", 0.4, 4e6, 0.2)], 0.4, n_boot=20)
    assert math.isnan(none["ratio"])


def test_time_to_target_interpolates_and_reports_never():
    curve = [{"tokens": 1e6, "learned_fraction": 0.1}, {"tokens": 2e6, "learned_fraction": 0.5},
             {"tokens": 3e6, "learned_fraction": 0.9}]
    assert time_to_target(curve, 0.4) == pytest.approx(1.75e6)
    assert math.isnan(time_to_target(curve[:1], 0.4))


def _experiment(doubled_null: float, real_web: float, seed_web: float):
    ref_curve = [{"exposures_mean": e, "tokens": e * 3000, "learned_fraction": f}
                 for e, f in ((25, 0.0), (50, 0.02), (100, 0.3), (200, 0.95), (300, 1.0))]
    return [
        _record("reference", 1.0, 9e5, 1.0, exposures=300, curve=ref_curve),
        _record("core", 0.1, 4e6, 0.0, exposures=50),
        _record("core", 0.3, 4e6, 0.5, web=real_web, exposures=150),
        _record("control", 0.3, 4e6, 0.0, web=3.0, control="fresh", exposures=150),
        _record("doubling", 0.1, 8e6, doubled_null, exposures=100),
        _record("seeds", 0.3, 4e6, 0.5, web=seed_web, seed=1, exposures=150),
    ]


def test_statement_exposure_limit_when_null_learns_after_doubling():
    out = analyze(_experiment(doubled_null=0.3, real_web=3.2, seed_web=3.21), {"n_boot": 20})
    assert "EXPOSURE" in out["statement"] and "does NOT survive" in out["statement"]
    assert out["checks"]["doubling"][0]["null_at_base"] and not out["checks"]["doubling"][0]["null_after_doubling"]


def test_statement_capacity_when_null_survives_suppression_and_web_cost():
    recs = _experiment(doubled_null=0.0, real_web=3.2, seed_web=3.21)
    recs[2] = _record("core", 0.3, 4e6, 0.05, web=3.2, exposures=150)  # far below the reference at 150 exposures
    recs[5] = _record("seeds", 0.3, 4e6, 0.05, web=3.21, seed=1, exposures=150)
    out = analyze(recs, {"n_boot": 20})
    assert "CAPACITY ALLOCATION" in out["statement"], out["statement"]
    c = out["checks"]["control"][0]
    assert c["web_cost_nats"] == pytest.approx(0.2)


def test_statement_other_cause_when_web_cost_is_within_seed_noise():
    recs = _experiment(doubled_null=0.0, real_web=3.001, seed_web=3.2)
    recs[2] = _record("core", 0.3, 4e6, 0.05, web=3.001, exposures=150)
    recs[5] = _record("seeds", 0.3, 4e6, 0.05, web=3.2, seed=1, exposures=150)
    out = analyze(recs, {"n_boot": 20})
    assert "ANOTHER CAUSE" in out["statement"], out["statement"]
    assert mechanism_statement(out) == out["statement"]
