"""``phasemix predict``: defaults, JSON contract, derivation text, errors."""

from __future__ import annotations

import json

import pytest

from phasemix.cli import main

REQUIRED = {"critical_ratio", "critical_params", "full_params", "learned_fraction", "exponent_ratio_vs_params",
            "exponent_params_vs_ratio"}


def run_json(capsys, *argv):
    assert main(["predict", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_default_json_has_contract_keys_and_golden_values(capsys):
    out = run_json(capsys)
    assert REQUIRED <= out.keys()
    assert out["critical_ratio"] == pytest.approx(0.12193, abs=5e-6)
    assert out["critical_params"] == pytest.approx(44.27e6, rel=2e-4)
    assert out["full_params"] == pytest.approx(51.56e6, rel=2e-4)
    assert out["learned_fraction"] == 1.0
    assert out["exponent_ratio_vs_params"] == pytest.approx(-1.283)
    assert out["exponent_params_vs_ratio"] == pytest.approx(-1 / 1.283)


def test_no_arguments_prints_the_derivation(capsys):
    assert main(["predict"]) == 0
    text = capsys.readouterr().out
    assert "0.12193" in text and "44.27M" in text and "[Eq. (11)]" in text


def test_ratio_zero_writes_null_onset_size(capsys):
    out = run_json(capsys, "--ratio", "0")
    assert out["critical_params"] is None and out["learned_fraction"] == 0.0


def test_flags_change_the_model(capsys):
    base = run_json(capsys)
    bits = run_json(capsys, "--web-law", "2.552,7.144,0.283", "--loss-units", "bits")
    assert bits["critical_ratio"] == pytest.approx(base["critical_ratio"], rel=1e-3)
    b1 = run_json(capsys, "--bits-per-param", "1")
    assert b1["critical_ratio"] == pytest.approx(0.217, abs=5e-4)
    wiki = run_json(capsys, "--facts", "1.28M", "--params", "410M")
    assert wiki["critical_ratio"] == pytest.approx(0.05438, abs=5e-6)
    h = run_json(capsys, "--bits-per-fact", "10", "--cardinalities", "")
    assert h["knowledge"]["bits_per_fact"] == 10 and h["predicted_accuracy"] is None


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--ratio", "1.5"], "ratio"),
        (["--params=-1M"], "params"),
        (["--params", "lots"], "--params"),
        (["--web-law", "1,2"], "--web-law"),
        (["--web-law", "1,2,-0.3"], "alpha"),
        (["--ratio", "nan"], "ratio"),
        (["--bits-per-param", "0"], "bits_per_param"),
    ],
)
def test_bad_input_exits_nonzero_with_a_named_message(capsys, argv, needle):
    assert main(["predict", *argv]) == 1
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_subsampling_flag_reports_the_full_set_fraction_and_best_rho(capsys):
    from phasemix.theory.capacity import KnowledgeSet
    from phasemix.theory.mitigation import best_subsampling, subsampled_fraction

    out = run_json(capsys, "--params", "410M", "--facts", "1.28M", "--ratio", "0.03", "--keep-fraction", "0.25")
    k = KnowledgeSet.synbio(1.28e6)
    assert out["learned_fraction"] == 0.0  # the full set is below its onset
    assert out["subsampled_fraction"] == pytest.approx(float(subsampled_fraction(0.25, 410e6, 0.03, k)))
    assert out["best_keep_fraction"] == pytest.approx(best_subsampling(410e6, 0.03, k).rho_best)


def test_ckm_flag_divides_the_onset_odds_by_the_multiplier(capsys):
    base = run_json(capsys)
    ckm = run_json(capsys, "--ckm-tau", "0.3", "--ckm-token-ratio", str(150 / 18))
    odds = lambda r: r / (1 - r)  # noqa: E731
    assert ckm["ckm_multiplier"] == pytest.approx(2.69, abs=5e-3)
    assert odds(base["critical_ratio"]) / odds(ckm["critical_ratio"]) == pytest.approx(ckm["ckm_multiplier"])
    assert main(["predict", "--ckm-tau", "0.3"]) == 1
    assert "ckm_token_ratio" in capsys.readouterr().err


@pytest.fixture(scope="module")
def race_calibration(tmp_path_factory):
    from phasemix.theory.datasets import load
    from phasemix.theory.dynamics import calibrate

    cal = calibrate(load("gu2025-70m"), "race", bootstrap=20, seed=0, leave_one_out=False)
    path = tmp_path_factory.mktemp("cal") / "race.json"
    cal.to_json(path)
    return path


def test_tokens_adds_the_finite_training_keys(capsys, race_calibration):
    from phasemix.theory.capacity import KnowledgeSet
    from phasemix.theory.dynamics import Calibration, predict_at_budget

    out = run_json(capsys, "--ratio", "0.4", "--tokens", "32B", "--calibration", str(race_calibration))
    for key in ("accuracy", "accuracy_low", "accuracy_high", "critical_ratio_at_tokens", "tokens_to_target",
                "regime", "extrapolated_in_size"):
        assert key in out
    direct = predict_at_budget(70e6, 0.4, KnowledgeSet.synbio(), 32e9, Calibration.from_json(race_calibration))
    assert out["accuracy"] == pytest.approx(direct["accuracy"])
    assert out["accuracy_low"] <= out["accuracy"] <= out["accuracy_high"]
    assert out["extrapolated_in_size"] is False
    # more tokens never lower the prediction; another size is flagged as an extrapolation
    more = run_json(capsys, "--ratio", "0.4", "--tokens", "128B", "--calibration", str(race_calibration))
    assert more["accuracy"] >= out["accuracy"]
    big = run_json(capsys, "--params", "410M", "--tokens", "32B", "--calibration", str(race_calibration))
    assert big["extrapolated_in_size"] is True


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--tokens", "32B"], "--calibration"),
        (["--tokens=-1B", "--calibration", "CAL"], "tokens"),
        (["--keep-fraction", "1.5", "--tokens", "1B", "--calibration", "CAL"], "keep_fraction"),
    ],
)
def test_finite_training_bad_input(capsys, race_calibration, argv, needle):
    argv = [str(race_calibration) if a == "CAL" else a for a in argv]
    assert main(["predict", *argv]) == 1
    assert needle in capsys.readouterr().err


def test_foreign_calibration_file_is_rejected(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "something else"}')
    assert main(["predict", "--tokens", "1B", "--calibration", str(bad)]) == 1
    assert "calibration" in capsys.readouterr().err
