"""phasemix.theory: closed forms, bounds and valuation (numpy, scipy, sympy, cvxpy; torch only lazily in ntk).

The capacity-allocation core is re-exported here; the other modules are imported by name
(``from phasemix.theory.knapsack import water_fill``) so that ``import phasemix.theory`` stays light.
"""

from phasemix.theory.allocation import (
    critical_ratio,
    elasticity_params_vs_ratio,
    elasticity_ratio_vs_params,
    exponent_params_vs_ratio,
    exponent_ratio_vs_params,
    full_params,
    full_ratio,
    learned_fraction,
    onset_params,
    predicted_accuracy,
    stored_bits,
    target_log_odds,
    target_params,
    target_ratio,
    threshold_frequency,
    web_loss_increase,
)
from phasemix.theory.capacity import DEFAULT_BITS_PER_PARAM, KnowledgeSet, bits_per_fact_from_cardinalities
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw
from phasemix.theory.predict import Prediction, predict

__all__ = [
    "DEFAULT_BITS_PER_PARAM",
    "DEFAULT_WEB_LAW",
    "KnowledgeSet",
    "PowerLaw",
    "Prediction",
    "bits_per_fact_from_cardinalities",
    "critical_ratio",
    "elasticity_params_vs_ratio",
    "elasticity_ratio_vs_params",
    "exponent_params_vs_ratio",
    "exponent_ratio_vs_params",
    "full_params",
    "full_ratio",
    "learned_fraction",
    "onset_params",
    "predict",
    "predicted_accuracy",
    "stored_bits",
    "target_log_odds",
    "target_params",
    "target_ratio",
    "threshold_frequency",
    "web_loss_increase",
]
