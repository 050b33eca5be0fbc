"""Calibration on gu2025-70m (what each model achieves against the issue's acceptance numbers), the Calibration
file format, predict_at_budget, and the calibration-CSV reader."""

from __future__ import annotations

import json
import math
from functools import cache

import numpy as np
import pytest

from phasemix.errors import ResultsFileError
from phasemix.theory import dynamics as dy
from phasemix.theory.capacity import KnowledgeSet
from phasemix.theory.datasets import load, parse_calibration_csv
from phasemix.theory.dynamics_calibrate import TOKENS_WEIGHT, Calibration, _Problem, calibrate
from phasemix.theory.dynamics_models import MODELS
from phasemix.theory.laws import DEFAULT_WEB_LAW

SYNBIO = KnowledgeSet.synbio()
TABLE1 = [0.004, 0.004, 0.004, 0.008, 0.073, 0.275, 0.404, 0.581]


@cache
def fitted(model: str) -> Calibration:
    """One calibration per model for the whole session (few bootstrap replicates keep the suite fast)."""
    return calibrate(load("gu2025-70m"), model, bootstrap=16, seed=0)


def _acc_points(cal):
    return [p for p in cal.points if p["kind"] == "accuracy" and p["relation"] == "="]


def _t_points(cal):
    return [p for p in cal.points if p["kind"] == "tokens_to_target" and p["relation"] == "="]


# ------------------------------------------------------------------ the dataset
def test_gu2025_dataset_holds_the_published_numbers():
    t = load("gu2025-70m")
    acc = t.is_accuracy & (t.tokens == 32e9)
    np.testing.assert_allclose(t.ratio[acc], np.arange(0.10, 0.46, 0.05), atol=1e-12)
    np.testing.assert_allclose(t.accuracy[acc], TABLE1)
    tt = (~t.is_accuracy) & np.array([r == "=" for r in t.relation])
    np.testing.assert_allclose(np.log(t.tokens_to_target[tt] / 1e9), -0.255 + 1.514 / t.ratio[tt], atol=1e-4)
    assert "2505.18091" in t.citation
    assert t.shared_cardinalities == SYNBIO.cardinalities
    assert t.chance[0] == pytest.approx(np.mean(1 / np.array(SYNBIO.cardinalities)), abs=1e-6)


# ------------------------------------------------------------------ fitter and acceptance numbers
@pytest.mark.parametrize("model", list(MODELS))
def test_fit_is_at_least_as_good_as_the_spec_reference_fit(model):
    cal = fitted(model)
    prob = _Problem(load("gu2025-70m"), MODELS[model], DEFAULT_WEB_LAW, 2.0, 70e6, 0.0)
    reference = prob.objective(prob.x_of(MODELS[model].reference))
    assert cal.objective <= reference + 1e-12
    assert cal.objective == pytest.approx(prob.objective(prob.x_of(cal.parameters)), rel=1e-9)
    n, k = cal.n_points, 3
    assert cal.aic == pytest.approx(n * math.log(cal.objective / n) + 2 * k)
    assert all(lo <= hi for lo, hi in zip(cal.ci_low, cal.ci_high))
    assert len(cal.bootstrap) == 16
    assert math.isfinite(cal.loo_rmse_accuracy) and math.isfinite(cal.loo_objective)


def _at_512b(cal) -> float:
    """Predicted exact-match accuracy (chance floor included, as Table 1) at r = 0.2 after 512B tokens."""
    return [p for p in cal.points if p["kind"] == "accuracy" and p["tokens"] == 512e9][0]["predicted"]


