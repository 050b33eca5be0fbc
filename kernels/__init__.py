"""phasemix.kernels: per-fact compute for the memorization Monte Carlo (arrays in, arrays out; no I/O).

Modules: ``rng`` (keyed xoroshiro128+ streams), ``poisson`` (integer inversion tables), ``_device`` (per-fact
functions compiled per target), ``reference`` (numpy), ``cpu`` (Numba), ``cuda`` (Numba CUDA), ``cupy_kernels``
(CuPy, equal in distribution only), ``backend`` (detection and choice). Numba and GPU modules are imported only by
:func:`phasemix.kernels.backend.get_kernels`, so importing this package is cheap.
"""
