"""Numba CUDA kernels under the CUDA simulator (spec §6.1, §6.2, §6.10), run in a subprocess with ``-W error``.

The simulator must be enabled before numba.cuda is imported, so ``cudasim_check.py`` runs in its own interpreter with
NUMBA_ENABLE_CUDASIM=1 (≤ 1e4 fact-updates per case) and prints its checks as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("cudasim_check.py")


@pytest.fixture(scope="module")
def sim_checks() -> dict:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run([sys.executable, "-W", "error", str(SCRIPT)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("check", ["golden", "numba_xoroshiro128p", "m1_threads32", "m1_threads256", "m2", "m3"])
def test_cuda_simulator_matches_reference(sim_checks, check):
    assert sim_checks[check] is True
