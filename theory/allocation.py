"""Optimal bounded-capacity learner on two domains (knowledge set + web): closed forms and their cross-check.

The learner solves ``min_{0 ≤ m1 ≤ min(m, K·h)} r·F_K(m1) + (1−r)·F_web(m − m1)`` (Eq. (5) in docs/theory.md).
All allocation math is in bits; a web law in nats is converted first. Everything is vectorized over numpy arrays
and computed in log space, so nothing overflows as r → 0 or 1.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

from phasemix._checks import as_float_array, check_positive, check_unit_interval
from phasemix.errors import SolverError
from phasemix.theory.capacity import DEFAULT_BITS_PER_PARAM, KnowledgeSet
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw


def _log_odds(ratio: np.ndarray) -> np.ndarray:
    """log(r/(1−r)) with r = 0 → −inf and r = 1 → +inf."""
    with np.errstate(divide="ignore"):
        return np.log(ratio) - np.log1p(-ratio)


def log_web_marginal(capacity, law: PowerLaw, bits_per_param: float) -> np.ndarray:
    """``log g(m)`` with ``g(m) = −dF_web/dm`` in bits per token per bit of capacity (Eq. (6) in docs/theory.md).

    ``F_web(m) = L_web(m/b)``, so ``g(m) = slope(m/b)/b``; +inf where ``m ≤ 0`` (the web has no capacity left).
    """
    m = np.asarray(capacity, dtype=float)
    law_b = law.in_bits()
    safe = np.where(m > 0, m, 1.0)
    return np.where(m > 0, law_b.log_slope(safe / bits_per_param) - math.log(bits_per_param), np.inf)


def _validate(params, ratio, knowledge: KnowledgeSet, bits_per_param: float):
    n = check_positive("params", params)
    r = check_unit_interval("ratio", ratio)
    b = float(check_positive("bits_per_param", bits_per_param))
    if not isinstance(knowledge, KnowledgeSet):
        raise TypeError(f"knowledge must be a KnowledgeSet, got {type(knowledge).__name__}")
    return n, r, b


def log_onset_capacity(ratio, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                       bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """``log m0(t)``: the capacity at which the web's marginal value equals ``t = p·r/(1−r)`` (Eq. (7)).

    ``r = 0`` gives +inf (nothing is worth storing), ``r = 1`` gives −inf.
    """
    r = check_unit_interval("ratio", ratio)
    b = float(check_positive("bits_per_param", bits_per_param))
    log_t = math.log(knowledge.value_per_bit) + _log_odds(r)
    law_b = law.in_bits()
    # g(m) = slope(m/b)/b = t  <=>  slope(m/b) = b·t
    return math.log(b) + math.log(law_b.unit) + law_b.log_size_at_log_slope(log_t + math.log(b))


def stored_bits(params, ratio, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Bits of the knowledge set the optimal learner stores: ``clip(b·N − m0(t), 0, K·h)`` (Eq. (8)).

    >>> round(float(stored_bits(70e6, 1.0, KnowledgeSet.synbio())) / KnowledgeSet.synbio().total_bits, 6)
    1.0
    """
    n, r, b = _validate(params, ratio, knowledge, bits_per_param)
    with np.errstate(over="ignore"):
        m0 = np.exp(log_onset_capacity(r, knowledge, law, b))
    return np.clip(b * n - m0, 0.0, knowledge.total_bits)


