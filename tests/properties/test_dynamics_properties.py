"""Hypothesis properties of the finite-training models: accuracy in [0, keep_fraction], non-decreasing in r, D and N,
exact reduction to the static allocator as D → ∞, and inverse consistency of tokens_to_target."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from phasemix.theory import allocation as al
from phasemix.theory import dynamics as dy
from phasemix.theory.capacity import KnowledgeSet
from phasemix.theory.dynamics_models import MODELS

SYNBIO = KnowledgeSet.synbio()
TOL = 1e-9


def _theta(model: str, u: tuple[float, float, float]) -> tuple[float, ...]:
    """Parameters inside a plausible sub-box of the model's bounds (u ∈ [0, 1]^3; log-uniform for scale params)."""
    boxes = {
        "exposure": ((0.3, 30.0), (0.0, 1.5), (0.05, 1.5)),
        "race": ((0.01, 10.0), (1e-4, 1.0), (0.0, 1.5)),
        "chain": ((1e7, 1e11), (1.0, 500.0), (0.5, 2.5)),
        "chain-attr": ((1e7, 1e11), (1.0, 500.0), (0.5, 2.5)),
        "chain-run": ((1e7, 1e11), (1.0, 500.0), (0.5, 2.5)),
        "static": ((0.3, 30.0), (0.0, 1.5), (1.0, 1e4)),
    }[model]
    out = []
    for name, (lo, hi), x, logged in zip(MODELS[model].parameter_names, boxes, u, MODELS[model].log_scale):
        if name == "sigma":  # exactly 0 (a step) or >= 0.01: σ → 0+ is ill-conditioned (ramp width → 0)
            out.append(0.0 if x < 0.1 else 0.01 + x * (hi - 0.01))
            continue
        out.append(math.exp(math.log(lo) + x * (math.log(hi) - math.log(lo))) if logged else lo + x * (hi - lo))
    return tuple(out)


models = st.sampled_from(list(MODELS))
unit3 = st.tuples(*(st.floats(0.0, 1.0) for _ in range(3)))
sizes = st.floats(1e6, 1e11)
ratios = st.floats(0.0, 1.0)
tokens = st.floats(1e6, 1e15)
keeps = st.floats(0.05, 1.0)
betas = st.sampled_from([0.0, 0.5])


@given(models, unit3, sizes, ratios, tokens, keeps)
def test_accuracy_is_a_fraction_of_the_kept_share(model, u, n, r, d, rho):
    acc = float(dy.accuracy(model, _theta(model, u), n, r, SYNBIO, d, rho))
    assert 0.0 <= acc <= rho + 1e-12


@given(models, unit3, sizes, tokens, keeps, betas, st.lists(ratios, min_size=2, max_size=6))
def test_monotone_in_ratio(model, u, n, d, rho, beta, rs):
    r = np.sort(np.asarray(rs))
    acc = dy.accuracy(model, _theta(model, u), n, r, SYNBIO, d, rho, speed_exponent=beta)
    assert np.all(np.diff(acc) >= -TOL)


@given(models, unit3, sizes, ratios, keeps, betas, st.lists(tokens, min_size=2, max_size=6))
def test_monotone_in_tokens(model, u, n, r, rho, beta, ds):
    d = np.append(np.sort(np.asarray(ds)), np.inf)
    acc = dy.accuracy(model, _theta(model, u), n, r, SYNBIO, d, rho, speed_exponent=beta)
    assert np.all(np.diff(acc) >= -TOL)


@given(models, unit3, ratios, tokens, keeps, betas, st.lists(sizes, min_size=2, max_size=6))
def test_monotone_in_params(model, u, r, d, rho, beta, ns):
    n = np.sort(np.asarray(ns))
    acc = dy.accuracy(model, _theta(model, u), n, r, SYNBIO, d, rho, speed_exponent=beta, reference_params=70e6)
    assert np.all(np.diff(acc) >= -TOL)


@given(st.sampled_from(["exposure", "static", "chain", "chain-attr", "chain-run"]), unit3, sizes, ratios,
       st.floats(0.3, 5.0))
def test_exact_reduction_to_static_theory_as_tokens_grow(model, u, n, r, c):
    theta = list(_theta(model, u))
    if model.startswith("chain"):
        ks = SYNBIO  # the chain's ceiling is the allocator with c = 1
    else:
        theta[0], theta[1] = c, 0.0  # no spread: the allocator of Eq. (8) with value multiplier 1/c
        ks = KnowledgeSet(SYNBIO.facts, SYNBIO.bits_per_fact, SYNBIO.tokens_per_fact, 1.0 / c)
    expected = float(al.learned_fraction(n, r, ks))
    assert float(dy.accuracy(model, theta, n, r, SYNBIO, np.inf)) == expected or math.isclose(
        float(dy.accuracy(model, theta, n, r, SYNBIO, np.inf)), expected, rel_tol=1e-12, abs_tol=1e-12)
    if not model.startswith("chain"):  # at 1e24 tokens every fact has n ≥ n_ref exposures (or the ramp is 1 to 1e-16)
        got = float(dy.accuracy(model, theta, n, r, SYNBIO, 1e24 if r > 1e-3 else np.inf))
        assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=30)
@given(models, unit3, st.floats(2e7, 1e9), st.floats(0.05, 0.95), st.floats(0.05, 0.9))
def test_tokens_to_target_inverts_accuracy(model, u, n, r, target):
    theta = _theta(model, u)
    t = float(dy.tokens_to_target(model, theta, n, r, SYNBIO, target))
    lim = float(dy.limit_accuracy(model, theta, n, r, SYNBIO))
    if math.isinf(t):  # never, or beyond the float range (the chain's M can exceed 1e308 exposures)
        assert lim < target + 1e-9 or float(dy.accuracy(model, theta, n, r, SYNBIO, 1e300)) < target
    elif t > 0 and t < 1e30:
        got = float(dy.accuracy(model, theta, n, r, SYNBIO, t * (1 + 1e-9)))
        assert got >= target - 1e-7, (got, target)
        # σ = 0 makes the race a step in D, and chain-run jumps at n = k_a; all else is continuous
        if not (model == "race" and theta[2] == 0.0) and model != "chain-run":
            assert math.isclose(float(dy.accuracy(model, theta, n, r, SYNBIO, t)), target, abs_tol=1e-7)
        assert float(dy.accuracy(model, theta, n, r, SYNBIO, t * 0.999)) <= target + 1e-7
