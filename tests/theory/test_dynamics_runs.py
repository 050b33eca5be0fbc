"""The run-waiting-time law of model ``chain-run`` (Eq. (120)) against the exact recursion for runs of k survivals,
its inverse, and the model's per-attribute mixture."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phasemix.theory import dynamics as dy
from phasemix.theory.capacity import KnowledgeSet
from phasemix.theory.dynamics_runs import _run_root, _survival, run_decay

SYNBIO = KnowledgeSet.synbio()
CASES = [(0.9, 5), (0.5, 3), (0.2, 2), (0.95, 40), (0.99, 170), (0.97, 123), (0.999, 50), (0.999, 3)]


def _exact_no_run(q: float, k: int, n_max: int) -> np.ndarray:
    """P(no run of k successes in n Bernoulli(q) trials), n = 0..n_max, by the exact Markov chain on run length."""
    state = np.zeros(k)
    state[0] = 1.0
    out = [1.0]
    for _ in range(n_max):
        new = np.zeros(k)
        new[0] = state.sum() * (1 - q)
        new[1:] = state[:-1] * q  # a run reaching k is absorbed (learned)
        state = new
        out.append(state.sum())
    return np.array(out)


def _terms(q: float, k: int):
    us = -math.log(q)
    qk = q**k
    return tuple(np.atleast_1d(np.asarray(x, float)) for x in (k, 1 - qk, (1 - q) * qk, 1 - qk - k * (1 - q) * qk,
                                                                 run_decay(us, k)))


@pytest.mark.parametrize(("q", "k"), CASES)
def test_survival_matches_exact_recursion(q, k):
    n = np.arange(4001.0)
    exact = _exact_no_run(q, k, 4000)
    got = _survival(n[None, :], tuple(t[:, None] for t in _terms(q, k)))[0]
    head = (n >= k) & (n <= 2 * k)
    np.testing.assert_allclose(got[head], exact[head], rtol=1e-12, atol=1e-15)  # exact on [k, 2k]
    np.testing.assert_array_equal(got[n < k], 1.0)
    assert np.max(np.abs(got - exact)) < (6e-3 if k < 40 else 2.5e-3)  # measured: 5.4e-3 at (0.9, 5)


@pytest.mark.parametrize(("q", "k"), CASES)
def test_decay_rate_is_the_recursions_tail_ratio(q, k):
    exact = _exact_no_run(q, k, 30 * k + 400)
    m = min(len(exact) - 1, int(np.argmax(exact < 1e-290)) or len(exact) - 1)  # deep in the tail, no underflow
    assert -math.log(exact[m] / exact[m - 1]) == pytest.approx(float(run_decay(-math.log(q), k)), rel=1e-6)


@pytest.mark.parametrize(("q", "k"), CASES)
@pytest.mark.parametrize("level", [0.9, 0.5, 0.1, 1e-4])
def test_run_root_inverts_survival(q, k, level):
    terms = _terms(q, k)
    n = float(_run_root(level, terms)[0])
    assert n >= k
    at = float(_survival(np.array([n]), terms)[0])
    if n > k:
        assert at == pytest.approx(level, rel=1e-9)
    else:  # the jump at n = k already takes S below the level
        assert at <= level + 1e-12 and 1 - q**k <= level + 1e-12


def test_chain_run_is_the_mean_over_attributes_of_the_run_law():
    theta = (7.27e8, 273.0, 1.88)
    r = np.array([0.3, 0.35, 0.45])
    h = np.log2(SYNBIO.cardinalities)
    n = r * 32e9 / SYNBIO.tokens
    u = ((1 - r) * SYNBIO.tokens / r / theta[0]) ** theta[2]  # −ln q per gap, N = N_ref
    rise = []
    for ha in h:
        k = theta[1] * ha / h.mean()
        q = np.exp(-u)
        terms = (np.full(3, k), 1 - q**k, (1 - q) * q**k, 1 - q**k - k * (1 - q) * q**k, run_decay(u, k))
        rise.append(1 - _survival(n, terms))
    expected = np.mean(rise, axis=0)  # the allocator's ceiling is 1 at 70M for these ratios
    got = dy.accuracy("chain-run", theta, 70e6, r, SYNBIO, 32e9, reference_params=70e6)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
