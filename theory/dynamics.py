"""Finite-training predictor: accuracy after D tokens, tokens to a target, critical ratio, calibrated predictions.

Public entry points (Eqs. (100)–(119) in docs/theory.md; models in :mod:`phasemix.theory.dynamics_models`,
calibration in :mod:`phasemix.theory.dynamics_calibrate`):

- :func:`exposure_accuracy`, :func:`race_accuracy`, :func:`chain_accuracy`, :func:`static_accuracy` and the generic
  :func:`accuracy`: learned fraction of the full set after ``tokens`` training tokens (``inf`` = converged);
- :func:`tokens_to_target` (closed-form inverses) and :func:`tokens_to_target_numeric` (root-finding, a cross-check);
- :func:`critical_ratio_at_tokens`: the ratio where the learned fraction crosses ``target`` at D tokens;
- :func:`predict_at_budget`: everything the ``phasemix predict --tokens`` report needs, from a :class:`Calibration`.
"""

from __future__ import annotations

import math

import numpy as np

from phasemix._checks import check_positive, check_unit_interval
from phasemix.theory.capacity import DEFAULT_BITS_PER_PARAM, KnowledgeSet
from phasemix.theory.dynamics_calibrate import (
    DEFAULT_SPEED_EXPONENT,
    SIZE_BAND_EXPONENT,
    Calibration,
    calibrate,
    compare,
)
from phasemix.theory.dynamics_context import MAX_SPEED_EXPONENT
from phasemix.theory.dynamics_models import (
    DEFAULT_REFERENCE_PARAMS,
    MODELS,
    Context,
    bisect_increasing,
    context_for,
    get_model,
)
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw

__all__ = [
    "DEFAULT_SPEED_EXPONENT", "MODELS", "SIZE_BAND_EXPONENT", "Calibration", "accuracy", "calibrate",
    "chain_accuracy", "compare", "critical_ratio_at_tokens",
    "exposure_accuracy", "limit_accuracy", "predict_at_budget", "race_accuracy", "static_accuracy",
    "tokens_to_target", "tokens_to_target_numeric",
]


def _ctx(params, ratio, knowledge, tokens, keep_fraction, law, bits_per_param, reference_params,
         speed_exponent) -> Context:
    return context_for(params, ratio, knowledge, tokens, keep_fraction, law=law, bits_per_param=bits_per_param,
                       reference_params=reference_params, speed_exponent=speed_exponent)


def accuracy(model: str, theta, params, ratio, knowledge: KnowledgeSet, tokens, keep_fraction=1.0, *,
             law: PowerLaw = DEFAULT_WEB_LAW, bits_per_param: float = DEFAULT_BITS_PER_PARAM,
             reference_params: float = DEFAULT_REFERENCE_PARAMS, speed_exponent: float = 0.0) -> np.ndarray:
    """Learned fraction of the full set after ``tokens`` tokens under ``model`` with parameters ``theta``.

    Vectorized over ``params``, ``ratio``, ``tokens``, ``keep_fraction`` (and over ``theta`` entries given as
    arrays). ``tokens = inf`` is the converged limit, which for every model is a static allocation (Eq. (118)).
    """
    spec = get_model(model)
    ctx = _ctx(params, ratio, knowledge, tokens, keep_fraction, law, bits_per_param, reference_params, speed_exponent)
    return spec.accuracy(ctx, tuple(theta))


def limit_accuracy(model: str, theta, params, ratio, knowledge: KnowledgeSet, keep_fraction=1.0,
                   **kwargs) -> np.ndarray:
    """The D → ∞ learned fraction (Eq. (118))."""
    return accuracy(model, theta, params, ratio, knowledge, np.inf, keep_fraction, **kwargs)


def exposure_accuracy(params, ratio, knowledge: KnowledgeSet, tokens, keep_fraction=1.0, *, c: float,
                      sigma: float, kappa: float, **kwargs) -> np.ndarray:
    """Exposure-dependent capacity model (Eqs. (102)–(104)); keywords as :func:`accuracy`."""
    return accuracy("exposure", (c, sigma, kappa), params, ratio, knowledge, tokens, keep_fraction, **kwargs)


def race_accuracy(params, ratio, knowledge: KnowledgeSet, tokens, keep_fraction=1.0, *, g0: float, eta: float,
                  sigma: float, **kwargs) -> np.ndarray:
    """Forgetting race, mean field (Eqs. (106)–(108)); keywords as :func:`accuracy`."""
    return accuracy("race", (g0, eta, sigma), params, ratio, knowledge, tokens, keep_fraction, **kwargs)


def chain_accuracy(params, ratio, knowledge: KnowledgeSet, tokens, keep_fraction=1.0, *, tau0: float, k: float,
                   s: float, **kwargs) -> np.ndarray:
    """Consolidation chain (Eqs. (110)–(111)); keywords as :func:`accuracy`."""
    return accuracy("chain", (tau0, k, s), params, ratio, knowledge, tokens, keep_fraction, **kwargs)


