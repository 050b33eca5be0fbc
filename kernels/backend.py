"""Backend detection and choice (simulation.md §5): ``auto``, ``numpy``, ``numba``, ``cuda``, ``cupy``.

Detection never raises: every probe is wrapped, and the reason a backend is unusable is returned as text.
``auto`` picks a usable real CUDA GPU (Numba CUDA), else Numba CPU, else numpy; it never picks CuPy (equal in
distribution only) and never the CUDA simulator. An explicitly requested backend that cannot run raises
:class:`phasemix.errors.BackendUnavailableError` with the reason. ``PHASEMIX_BACKEND`` replaces ``"auto"`` (an
explicit argument wins over the variable).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from types import SimpleNamespace

from phasemix.errors import BackendUnavailableError

log = logging.getLogger(__name__)

BACKENDS = ("auto", "numpy", "numba", "cuda", "cupy")
ENV_VAR = "PHASEMIX_BACKEND"


def _cudasim_enabled() -> bool:
    try:
        from numba import config

        return bool(config.ENABLE_CUDASIM)
    except Exception:  # noqa: BLE001
        return False


@lru_cache(maxsize=1)
def gpu_status() -> tuple[bool, str]:
    """``(usable, reason)`` for a real CUDA GPU through Numba CUDA; cached per process; never raises.

    The CUDA simulator reports a GPU but is not one: it gives ``(False, "simulator")``.
    """
    try:
        if _cudasim_enabled():
            return False, "simulator"
        from numba import cuda

        if not cuda.is_available():
            return False, "numba.cuda reports no usable CUDA driver or device"
        import numpy as np

        @cuda.jit
        def _probe(out):
            out[0] = 41 + 1

        dev = cuda.to_device(np.zeros(1, dtype=np.int64))
        _probe[1, 1](dev)
        val = int(dev.copy_to_host()[0])
        if val != 42:
            return False, f"probe kernel returned {val}, expected 42"
        return True, f"CUDA device {cuda.get_current_device().name!r}"
    except Exception as exc:  # noqa: BLE001 - any failure means 'not usable'
        return False, f"numba.cuda probe failed: {type(exc).__name__}: {exc}"


@lru_cache(maxsize=1)
def cupy_status() -> tuple[bool, str]:
    """``(usable, reason)`` for CuPy; catches 'imports but fails at first use'; never raises."""
    try:
        import cupy

        count = int(cupy.cuda.runtime.getDeviceCount())
        if count <= 0:
            return False, "cupy sees no CUDA device"
        if int((cupy.arange(2) + 1).sum()) != 3:
            return False, "cupy probe computed a wrong sum"
        return True, f"cupy with {count} device(s)"
    except Exception as exc:  # noqa: BLE001 - ImportError, CUDARuntimeError, CompileException, OSError ...
        return False, f"cupy unusable: {type(exc).__name__}: {exc}"


@lru_cache(maxsize=1)
def numba_status() -> tuple[bool, str]:
    """``(usable, reason)`` for the Numba CPU backend."""
    try:
        import numba  # noqa: F401

        return True, "numba CPU"
    except Exception as exc:  # noqa: BLE001
        return False, f"numba unusable: {type(exc).__name__}: {exc}"


def clear_caches() -> None:
    """Forget cached detection results (tests)."""
    for fn in (gpu_status, cupy_status, numba_status):
        clear = getattr(fn, "cache_clear", None)
        if clear is not None:
            clear()


def resolve_backend(name: str = "auto") -> str:
    """Resolve a backend name to a usable concrete one.

    Raises
    ------
    ValueError : unknown name (argument or ``PHASEMIX_BACKEND``).
    BackendUnavailableError : an explicitly requested backend cannot run here.
    """
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {name!r}")
    if name == "auto":
        env = os.environ.get(ENV_VAR, "").strip()
        if env:
            if env not in BACKENDS:
                raise ValueError(f"{ENV_VAR} must be one of {', '.join(map(repr, BACKENDS))}, got {env!r}")
            name = env
    if name == "auto":
        ok, reason = gpu_status()
        if ok:
            log.info("backend auto -> cuda (%s)", reason)
            return "cuda"
        ok2, reason2 = numba_status()
        if ok2:
            log.info("backend auto -> numba (no usable GPU: %s)", reason)
            return "numba"
        log.info("backend auto -> numpy (%s; %s)", reason, reason2)
        return "numpy"
    if name == "cuda":
        ok, reason = gpu_status()
        if not ok and reason != "simulator":
            raise BackendUnavailableError("cuda", reason)
        return "cuda"
    if name == "cupy":
        ok, reason = cupy_status()
        if not ok:
            raise BackendUnavailableError("cupy", reason)
        return "cupy"
    if name == "numba":
        ok, reason = numba_status()
        if not ok:
            raise BackendUnavailableError("numba", reason)
    return name


def get_kernels(name: str = "auto") -> SimpleNamespace:
    """The kernel set of a backend: ``advance``, ``value_hist``, ``final_reduce``, ``put``, ``get``, ``name``,
    ``rng_family``. Heavy modules are imported here, not at package import."""
    concrete = resolve_backend(name)
    if concrete == "numpy":
        from phasemix.kernels import reference as mod
    elif concrete == "numba":
        from phasemix.kernels import cpu as mod
    elif concrete == "cuda":
        from phasemix.kernels import cuda as mod
    else:
        from phasemix.kernels import cupy_kernels as mod
    return SimpleNamespace(
        name=concrete,
        rng_family=getattr(mod, "RNG_FAMILY", "xoro-v1"),
        advance=mod.advance,
        value_hist=mod.value_hist,
        final_reduce=mod.final_reduce,
        put=getattr(mod, "put", lambda a: a),
        get=getattr(mod, "get", lambda a: a),
        row_max=getattr(mod, "row_max", lambda a: a.max(axis=1)),
    )
