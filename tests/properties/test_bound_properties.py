"""The certified real/synthetic bound: coverage over random draws on a problem with an exact test risk (spec §0.4),
a mutant without the complexity and confidence terms failing more often, and hypothesis properties of the terms."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import linalg, stats

try:  # a scikit-learn dependency; only used to keep BLAS single-threaded
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    def threadpool_limits(_limit):
        return contextlib.nullcontext()

from phasemix.theory.bound import TERM_NAMES, certified, paper_form
from phasemix.theory.ntk import relu_ntk
from phasemix.theory.zipf import ZipfLaw

R = 200  # seeded draws (a full run takes about a second: the pool's kernel is shared by every draw)
DELTA = 0.05
N, OMEGA, K_CUT, RIDGE = 300, 0.3, 40, 3.0


def _problem():
    rng = np.random.default_rng(12345)
    pool = rng.standard_normal((400, 3))
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    K = relu_ntk(pool)  # κ = 1 on the unit sphere
    law = ZipfLaw(2.0, 400)
    p_test = law.pmf(np.arange(1, 401))
    p_synth = np.where(np.arange(1, 401) <= K_CUT, p_test, 0.0)
    p_synth /= p_synth.sum()
    tv = law.tail_mass(K_CUT)  # TV(D_G, D_T): valid domain term for losses in [0, 1]
    centers = rng.choice(400, 3, replace=False)
    c = rng.standard_normal(3)
    c /= np.sqrt(c @ K[np.ix_(centers, centers)] @ c)  # ‖f*‖_H = 1
    f_star = K[:, centers] @ c
    return K, p_test, p_synth, tv, f_star


def _risk(pred: np.ndarray, f_star: np.ndarray, p: np.ndarray) -> float:
    """Exact test risk of min(1, |f − y|) with y = f* ± 0.5 (Rademacher noise)."""
    lo = np.minimum(1.0, np.abs(pred - f_star - 0.5))
    hi = np.minimum(1.0, np.abs(pred - f_star + 0.5))
    return float(p @ (0.5 * (lo + hi)))


def _draws():
    K, p_test, p_synth, tv, f_star = _problem()
    n_real = int(round(OMEGA * N))
    out = []
    for r in range(R):
        rng = np.random.default_rng(r)
        idx_r = rng.choice(400, n_real, p=p_test)
        idx_g = rng.choice(400, N - n_real, p=p_synth)
        idx = np.concatenate([idx_r, idx_g])
        y = f_star[idx] + rng.choice([-0.5, 0.5], N)
        Kss = K[np.ix_(idx, idx)]
        alpha = linalg.solve(Kss + RIDGE * np.eye(N), y, assume_a="pos")
        pred = K[:, idx] @ alpha
        norm = float(np.sqrt(max(alpha @ Kss @ alpha, 0.0)))
        loss = np.minimum(1.0, np.abs(pred[idx] - y))
        kwargs = dict(loss_real=float(loss[:n_real].mean()), loss_synth=float(loss[n_real:].mean()),
                      rkhs_norm=norm, omega=OMEGA, n=N, delta=DELTA, domain_real=0.0, domain_synth=tv,
                      n_real=n_real, n_synth=N - n_real)
        full = certified(**kwargs)
        mutant = certified(**kwargs, include_complexity=False, include_confidence=False)
        out.append((_risk(pred, f_star, p_test), full.total, mutant.total))
    return np.array(out)


@pytest.fixture(scope="module")
def draws():
    with threadpool_limits(1):  # 300 x 300 solves: one BLAS thread avoids contention on a shared machine
        return _draws()


def test_certified_bound_holds_on_the_binomial_share_of_draws(draws):
    risk, bound, _ = draws.T
    failures = int(np.sum(risk > bound))
    allowed = int(stats.binom.ppf(0.999, R, DELTA))
    assert failures <= allowed
    assert np.mean(bound < 1.0) >= 0.9  # non-vacuous on ≥ 90% of draws


def test_mutant_without_complexity_and_confidence_fails_more(draws):
    risk, _, mutant = draws.T
    allowed = int(stats.binom.ppf(0.999, R, DELTA))
    assert int(np.sum(risk > mutant)) > allowed


finite = st.floats(0.0, 1.0, allow_nan=False)
small = st.floats(0.0, 5.0, allow_nan=False)


@given(lr=finite, lg=finite, norm=st.floats(0.0, 1e6), omega=finite, n=st.integers(1, 10**6),
       delta=st.floats(1e-6, 0.999), mr=small, mg=small)
def test_certified_terms_non_negative(lr, lg, norm, omega, n, delta, mr, mg):
    b = certified(loss_real=lr, loss_synth=lg, rkhs_norm=norm, omega=omega, n=n, delta=delta, mmd_real=mr,
                  mmd_synth=mg)
    assert all(v >= 0 for v in b.terms().values())
    assert b.total == pytest.approx(sum(b.terms().values()))
    assert b.dominant in TERM_NAMES


@given(lr=finite, lg=finite, mr=small, mg=small, ntk=st.floats(0.0, 1e3), omega=finite, n=st.integers(1, 10**6),
       delta=st.floats(1e-6, 0.999))
def test_paper_terms_non_negative(lr, lg, mr, mg, ntk, omega, n, delta):
    b = paper_form(loss_real=lr, loss_synth=lg, mmd_real=mr, mmd_synth=mg, ntk_unrooted=ntk, omega=omega, n=n,
                   delta=delta)
    assert all(v >= 0 for v in b.terms().values())


@given(lr=finite, lg=finite, norm=st.floats(0.0, 1e3), omega=finite, n=st.integers(1, 10**5),
       extra=st.integers(1, 10**5), delta=st.floats(1e-4, 0.5), mr=small, mg=small, dm=st.floats(0.0, 1.0))
def test_certified_monotone(lr, lg, norm, omega, n, extra, delta, mr, mg, dm):
    base = dict(loss_real=lr, loss_synth=lg, rkhs_norm=norm, omega=omega, delta=delta, mmd_real=mr, mmd_synth=mg)
    b0 = certified(**base, n=n)
    assert certified(**base, n=n + extra).total <= b0.total + 1e-12  # non-increasing in n
    more_r = certified(**{**base, "mmd_real": mr + dm}, n=n)
    more_g = certified(**{**base, "mmd_synth": mg + dm}, n=n)
    assert more_r.total >= b0.total - 1e-12 and more_g.total >= b0.total - 1e-12
    if omega > 1e-6 and dm > 1e-6:
        assert more_r.total > b0.total
    if omega < 1 - 1e-6 and dm > 1e-6:
        assert more_g.total > b0.total
    bigger = certified(**{**base, "rkhs_norm": 2 * norm + 2}, n=n)
    assert bigger.complexity >= b0.complexity


@given(lr=finite, lg=finite, mr=small, mg=small, ntk=st.floats(0.0, 1e3), omega=finite, n=st.integers(1, 10**5),
       extra=st.integers(1, 10**5), dn=st.floats(0.0, 10.0), dm=st.floats(0.0, 1.0))
def test_paper_monotone(lr, lg, mr, mg, ntk, omega, n, extra, dn, dm):
    base = dict(loss_real=lr, loss_synth=lg, mmd_real=mr, mmd_synth=mg, ntk_unrooted=ntk, omega=omega)
    b0 = paper_form(**base, n=n)
    assert paper_form(**base, n=n + extra).total <= b0.total + 1e-12
    assert paper_form(**{**base, "ntk_unrooted": ntk + dn}, n=n).total >= b0.total - 1e-12
    assert paper_form(**{**base, "mmd_real": mr + dm}, n=n).total >= b0.total - 1e-12
    assert paper_form(**{**base, "mmd_synth": mg + dm}, n=n).total >= b0.total - 1e-12


def test_paper_form_worked_example():
    b = paper_form(loss_real=0, loss_synth=0, mmd_real=0, mmd_synth=0, ntk_unrooted=0, omega=0.5, n=1000,
                   delta=0.05)
    assert b.confidence == pytest.approx(0.00508, abs=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(omega=1.5), "omega"),
        (dict(omega=-0.1), "omega"),
        (dict(n=0), "n"),
        (dict(delta=0.0), "delta"),
        (dict(delta=1.0), "delta"),
        (dict(loss_real=1.5), "loss_real"),
        (dict(n_real=0, n_synth=0), "both empty"),
        (dict(n_real=0, n_synth=10, omega=0.3), "real part is empty"),
        (dict(n_real=10, n_synth=0, omega=0.3), "synthetic part is empty"),
        (dict(rkhs_norm=2.0**40), "largest scale"),
        (dict(mmd_real=float("nan")), "NaN"),
    ],
)
def test_certified_bad_inputs(kwargs, match):
    base = dict(loss_real=0.1, loss_synth=0.2, rkhs_norm=1.0, omega=0.5, n=100)
    with pytest.raises(ValueError, match=match):
        certified(**{**base, **kwargs})


def test_empty_part_allowed_when_its_weight_is_zero():
    b = certified(loss_real=0.0, loss_synth=0.2, rkhs_norm=1.0, omega=0.0, n=100, n_real=0, n_synth=100)
    assert b.empirical_real == 0.0