def test_chain_run_wins_by_aic_and_meets_all_three_targets():
    """Achieved on gu2025-70m: the chain with the exact run-waiting-time law and per-attribute k_a has the lowest
    AIC (−98.80; ΔAIC = 7.83 over chain-attr, objective 1.83× smaller). It reproduces Table 1 within 5.18 points
    (target 6), predicts 2.36% exact-match accuracy at r = 0.2 after 512B tokens (target < 5%), and matches all
    five tokens-to-40% points within 15.2% (target 25%)."""
    cals = sorted((fitted(m) for m in MODELS), key=lambda c: c.aic)
    assert [c.model for c in cals][:4] == ["chain-run", "chain-attr", "race", "chain"]
    assert cals[0].aic == pytest.approx(-98.80, abs=0.01)
    assert cals[1].aic - cals[0].aic == pytest.approx(7.83, abs=0.01)
    best = fitted("chain-run")
    errs = [abs(p["predicted"] - p["observed"]) for p in _acc_points(best)]
    assert max(errs) == pytest.approx(0.0518, abs=5e-4) and max(errs) <= 0.06
    assert _at_512b(best) == pytest.approx(0.0236, abs=5e-4) and _at_512b(best) < 0.05
    rel = [abs(p["predicted"] / p["observed"] - 1) for p in _t_points(best)]
    assert max(rel) == pytest.approx(0.152, abs=2e-3) and max(rel) <= 0.25
    bounds = [p for p in best.points if p["kind"] == "tokens_to_target" and p["relation"] == ">"]
    assert all(p["predicted"] > 0.9 * p["observed"] for p in bounds)  # T40(0.25) = 624B (bound 655B), soft


def test_chain_attr_meets_512b_and_tokens_but_not_table1():
    """Achieved on gu2025-70m: chain-attr (the shifted-exponential chain per attribute) is second by AIC
    (ΔAIC ≈ 2.0 over race, 3.4 between race and chain). It keeps r = 0.2 at 512B at 4.5% (target < 5%: met) and
    all five tokens-to-40% points within 19% (target 25%: met), but misses Table 1 at r = 0.35 by 6.4 points."""
    cals = sorted((fitted(m) for m in MODELS), key=lambda c: c.aic)
    assert cals[2].aic - cals[1].aic > 1.5 and cals[3].aic - cals[2].aic > 3.0
    best = fitted("chain-attr")
    rel = [abs(p["predicted"] / p["observed"] - 1) for p in _t_points(best)]
    assert max(rel) < 0.19
    at_512b = [p for p in best.points if p["kind"] == "accuracy" and p["tokens"] == 512e9][0]
    assert (at_512b["predicted"] - 0.004433) / (1 - 0.004433) < 0.046
    errs = [abs(p["predicted"] - p["observed"]) for p in _acc_points(best)]
    assert 0.06 < max(errs) < 0.065
    bounds = [p for p in best.points if p["kind"] == "tokens_to_target" and p["relation"] == ">"]
    assert all(p["predicted"] > 0.9 * p["observed"] for p in bounds)


def test_race_meets_table1_and_512b_targets_but_not_tokens():
    """Achieved: race reproduces Table 1 within 3.8 points (target 6) and keeps r = 0.2 at 512B at 3.3% (target
    < 5%); its tokens-to-40% miss the 25% target at r = 0.5/0.55 (+31%/+49%)."""
    race = fitted("race")
    errs = [abs(p["predicted"] - p["observed"]) for p in _acc_points(race)]
    assert max(errs) < 0.045
    at_512b = [p for p in race.points if p["kind"] == "accuracy" and p["tokens"] == 512e9][0]
    learned = (at_512b["predicted"] - 0.004433) / (1 - 0.004433)
    assert learned < 0.05
    rel = [p["predicted"] / p["observed"] - 1 for p in _t_points(race)]
    assert max(abs(x) for x in rel) < 0.55
    assert max(abs(x) for x in rel[:3]) < 0.25  # r = 0.3, 0.4, 0.45 within 25%


def test_chain_meets_tokens_to_target_but_not_table1():
    """Achieved: chain matches all five tokens-to-40% points within 23% and both lower bounds within 12%, but misses
    Table 1 at r = 0.35 by 7.9 points and gives 5.1% (target < 5%) at r = 0.2, 512B."""
    chain = fitted("chain")
    rel = [abs(p["predicted"] / p["observed"] - 1) for p in _t_points(chain)]
    assert max(rel) < 0.25
    errs = [abs(p["predicted"] - p["observed"]) for p in _acc_points(chain)]
    assert 0.06 < max(errs) < 0.085


def test_only_chain_run_meets_all_three_targets_at_once():
    for model in MODELS:
        cal = fitted(model)
        table_ok = max(abs(p["predicted"] - p["observed"]) for p in _acc_points(cal)) <= 0.06
        t_ok = max(abs(p["predicted"] / p["observed"] - 1) for p in _t_points(cal)) <= 0.25
        assert (table_ok and t_ok and _at_512b(cal) < 0.05) == (model == "chain-run"), model


