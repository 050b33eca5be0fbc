"""Mitigations that raise each fact's frequency: random subsampling (ratio ρ) and Compact Knowledge Mixing (τ).

Subsampling keeps ``ρ·K`` facts, so each kept fact is ``1/ρ`` times as frequent (``p → p/ρ``, ``K → ρ·K``); accuracy
is counted over the full set (Eq. (28)–(30) in docs/theory.md). CKM adds compact tuples worth ``τ`` of the set's
tokens with ``r`` and the total tokens fixed, multiplying the frequency by ``g(τ)`` (Eq. (31)–(33)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize

from phasemix._checks import check_nonnegative, check_positive, check_unit_interval
from phasemix.results import SCHEMA_VERSION, ResultIO
from phasemix.theory import allocation as al
from phasemix.theory.capacity import DEFAULT_BITS_PER_PARAM, KnowledgeSet
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw

# ------------------------------------------------------------------------------------------------- subsampling


def _m0_and_capacity(params, ratio, knowledge, law, bits_per_param):
    n = check_positive("params", params)
    b = float(check_positive("bits_per_param", bits_per_param))
    with np.errstate(over="ignore"):
        m0 = np.exp(al.log_onset_capacity(ratio, knowledge, law, b))
    return m0, b * n


def subsampled_fraction(rho, params, ratio, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                        bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Fraction of the **full** set's bits learned when a fraction ``rho`` of the facts is kept.

    Eq. (28) in docs/theory.md.

    ``acc(ρ) = min(ρ, max(0, (b·N − m0·ρ^β)/(K·h)))`` with ``β = 1/(α+1)`` and ``m0 = m0(t)`` at ρ = 1 (Eq. (7)),
    because ``p → p/ρ`` scales the onset capacity by ``ρ^β``. Vectorized over all arguments.

    >>> k = KnowledgeSet.synbio(facts=1_280_000)
    >>> [round(float(subsampled_fraction(x, 410e6, 0.03, k)), 3) for x in (0.25, 0.5, 1.0)]
    [0.25, 0.5, 0.0]
    """
    rho = check_unit_interval("rho", rho, low_open=True)
    m0, cap = _m0_and_capacity(params, ratio, knowledge, law, bits_per_param)
    beta = 1.0 / (law.alpha + 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.where(np.isinf(m0), np.inf, m0 * rho**beta)
    return np.minimum(rho, np.maximum(0.0, (cap - scaled) / knowledge.total_bits))


def subsampled_accuracy(rho, params, ratio, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                        bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Predicted exact-match accuracy over the full set (chance per attribute when cardinalities are known)."""
    frac = subsampled_fraction(rho, params, ratio, knowledge, law, bits_per_param)
    if knowledge.cardinalities is None:
        return frac
    return al.predicted_accuracy(frac, knowledge.cardinalities)


@dataclass(frozen=True, slots=True)
class SubsamplingResult(ResultIO):
    """Best subsampling ratio (Eq. (29)) and collapse point (Eq. (30) in docs/theory.md) for one (N, r).

    rho_best : maximizer of :func:`subsampled_fraction` (NaN when nothing is learnable, r = 0). fraction_best : the
    learned fraction there. rho_collapse : ρ* = (b·N/m0)^(α+1), where the learned fraction returns to 0 (> 1 means
    the full set is already past its onset). fraction_full : learned fraction at ρ = 1.
    """

    params: float
    ratio: float
    rho_best: float
    fraction_best: float
    rho_collapse: float
    fraction_full: float
    schema_version: int = SCHEMA_VERSION


def best_subsampling(params: float, ratio: float, knowledge: KnowledgeSet, law: PowerLaw = DEFAULT_WEB_LAW,
                     bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> SubsamplingResult:
    """``ρ_best``: root of ``ρ·K·h + m0·ρ^β = b·N`` in (0, 1], or 1; ``ρ* = (b·N/m0)^(α+1)``.

    Eq. (29) and Eq. (30) in docs/theory.md.

    >>> res = best_subsampling(410e6, 0.03, KnowledgeSet.synbio(facts=1_280_000))
    >>> round(res.rho_best, 3), round(res.rho_collapse, 3)
    (0.513, 0.538)
    """
    m0_arr, cap_arr = _m0_and_capacity(params, ratio, knowledge, law, bits_per_param)
    m0, cap = float(m0_arr), float(cap_arr)
    kh = knowledge.total_bits
    beta = 1.0 / (law.alpha + 1.0)
    full = float(subsampled_fraction(1.0, params, ratio, knowledge, law, bits_per_param))
    if math.isinf(m0):
        return SubsamplingResult(float(params), float(ratio), math.nan, 0.0, 0.0, 0.0)
    collapse = math.inf if m0 == 0 else math.exp((law.alpha + 1.0) * (math.log(cap) - math.log(m0)))

    def excess(x: float) -> float:  # increasing in ρ; −b·N at 0
        return x * kh + m0 * x**beta - cap

    if excess(1.0) <= 0:
        rho = 1.0
    else:
        rho = optimize.brentq(excess, 0.0, 1.0, xtol=1e-15, rtol=1e-14, maxiter=500)
    best = float(subsampled_fraction(rho, params, ratio, knowledge, law, bits_per_param))
    return SubsamplingResult(float(params), float(ratio), float(rho), best, collapse, full)


# ------------------------------------------------------------------------------------------------------- CKM


def ckm_token_ratio(tokens_per_occurrence: float, tokens_per_tuple: float) -> float:
    """``λ`` = tokens per text occurrence of a fact ÷ tokens per compact tuple (WikiBio ≈ 150/18)."""
    return float(check_positive("tokens_per_occurrence", tokens_per_occurrence)
                 / check_positive("tokens_per_tuple", tokens_per_tuple))


def ckm_multiplier(tau, token_ratio: float) -> np.ndarray:
    """Frequency multiplier of Compact Knowledge Mixing: ``g(τ) = (1 + τ·λ)/(1 + τ)`` (Eq. (31) in docs/theory.md).

    Tuples worth ``τ·T_K`` tokens add ``τ·λ`` occurrences per text occurrence, while fixed ``r`` and total tokens
    spread the knowledge share over ``(1+τ)·T_K`` tokens.

    >>> [round(float(ckm_multiplier(t, 150 / 18)), 2) for t in (0.1, 0.3, 0.6)]
    [1.67, 2.69, 3.75]
    """
    t = check_nonnegative("tau", tau)
    lam = float(check_positive("token_ratio", token_ratio))
    return (1.0 + t * lam) / (1.0 + t)


def ckm_knowledge(knowledge: KnowledgeSet, tau: float, token_ratio: float) -> KnowledgeSet:
    """The knowledge set as CKM presents it: occurrences × g(τ), K·h unchanged (Eq. (32) in docs/theory.md)."""
    g = float(ckm_multiplier(tau, token_ratio))
    return replace(knowledge, occurrences=knowledge.occurrences * g)


def ckm_learned_fraction(params, ratio, knowledge: KnowledgeSet, tau: float, token_ratio: float,
                         law: PowerLaw = DEFAULT_WEB_LAW, bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Learned fraction with CKM: Eq. (8) with ``p → g(τ)·p`` (Eq. (32) in docs/theory.md)."""
    return al.learned_fraction(params, ratio, ckm_knowledge(knowledge, tau, token_ratio), law, bits_per_param)


def ckm_accuracy(params, ratio, knowledge: KnowledgeSet, tau: float, token_ratio: float,
                 law: PowerLaw = DEFAULT_WEB_LAW, bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Predicted exact-match accuracy with CKM (chance per attribute when cardinalities are known)."""
    frac = ckm_learned_fraction(params, ratio, knowledge, tau, token_ratio, law, bits_per_param)
    if knowledge.cardinalities is None:
        return frac
    return al.predicted_accuracy(frac, knowledge.cardinalities)


def ckm_critical_ratio(params, knowledge: KnowledgeSet, tau: float, token_ratio: float,
                       law: PowerLaw = DEFAULT_WEB_LAW, bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Onset ratio with CKM: the odds ``r*/(1−r*)`` divide by ``g(τ)`` (Eq. (33) in docs/theory.md)."""
    return al.critical_ratio(params, ckm_knowledge(knowledge, tau, token_ratio), law, bits_per_param)
