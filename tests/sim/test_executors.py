"""Executors: one outcome per task, errors captured per point, process pool equals serial."""

from __future__ import annotations

import pytest

from phasemix.sim.executors import LocalExecutor, SerialExecutor, make_executor


def _square_or_fail(x: int) -> int:
    if x == 3:
        raise ValueError("point 3 is bad")
    return x * x


def _collect(ex, args):
    return {o.index: (o.value if o.ok else repr(o.error)) for o in ex.map(_square_or_fail, args)}


def test_serial_reports_each_point():
    out = _collect(SerialExecutor(), range(5))
    assert out == {0: 0, 1: 1, 2: 4, 3: "ValueError('point 3 is bad')", 4: 16}


def test_local_pool_equals_serial_and_survives_errors():
    with LocalExecutor(workers=2, max_pending=2) as ex:
        assert _collect(ex, range(7)) == _collect(SerialExecutor(), range(7))


def test_outcome_carries_traceback():
    bad = [o for o in SerialExecutor().map(_square_or_fail, [3])][0]
    assert not bad.ok and "point 3 is bad" in bad.traceback


@pytest.mark.parametrize("kwargs", [{"workers": 0}, {"start_method": "threads"}])
def test_bad_executor_arguments(kwargs):
    with pytest.raises(ValueError):
        LocalExecutor(**kwargs)


def test_make_executor_names():
    assert make_executor("serial").name == "serial"
    with pytest.raises(ValueError, match="executor"):
        make_executor("ray-cluster")


def _env_threads(_: int) -> str:
    import os

    return os.environ.get("NUMBA_NUM_THREADS", "")


def test_local_workers_get_a_thread_cap(monkeypatch):
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    with LocalExecutor(workers=2, threads_per_worker=1) as ex:
        assert {o.value for o in ex.map(_env_threads, range(2))} == {"1"}