# ------------------------------------------------------------------ the file format
def test_calibration_round_trip(tmp_path):
    cal = fitted("race")
    path = cal.to_json(tmp_path / "cal.json")
    back = Calibration.from_json(path)
    assert back.to_dict() == cal.to_dict()
    assert Calibration.from_json(path, model="race").parameters == cal.parameters


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d.update(schema_version=99), "newer than this phasemix supports"),
    (lambda d: d.update(kind="something.else"), "not a phasemix dynamics calibration"),
    (lambda d: d.update(model="magic"), "unknown model 'magic'"),
    (lambda d: d.update(parameter_names=["a", "b", "c"]), "do not match model"),
    (lambda d: d.pop("aic"), "missing key 'aic'"),
    (lambda d: d.update(parameters=[0.3, -1.0, 0.3]), "malformed calibration"),
])
def test_calibration_file_rejections(tmp_path, edit, match):
    data = fitted("race").to_dict()
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsFileError, match=match):
        Calibration.from_json(path)


def test_calibration_from_another_model_is_rejected(tmp_path):
    path = fitted("chain").to_json(tmp_path / "chain.json")
    with pytest.raises(ResultsFileError, match="calibration is for model 'chain', expected 'race'"):
        Calibration.from_json(path, model="race")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ResultsFileError, match="not valid JSON"):
        Calibration.from_json(tmp_path / "junk.json")


# ------------------------------------------------------------------ predict_at_budget
def test_predict_at_budget_regimes_and_bands():
    cal = fitted("race")
    learned = dy.predict_at_budget(70e6, 0.45, SYNBIO, 32e9, cal)
    assert learned["regime"] == "learned" and not learned["extrapolated_in_size"]
    assert learned["accuracy_low"] <= learned["accuracy"] <= learned["accuracy_high"]
    exp = dy.predict_at_budget(70e6, 0.3, SYNBIO, 32e9, cal)
    assert exp["regime"] == "exposure-limited" and exp["tokens_to_target"] > 32e9
    thr = dy.predict_at_budget(70e6, 0.2, SYNBIO, 512e9, cal)
    assert thr["regime"] == "threshold-limited" and thr["tokens_to_target"] is None
    assert thr["accuracy"] < 0.05
    # the critical ratio at 32B is where the accuracy crosses the target
    r = learned["critical_ratio_at_tokens"]
    assert float(dy.accuracy("race", cal.parameters, 70e6, r, SYNBIO, 32e9)) == pytest.approx(0.4, abs=1e-7)
    assert dy.predict_at_budget(70e6, 0.45, SYNBIO, 32e9, cal, target=0.5)["target"] == 0.5


def test_predict_at_budget_with_the_winner_matches_its_calibration_points():
    cal = fitted("chain-run")
    out = dy.predict_at_budget(70e6, 0.35, SYNBIO, 32e9, cal)
    point = [p for p in _acc_points(cal) if p["ratio"] == 0.35][0]
    assert out["accuracy"] == pytest.approx((point["predicted"] - 0.004433) / (1 - 0.004433), rel=1e-6)
    assert out["accuracy_low"] <= out["accuracy"] <= out["accuracy_high"]
    assert out["regime"] == "exposure-limited" and out["tokens_to_target"] > 32e9
    r = out["critical_ratio_at_tokens"]  # accuracy may jump in r: the crossing brackets the target
    above = float(dy.accuracy("chain-run", cal.parameters, 70e6, r * (1 + 1e-9), SYNBIO, 32e9))
    below = float(dy.accuracy("chain-run", cal.parameters, 70e6, r * (1 - 1e-9), SYNBIO, 32e9))
    assert below <= 0.4 + 1e-7 <= above + 2e-7


def test_predict_at_budget_flags_size_extrapolation_and_widens_band():
    cal = fitted("race")
    inside = dy.predict_at_budget(70e6, 0.3, SYNBIO, 32e9, cal)
    outside = dy.predict_at_budget(410e6, 0.15, SYNBIO, 32e9, cal)
    assert outside["extrapolated_in_size"] and outside["speed_exponent_assumed"]
    assert outside["size_band_exponents"] == [0.0, 0.5]
    width_in = inside["accuracy_high"] - inside["accuracy_low"]
    faster = dy.accuracy("race", cal.parameters, 410e6, 0.15, SYNBIO, 32e9, speed_exponent=0.5,
                         reference_params=cal.reference_params)
    assert outside["accuracy_high"] >= float(faster) - 1e-12
    assert outside["accuracy_high"] - outside["accuracy_low"] > width_in


