"""Sympy derivation against the numeric closed forms of allocation.py (Eq. (23)–(27) in docs/theory.md)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from phasemix.theory import allocation as al
from phasemix.theory import symbolic as sy
from phasemix.theory.capacity import KnowledgeSet
from phasemix.theory.laws import PowerLaw


def test_exponents_are_exact():
    d = sy.derive()
    alpha = sy.SYMBOLS["alpha"]
    assert sp.simplify(d.exponent_ratio - (-(alpha + 1))) == 0
    assert sp.simplify(d.exponent_params - (-1 / (alpha + 1))) == 0


def test_marginal_and_foc_structure():
    d = sy.derive()
    s = sy.SYMBOLS
    # the marginal is the derivative of the loss; m0 is its inverse
    assert sp.simplify(d.marginal.subs(s["m"], d.onset_capacity) - s["t"]) == 0
    # the interior stored bits are b·N − m0(p·r/(1−r))
    m0_at = d.onset_capacity.subs(s["t"], s["p"] * s["r"] / (1 - s["r"]))
    diff = d.stored_bits_interior - (s["b"] * s["N"] - m0_at)
    vals = {s["N"]: 7e7, s["r"]: 0.2, s["p"]: 3.125e-8, s["A"]: 7.14, s["alpha"]: 0.283, s["b"]: 2.0, s["N_u"]: 1e6}
    assert abs(float(diff.subs(vals))) < 1e-6
    # the first-order condition vanishes at the interior solution
    assert abs(float(d.foc.subs(s["m1"], d.stored_bits_interior).subs(vals))) < 1e-18


def test_latex_is_exposed():
    tex = sy.derive().latex()
    assert set(tex) == set(sy.derive().expressions())
    assert "\\alpha" in tex["onset_capacity"] and "\\alpha" in tex["critical_ratio"]


def test_golden_values_through_the_symbolic_route():
    k = KnowledgeSet.synbio()
    assert float(sy.evaluate("critical_ratio", knowledge=k, params=70e6)) == pytest.approx(0.12193, abs=5e-6)
    assert float(sy.evaluate("full_ratio", knowledge=k, params=70e6)) == pytest.approx(0.13788, abs=5e-6)
    assert float(sy.evaluate("onset_params", knowledge=k, ratio=0.2)) / 1e6 == pytest.approx(44.27, abs=5e-3)


@settings(max_examples=60, deadline=None)
@given(
    params=st.floats(1e5, 1e11),
    ratio=st.floats(1e-4, 1 - 1e-4),
    alpha=st.floats(0.05, 2.0),
    A=st.floats(0.1, 100.0),
    facts=st.floats(1e2, 1e6),
    b=st.floats(0.5, 4.0),
)
def test_symbolic_agrees_with_numeric(params, ratio, alpha, A, facts, b):
    law = PowerLaw(E=1.0, A=A, alpha=alpha, unit=1e6)
    k = KnowledgeSet(facts=facts, bits_per_fact=45.6, tokens_per_fact=100.0)
    kw = {"knowledge": k, "law": law, "bits_per_param": b}
    assert float(sy.evaluate("onset_params", ratio=ratio, **kw)) == pytest.approx(
        float(al.onset_params(ratio, k, law, b)), rel=1e-9)
    assert float(sy.evaluate("critical_ratio", params=params, **kw)) == pytest.approx(
        float(al.critical_ratio(params, k, law, b)), rel=1e-9, abs=1e-300)
    stored_sym = float(sy.evaluate("stored_bits", params=params, ratio=ratio, **kw))
    stored_num = float(al.stored_bits(params, ratio, k, law, b))
    assert abs(stored_sym - stored_num) <= 1e-9 * max(b * params, k.total_bits)
    full_num = float(al.full_ratio(params, k, law, b))
    if np.isfinite(full_num):
        assert float(sy.evaluate("full_ratio", params=params, **kw)) == pytest.approx(full_num, rel=1e-7)
    r_star = float(al.critical_ratio(params, k, law, b))
    assert float(sy.evaluate("elasticity_ratio_vs_params", params=params, **kw)) == pytest.approx(
        float(al.elasticity_ratio_vs_params(r_star, law)), rel=1e-9)


def test_numeric_functions_are_cached_and_checked():
    assert sy.numeric("critical_ratio") is sy.numeric("critical_ratio")
    with pytest.raises(ValueError, match="name must be one of"):
        sy.numeric("nope")
    k = KnowledgeSet.synbio()
    with pytest.raises(ValueError, match="needs params"):
        sy.evaluate("critical_ratio", knowledge=k)
    with pytest.raises(ValueError, match="ratio must lie in"):
        sy.evaluate("onset_params", knowledge=k, ratio=1.5)
    with pytest.raises(ValueError, match="params must be > 0"):
        sy.evaluate("critical_ratio", knowledge=k, params=-1.0)
