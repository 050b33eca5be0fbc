"""One worked prediction of the capacity-allocation model: every derived quantity plus a readable derivation.

This is what ``phasemix predict`` prints; it only combines the closed forms of :mod:`phasemix.theory.allocation`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from phasemix._checks import check_positive, check_unit_interval
from phasemix.theory import allocation as al
from phasemix.theory import mitigation
from phasemix.theory.capacity import DEFAULT_BITS_PER_PARAM, KnowledgeSet
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw
from phasemix.units import format_count

if TYPE_CHECKING:  # the finite-training layer loads only when a prediction at a token budget asks for it
    from phasemix.theory.dynamics import Calibration

SCHEMA_VERSION = 1


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class Prediction:
    """Capacity-allocation prediction for one (model size, mixing ratio, knowledge set, web law).

    Ratios are token shares of the knowledge set; sizes are parameters of the count the web law was fitted on;
    bits are capacity bits. Non-finite values (e.g. the onset size at r = 0) are written as null in JSON.
    """

    params: float
    ratio: float
    bits_per_param: float
    target: float
    knowledge: KnowledgeSet
    law: PowerLaw
    critical_ratio: float
    full_ratio: float
    target_ratio: float
    critical_params: float
    full_params: float
    target_params: float
    stored_bits: float
    learned_fraction: float
    predicted_accuracy: float | None
    exponent_ratio_vs_params: float
    exponent_params_vs_ratio: float
    elasticity_ratio_vs_params: float
    elasticity_params_vs_ratio: float
    threshold_frequency: float
    web_loss_increase: float
    extras: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        """JSON-ready dict: the knowledge set and law as dicts, non-finite floats as None."""
        out: dict = {}
        for key, value in asdict(self).items():
            if key in ("knowledge", "law"):
                out[key] = getattr(self, key).to_dict()
            elif isinstance(value, float):
                out[key] = _finite_or_none(value)
            else:
                out[key] = value
        out["web_loss_units"] = self.law.loss_units
        out.update(out.pop("extras"))
        return out

    def to_json(self) -> str:
        """One JSON object (strict: no NaN/Infinity tokens)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def derivation(self) -> str:
        """Human-readable derivation: each formula, the numbers plugged in, the units."""
        k, law, b = self.knowledge, self.law, self.bits_per_param
        lb = law.in_bits()
        p = k.value_per_bit
        lines = [
            "Capacity-allocation prediction (Gu et al. 2025 knapsack model; equations in docs/theory.md)",
            "",
            "Inputs",
            f"  model size            N   = {format_count(self.params)} parameters",
            f"  mixing ratio          r   = {self.ratio:g} (token share of the knowledge set)",
            f"  capacity              m   = b·N = {b:g} bits/param × {format_count(self.params)}"
            f" = {format_count(b * self.params)} bits  [Eq. (2)]",
            f"  knowledge set         K   = {format_count(k.facts)} facts × h = {k.bits_per_fact:.4f} bits"
            f" = {format_count(k.total_bits)} bits  [Eq. (3)]",
            f"  tokens per copy       T_K = {format_count(k.tokens)} tokens  ->  p = c/T_K = {p:.4g} bits/token"
            " per stored bit  [Eq. (4)]",
            f"  web law               L(N) = {law.E:g} + {law.A:g}·(N/{format_count(law.unit)})^(-{law.alpha:g})"
            f" {law.loss_units}/token  (= {lb.E:.4g} + {lb.A:.4g}·(...) bits)  [Eq. (1)]",
            "",
            "Threshold (web marginal value = knowledge value per bit)",
            f"  t = p·r/(1−r) = {p * self.ratio / (1 - self.ratio) if self.ratio < 1 else math.inf:.4g}"
            "  [Eq. (7)]",
            f"  critical ratio        r*  = q/(1+q), q = T_K·|F_web'(b·N)|/c"
            f"  =  {self.critical_ratio:.5g}   (odds {self.critical_ratio / (1 - self.critical_ratio):.4g})"
            "  [Eq. (11)]",
            f"  full-learning ratio   r_1 = {self._fmt(self.full_ratio)}"
            + ("   (b·N ≤ K·h: the set never fits)" if not math.isfinite(self.full_ratio) else ""),
            f"  critical size at r    N_on = m0(t)/b = {self._fmt_count(self.critical_params)} parameters"
            "  [Eq. (9)]",
            f"  full-learning size    N_on + K·h/b = {self._fmt_count(self.full_params)} parameters"
            "  [Eq. (10)]",
        ]
        if self.target not in (0.0, 1.0):
            lines.append(
                f"  target fraction a     r_a = {self._fmt(self.target_ratio)},"
                f" N_a = {self._fmt_count(self.target_params)} parameters (a = {self.target:g})  [Eq. (11)]"
            )
        lines += [
            "",
            "Allocation at this (N, r)",
            f"  stored bits           m1* = clip(b·N − m0(t), 0, K·h) = {format_count(self.stored_bits)} bits"
            "  [Eq. (8)]",
            f"  learned fraction      F   = m1*/(K·h) = {self.learned_fraction:.4f}",
        ]
        if self.predicted_accuracy is not None:
            lines.append(
                f"  predicted accuracy    F + (1−F)·mean(1/|V_a|) = {self.predicted_accuracy:.4f}"
                " (whole facts; chance included)"
            )
        lines += [
            f"  web-loss increase     {self.web_loss_increase:.4g} {law.loss_units}/token"
            "  [Eq. (15)]",
            f"  single-fact threshold f_thres = (1−r)·g(b·N) = {self.threshold_frequency:.4g}"
            " occurrences/token  [Eq. (14)]",
            "",
            "Scaling (log-odds exponents are exact; elasticities are local)",
            f"  d log(r*/(1−r*))/d log N      = −(α+1) = {self.exponent_ratio_vs_params:.4f}"
            "  [Eq. (12)]",
            f"  d log N_on/d log(r/(1−r))     = −1/(α+1) = {self.exponent_params_vs_ratio:.4f}",
            f"  d log r*/d log N   at r*      = {self.elasticity_ratio_vs_params:.4f}"
            "  [Eq. (13)]",
            f"  d log N_on/d log r at r       = {self._fmt(self.elasticity_params_vs_ratio)}",
            "",
            "Note: the theory fixes exponents, not prefactors; the odds r*/(1−r*) scale as 1/b "
            "(calibrate with `phasemix fit prefactor`).",
        ]
        ex = self.extras
        if "ckm_tau" in ex:
            lines[lines.index("Threshold (web marginal value = knowledge value per bit)")] += (
                f"\n  CKM: tuples add τ = {ex['ckm_tau']:g} of the set's tokens; frequency multiplier"
                f" g(τ) = (1+τ·λ)/(1+τ) = {ex['ckm_multiplier']:.4g} (λ = {ex['ckm_token_ratio']:g}),"
                " so p → g·p  [Eq. (31)]"
            )
        if "keep_fraction" in ex:
            lines += [
                "",
                f"Subsampling: keep ρ = {ex['keep_fraction']:g} of the facts"
                " (p → p/ρ, K → ρK; accuracy over the full set)",
                f"  learned fraction of the full set  min(ρ, (b·N − m0·ρ^β)/(K·h)) = {ex['subsampled_fraction']:.4f}"
                "  [Eq. (28)]",
                f"  best keep fraction ρ_best = {self._fmt(ex['best_keep_fraction'] or math.nan)}"
                f" (learns {ex['best_subsampled_fraction']:.4f}); collapse at ρ* = "
                f"{self._fmt(ex['collapse_keep_fraction'] if ex['collapse_keep_fraction'] is not None else math.inf)}"
                "  [Eq. (29)]",
            ]
        if "tokens" in ex:
            def band(key: str) -> str:
                lo, hi = ex.get(f"{key}_low"), ex.get(f"{key}_high")
                return "" if lo is None or hi is None else f"  [{lo:.4g}, {hi:.4g}]"

            def num(value) -> str:
                return "n/a" if value is None else f"{value:.4g}"

            sizes = sorted({format_count(x) for x in ex["calibrated_params"]})
            lines += [
                "",
                f"Finite training: D = {format_count(ex['tokens'])} tokens, model '{ex['model']}' calibrated at "
                f"{' to '.join(sizes)} parameters  [Eq. (119)]",
                f"  accuracy after D        {num(ex['accuracy'])}{band('accuracy')}  (fraction of the full set)",
                f"  accuracy converged      {num(ex['accuracy_converged'])}",
                f"  ratio crossing a at D   {num(ex['critical_ratio_at_tokens'])}  (a = {self.target:g})",
                f"  tokens to a             {num(ex['tokens_to_target'])}{band('tokens_to_target')}",
                f"  regime                  {ex['regime']}",
            ]
            if ex["extrapolated_in_size"]:
                lines.append(f"  extrapolated in size: the band spans the learning-speed size exponents "
                             f"{ex['size_band_exponents']} (one calibration size cannot pin it)")
        return "\n".join(_align_tags(lines))

    @staticmethod
    def _fmt(value: float) -> str:
        return f"{value:.5g}" if math.isfinite(value) else "n/a"

    @staticmethod
    def _fmt_count(value: float) -> str:
        return format_count(value) if math.isfinite(value) else "infinite"