def static_accuracy(params, ratio, knowledge: KnowledgeSet, tokens, keep_fraction=1.0, *, c: float, sigma: float,
                    n_r: float = 0.0, **kwargs) -> np.ndarray:
    """Static baseline with ramp (Eq. (113)); ``n_r = 0`` is the static allocator itself."""
    return accuracy("static", (c, sigma, n_r), params, ratio, knowledge, tokens, keep_fraction, **kwargs)


def tokens_to_target(model: str, theta, params, ratio, knowledge: KnowledgeSet, target=0.4, keep_fraction=1.0,
                     **kwargs) -> np.ndarray:
    """Training tokens until the learned fraction of the full set reaches ``target`` (inf if never).

    Closed-form inverse of each model in D (Eqs. (105), (109), (112), (114)); the exposure model needs one
    monotone 1-D solve in b.
    """
    spec = get_model(model)
    a = check_unit_interval("target", target, low_open=True)
    ctx = _ctx(params, ratio, knowledge, 1.0, keep_fraction, kwargs.pop("law", DEFAULT_WEB_LAW),
               kwargs.pop("bits_per_param", DEFAULT_BITS_PER_PARAM),
               kwargs.pop("reference_params", DEFAULT_REFERENCE_PARAMS), kwargs.pop("speed_exponent", 0.0))
    if kwargs:
        raise TypeError(f"unknown keyword argument(s): {', '.join(kwargs)}")
    return spec.tokens_to_target(ctx, a, tuple(theta))


def tokens_to_target_numeric(model: str, theta, params, ratio, knowledge: KnowledgeSet, target=0.4,
                             keep_fraction=1.0, *, max_tokens: float = 1e20, **kwargs) -> np.ndarray:
    """Root-finding route to :func:`tokens_to_target`: bisection in ln D on the accuracy (an independent check)."""
    a = check_unit_interval("target", target, low_open=True)
    lim = limit_accuracy(model, theta, params, ratio, knowledge, keep_fraction, **kwargs)
    at_max = accuracy(model, theta, params, ratio, knowledge, max_tokens, keep_fraction, **kwargs)

    def gap(log_d):
        return accuracy(model, theta, params, ratio, knowledge, np.exp(log_d), keep_fraction, **kwargs) - a

    log_d = bisect_increasing(gap, np.zeros(np.shape(at_max)), math.log(max_tokens), iterations=80)
    out = np.where(at_max >= a, np.exp(log_d), np.inf)
    return np.where(lim < a, np.inf, out)


def critical_ratio_at_tokens(model: str, theta, params, knowledge: KnowledgeSet, tokens, target=0.4,
                             keep_fraction=1.0, **kwargs) -> np.ndarray:
    """Ratio r where the learned fraction after ``tokens`` tokens crosses ``target`` (NaN if not even at r = 1).

    Bisection in r (accuracy is non-decreasing in r for every model), Eq. (119) in docs/theory.md.
    """
    a = check_unit_interval("target", target, low_open=True)

    def gap(r):
        return accuracy(model, theta, params, r, knowledge, tokens, keep_fraction, **kwargs) - a

    shape = np.shape(gap(np.full(np.broadcast_shapes(np.shape(params), np.shape(tokens)), 0.5)))
    top = gap(np.ones(shape))
    r = bisect_increasing(gap, np.zeros(shape), np.ones(shape), iterations=50)
    return np.where(top >= 0, r, np.nan)


def _scalar(name: str, value) -> float:
    arr = np.asarray(value, dtype=float) if not isinstance(value, str) else None
    if arr is None or arr.ndim != 0:
        raise ValueError(f"{name} must be a single number for predict_at_budget, got {value!r}")
    return float(arr)


