"""Sweep configs, bad configs, resume after a kill (spec §6.9), the CLI, and the plot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from phasemix.cli import main as cli_main
from phasemix.errors import BackendUnavailableError, ConfigError
from phasemix.kernels import backend as kbackend
from phasemix.sim.store import ResultStore
from phasemix.sim.sweep import EXAMPLE_CONFIG, SweepConfig, learned_table, load_records, run_sweep

TINY = {
    "sweep": {"name": "tiny", "model": "m1", "backend": "numpy", "seeds": [0, 1], "batch": 2},
    "population": {"kind": "power_law_subsets", "subsets": 10, "subset_size": 20},
    "grid": {"params": ["20k", "60k", "200k"], "ratio": [0.05, 0.2], "tokens": ["100M"]},
}


def _by_key(records):
    return {r["key"]: (r["setting"], r["outputs"]) for r in records}


def test_example_config_loads_and_has_a_transition():
    cfg = SweepConfig.from_toml(EXAMPLE_CONFIG)
    assert cfg.model == "m1" and len(cfg.points()) == 40


def test_tiny_sweep_runs_and_resumes_after_interruption(tmp_path):
    cfg = SweepConfig.from_dict(TINY)
    full = run_sweep(cfg, tmp_path / "full", progress=False)
    assert (full.total, full.ran, full.failed) == (12, 12, 0)
    part = tmp_path / "part"
    first = run_sweep(cfg, part, progress=False, max_tasks=2)  # 'killed' after 2 tasks (4 records)
    assert first.ran == 4
    with open(part / "results.jsonl", "ab") as fh:
        fh.write(b'{"schema_version": 1, "key": "abc')  # torn line from the kill
    second = run_sweep(cfg, part, progress=False)
    assert (second.already_done, second.ran) == (4, 8)
    lines = (part / "results.jsonl").read_text().splitlines()
    keys = [line.split('"key":"')[1][:64] for line in lines]
    assert len(keys) == len(set(keys)) == 12  # every key exactly once
    assert _by_key(load_records(part)) == _by_key(load_records(tmp_path / "full"))
    assert run_sweep(cfg, part, progress=False).ran == 0


def test_killed_process_resumes_without_loss(tmp_path):
    """SIGKILL a running `phasemix simulate`, tear its last line, resume: same records as an uninterrupted run."""
    cfg_path = tmp_path / "kill.toml"
    cfg_path.write_text("""
