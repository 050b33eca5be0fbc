"""phasemix: predict, simulate and check how language models acquire knowledge from data mixtures.

Layers (import them by name; heavy optional dependencies load only when used):

- :mod:`phasemix.theory`   closed forms, bounds, valuation (numpy / scipy / sympy / cvxpy)
- :mod:`phasemix.kernels`  Numba CPU and CUDA / CuPy compute kernels
- :mod:`phasemix.sim`      Monte-Carlo simulation drivers, sweeps and result stores
- :mod:`phasemix.validate` small real training runs (PyTorch, optional extra ``[validate]``)

The most used entry points are re-exported here lazily:

>>> import phasemix
>>> round(phasemix.predict().critical_ratio, 5)
0.12193
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "predict": "phasemix.theory.predict",
    "Prediction": "phasemix.theory.predict",
    "KnowledgeSet": "phasemix.theory.capacity",
    "PowerLaw": "phasemix.theory.laws",
    "DEFAULT_WEB_LAW": "phasemix.theory.laws",
    "learned_fraction": "phasemix.theory.allocation",
    "critical_ratio": "phasemix.theory.allocation",
    "onset_params": "phasemix.theory.allocation",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'phasemix' has no attribute {name!r}")
