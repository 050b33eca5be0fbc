"""CI smoke test: the whole validate pipeline (corpus, tokenizer, training, evaluation, report) on tiny sizes.

A model trained only on 64 compact bios memorizes them (far above chance) while the fresh-value control stays at
the floor a name-blind predictor can reach (the most frequent value per attribute; chance-level knowledge).
"""

from __future__ import annotations

import json

import pytest

from phasemix.cli import main

pytest.importorskip("torch")
pytest.importorskip("matplotlib")


@pytest.mark.slow
def test_smoke_pipeline_memorizes_and_control_stays_at_floor(tmp_path, capsys):
    out = tmp_path / "smoke"
    assert main(["validate", "--config", "smoke", "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    runs = {(r["group"], r["control"]): r for r in rep["runs"]}
    ref, ctl = runs[("reference", "none")], runs[("control", "fresh")]
    assert ref["accuracy"] >= 0.7 and ref["accuracy"] >= 10 * ref["chance"]
    assert ref["learned_fraction"] >= 0.7
    # the control can only learn value marginals: at most the name-blind floor (+ one bio's worth of slack)
    assert ctl["accuracy"] <= ctl["marginal_floor"] + 1 / 64
    assert ctl["learned_fraction"] <= 0.25
    assert ctl["web_loss_nats"] > 0 and ref["exposures_mean"] >= 300
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    pl = next(r for r in recs if r["spec"]["group"] == "power_law")["power_law"]
    e = pl["subset_exposures_mean"]
    assert e == sorted(e, reverse=True) and 5 < e[0] / e[-1] < 12  # weights 1 : 4^-1.5 = 8 : 1
    assert pl["subset_accuracy"][0] > pl["subset_accuracy"][-1]
    an = rep["analysis"]
    assert an["web_law"]["n_sizes"] == 3 and an["web_law"]["E_fixed"]
    assert "Verdict" in an["statement"]
    for name in ("fraction_vs_ratio.png", "mechanism_checks.png", "phase_diagram.png", "web_law.png"):
        assert (out / name).stat().st_size > 1000
    # rerun: every run is already finished, nothing is retrained, the results are unchanged
    before = (out / "results.jsonl").read_text()
    assert main(["validate", "--config", "smoke", "--out", str(out)]) == 0
    assert (out / "results.jsonl").read_text() == before


def test_import_does_not_load_heavy_dependencies():
    import subprocess
    import sys

    code = ("import sys, phasemix.validate, phasemix.validate.experiment, phasemix.validate.report, "
            "phasemix.commands.validate; print(sorted(m for m in ('torch', 'matplotlib', 'tokenizers') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_dry_run_and_errors(tmp_path, capsys):
    assert main(["validate", "--dry-run"]) == 0
    assert "static runs" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[[sweep]]\ngroup = "g"\nratio = 1.5\ntokens = 1e5\n')
    assert main(["validate", "--config", str(bad), "--dry-run"]) == 1
    assert "ratio must lie in [0, 1]" in capsys.readouterr().err
    assert main(["validate", "--seed", "-1", "--dry-run"]) == 1