def test_predict_at_budget_keep_fraction_and_bad_input(tmp_path):
    cal = fitted("race")
    half = dy.predict_at_budget(70e6, 0.45, SYNBIO, 32e9, cal, keep_fraction=0.5)
    assert half["accuracy"] <= 0.5
    with pytest.raises(ValueError, match="tokens must be >= 0"):
        dy.predict_at_budget(70e6, 0.3, SYNBIO, -1.0, cal)
    with pytest.raises(ValueError, match=r"keep_fraction must lie in \(0, 1\]"):
        dy.predict_at_budget(70e6, 0.3, SYNBIO, 1e9, cal, keep_fraction=0.0)
    with pytest.raises(ValueError, match=r"keep_fraction must lie in \(0, 1\]"):
        dy.predict_at_budget(70e6, 0.3, SYNBIO, 1e9, cal, keep_fraction=1.01)
    with pytest.raises(ValueError, match="single number"):
        dy.predict_at_budget([70e6, 80e6], 0.3, SYNBIO, 1e9, cal)
    with pytest.raises(TypeError, match="Calibration"):
        dy.predict_at_budget(70e6, 0.3, SYNBIO, 1e9, cal.to_dict())


# ------------------------------------------------------------------ CSV reader
HEADER = "params,ratio,facts,tokens_per_fact,bits_per_fact,tokens,accuracy,target,tokens_to_target,relation\n"


@pytest.mark.parametrize(("row", "match"), [
    ("70e6,0.3,320000,100,45.6,32e9,nan,,,=", r"row 1 \(line 2\): column 'accuracy' is NaN"),
    ("70e6,1.3,320000,100,45.6,32e9,0.1,,,=", r"row 1 \(line 2\): column 'ratio' must be in \[0, 1\], got 1.3"),
    ("70e6,0.3,320000,100,45.6,-5,0.1,,,=", r"column 'tokens' must be > 0 and finite, got -5.0"),
    ("70e6,0.3,320000,100,45.6,32e9,1.2,,,=", r"column 'accuracy' must be in \[0, 1\]"),
    ("70e6,0.3,320000,100,45.6,32e9,0.1,0.4,1e10,=", "fill either 'tokens' and 'accuracy'"),
    ("70e6,0.3,320000,100,45.6,32e9,,,,=", "column 'accuracy' is empty but its row needs it"),
    ("70e6,0.3,,100,45.6,32e9,0.1,,,=", "column 'facts' is empty"),
    ("70e6,0.3,320000,100,45.6,32e9,0.1,,,~", "column 'relation' must be one of"),
    ("70e6,0.3,320000,100,45.6,32e9,abc,,,=", "column 'accuracy' must be a number, got 'abc'"),
    ("70e6,0.3,320000,100,45.6,32e9,0.1,,=", "has 9 cells, header has 10"),
])
def test_malformed_csv_rows_are_named(row, match):
    with pytest.raises(ValueError, match=match):
        parse_calibration_csv(HEADER + row + "\n")


def test_cardinalities_column_is_checked():
    head = "params,ratio,facts,tokens_per_fact,bits_per_fact,tokens,accuracy,cardinalities\n"
    ok = parse_calibration_csv(head + "70e6,0.3,1000,100,7.643856189774724,1e9,0.1,200\n")
    assert ok.shared_cardinalities == (200,)
    with pytest.raises(ValueError, match="column 'cardinalities' must be integers separated by ';'"):
        parse_calibration_csv(head + "70e6,0.3,1000,100,7.64,1e9,0.1,20x\n")
    with pytest.raises(ValueError, match="column 'cardinalities' must be integers >= 1"):
        parse_calibration_csv(head + "70e6,0.3,1000,100,7.64,1e9,0.1,2.5\n")
    with pytest.raises(ValueError, match="'bits_per_fact' = 45.6 is inconsistent with column 'cardinalities'"):
        parse_calibration_csv(head + "70e6,0.3,1000,100,45.6,1e9,0.1,200;300\n")


def test_malformed_csv_headers(tmp_path):
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['accuracy'\]"):
        parse_calibration_csv("params,ratio,facts,tokens_per_fact,bits_per_fact,tokens\n1,0.1,1,1,1,1\n")
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['acuracy'\]"):
        parse_calibration_csv(HEADER.strip() + ",acuracy\n")
    with pytest.raises(ValueError, match="empty"):
        parse_calibration_csv("# only a comment\n")
    with pytest.raises(ValueError, match="no data rows"):
        parse_calibration_csv(HEADER)
    with pytest.raises(ValueError, match="no such file"):
        load(tmp_path / "missing.csv")