[sweep]
name = "kill"
backend = "numpy"
seeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
batch = 1
[population]
kind = "zipf"
facts = 8000
[grid]
params = ["1M", "3M"]
ratio = [0.1, 0.3]
tokens = ["1B"]
""")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-m", "phasemix.cli", "simulate", "-c", str(cfg_path), "-o", str(out),
                             "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.exists() and results.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = results.read_bytes().count(b"\n")
    assert 3 <= n_done < 64, "the sweep finished before it could be killed; make it longer"
    with open(results, "ab") as fh:
        fh.write(b'{"schema_version": 1, "ke')
    cfg = SweepConfig.from_toml(cfg_path)
    cfg = replace(cfg, backend="numba")  # same rng family and keys as numpy; bit-identical results, faster
    resumed = run_sweep(cfg, out, progress=False)
    assert resumed.already_done == n_done and resumed.ran == 64 - n_done
    ref = run_sweep(cfg, tmp_path / "ref", progress=False)
    assert ref.ran == 64
    assert _by_key(load_records(out)) == _by_key(load_records(tmp_path / "ref"))


def test_manifest_mismatch_is_refused(tmp_path):
    run_sweep(SweepConfig.from_dict(TINY), tmp_path, progress=False, max_tasks=1)
    other = {**TINY, "population": {**TINY["population"], "exponent": 2.0}}
    with pytest.raises(ConfigError, match="different sweep"):
        run_sweep(SweepConfig.from_dict(other), tmp_path, progress=False)


def test_a_sweep_can_grow_its_grid_and_seeds(tmp_path):
    run_sweep(SweepConfig.from_dict(TINY), tmp_path, progress=False)
    bigger = {**TINY, "sweep": {**TINY["sweep"], "seeds": [0, 1, 2]},
              "grid": {**TINY["grid"], "ratio": [0.05, 0.2, 0.4]}}
    s = run_sweep(SweepConfig.from_dict(bigger), tmp_path, progress=False)
    assert (s.total, s.already_done, s.ran) == (27, 12, 15)
    assert ResultStore(tmp_path).read_manifest()["config"]["seeds"] == [0, 1, 2]


@pytest.mark.parametrize("patch, match", [
    ({"grid": {"params": ["-5M"], "ratio": [0.1], "tokens": ["1B"]}}, "grid.params"),
    ({"grid": {"params": ["1M"], "ratio": [0.1], "tokens": [-3]}}, "grid.tokens"),
    ({"grid": {"params": ["1M"], "ratio": [1.5], "tokens": ["1B"]}}, "grid.ratio"),
    ({"grid": {"params": ["1M"], "ratio": [0.1]}}, "missing"),
    ({"sweep": {"backend": "tpu"}}, "sweep.backend"),
    ({"sweep": {"seeds": [-1]}}, "sweep.seeds"),
    ({"sweep": {"batch": 0}}, "sweep.batch"),
    ({"sweep": {"model": "m9"}}, "sweep.model"),
    ({"population": {"kind": "power_law_subsets", "subsets": -3}}, "population.subsets"),
    ({"population": {"kind": "zipf", "colour": 1}}, "unknown population keys"),
    ({"dynamics": {"kind": "race"}}, "dynamics.eta"),
    ({"dynamics": {"n_min": 0}}, "dynamics.n_min"),
    ({"extra": {}}, "unknown config sections"),
])
def test_bad_configs_give_clear_errors(patch, match):
    data = {**TINY, **{k: ({**TINY.get(k, {}), **v} if k == "sweep" else v) for k, v in patch.items()}}
    with pytest.raises(ConfigError, match=match):
        SweepConfig.from_dict(data)


def test_gpu_backend_without_gpu_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(kbackend, "gpu_status", lambda: (False, "numba.cuda reports no usable CUDA driver or device"))
    cfg = SweepConfig.from_dict({**TINY, "sweep": {**TINY["sweep"], "backend": "cuda"}})
    with pytest.raises(BackendUnavailableError, match="cuda"):
        run_sweep(cfg, tmp_path, progress=False)
    assert not (tmp_path / "results.jsonl").exists()


def test_bad_toml_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        SweepConfig.from_toml(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        SweepConfig.from_toml(tmp_path / "missing.toml")


def test_m2_and_m3_sweeps(tmp_path):
    m2 = {"sweep": {"model": "m2", "backend": "numpy"}, "population": {"kind": "uniform", "facts": 500},
          "grid": {"params": ["1M"], "ratio": [0.1, 0.3], "tokens": ["1B", "3B"]},
          "dynamics": {"kind": "bn+race", "eta": 0.01, "max_step": 1.0}}
    s = run_sweep(SweepConfig.from_dict(m2), tmp_path / "m2", progress=False)
    assert s.ran == 2 and s.failed == 0
    cps = load_records(tmp_path / "m2")[0]["outputs"]["checkpoints"]
    assert [c["tokens"] for c in cps] == [1e9, 3e9]
    m3 = {"sweep": {"model": "m3", "backend": "numpy", "seeds": [0, 1]}, "m3": {"items": 1000, "cutoff": 20},
          "grid": {"samples": [100, "1k"], "real_share": [0.05]}}
    s = run_sweep(SweepConfig.from_dict(m3), tmp_path / "m3", progress=False)
    assert s.ran == 4
    rec = load_records(tmp_path / "m3")[0]["outputs"]
    assert abs(rec["test_error"] - rec["expected_error"]) <= 5 * rec["error_sd"]


def test_cli_runs_example_with_plot_and_parquet(tmp_path, capsys):
    out = tmp_path / "ex"
    assert cli_main(["simulate", "-o", str(out), "--backend", "numpy", "--seed", "3", "--dry-run"]) == 0
    assert "20 to run" in capsys.readouterr().out
    assert cli_main(["simulate", "-o", str(out), "--backend", "numpy", "--seed", "3", "--quiet", "--plot", "l.png",
                     "--parquet", "r.parquet"]) == 0
    assert (out / "l.png").stat().st_size > 1000 and (out / "r.parquet").exists() and (out / "run.json").exists()
    table = learned_table(load_records(out))
    assert len(table) == 20 and max(table.values()) > 0.9 and min(table.values()) < 0.05
    assert cli_main(["simulate", "-o", str(out), "--plot", "../../escape.png", "--quiet"]) == 1
    assert "inside the results folder" in capsys.readouterr().err


def test_cli_reports_bad_config(tmp_path, capsys):
    bad = tmp_path / "b.toml"
    bad.write_text('[sweep]\nbackend = "tpu"\n[grid]\nparams=[1]\nratio=[0.1]\ntokens=[1]\n')
    assert cli_main(["simulate", "-c", str(bad), "-o", str(tmp_path / "o")]) == 1
    assert "sweep.backend" in capsys.readouterr().err


def test_store_records_carry_provenance(tmp_path):
    run_sweep(SweepConfig.from_dict(TINY), tmp_path, progress=False, max_tasks=1)
    rec = ResultStore(tmp_path).records()[0]
    assert rec["rng_family"] == "xoro-v1" and rec["backend"] == "numpy" and rec["pkg_version"]
    assert Path(tmp_path / "sweep.json").exists()


@pytest.mark.parametrize("path", sorted(EXAMPLE_CONFIG.parent.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_plans(path, tmp_path, capsys):
    cfg = SweepConfig.from_toml(path)
    assert cfg.tasks() and cfg.points()
    assert cli_main(["simulate", "-c", str(path), "-o", str(tmp_path / "o"), "--dry-run", "--backend", "numpy"]) == 0
    assert "to run" in capsys.readouterr().out