def learned_fraction(params, ratio, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                     bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Fraction of the knowledge set's bits stored, ``m1*/(K·h)`` (Eq. (8))."""
    return stored_bits(params, ratio, knowledge, law, bits_per_param) / knowledge.total_bits


def onset_params(ratio, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                 bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Critical (onset) size ``N_on(r) = m0(t)/b``: below it nothing is learned (Eq. (9)). ``r = 0`` gives inf."""
    b = float(check_positive("bits_per_param", bits_per_param))
    with np.errstate(over="ignore"):
        return np.exp(log_onset_capacity(ratio, knowledge, law, b)) / b


def target_params(ratio, knowledge: KnowledgeSet, target: float = 1.0, law: PowerLaw = DEFAULT_WEB_LAW,
                  bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Size at which the learned fraction reaches ``target``: ``N_a = N_on + a·K·h/b`` (Eq. (10))."""
    a = check_unit_interval("target", target)
    b = float(check_positive("bits_per_param", bits_per_param))
    return onset_params(ratio, knowledge, law, b) + a * knowledge.total_bits / b


def full_params(ratio, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Full-learning size ``N_on(r) + K·h/b`` (Eq. (10) with a = 1)."""
    return target_params(ratio, knowledge, 1.0, law, bits_per_param)


def target_log_odds(params, knowledge: KnowledgeSet, target: float = 0.0, law: PowerLaw = DEFAULT_WEB_LAW,
                    bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """``log(r_a/(1−r_a)) = log q_a`` exactly, also where r_a rounds to 0 or 1 (Eq. (11)); NaN where b·N ≤ a·K·h."""
    n = check_positive("params", params)
    a = float(check_unit_interval("target", target))
    b = float(check_positive("bits_per_param", bits_per_param))
    free = b * n - a * knowledge.total_bits
    ok = free > 0
    log_q = log_web_marginal(np.where(ok, free, 1.0), law, b) - math.log(knowledge.value_per_bit)
    return np.where(ok, log_q, np.nan)


def target_ratio(params, knowledge: KnowledgeSet, target: float = 0.0, law: PowerLaw = DEFAULT_WEB_LAW,
                 bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Ratio at which a model of ``params`` learns the fraction ``target`` of the set (Eq. (11)).

    ``q_a = g(b·N − a·K·h)/p``, ``r_a = q_a/(1+q_a)``, evaluated as ``expit(log q_a)``. NaN where
    ``b·N ≤ a·K·h`` (the model cannot hold that fraction even at r = 1). ``target = 0`` is the onset ratio.
    """
    return special.expit(target_log_odds(params, knowledge, target, law, bits_per_param))


def critical_ratio(params, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                   bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Exact onset ratio ``r*(N)`` from ``r/(1−r) = |F_web'(b·N)|/p`` (Eq. (11) with a = 0).

    >>> round(float(critical_ratio(70e6, KnowledgeSet.synbio())), 5)
    0.12193
    """
    return target_ratio(params, knowledge, 0.0, law, bits_per_param)


def full_ratio(params, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
               bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Ratio above which the whole set is learned (Eq. (11) with a = 1); NaN where ``b·N ≤ K·h``."""
    return target_ratio(params, knowledge, 1.0, law, bits_per_param)


def exponent_ratio_vs_params(law: PowerLaw = DEFAULT_WEB_LAW) -> float:
    """``d log(r*/(1−r*))/d log N = −(α+1)`` (Eq. (12))."""
    return -(law.alpha + 1.0)


def exponent_params_vs_ratio(law: PowerLaw = DEFAULT_WEB_LAW) -> float:
    """``d log N_on/d log(r/(1−r)) = −1/(α+1)`` (Eq. (12))."""
    return -1.0 / (law.alpha + 1.0)


def elasticity_ratio_vs_params(ratio, law: PowerLaw = DEFAULT_WEB_LAW) -> np.ndarray:
    """Local ``d log r*/d log N = −(α+1)(1−r*)`` at the critical ratio ``ratio`` (Eq. (13))."""
    return -(law.alpha + 1.0) * (1.0 - check_unit_interval("ratio", ratio))


def elasticity_params_vs_ratio(ratio, law: PowerLaw = DEFAULT_WEB_LAW) -> np.ndarray:
    """Local ``d log N_on/d log r = −1/((α+1)(1−r))`` (Eq. (13))."""
    r = check_unit_interval("ratio", ratio, high_open=True)
    return -1.0 / ((law.alpha + 1.0) * (1.0 - r))


def threshold_frequency(params, ratio, law: PowerLaw = DEFAULT_WEB_LAW,
                        bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Single-fact threshold frequency ``f_thres = (1−r)·g(b·N)`` in occurrences per training token (Eq. (14)).

    A fact whose value occurs ``f`` times per training token is stored iff ``f > f_thres`` when the stored set is
    small against the capacity; :func:`phasemix.theory.knapsack.water_fill` gives the exact water level.
    """
    n = check_positive("params", params)
    r = check_unit_interval("ratio", ratio)
    b = float(check_positive("bits_per_param", bits_per_param))
    return (1.0 - r) * np.exp(log_web_marginal(b * n, law, b))


def web_loss_increase(params, ratio, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                      bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """``F_web(b·N − m1*) − F_web(b·N)`` in the law's own loss units (Eq. (15)).

    Evaluated as ``A·(N/unit)^(−α)·expm1(−α·log1p(−m1*/(b·N)))``, exact for small stored shares.
    """
    n, r, b = _validate(params, ratio, knowledge, bits_per_param)
    share = stored_bits(n, r, knowledge, law, b) / (b * n)
    with np.errstate(divide="ignore", over="ignore"):
        return law.A * (n / law.unit) ** (-law.alpha) * np.expm1(-law.alpha * np.log1p(-share))


def predicted_accuracy(fraction, cardinalities) -> np.ndarray:
    """Exact-match accuracy under 'whole facts in index order': mean over attributes of ``F + (1−F)/|V_a|``."""
    f = check_unit_interval("fraction", fraction)
    cards = check_positive("cardinalities", list(cardinalities))
    chance = np.mean(1.0 / cards)
    return f + (1.0 - f) * chance


# --------------------------------------------------------------------------------------------------------------
# Independent numeric routes (cross-checks of the closed forms; Eq. (5) solved directly)
# --------------------------------------------------------------------------------------------------------------

def objective(m1, params, ratio, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
              bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """The mixture loss of Eq. (5) in bits per token for ``m1`` bits given to the knowledge set (constants dropped)."""
    m1 = as_float_array("m1", m1)
    law_b = law.in_bits()
    p = knowledge.value_per_bit
    f_k = p * np.maximum(knowledge.total_bits - m1, 0.0)
    f_web = law_b.value((bits_per_param * params - m1) / bits_per_param)
    return ratio * f_k + (1.0 - ratio) * f_web


def stored_bits_kkt(params: float, ratio: float, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                    bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> float:
    """Solve the first-order condition ``−r·p + (1−r)·g(b·N − m1) = 0`` with brentq (scalar inputs).

    Independent of the closed form: it never inverts the law, only evaluates its derivative.
    """
    n, r, b = (float(x) for x in _validate(params, ratio, knowledge, bits_per_param))
    if r == 0.0:
        return 0.0
    hi = min(b * n, knowledge.total_bits)
    if r == 1.0:
        return hi
    log_rp = math.log(r) + math.log(knowledge.value_per_bit)

    def foc(m1: float) -> float:  # log((1−r)·g(b·N − m1)) − log(r·p): increasing in m1
        return math.log1p(-r) + float(log_web_marginal(np.asarray(b * n - m1), law, b)) - log_rp

    if foc(0.0) >= 0.0:
        return 0.0
    if b * n > hi and foc(hi) <= 0.0:
        return hi
    upper = hi if b * n > hi else hi * (1 - 1e-15)
    if foc(upper) <= 0.0:
        return upper
    try:
        root = optimize.brentq(foc, 0.0, upper, xtol=1e-14 * max(b * n, knowledge.total_bits), rtol=1e-15,
                               maxiter=500)
    except (RuntimeError, ValueError) as exc:  # pragma: no cover - brentq failures are solver errors
        raise SolverError(f"brentq failed on the first-order condition: {exc}") from exc
    return float(root)


def stored_bits_minimize(params: float, ratio: float, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                         bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> tuple[float, float]:
    """Minimize Eq. (5) with a bounded scalar minimizer; returns ``(m1, objective)`` (scalar inputs)."""
    n, r, b = (float(x) for x in _validate(params, ratio, knowledge, bits_per_param))
    hi = min(b * n, knowledge.total_bits)
    if b * n <= knowledge.total_bits:
        hi = hi * (1 - 1e-12)
    scale = max(b * n, knowledge.total_bits)
    res = optimize.minimize_scalar(
        lambda y: float(objective(y * scale, n, r, knowledge, law, b)), bounds=(0.0, hi / scale), method="bounded",
        options={"xatol": 1e-12},
    )
    candidates = [(res.x * scale), 0.0, hi]
    values = [float(objective(c, n, r, knowledge, law, b)) for c in candidates]
    best = int(np.argmin(values))
    return float(candidates[best]), values[best]
