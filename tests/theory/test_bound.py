"""Term-by-term values of the paper-form and certified bounds, serialization, estimated-MMD deviation."""

from __future__ import annotations

import math

import pytest

from phasemix.theory.bound import BoundTerms, certified, paper_form
from phasemix.theory.mmd import mmd_deviation


def test_paper_form_terms_by_hand():
    b = paper_form(loss_real=0.2, loss_synth=0.4, mmd_real=0.1, mmd_synth=0.3, ntk_unrooted=4.0, omega=0.25, n=500,
                   delta=0.1, C=0.5)
    assert b.empirical_real == pytest.approx(0.05)
    assert b.empirical_synthetic == pytest.approx(0.3)
    assert b.domain_real == pytest.approx(0.025)
    assert b.domain_synthetic == pytest.approx(0.225)
    assert b.complexity == pytest.approx(0.5 * 2.0)
    assert b.confidence == pytest.approx(2 * 0.75 * math.log(80) / 500)
    assert b.dominant == "complexity"
    assert paper_form(loss_real=0.2, loss_synth=0.4, mmd_real=0.1, mmd_synth=0.3, ntk_unrooted=4.0, omega=0.25,
                      n=500, delta=0.1, C=0.5, root=False).complexity == pytest.approx(2.0)


def test_certified_terms_by_hand_and_scale_grid():
    b = certified(loss_real=0.1, loss_synth=0.3, rkhs_norm=2.5, omega=0.4, n=400, delta=0.05, mmd_real=0.02,
                  mmd_synth=0.2, loss_rkhs_bound=2.0, lipschitz=1.5, kappa=0.8)
    assert b.extras["scale_B_j"] == 4.0  # 2^⌈log2 2.5⌉
    assert b.complexity == pytest.approx(2 * 1.5 * 0.8 * 4.0 / 20)
    assert b.confidence == pytest.approx(math.sqrt(math.log(31 / 0.05) / 800))
    assert b.domain_real == pytest.approx(0.4 * 2.0 * 0.02)
    assert b.domain_synthetic == pytest.approx(0.6 * 2.0 * 0.2)
    assert certified(loss_real=0, loss_synth=0, rkhs_norm=0.3, omega=0.5, n=100).extras["scale_B_j"] == 1.0


def test_certified_with_estimated_mmds_adds_deviation_and_splits_delta():
    kw = dict(loss_real=0.1, loss_synth=0.3, rkhs_norm=1.0, omega=0.5, n=200, delta=0.06, mmd_real=0.05,
              mmd_synth=0.1)
    exact = certified(**kw)
    est = certified(**kw, mmd_samples=(100, 150, 500))
    assert est.extras["mmd_deviation_real"] == pytest.approx(mmd_deviation(100, 500, 0.02))
    assert est.domain_real == pytest.approx(0.5 * (0.05 + mmd_deviation(100, 500, 0.02)))
    assert est.confidence == pytest.approx(math.sqrt(math.log(31 / 0.02) / 400))
    assert est.total > exact.total


def test_tv_override_and_json_round_trip():
    b = certified(loss_real=0.1, loss_synth=0.3, rkhs_norm=1.0, omega=0.3, n=300, domain_real=0.0, domain_synth=0.015)
    assert b.domain_synthetic == pytest.approx(0.7 * 0.015)
    back = BoundTerms.from_json(b.to_json())
    assert back.total == pytest.approx(b.total)
    assert back.terms() == b.terms()
    d = b.to_dict()
    assert set(d) >= {"empirical_real", "complexity", "confidence", "total", "dominant"}
    with pytest.raises(ValueError, match="schema_version"):
        BoundTerms.from_json(b.to_json().replace('"schema_version": 1', '"schema_version": 99'))
