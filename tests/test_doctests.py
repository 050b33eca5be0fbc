"""Every docstring example in the package runs as a doctest (the Examples sections are executable documentation)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import phasemix

# GPU modules import numba.cuda / cupy at module level by design; they are tested through the CUDA simulator.
SKIP = {"phasemix.kernels.cuda", "phasemix.kernels.cupy_kernels"}


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(phasemix.__path__, prefix="phasemix."):
        if info.name not in SKIP:
            names.append(info.name)
    for layer in ("theory", "sim", "kernels", "validate"):
        pkg = importlib.import_module(f"phasemix.{layer}")
        names.append(pkg.__name__)
        names += [i.name for i in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg.__name__}.") if i.name not in SKIP]
    return sorted(set(names))


@pytest.mark.parametrize("name", _modules())
def test_module_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
