"""Backend detection and choice never raise; explicit unusable backends raise BackendUnavailableError (§5, §6.8)."""

from __future__ import annotations

import sys
import types

import numba
import pytest

from phasemix.errors import BackendUnavailableError
from phasemix.kernels import backend


@pytest.fixture(autouse=True)
def _fresh_detection(monkeypatch):
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    backend.clear_caches()
    yield
    backend.clear_caches()


def _broken_cupy() -> types.ModuleType:
    """A cupy that imports fine but fails at first use (as on a machine without a driver)."""

    def fail(*_a, **_k):
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    mod = types.ModuleType("cupy")
    mod.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=fail))
    mod.arange = fail
    return mod


def test_broken_cupy_and_simulator_fall_back_to_numba(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _broken_cupy())
    monkeypatch.setattr(numba.config, "ENABLE_CUDASIM", 1)
    assert backend.gpu_status() == (False, "simulator")
    ok, reason = backend.cupy_status()
    assert not ok and "insufficient" in reason
    assert backend.resolve_backend("auto") == "numba"
    with pytest.raises(BackendUnavailableError, match="cupy"):
        backend.resolve_backend("cupy")
    # explicit cuda still runs on the simulator
    assert backend.resolve_backend("cuda") == "cuda"


def test_missing_cupy_is_reported_not_raised(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    ok, reason = backend.cupy_status()
    assert not ok and "import" in reason.lower()


def test_gpu_status_never_raises_and_is_cached():
    first = backend.gpu_status()
    assert isinstance(first[0], bool) and isinstance(first[1], str)
    assert backend.gpu_status() is first


def test_explicit_cuda_without_gpu_raises(monkeypatch):
    monkeypatch.setattr(backend, "gpu_status", lambda: (False, "numba.cuda reports no usable CUDA driver or device"))
    with pytest.raises(BackendUnavailableError, match="no usable CUDA"):
        backend.resolve_backend("cuda")
    assert backend.resolve_backend("auto") == "numba"


def test_auto_prefers_a_working_gpu(monkeypatch):
    monkeypatch.setattr(backend, "gpu_status", lambda: (True, "fake device"))
    assert backend.resolve_backend("auto") == "cuda"


def test_numpy_when_numba_missing(monkeypatch):
    monkeypatch.setattr(backend, "gpu_status", lambda: (False, "none"))
    monkeypatch.setattr(backend, "numba_status", lambda: (False, "numba unusable"))
    assert backend.resolve_backend("auto") == "numpy"
    with pytest.raises(BackendUnavailableError):
        backend.resolve_backend("numba")


def test_environment_variable_replaces_auto(monkeypatch):
    monkeypatch.setenv(backend.ENV_VAR, "numpy")
    assert backend.resolve_backend("auto") == "numpy"
    assert backend.resolve_backend("numba") == "numba"  # an explicit argument wins
    monkeypatch.setenv(backend.ENV_VAR, "tpu")
    with pytest.raises(ValueError, match="PHASEMIX_BACKEND"):
        backend.resolve_backend("auto")


@pytest.mark.parametrize("name", ["gpu", "", "CUDA", None])
def test_unknown_backend_names_the_argument(name):
    with pytest.raises(ValueError, match="backend must be one of"):
        backend.resolve_backend(name)


def test_kernel_sets_expose_the_same_interface():
    for name in ("numpy", "numba"):
        k = backend.get_kernels(name)
        assert k.name == name and k.rng_family == "xoro-v1"
        for attr in ("advance", "value_hist", "final_reduce", "put", "get", "row_max"):
            assert callable(getattr(k, attr))
