"""RayExecutor: same results as the local executor, resume, worker kills and failing points (one local Ray, 2 CPUs)."""

from __future__ import annotations

import functools
import io
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from phasemix.errors import ConfigError
from phasemix.sim import ray_executor as rx
from phasemix.sim.executors import Executor, LocalExecutor, SerialExecutor, make_executor
from phasemix.sim.store import RESULTS_NAME
from phasemix.sim.sweep import EXAMPLE_CONFIG, SweepConfig, load_records, run_sweep

# ---- point functions shipped to Ray workers (this module is pickled by value: workers cannot import it) ------------


def _square(x: int) -> int:
    return x * x


def _trivial_with_faults(arg: dict) -> int:
    """``raise`` always raises; ``kill`` kills its own worker process every time; else returns x²."""
    if arg.get("raise"):
        raise ValueError(f"point {arg['x']} always fails")
    if arg.get("kill"):
        os.kill(os.getpid(), signal.SIGKILL)
    return arg["x"] ** 2


def _log_attempt(marker_dir: str, task: dict) -> None:
    fd = os.open(os.path.join(marker_dir, "attempts.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (task["keys"][0] + "\n").encode())
    finally:
        os.close(fd)


def _crash_once(marker_dir: str, crash_key: str, fn, task: dict):
    """Run ``fn(task)``, but SIGKILL this worker the first time the task whose first key is ``crash_key`` runs."""
    _log_attempt(marker_dir, task)
    if task["keys"][0] == crash_key:
        try:
            fd = os.open(os.path.join(marker_dir, "crashed"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass  # already crashed once: run normally
        else:
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)
    return fn(task)


def _fail_always(marker_dir: str, bad_key: str, fn, task: dict):
    _log_attempt(marker_dir, task)
    if task["keys"][0] == bad_key:
        raise RuntimeError("simulated point failure")
    return fn(task)


class _Inject(Executor):
    """Wraps another executor so that the sweep's point function runs through ``wrapper(fn, task)``."""

    name = "inject"

    def __init__(self, inner: Executor, wrapper):
        self.inner, self.wrapper = inner, wrapper

    def map(self, fn, args):
        return self.inner.map(functools.partial(self.wrapper, fn), args)


# ---- fixtures -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_ex():
    """One local Ray instance (2 CPUs) for the module, started by RayExecutor itself and stopped at the end."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ex = rx.RayExecutor(num_cpus=2, progress=False, init_kwargs={"object_store_memory": 100 * 2**20})
    assert ex._owns and ray.is_initialized()
    assert ex.resources()["CPU"] == 2
    yield ex
    ex.close()
    assert not ray.is_initialized()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cfg() -> SweepConfig:
    """The shipped example (5 N × 4 r × 1 T × 2 seeds = 40 settings) on numpy, 4 settings per task → 10 tasks."""
    return replace(SweepConfig.from_toml(EXAMPLE_CONFIG), backend="numpy", batch=4)


def _raw_key_counts(out: Path) -> Counter:
    lines = (out / RESULTS_NAME).read_text().splitlines()
    return Counter(json.loads(line)["key"] for line in lines)


def _by_key(out: Path) -> dict[str, tuple]:
    return {r["key"]: (r["setting"], r["outputs"], r["backend"], r["rng_family"]) for r in load_records(out)}


# ---- no Ray needed --------------------------------------------------------------------------------------------------


def test_importing_the_sim_layer_does_not_import_ray():
    code = ("import sys, phasemix.sim, phasemix.sim.sweep, phasemix.sim.executors, phasemix.sim.ray_executor as r;"
            "phasemix.sim.executors.make_executor('serial').close(); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_make_executor_choices_and_errors(monkeypatch):
    assert isinstance(make_executor("serial"), SerialExecutor)
    with pytest.raises(ValueError, match="executor"):
        make_executor("dask", 2)
    with pytest.raises(ConfigError, match="address 'h:6379' applies only to executor 'ray'"):
        make_executor("local", 2, address="h:6379")
    with pytest.raises(ValueError, match="address must be"):
        make_executor("ray", address="no-port")
    with pytest.raises(ValueError, match="num_cpus=2 applies to a local Ray instance only"):
        rx.RayExecutor(address="10.0.0.1:6379", num_cpus=2)
    with pytest.raises(ValueError, match="max_retries"):
        rx.RayExecutor(max_retries=-1)
    monkeypatch.setattr(rx, "ray_available", lambda: False)
    with pytest.raises(ImportError, match=r"executor 'ray'.*pip install phasemix\[distributed\]"):
        make_executor("ray", 2)


@pytest.mark.parametrize("address,ok", [(None, True), ("auto", True), ("10.0.0.1:6379", True),
                                        ("ray://head.example:10001", True), ("head:0", False), ("head:70000", False),
                                        ("head", False), (":6379", False), ("head:63 79", False)])
def test_check_address(address, ok):
    if ok:
        assert rx.check_address(address) == address
    else:
        with pytest.raises(ValueError, match="address"):
            rx.check_address(address)


def test_gpu_rule():
    assert rx.needs_gpu({"backend": "cuda"}) and rx.needs_gpu({"backend": "cupy"})
    assert not rx.needs_gpu({"backend": "numba"}) and not rx.needs_gpu({"backend": "auto"})
    assert rx.needs_gpu(type("Run", (), {"device": "cuda:1"})()) and not rx.needs_gpu({"device": "cpu"})
    assert not rx.needs_gpu(3)


# ---- on Ray ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow  # ~8 s: a spawned 2-process pool plus two sweeps; still run in the normal suite
def test_simulate_sweep_on_ray_equals_local_executor_and_resumes(ray_ex, cfg, tmp_path):
    with LocalExecutor(workers=2) as local:
        s_local = run_sweep(cfg, tmp_path / "local", executor=local, progress=False)
    buf = io.StringIO()
    ex = rx.RayExecutor(progress=True, stream=buf)  # reuses the module's Ray
    assert not ex._owns
    s_part = run_sweep(cfg, tmp_path / "ray", executor=ex, progress=False, max_tasks=3)  # interrupted after 3 tasks
    s_ray = run_sweep(cfg, tmp_path / "ray", executor=ex, progress=False)  # resume
    assert s_local.ran == 40 and s_local.failed == 0
    assert (s_part.ran, s_ray.already_done, s_ray.ran, s_ray.failed) == (12, 12, 28, 0)
    assert ex.last_stats.total == 7 and ex.last_stats.retries == 0
    assert "[ray] 7/7 points done, 0 running, 0 queued, 0 failed, 0 retries" in buf.getvalue()
    assert "[ray] summary: 7 points on local Ray (2 CPUs, 0 GPUs): 7 done, 0 failed" in buf.getvalue()
    assert set(_raw_key_counts(tmp_path / "ray").values()) == {1}
    local_recs, ray_recs = _by_key(tmp_path / "local"), _by_key(tmp_path / "ray")
    assert len(ray_recs) == 40 and ray_recs == local_recs


def test_killed_worker_costs_one_retry_and_every_point_is_stored_once(ray_ex, cfg, tmp_path):
    crash_key = cfg.tasks()[1]["keys"][0]
    (tmp_path / "m").mkdir()
    ex = rx.RayExecutor(max_retries=2, progress=False)
    inject = _Inject(ex, functools.partial(_crash_once, str(tmp_path / "m"), crash_key))
    s = run_sweep(cfg, tmp_path / "ray", executor=inject, progress=False)
    assert (s.total, s.ran, s.failed) == (40, 40, 0)
    assert (tmp_path / "m" / "crashed").exists()  # the kill happened
    attempts = Counter((tmp_path / "m" / "attempts.log").read_text().split())
    assert attempts[crash_key] == 2 and sum(attempts.values()) == 11  # 10 tasks, the killed one ran twice
    assert ex.last_stats.retried_points == (1,) and ex.last_stats.attempts[1] == 2 and ex.last_stats.retries == 1
    counts = _raw_key_counts(tmp_path / "ray")
    assert len(counts) == 40 and set(counts.values()) == {1}
    serial = run_sweep(cfg, tmp_path / "serial", executor=SerialExecutor(), progress=False)
    assert serial.ran == 40 and _by_key(tmp_path / "ray") == _by_key(tmp_path / "serial")


def test_always_failing_point_is_reported_and_a_rerun_does_not_duplicate(ray_ex, cfg, tmp_path):
    bad_task = cfg.tasks()[2]
    (tmp_path / "m").mkdir()
    buf = io.StringIO()
    ex = rx.RayExecutor(max_retries=1, progress=True, stream=buf)
    inject = _Inject(ex, functools.partial(_fail_always, str(tmp_path / "m"), bad_task["keys"][0]))
    s = run_sweep(cfg, tmp_path / "ray", executor=inject, progress=False)
    n_bad = len(bad_task["points"])
    assert (s.ran, s.failed) == (40 - n_bad, n_bad)
    assert s.errors == ("task 2: RuntimeError: simulated point failure",)
    assert ex.last_stats.failed_points == (2,) and ex.last_stats.attempts[2] == 2
    assert Counter((tmp_path / "m" / "attempts.log").read_text().split())[bad_task["keys"][0]] == 2
    assert "point 2 failed after 2 attempts: RuntimeError: simulated point failure" in buf.getvalue()
    again = run_sweep(cfg, tmp_path / "ray", executor=ex, progress=False)  # the failure is gone: rerun
    assert (again.already_done, again.ran, again.failed) == (40 - n_bad, n_bad, 0)
    counts = _raw_key_counts(tmp_path / "ray")
    assert len(counts) == 40 and set(counts.values()) == {1}


def test_generic_points_with_raises_and_kills(ray_ex):
    args = [{"x": i} for i in range(8)] + [{"x": 8, "raise": True}, {"x": 9, "kill": True}]
    ex = rx.RayExecutor(max_retries=1, progress=False)
    outs = {o.index: o for o in ex.map(_trivial_with_faults, args)}
    assert sorted(outs) == list(range(10))
    assert all(outs[i].ok and outs[i].value == i * i for i in range(8))
    assert isinstance(outs[8].error, ValueError) and "point 8 always fails" in str(outs[8].error)
    assert "failed after 2 attempts" in outs[8].traceback
    import ray.exceptions

    assert isinstance(outs[9].error, ray.exceptions.WorkerCrashedError)
    assert ex.last_stats.attempts == (1,) * 8 + (2, 2) and ex.last_stats.failed == 2
    assert [o.value for o in sorted(SerialExecutor().map(_square, range(4)), key=lambda o: o.index)] == [0, 1, 4, 9]
    assert sorted(o.value for o in ex.map(_square, range(4))) == [0, 1, 4, 9]
    assert list(ex.map(_square, [])) == []


def test_gpu_points_fail_fast_on_a_cluster_without_gpus(ray_ex):
    ex = rx.RayExecutor(progress=False)
    with pytest.raises(RuntimeError, match=r"point 1 needs 1 GPU\(s\).*cluster has 0"):
        list(ex.map(_square, [{"backend": "numpy"}, {"backend": "cuda"}]))
    cpu_only = rx.RayExecutor(progress=False, gpu_rule=lambda a: False)
    assert [o.ok for o in cpu_only.map(_trivial_with_faults, [{"x": 2, "backend": "cuda"}])] == [True]


def test_simulate_cli_runs_on_ray_and_matches_serial(ray_ex, tmp_path):
    """``phasemix simulate --executor ray`` (reusing the module's Ray) stores what the serial executor stores."""
    from phasemix.cli import main

    common = ["simulate", "-c", str(EXAMPLE_CONFIG), "--backend", "numpy", "--seed", "0", "--quiet"]
    assert main([*common, "--executor", "ray", "-o", str(tmp_path / "ray")]) == 0
    assert main([*common, "--executor", "serial", "-o", str(tmp_path / "serial")]) == 0
    assert _by_key(tmp_path / "ray") == _by_key(tmp_path / "serial")
    assert main([*common, "--executor", "local", "--address", "h:1", "-o", str(tmp_path / "bad")]) == 1
