"""``phasemix calibrate``: JSON and text reports, the written calibration, model comparison, and bad input."""

from __future__ import annotations

import json

import pytest

from phasemix.cli import main
from phasemix.theory.dynamics_calibrate import Calibration


def test_calibrate_one_model_json(tmp_path, capsys):
    out = tmp_path / "cal.json"
    code = main(["calibrate", "--data", "gu2025-70m", "--model", "chain", "--out", str(out), "--json",
                 "--bootstrap", "4", "--seed", "3"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["winner"] == "chain" and report["data"] == "gu2025-70m"
    assert report["speed_exponent_assumed"] is True
    cal = Calibration.from_json(out, model="chain")
    assert cal.seed == 3 and len(cal.bootstrap) == 4
    assert report["models"][0]["parameters"] == dict(zip(cal.parameter_names, cal.parameters))
    assert report["models"][0]["max_tokens_rel_error"] < 0.25


def test_calibrate_all_names_winner_and_margin(tmp_path, capsys):
    out = tmp_path / "best.json"
    code = main(["calibrate", "--data", "gu2025-70m", "--model", "all", "--out", str(out), "--bootstrap", "2"])
    assert code == 0
    text = capsys.readouterr().out
    assert "winner: chain-run (lowest AIC); AIC lower by 7.83 than chain-attr" in text
    assert "one calibration size" in text
    assert Calibration.from_json(out).model == "chain-run"


def test_calibrate_csv_path_and_errors(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("params,ratio,facts,tokens_per_fact,bits_per_fact,tokens,accuracy\n70e6,0.3,1,1,1,1e9,nan\n")
    assert main(["calibrate", "--data", str(bad), "--model", "race", "--out", str(tmp_path / "x.json")]) == 1
    err = capsys.readouterr().err
    assert "row 1 (line 2): column 'accuracy' is NaN" in err
    assert main(["calibrate", "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "x.json")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["calibrate", "--data", "gu2025-70m", "--model", "race", "--bootstrap", "-1",
                 "--out", str(tmp_path / "x.json")]) == 1
    assert "--bootstrap must be >= 0" in capsys.readouterr().err
    plain = tmp_path / "plain.csv"
    plain.write_text("params,ratio,facts,tokens_per_fact,bits_per_fact,tokens,accuracy\n"
                     + "".join(f"70e6,{r},320000,100,45.6,32e9,{a}\n" for r, a in [(0.3, 0.07), (0.35, 0.27),
                                                                                  (0.4, 0.4), (0.45, 0.58)]))
    assert main(["calibrate", "--data", str(plain), "--model", "chain-attr", "--out", str(tmp_path / "x.json")]) == 1
    assert "'chain-run' need the attributes' cardinalities" in capsys.readouterr().err
    assert main(["calibrate", "--data", str(plain), "--model", "chain-run", "--out", str(tmp_path / "x.json")]) == 1
    assert "need the attributes' cardinalities" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["calibrate", "--data", "gu2025-70m", "--model", "magic", "--out", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()