def test_csv_file_calibrates_like_the_named_dataset(tmp_path):
    from importlib import resources

    text = resources.files("phasemix.theory.datasets").joinpath("gu2025_70m.csv").read_text()
    path = tmp_path / "copy.csv"
    path.write_text(text)
    a = calibrate(load(path), "chain", bootstrap=0, leave_one_out=False, n_starts=2)
    b = calibrate(load("gu2025-70m"), "chain", bootstrap=0, leave_one_out=False, n_starts=2)
    assert a.parameters == b.parameters
    with pytest.raises(ValueError, match="equality rows cannot pin 3 parameters"):
        calibrate(load("gu2025-70m").subset(np.arange(16) >= 12), "race")
    assert TOKENS_WEIGHT == 0.02


# ------------------------------------------------------------------ parameter recovery on synthetic data
def _synthetic_table(model, theta, sizes, beta, tokens=(8e9, 32e9, 128e9), ratios=(0.25, 0.3, 0.35, 0.4, 0.5),
                     keep=1.0, chance=0.0):
    """Noise-free accuracy rows generated by ``model`` (exact-match accuracy = A + (1 − A)·chance)."""
    lines = ["params,ratio,facts,tokens_per_fact,bits_per_fact,tokens,accuracy,keep_fraction,chance"]
    ref = float(np.exp(np.mean(np.log(sizes))))
    for n in sizes:
        for d in tokens:
            for r in ratios:
                a = float(dy.accuracy(model, theta, n, r, SYNBIO, d, keep, speed_exponent=beta, reference_params=ref))
                a = a + (1 - a) * chance
                lines.append(f"{n!r},{r!r},320000,100,{SYNBIO.bits_per_fact!r},{d!r},{a!r},{keep!r},{chance!r}")
    return parse_calibration_csv("\n".join(lines) + "\n", name="synthetic")


def test_race_parameters_are_recovered_from_noise_free_data():
    truth = (0.45, 3e-3, 0.5)
    cal = calibrate(_synthetic_table("race", truth, [70e6], 0.0), "race", bootstrap=0, leave_one_out=False,
                    n_starts=4)
    assert cal.objective < 1e-12
    np.testing.assert_allclose(cal.parameters, truth, rtol=1e-4)
    assert cal.speed_exponent_assumed and cal.speed_exponent == 0.0


def test_two_sizes_pin_the_learning_clock_exponent():
    truth = (2e9, 80.0, 1.2)
    table = _synthetic_table("chain", truth, [40e6, 160e6], 0.5)
    cal = calibrate(table, "chain", bootstrap=0, leave_one_out=False, n_starts=2)
    assert cal.speed_exponent == 0.5 and not cal.speed_exponent_assumed
    np.testing.assert_allclose(cal.parameters, truth, rtol=1e-3)
    assert (cal.params_min, cal.params_max) == (40e6, 160e6)
    assert cal.reference_params == pytest.approx(80e6)
    inside = dy.predict_at_budget(80e6, 0.3, SYNBIO, 32e9, cal)
    assert not inside["extrapolated_in_size"] and not inside["speed_exponent_assumed"]
    assert dy.predict_at_budget(400e6, 0.3, SYNBIO, 32e9, cal)["extrapolated_in_size"]


def test_keep_fraction_and_chance_rows_are_fitted_on_the_full_set():
    truth = (2e9, 80.0, 1.2)
    table = _synthetic_table("chain", truth, [70e6], 0.0, tokens=(2e9, 8e9, 32e9), ratios=(0.12, 0.16, 0.2, 0.3),
                             keep=0.5, chance=0.01)
    learned = (table.accuracy - 0.01) / 0.99
    assert 0.5 * learned.size > np.sum(learned > 0.49)  # most rows informative (not saturated at ρ = 0.5)
    cal = calibrate(table, "chain", bootstrap=0, leave_one_out=False, n_starts=2)
    np.testing.assert_allclose(cal.parameters, truth, rtol=1e-3)
    assert max(abs(p["predicted"] - p["observed"]) for p in cal.points) < 1e-6
