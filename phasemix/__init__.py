"""phasemix: predict, simulate and check how language models acquire knowledge from data mixtures.

The public API is re-exported from the layers:

- :mod:`phasemix.theory`   closed forms, bounds, valuation (numpy / scipy / sympy / cvxpy)
- :mod:`phasemix.kernels`  Numba CPU and CUDA / CuPy compute kernels
- :mod:`phasemix.sim`      Monte-Carlo simulation drivers, sweeps and result stores
- :mod:`phasemix.validate` small real training runs (PyTorch, optional extra ``[validate]``)
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