def predict_at_budget(params, ratio, knowledge: KnowledgeSet, tokens, calibration: Calibration, *,
                      keep_fraction: float = 1.0, target: float = 0.4, law: PowerLaw | None = None,
                      bits_per_param: float | None = None) -> dict:
    """Finite-training prediction at a token budget from a calibration (Eqs. (117), (119) in docs/theory.md).

    Scalars in, one JSON-ready dict out.

    Parameters
    ----------
    params : model size N (the web law's parameter basis).
    ratio : knowledge token share r ∈ [0, 1].
    knowledge : the knowledge set (K, h, tokens per fact, occurrences).
    tokens : training tokens D (>= 0; inf = converged).
    calibration : a :class:`Calibration` from :func:`calibrate` or ``Calibration.from_json``.
    keep_fraction : ρ ∈ (0, 1], subsampled share of the set (accuracy is over the full set).
    target : learned fraction (chance-corrected) for ``tokens_to_target`` and ``critical_ratio_at_tokens``.
    law, bits_per_param : default to the calibration's (the parameters were fitted with them).

    Returns
    -------
    dict with ``accuracy`` (learned fraction of the full set), ``accuracy_low``/``accuracy_high`` (bootstrap band
    at the calibration's CI level, widened over the learning-clock size exponent β ± 0.5 when extrapolating in
    size), ``accuracy_converged`` (D → ∞), ``critical_ratio_at_tokens``, ``tokens_to_target`` (with
    ``tokens_to_target_low``/``_high``), ``regime`` (``"learned"``: accuracy ≥ target; ``"exposure-limited"``:
    below target but more tokens reach it; ``"threshold-limited"``: not even at convergence),
    ``extrapolated_in_size``, ``speed_exponent``, ``speed_exponent_assumed``, ``model``, ``target``.
    Non-finite values (``tokens_to_target`` = inf, no crossing ratio) are None.
    """
    if not isinstance(calibration, Calibration):
        raise TypeError(f"calibration must be a Calibration, got {type(calibration).__name__}")
    n = _scalar("params", check_positive("params", params))
    r = _scalar("ratio", check_unit_interval("ratio", ratio))
    d = _scalar("tokens", tokens)
    if math.isnan(d) or d < 0:
        raise ValueError(f"tokens must be >= 0 (training tokens), got {d!r}")
    rho = _scalar("keep_fraction", check_unit_interval("keep_fraction", keep_fraction, low_open=True))
    a = _scalar("target", check_unit_interval("target", target, low_open=True))
    spec = get_model(calibration.model)
    law = calibration.web_law() if law is None else law
    b = calibration.bits_per_param if bits_per_param is None else float(check_positive("bits_per_param",
                                                                                        bits_per_param))
    beta = calibration.speed_exponent
    kw = {"law": law, "bits_per_param": b, "reference_params": calibration.reference_params}
    theta = calibration.parameters
    extrapolated = not (calibration.params_min * (1 - 1e-9) <= n <= calibration.params_max * (1 + 1e-9))

    def ctx(tok, rr=r, beta_=beta):
        return context_for(n, rr, knowledge, tok, rho, speed_exponent=beta_, **kw)

    acc = float(spec.accuracy(ctx(d), theta))
    converged = float(spec.limit_accuracy(ctx(np.inf), theta))
    t_target = float(spec.tokens_to_target(ctx(1.0), a, theta))
    betas = [beta]
    if extrapolated:
        betas = sorted({max(0.0, beta - SIZE_BAND_EXPONENT), beta, min(MAX_SPEED_EXPONENT, beta + SIZE_BAND_EXPONENT)})
    samples = [tuple(np.asarray(col, float)[:, None] for col in zip(*calibration.bootstrap))] \
        if calibration.bootstrap else []
    accs, times = [acc], [t_target]
    for bb in betas:
        for th in [theta, *samples]:
            accs.extend(np.ravel(spec.accuracy(ctx(d, beta_=bb), th)))
            times.extend(np.ravel(spec.tokens_to_target(ctx(1.0, beta_=bb), a, th)))
    tail = (1 - calibration.ci_level) / 2 * 100
    if samples or extrapolated:
        lo, hi = np.percentile(accs, tail, method="lower"), np.percentile(accs, 100 - tail, method="higher")
        t_lo = np.percentile(times, tail, method="lower")  # no interpolation: T may be inf
        t_hi = np.percentile(times, 100 - tail, method="higher")
        if extrapolated:  # the size exponent is not sampled: its envelope is added in full
            ends = [float(spec.accuracy(ctx(d, beta_=bb), theta)) for bb in betas]
            t_ends = [float(spec.tokens_to_target(ctx(1.0, beta_=bb), a, theta)) for bb in betas]
            lo, hi = min(lo, *ends), max(hi, *ends)
            t_lo, t_hi = min(t_lo, *t_ends), max(t_hi, *t_ends)
    else:
        lo = hi = acc
        t_lo = t_hi = t_target
    r_crit = float(critical_ratio_at_tokens(calibration.model, theta, n, knowledge, d, a, rho,
                                            speed_exponent=beta, **kw))
    if acc >= a:
        regime = "learned"
    elif converged >= a:
        regime = "exposure-limited"
    else:
        regime = "threshold-limited"

    def fin(x):
        return float(x) if math.isfinite(x) else None

    return {
        "model": calibration.model,
        "target": a,
        "accuracy": acc,
        "accuracy_low": float(min(lo, acc)),
        "accuracy_high": float(max(hi, acc)),
        "accuracy_converged": converged,
        "critical_ratio_at_tokens": fin(r_crit),
        "tokens_to_target": fin(t_target),
        "tokens_to_target_low": fin(min(t_lo, t_target)),
        "tokens_to_target_high": fin(max(t_hi, t_target)),
        "regime": regime,
        "extrapolated_in_size": bool(extrapolated),
        "calibrated_params": [calibration.params_min, calibration.params_max],
        "speed_exponent": beta,
        "speed_exponent_assumed": calibration.speed_exponent_assumed,
        "size_band_exponents": betas,
    }


