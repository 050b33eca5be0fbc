"""The CuPy kernels' logic on the CPU: CuPy replaced by a numpy-backed stand-in (no GPU needed).

Checks the code path the `gpu` tests run on hardware: records say rng_family "cupy", and results agree in
distribution with the xoro-v1 backends (|z| ≤ 5 over seeds, as in spec §6.7).
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from phasemix.kernels import backend


def _numpy_cupy() -> types.ModuleType:
    cp = types.ModuleType("cupy")
    for name in ("asarray", "uint64", "uint32", "uint16", "uint8", "int64", "float64", "where", "full", "arange",
                 "minimum", "maximum", "clip", "bincount", "ones", "zeros"):
        setattr(cp, name, getattr(np, name))
    cp.ndarray = np.ndarray
    cp.asnumpy = np.asarray
    cp.random = types.SimpleNamespace(RandomState=lambda seed: np.random.RandomState(seed % 2**32))
    cp.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    return cp


@pytest.fixture()
def fake_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _numpy_cupy())
    monkeypatch.delitem(sys.modules, "phasemix.kernels.cupy_kernels", raising=False)
    backend.clear_caches()
    yield
    backend.clear_caches()
    sys.modules.pop("phasemix.kernels.cupy_kernels", None)


def _z(a, b):
    a, b = np.asarray(a), np.asarray(b)
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return 0.0 if se == 0 else abs(a.mean() - b.mean()) / se


def test_cupy_path_agrees_in_distribution(fake_cupy):
    from phasemix.sim.memorization import Dynamics, Setting, simulate
    from phasemix.sim.realsynth import MixtureSpec, simulate_m3

    assert backend.resolve_backend("cupy") == "cupy"
    assert backend.resolve_backend("auto") != "cupy"  # auto never picks CuPy
    pop = {"kind": "power_law_subsets", "subsets": 20, "subset_size": 100, "sigma_g": 0.3}
    dyn = Dynamics(kind="bn+race", eta=0.05, max_step=1.0)
    out = {}
    for be in ("numpy", "cupy"):
        res = simulate(pop, [Setting(params=3e5, ratio=0.1, tokens=(1e8, 1e9), seed=s, dynamics=dyn)
                             for s in range(10)], backend=be)
        assert {r.rng_family for r in res} == {"xoro-v1" if be == "numpy" else "cupy"}
        out[be] = np.array([[c.learned_fraction, c.mean_strength, c.test_error] for r in res
                            for c in r.checkpoints[-1:]])
    for k in range(3):
        assert _z(out["numpy"][:, k], out["cupy"][:, k]) <= 5
    m3 = simulate_m3(MixtureSpec(items=2000), [1e4] * 10, list(range(10)), backend="cupy")
    for r in m3:
        assert abs(r.test_error - r.expected_error) <= 5 * r.error_sd