def _align_tags(lines: list[str], column: int = 84) -> list[str]:
    """Right-align the trailing ``[Eq. (n)]`` tags of the derivation at one column."""
    out = []
    for line in lines:
        head, sep, tag = line.rpartition("  [Eq. (")
        out.append(f"{head.rstrip():<{column}} [Eq. ({tag}" if sep else line)
    return out


def predict(params: float = 70e6, ratio: float = 0.2, knowledge: KnowledgeSet | None = None,
            law: PowerLaw = DEFAULT_WEB_LAW, bits_per_param: float = DEFAULT_BITS_PER_PARAM,
            target: float = 0.4, *, keep_fraction: float = 1.0, ckm_tau: float = 0.0,
            ckm_token_ratio: float | None = None, tokens: float | None = None,
            calibration: Calibration | None = None) -> Prediction:
    """Predict every capacity-allocation quantity for one setting (defaults: SynBio-320k, 70M, r = 0.2).

    Examples
    --------
    >>> pred = predict()
    >>> round(pred.critical_ratio, 5), round(pred.critical_params / 1e6, 2)
    (0.12193, 44.27)
    """
    knowledge = KnowledgeSet.synbio() if knowledge is None else knowledge
    extras: dict = {}
    if ckm_tau:
        if ckm_token_ratio is None:
            raise ValueError("ckm_token_ratio is required with ckm_tau (tokens per text occurrence / per tuple)")
        knowledge = mitigation.ckm_knowledge(knowledge, ckm_tau, ckm_token_ratio)
        extras.update(ckm_tau=float(ckm_tau), ckm_token_ratio=float(ckm_token_ratio),
                      ckm_multiplier=float(mitigation.ckm_multiplier(ckm_tau, ckm_token_ratio)))
    n = float(check_positive("params", params))
    r = float(check_unit_interval("ratio", ratio))
    a = float(check_unit_interval("target", target))
    b = float(check_positive("bits_per_param", bits_per_param))
    frac = float(al.learned_fraction(n, r, knowledge, law, b))
    acc = None
    if knowledge.cardinalities:
        acc = float(al.predicted_accuracy(frac, knowledge.cardinalities))
    r_star = float(al.critical_ratio(n, knowledge, law, b))
    rho = float(check_unit_interval("keep_fraction", keep_fraction, low_open=True))
    if rho < 1.0:
        best = mitigation.best_subsampling(n, r, knowledge, law, b)
        extras.update(
            keep_fraction=rho,
            subsampled_fraction=float(mitigation.subsampled_fraction(rho, n, r, knowledge, law, b)),
            best_keep_fraction=_finite_or_none(best.rho_best),
            best_subsampled_fraction=best.fraction_best,
            collapse_keep_fraction=_finite_or_none(best.rho_collapse),
        )
    if tokens is not None:
        if calibration is None:
            raise ValueError("calibration is required with tokens: fit one with `phasemix calibrate`")
        from phasemix.theory.dynamics import predict_at_budget

        budget = predict_at_budget(n, r, knowledge, tokens, calibration, keep_fraction=rho, target=a)
        extras.update(tokens=float(tokens), **{k: v for k, v in budget.items() if k != "target"})
    return Prediction(
        params=n, ratio=r, bits_per_param=b, target=a, knowledge=knowledge, law=law,
        critical_ratio=r_star,
        full_ratio=float(al.full_ratio(n, knowledge, law, b)),
        target_ratio=float(al.target_ratio(n, knowledge, a, law, b)),
        critical_params=float(al.onset_params(r, knowledge, law, b)),
        full_params=float(al.full_params(r, knowledge, law, b)),
        target_params=float(al.target_params(r, knowledge, a, law, b)),
        stored_bits=float(al.stored_bits(n, r, knowledge, law, b)),
        learned_fraction=frac,
        predicted_accuracy=acc,
        exponent_ratio_vs_params=al.exponent_ratio_vs_params(law),
        exponent_params_vs_ratio=al.exponent_params_vs_ratio(law),
        elasticity_ratio_vs_params=float(al.elasticity_ratio_vs_params(r_star, law)),
        elasticity_params_vs_ratio=float(al.elasticity_params_vs_ratio(r, law)) if r < 1 else math.nan,
        threshold_frequency=float(al.threshold_frequency(n, r, law, b)),
        web_loss_increase=float(np.asarray(al.web_loss_increase(n, r, knowledge, law, b))),
        extras=extras,
    )
