"""Loss-versus-size power laws ``L(x) = E + A·(x/x_unit)^(−α)``: value, derivative, inverse derivative.

The web-loss law of the capacity-allocation model is one of these (Eq. (1) in docs/theory.md); fitting lives in
:mod:`phasemix.theory.calibrate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from phasemix._checks import as_float_array, check_positive
from phasemix.units import LN2, check_loss_units


@dataclass(frozen=True, slots=True)
class PowerLaw:
    """A loss law ``L(N) = E + A·(N/unit)^(−alpha)`` in ``loss_units`` per token.

    Parameters
    ----------
    E : irreducible loss (any finite number).
    A : prefactor, > 0.
    alpha : exponent, > 0.
    unit : the size unit the law was fitted in (1e6: N in millions of parameters).
    loss_units : ``"nats"`` or ``"bits"``.

    Examples
    --------
    >>> law = PowerLaw(E=1.769, A=4.952, alpha=0.283, unit=1e6)
    >>> round(float(law.value(410e6)), 3)
    2.671
    """

    E: float
    A: float
    alpha: float
    unit: float = 1e6
    loss_units: str = "nats"

    def __post_init__(self) -> None:
        e = float(as_float_array("E (web-law irreducible loss)", self.E))
        if not math.isfinite(e):
            raise ValueError(f"E (web-law irreducible loss) must be finite, got {self.E!r}")
        check_positive("A (web-law prefactor)", self.A)
        check_positive("alpha (web-law exponent)", self.alpha)
        check_positive("unit (web-law size unit)", self.unit)
        check_loss_units(self.loss_units)

    def in_bits(self) -> PowerLaw:
        """The same law with losses in bits per token (E and A divided by ln 2)."""
        if self.loss_units == "bits":
            return self
        return replace(self, E=self.E / LN2, A=self.A / LN2, loss_units="bits")

    def value(self, size: np.ndarray | float) -> np.ndarray:
        """``L(size)`` in this law's units."""
        x = check_positive("size", size) / self.unit
        return self.E + self.A * x ** (-self.alpha)

    def slope(self, size: np.ndarray | float) -> np.ndarray:
        """``−dL/dsize`` (positive), per unit of ``size`` (not per ``unit``)."""
        x = check_positive("size", size) / self.unit
        return self.alpha * self.A / self.unit * x ** (-(self.alpha + 1.0))

    def log_slope(self, size: np.ndarray | float) -> np.ndarray:
        """``log(−dL/dsize)``, accurate for sizes where the slope under/overflows."""
        x = check_positive("size", size) / self.unit
        return math.log(self.alpha * self.A / self.unit) - (self.alpha + 1.0) * np.log(x)

    def size_at_slope(self, slope: np.ndarray | float) -> np.ndarray:
        """Inverse of :meth:`slope`: the size where ``−dL/dsize`` equals ``slope``."""
        s = as_float_array("slope", slope)
        with np.errstate(divide="ignore"):
            return self.unit * np.exp(self.log_size_at_log_slope(np.log(s)))

    def log_size_at_log_slope(self, log_slope: np.ndarray | float) -> np.ndarray:
        """``log(size/unit)`` where ``log(−dL/dsize)`` equals ``log_slope`` (vectorized, no overflow)."""
        ls = as_float_array("log_slope", log_slope)
        return (math.log(self.alpha * self.A / self.unit) - ls) / (self.alpha + 1.0)

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return {"E": self.E, "A": self.A, "alpha": self.alpha, "unit": self.unit, "loss_units": self.loss_units}


#: FineWeb-Edu validation loss of Pythia models, N in millions of total parameters, nats per token
#: (Gu et al. 2025, App. D.4): L(N) = 1.769 + 4.952·(N/1e6)^(−0.283).
DEFAULT_WEB_LAW = PowerLaw(E=1.769, A=4.952, alpha=0.283, unit=1e6, loss_units="nats")
