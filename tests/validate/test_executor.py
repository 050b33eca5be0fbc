"""Validate runs through a sim executor: a process pool gives the serial results; failures are returned, not
written."""

from __future__ import annotations

import pytest

from phasemix.sim.executors import Executor, LocalExecutor, PointOutcome
from phasemix.validate.config import expand_sweep, load_config, shipped_config
from phasemix.validate.experiment import read_results, run_experiment

pytest.importorskip("torch")


def _strip(rec: dict) -> dict:
    """A record without its wall-clock times (the only fields that may differ)."""
    if isinstance(rec, dict):
        return {k: _strip(v) for k, v in rec.items() if k != "elapsed_s"}
    return [_strip(v) for v in rec] if isinstance(rec, list) else rec


@pytest.mark.slow
def test_local_pool_reproduces_the_serial_web_law_group(tmp_path):
    cfg = load_config(shipped_config("smoke"))
    serial, fails = run_experiment(cfg, tmp_path / "serial", groups=["web_law"])
    assert fails == []
    with LocalExecutor(workers=2) as ex:
        pooled, fails = run_experiment(cfg, tmp_path / "pool", groups=["web_law"], executor=ex)
    assert fails == []
    a = {r["run_id"]: _strip(r) for r in read_results(serial)}
    b = {r["run_id"]: _strip(r) for r in read_results(pooled)}
    assert len(a) == 3 and a.keys() == b.keys()
    for run_id in a:  # same seeds, one torch thread per run: identical curves, losses and per-bio correctness
        assert a[run_id] == b[run_id], run_id


class _Failing(Executor):
    """Every point fails, as a crashed worker would report it."""

    def map(self, fn, args):
        for i, _ in enumerate(args):
            yield PointOutcome(i, error=RuntimeError("worker lost"), traceback="tb")


def test_failed_runs_are_returned_and_not_written(tmp_path):
    cfg = load_config(shipped_config("smoke"))
    results, fails = run_experiment(cfg, tmp_path, groups=["web_law"], executor=_Failing())
    web_law = next(s for s in cfg.sweeps if s["group"] == "web_law")
    assert sorted(f["run_id"] for f in fails) == sorted(r.run_id for r in expand_sweep(web_law, cfg))
    assert all("worker lost" in f["error"] for f in fails)
    assert read_results(results) == []


def test_cli_executor_flags_are_checked_before_training(tmp_path, capsys):
    from phasemix.cli import main

    out = str(tmp_path / "x")
    assert main(["validate", "--config", "smoke", "--out", out, "--executor", "local", "--address", "h:1"]) == 1
    assert "--address 'h:1' applies only to --executor ray" in capsys.readouterr().err
    assert main(["validate", "--config", "smoke", "--out", out, "--executor", "local", "--workers", "0"]) == 1
    assert "--workers must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "x" / "results.jsonl").exists()


def test_validate_takes_short_config_and_out_flags(tmp_path, capsys):
    """Config-driven commands share -c/--config and -o/--out (style guide); a bad ratio names the rule."""
    from phasemix.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text('[[sweep]]\ngroup = "core"\nratio = 1.5\ntokens = 1e5\n')
    assert main(["validate", "-c", str(bad), "-o", str(tmp_path / "out"), "--dry-run"]) == 1
    assert "ratio must lie in [0, 1]" in capsys.readouterr().err
    assert main(["validate", "-c", "smoke", "-o", str(tmp_path / "out"), "--dry-run"]) == 0
