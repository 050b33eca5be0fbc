"""Bit-identity of the numpy reference and Numba CPU with 1 and 2 threads (spec §6.2), J = 2048, S = 4, K = 3."""

from __future__ import annotations

import numba
import pytest
from bitident_cases import m1_case, m2_case, m3_case, strip_backend  # tests/kernels is on sys.path (rootdir-less)

from phasemix.kernels import cpu


@pytest.fixture(scope="module")
def reference():
    return {"m1": strip_backend(m1_case("numpy")), "m2": strip_backend(m2_case("numpy")),
            "m3": m3_case("numpy")}


@pytest.mark.parametrize("threads", [1, 2])
def test_numba_equals_numpy_bit_for_bit(reference, threads, monkeypatch):
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"only {numba.config.NUMBA_NUM_THREADS} Numba threads available")
    monkeypatch.setattr(cpu, "SERIAL_BELOW", 0)  # really use `threads` threads even at these tiny sizes
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        assert strip_backend(m1_case("numba")) == reference["m1"]
        assert strip_backend(m2_case("numba")) == reference["m2"]
        assert m3_case("numba") == reference["m3"]
    finally:
        numba.set_num_threads(old)


def test_cases_are_not_degenerate(reference):
    """The identity test means something only if the cases learn something and differ between settings."""
    lf = [cp["learned_fraction"] for r in reference["m1"] for cp in r["checkpoints"]]
    assert max(lf) > 0 and min(lf) < 1 and len(set(lf)) > 3
    m2 = [cp for r in reference["m2"] for cp in r["checkpoints"]]
    assert any(0 < cp["recalled_fraction"] < 1 for cp in m2)
    assert any(0 < cp["learned_fraction"] for cp in m2)
    errs = [r["test_error"] for r in reference["m3"]]
    assert len(set(errs)) == len(errs)
