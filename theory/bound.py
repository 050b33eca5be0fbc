"""Generalization bound for a real/synthetic training mixture, term by term (Eqs. (69)–(71) in docs/theory.md).

Two forms:

- :func:`paper_form` — the reconstructed Theorem 1 of the source (spec §3.2), with no validity claim:
  ``ω·L̂_R + (1−ω)·L̂_G + ω·MMD_R + (1−ω)·MMD_G + C·√(ŷᵀΘ₀⁻¹ŷ/n) + 2·max(ω, 1−ω)·log(8/δ)/n`` (Eq. (69) in
  docs/theory.md).
- :func:`certified` — a bound that holds with probability ≥ 1−δ under stated assumptions (loss in [0, 1],
  L-Lipschitz in the prediction; kernel with sup k(x, x) ≤ κ²; learner in the kernel's RKHS with ‖f‖_H ≤ B):
  ``ω·L̂_R + (1−ω)·L̂_G + ω·D_R + (1−ω)·D_G + 2·L·κ·B_j/√n + √(log((J+1)/δ)/(2n))`` with
  ``B_j = 2^⌈log₂‖f‖_H⌉`` (a union over j = 0..J) and D the domain terms ``B_ℓ·MMD`` or a total-variation
  distance (Eq. (70) in docs/theory.md). Estimated MMDs add the deviation term of Gretton et al. (2012, Thm 7) (Eq.
  (71) in docs/theory.md).

Every term is reported separately, so a user sees which one dominates.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from phasemix._checks import check_int, check_nonnegative, check_unit_interval
from phasemix.theory.mmd import mmd_deviation

SCHEMA_VERSION = 1
TERM_NAMES = ("empirical_real", "empirical_synthetic", "domain_real", "domain_synthetic", "complexity", "confidence")


@dataclass(frozen=True, slots=True)
class BoundTerms:
    """A bound split into its terms (each already multiplied by its weight); ``total`` is their sum."""

    form: str
    empirical_real: float
    empirical_synthetic: float
    domain_real: float
    domain_synthetic: float
    complexity: float
    confidence: float
    omega: float
    n: int
    delta: float
    extras: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def total(self) -> float:
        """Sum of the six terms."""
        return float(sum(getattr(self, t) for t in TERM_NAMES))

    @property
    def dominant(self) -> str:
        """Name of the largest term."""
        return max(TERM_NAMES, key=lambda t: getattr(self, t))

    def terms(self) -> dict[str, float]:
        """The six terms by name."""
        return {t: float(getattr(self, t)) for t in TERM_NAMES}

    def to_dict(self) -> dict:
        """Plain-dict form for JSON (terms, total, dominant term, inputs)."""
        return {"schema_version": self.schema_version, "form": self.form, **self.terms(), "total": self.total,
                "dominant": self.dominant, "omega": self.omega, "n": self.n, "delta": self.delta,
                "extras": dict(self.extras)}

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> BoundTerms:
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        if d.get("schema_version", 0) > SCHEMA_VERSION:
            raise ValueError(f"schema_version {d['schema_version']} is newer than {SCHEMA_VERSION}")
        keep = {"form", *TERM_NAMES, "omega", "n", "delta", "extras", "schema_version"}
        return cls(**{k: v for k, v in d.items() if k in keep})


def _check_parts(omega: float, n_real: int | None, n_synth: int | None) -> float:
    """ω ∈ [0, 1]; a part may be empty iff its weight is 0; both empty is an error."""
    w = float(check_unit_interval("omega (real share)", omega))
    if n_real is not None and n_synth is not None:
        if n_real == 0 and n_synth == 0:
            raise ValueError("the real and synthetic parts are both empty (n_real = n_synth = 0)")
        if n_real == 0 and w > 0:
            raise ValueError(f"the real part is empty (n_real = 0) but omega = {w!r} > 0")
        if n_synth == 0 and w < 1:
            raise ValueError(f"the synthetic part is empty (n_synth = 0) but 1 − omega = {1 - w!r} > 0")
    return w


def _check_delta(delta: float) -> float:
    d = float(check_unit_interval("delta (failure probability)", delta, low_open=True, high_open=True))
    return d


def paper_form(*, loss_real: float, loss_synth: float, mmd_real: float, mmd_synth: float, ntk_unrooted: float,
               omega: float, n: int, delta: float = 0.05, C: float = 1.0, root: bool = True) -> BoundTerms:
    """The source's Theorem 1 as reconstructed (Eq. (69) in docs/theory.md); no validity claim.

    Its confidence term has rate log(1/δ)/n (a bounded loss concentrates at √(log(1/δ)/(2n))) and C is unspecified.
    """
    w = _check_parts(omega, None, None)
    n = check_int("n (training-set size)", n, minimum=1)
    d = _check_delta(delta)
    lr = float(check_nonnegative("loss_real", loss_real))
    lg = float(check_nonnegative("loss_synth", loss_synth))
    mr = float(check_nonnegative("mmd_real", mmd_real))
    mg = float(check_nonnegative("mmd_synth", mmd_synth))
    nt = float(check_nonnegative("ntk_unrooted", ntk_unrooted))
    C = float(check_nonnegative("C", C))
    comp = C * (math.sqrt(nt) if root else nt)
    conf = 2.0 * max(w, 1.0 - w) * math.log(8.0 / d) / n
    return BoundTerms("paper", w * lr, (1 - w) * lg, w * mr, (1 - w) * mg, comp, conf, w, n, d,
                      {"C": C, "root": root})


def certified(*, loss_real: float, loss_synth: float, rkhs_norm: float, omega: float, n: int, delta: float = 0.05,
              mmd_real: float = 0.0, mmd_synth: float = 0.0, loss_rkhs_bound: float = 1.0,
              domain_real: float | None = None, domain_synth: float | None = None, lipschitz: float = 1.0,
              kappa: float = 1.0, n_scales: int = 30, mmd_samples: tuple[int, int, int] | None = None,
              mmd_sup_k: float = 1.0, n_real: int | None = None, n_synth: int | None = None,
              include_complexity: bool = True, include_confidence: bool = True) -> BoundTerms:
    """Certified bound on the test risk of a kernel learner trained on a real/synthetic mixture (Eq. (70) in
    docs/theory.md).

    Parameters
    ----------
    loss_real, loss_synth : empirical mean losses (in [0, 1]) on the real and synthetic parts.
    rkhs_norm : ‖f‖_H of the learned predictor (KRR: ≤ √(ŷᵀ(Θ₀+εI)⁻¹ŷ)).
    omega : real share ω ∈ [0, 1] (exactly ω·n training points come from D_R).
    n : training-set size.
    delta : failure probability.
    mmd_real, mmd_synth, loss_rkhs_bound : domain terms ``B_ℓ·MMD(D, D_T)`` with B_ℓ ≥ ‖ℓ∘f‖ in the MMD kernel's RKHS.
    domain_real, domain_synth : override the domain terms (e.g. TV(D_G, D_T), valid for [0, 1] losses).
    lipschitz, kappa : L of the loss in the prediction and κ = √(sup k(x, x)) of the learner's kernel.
    n_scales : J of the union over scales ``B_j = 2^j``.
    mmd_samples : (m_R, m_G, m_T) when the MMDs are estimates (biased V-statistics); then δ is split in three
        and each MMD adds the deviation of Eq. (71) in docs/theory.md.
    n_real, n_synth : part sizes, checked against ω (a part may be empty iff its weight is 0).
    include_complexity, include_confidence : switches for mutation tests only.
    """
    w = _check_parts(omega, n_real, n_synth)
    n = check_int("n (training-set size)", n, minimum=1)
    d = _check_delta(delta)
    lr = float(check_unit_interval("loss_real", loss_real))
    lg = float(check_unit_interval("loss_synth", loss_synth))
    norm = float(check_nonnegative("rkhs_norm", rkhs_norm))
    L = float(check_nonnegative("lipschitz", lipschitz))
    kap = float(check_nonnegative("kappa", kappa))
    J = check_int("n_scales", n_scales, minimum=0)
    bl = float(check_nonnegative("loss_rkhs_bound", loss_rkhs_bound))
    j = 0 if norm <= 1.0 else int(math.ceil(math.log2(norm)))
    if j > J:
        raise ValueError(f"rkhs_norm = {norm!r} exceeds the largest scale 2^{J} of the union bound (n_scales = {J})")
    b_j = 2.0**j
    d_conf = d
    dev_r = dev_g = 0.0
    if mmd_samples is not None:
        m_r, m_g, m_t = (check_int(nm, v, minimum=1) for nm, v in zip(("m_R", "m_G", "m_T"), mmd_samples))
        d_conf = d / 3.0
        dev_r = mmd_deviation(m_r, m_t, d / 3.0, mmd_sup_k)
        dev_g = mmd_deviation(m_g, m_t, d / 3.0, mmd_sup_k)
    if domain_real is None:
        dr = bl * (float(check_nonnegative("mmd_real", mmd_real)) + dev_r)
    else:
        dr = float(check_nonnegative("domain_real", domain_real))
    if domain_synth is None:
        dg = bl * (float(check_nonnegative("mmd_synth", mmd_synth)) + dev_g)
    else:
        dg = float(check_nonnegative("domain_synth", domain_synth))
    comp = 2.0 * L * kap * b_j / math.sqrt(n) if include_complexity else 0.0
    conf = math.sqrt(math.log((J + 1) / d_conf) / (2.0 * n)) if include_confidence else 0.0
    return BoundTerms("certified", w * lr, (1 - w) * lg, w * dr, (1 - w) * dg, comp, conf, w, n, d,
                      {"scale_B_j": b_j, "rkhs_norm": norm, "lipschitz": L, "kappa": kap, "n_scales": J,
                       "mmd_deviation_real": dev_r, "mmd_deviation_synth": dev_g})

