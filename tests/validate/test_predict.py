"""Prediction before measurement: calibration table from the committed default runs, committed predictions are
reproducible and never overwritten, the comparison's band logic, and [predict] config errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from phasemix.errors import ConfigError, ResultsFileError
from phasemix.validate import predict as pm
from phasemix.validate.config import load_config, shipped_config
from phasemix.validate.experiment import read_results

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "reports" / "validate" / "default"
PTM = ROOT / "reports" / "validate" / "predict_then_measure"


@pytest.fixture(scope="module")
def cfg(request):
    import os

    old = os.getcwd()
    os.chdir(ROOT)  # the config names repository paths
    request.addfinalizer(lambda: os.chdir(old))
    return load_config(shipped_config("predict_then_measure"))


@pytest.fixture(scope="module")
def records():
    return read_results(DEFAULT / "results.jsonl")


def test_calibration_table_holds_exactly_the_small_model_runs(records):
    table = pm.calibration_table(records, 32)
    mine = [r for r in records if r["spec"]["d_model"] == 32 and r["spec"]["control"] == "none"
            and r["spec"]["ratio"] > 0]
    assert len(table) == len(mine) == 9
    assert set(table.params) == {58048.0}  # total parameters: the web law's basis
    np.testing.assert_array_equal(table.accuracy, [r["final"]["learned_fraction"] for r in mine])
    assert table.facts.max() == 2000 and (table.chance == 0).all() and table.shared_cardinalities is None
    with pytest.raises(ValueError, match="calibrate_d_model: no runs with d_model = 7"):
        pm.calibration_table(records, 7)


def test_planned_parameter_counts_match_recorded_runs(cfg, records):
    template = pm.calibration_runs(records, 32)[0]
    for rec in records:  # d = 16 ... 48 were trained: the count rebuilt from d = 32's vocabulary must agree
        run = replace(pm.planned_runs(cfg)[0], d_model=rec["spec"]["d_model"])
        assert pm.run_params(cfg, run, template) == rec["params"]


def test_committed_predictions_are_reproducible_and_kept(cfg, tmp_path):
    planned = pm.planned_runs(cfg)
    committed = pm.read_predictions(PTM / "predictions.json", planned)
    aics = [m["aic"] for m in committed["model_selection"]]
    assert committed["chosen_model"] == committed["model_selection"][0]["model"] and aics == sorted(aics)
    fresh = pm.make_predictions(cfg, planned)
    for a, b in zip(committed["runs"], fresh["runs"]):
        for name, pa in a["by_model"].items():
            assert pa["accuracy"] == pytest.approx(b["by_model"][name]["accuracy"], abs=1e-9)
            assert pa["accuracy_low"] <= pa["accuracy"] <= pa["accuracy_high"]
    # an existing predictions file is never overwritten; one made for other runs is refused
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps({**committed, "runs": committed["runs"][:1]}))
    with pytest.raises(ResultsFileError, match="never overwritten"):
        pm.write_predictions(cfg, planned, tmp_path)
    path.write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(ResultsFileError, match="not a validate predictions file"):
        pm.read_predictions(path)


def test_comparison_flags_inside_and_outside_the_band():
    pred = {"accuracy": 0.3, "accuracy_low": 0.2, "accuracy_high": 0.5, "regime": "exposure-limited",
            "extrapolated_in_size": False, "critical_ratio_at_tokens": 0.2}
    doc = {"chosen_model": "chain", "calibration": {"d_model": 32},
           "runs": [{"run_id": f"r{i}", "group": "g", "d_model": 32, "ratio": 0.2, "tokens": 4e6,
                     "params": {"total": 1}, "by_model": {"chain": pred}} for i in range(3)]}
    recs = [{"run_id": "r0", "final": {"learned_fraction": 0.45}}, {"run_id": "r1", "final": {"learned_fraction": 0.6}}]
    out = pm.compare(doc, recs)
    rows = {r["run_id"]: r["models"]["chain"] for r in out["runs"]}
    assert rows["r0"]["inside_band"] is True and rows["r0"]["abs_error"] == pytest.approx(0.15)
    assert rows["r1"]["inside_band"] is False and rows["r1"]["abs_error"] == pytest.approx(0.3)
    assert rows["r2"]["inside_band"] is None and out["missing"] == ["r2"]
    assert out["by_model"]["chain"] == {"mean_abs_error": pytest.approx(0.225), "max_abs_error": pytest.approx(0.3),
                                        "inside_band": 1, "measured": 2}
    assert "1 of 2 measured runs inside" in pm._statement(doc, out)


def test_predict_config_errors(cfg):
    with pytest.raises(ConfigError, match=r"\[predict\]: unknown key\(s\) \['modles'\]"):
        pm.check_predict_config({**cfg.predict, "modles": []})
    with pytest.raises(ConfigError, match="need the attributes' cardinalities"):
        pm.check_predict_config({**cfg.predict, "models": ["chain-run"]})
    with pytest.raises(ConfigError, match="calibration_results must name an existing file"):
        pm.check_predict_config({**cfg.predict, "calibration_results": "nope.jsonl"})
