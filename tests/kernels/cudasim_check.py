"""Runs under NUMBA_ENABLE_CUDASIM=1 in a subprocess (see test_cuda_sim.py); prints one JSON object of checks.

Not a test module: the simulator must be enabled before numba.cuda is first imported, so it runs in its own process.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import numpy as np  # noqa: E402
from numba import cuda  # noqa: E402

with warnings.catch_warnings():  # numba.cuda.random passes a deprecated keyword to jit under the simulator
    warnings.simplefilter("ignore")
    from numba.cuda.random import xoroshiro128p_dtype, xoroshiro128p_next  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bitident_cases import m1_case, m2_case, m3_case, strip_backend  # noqa: E402

from phasemix.kernels import cuda as kcuda  # noqa: E402
from phasemix.kernels import rng  # noqa: E402

_state = kcuda._D.stream_state
_next = kcuda._D.xoro_next


@cuda.jit
def _golden(keys, out):
    i = cuda.grid(1)
    if i < keys.shape[0]:
        s0, s1 = _state(keys[i, 0], np.int64(keys[i, 1]), np.int64(keys[i, 2]), np.int64(keys[i, 3]))
        for w in range(out.shape[1]):
            x, s0, s1 = _next(s0, s1)
            out[i, w] = x


@cuda.jit
def _ours_vs_numba(states, ours, theirs):
    i = cuda.grid(1)
    if i < states.shape[0]:
        s0 = states[i]["s0"]
        s1 = states[i]["s1"]
        for w in range(ours.shape[1]):
            x, s0, s1 = _next(s0, s1)
            ours[i, w] = x
            theirs[i, w] = np.uint64(0)
        for w in range(theirs.shape[1]):
            # numba's generator returns the same 64-bit sum before it updates the state
            st0 = states[i]["s0"]
            st1 = states[i]["s1"]
            theirs[i, w] = st0 + st1
            xoroshiro128p_next(states, i)


def main() -> None:
    checks: dict[str, object] = {}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        keys = np.array(rng.GOLDEN_KEYS, dtype=np.uint64)
        out = np.zeros((3, 4), dtype=np.uint64)
        _golden[1, 32](keys, out)
        checks["golden"] = [tuple(int(v) for v in row) for row in out] == [tuple(w) for w in rng.GOLDEN_WORDS]
        states = np.zeros(64, dtype=xoroshiro128p_dtype)
        for i in range(64):
            states[i]["s0"], states[i]["s1"] = rng.stream_state_int(i, i, 0, 0)
        ours = np.zeros((64, 8), dtype=np.uint64)
        theirs = np.zeros((64, 8), dtype=np.uint64)
        _ours_vs_numba[2, 32](states.copy(), ours, theirs)
        checks["numba_xoroshiro128p"] = bool(np.array_equal(ours, theirs))
    checks["t_rng"] = time.perf_counter() - t0
    ref_m1 = strip_backend(m1_case("numpy", facts_scale=2, settings=2))
    for threads in (32, 256):
        kcuda.THREADS = threads
        t = time.perf_counter()
        checks[f"m1_threads{threads}"] = strip_backend(m1_case("cuda", facts_scale=2, settings=2)) == ref_m1
        checks[f"t_m1_{threads}"] = time.perf_counter() - t
    kcuda.THREADS = 64
    t = time.perf_counter()
    checks["m2"] = (strip_backend(m2_case("cuda", facts_scale=2, settings=2, feedback=False))
                    == strip_backend(m2_case("numpy", facts_scale=2, settings=2, feedback=False)))
    checks["t_m2"] = time.perf_counter() - t
    t = time.perf_counter()
    checks["m3"] = m3_case("cuda", items=1024) == m3_case("numpy", items=1024)
    checks["t_m3"] = time.perf_counter() - t
    print(json.dumps(checks))


if __name__ == "__main__":
    main()
