"""Retraining-free valuation of data sources (real + synthetic parts) and its baselines, in one API.

- :func:`paper_score` — the source paper's Eq. (8): four features (weighted empirical losses, MK-MMD to the test
  set, NTK term ``ŷᵀΘ₀⁻¹ŷ/n``, small-sample term ``max(ω, 1−ω)/n``) combined by regression-fitted weights; value =
  −predicted loss (Eqs. (72)–(75) in docs/theory.md). Weights come from :func:`fit_score_weights` on calibration
  subsets with their retrained test loss (default), or the paper's degenerate target (``target="paper"``).
- :func:`davinz_score` — DAVINZ (Wu et al. 2022): ``v = −κ·NTK − MMD``, κ = mean(MMD)/mean(NTK) (Eq. (76) in
docs/theory.md).
- :func:`tracin_score` — gradient similarity at the initial model, ``mean_i ⟨∇ℓ(z_i), ∇L_test⟩`` (Eq. (77) in
docs/theory.md).
- :func:`leave_one_out` / :func:`single_source` — retraining ground truths (Eq. (78) in docs/theory.md).

The model enters through a *probe* (duck-typed: ``losses``, ``embed``, ``jacobian``, ``residuals``,
``loss_gradients``; :class:`phasemix.theory.ntk.TorchProbe` wraps a torch classifier).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from phasemix._checks import as_float_array, check_choice, check_nonnegative
from phasemix.theory.mmd import MultiKernel, check_samples, mk_mmd, optimal_kernel
from phasemix.theory.ntk import ntk_term
from phasemix.theory.valuation_result import ValuationResult

FEATURES = ("loss", "mmd", "ntk", "small_sample")


@dataclass(frozen=True, slots=True, eq=False)
class Source:
    """A data source: a real part and a synthetic part (either may be empty, not both)."""

    name: str
    X_real: np.ndarray
    y_real: np.ndarray
    X_synth: np.ndarray
    y_synth: np.ndarray

    def __post_init__(self) -> None:
        for part in ("real", "synth"):
            X = np.asarray(getattr(self, f"X_{part}"), dtype=float)
            y = np.asarray(getattr(self, f"y_{part}")).reshape(-1)
            if X.ndim == 1:
                X = X.reshape(0, 0) if X.size == 0 else X[:, None]
            if X.shape[0] != y.shape[0]:
                raise ValueError(f"source {self.name!r}: X_{part} has {X.shape[0]} rows but y_{part} {y.shape[0]}")
            if X.size and not np.isfinite(X).all():
                raise ValueError(f"source {self.name!r}: X_{part} must be finite")
            object.__setattr__(self, f"X_{part}", X)
            object.__setattr__(self, f"y_{part}", y)
        if self.n == 0:
            raise ValueError(f"source {self.name!r} is empty: both its real and synthetic parts have 0 samples")
        if self.n_real and self.n_synth and self.X_real.shape[1] != self.X_synth.shape[1]:
            raise ValueError(f"source {self.name!r}: real and synthetic feature dimensions differ "
                             f"({self.X_real.shape[1]} and {self.X_synth.shape[1]})")

    @property
    def n_real(self) -> int:
        return int(self.X_real.shape[0])

    @property
    def n_synth(self) -> int:
        return int(self.X_synth.shape[0])

    @property
    def n(self) -> int:
        return self.n_real + self.n_synth

    @property
    def omega(self) -> float:
        """Real share ω = |S_R|/|S|."""
        return self.n_real / self.n

    @property
    def X(self) -> np.ndarray:
        return np.vstack([a for a in (self.X_real, self.X_synth) if a.shape[0]])

    @property
    def y(self) -> np.ndarray:
        return np.concatenate([self.y_real, self.y_synth])


def _check_sources(sources: Sequence[Source]) -> list[Source]:
    sources = list(sources)
    if not sources:
        raise ValueError("sources must not be empty")
    if not all(isinstance(s, Source) for s in sources):
        raise TypeError("sources must be Source objects")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"source names must be unique, got {names}")
    return sources


def source_features(source: Source, test_X, probe, *, kernel: MultiKernel | None = None, seed: int = 0,
                    jitter_rel: float = 1e-6) -> dict[str, float]:
    """Raw ingredients and the four features of the source paper's Eq. (8) of one source (Eq. (72) in docs/theory.md).

    Returns a dict with ``loss_real, loss_synth, mmd_real, mmd_synth, ntk_unrooted, ntk_rooted, omega, n`` and the
    features ``loss, mmd, ntk, small_sample``.
    """
    Xt = as_float_array("test_X", test_X)
    if Xt.ndim != 2 or Xt.shape[0] == 0:
        raise ValueError(f"test_X must be a non-empty 2-D array, got shape {Xt.shape}")
    if Xt.shape[1] != source.X.shape[1]:
        raise ValueError(f"source {source.name!r} has {source.X.shape[1]} features but test_X has {Xt.shape[1]}")
    emb_t = probe.embed(Xt)
    w = source.omega
    out: dict[str, float] = {"omega": w, "n": float(source.n)}
    for part, X, y in (("real", source.X_real, source.y_real), ("synth", source.X_synth, source.y_synth)):
        if X.shape[0] == 0:
            out[f"loss_{part}"] = 0.0
            out[f"mmd_{part}"] = 0.0
            continue
        emb = probe.embed(X)
        check_samples(emb, emb_t)
        out[f"loss_{part}"] = float(np.mean(probe.losses(X, y)))
        out[f"mmd_{part}"] = mk_mmd(emb, emb_t, kernel, estimator="unbiased", seed=seed) if X.shape[0] > 1 else 0.0
    J = probe.jacobian(source.X, source.y)
    t = ntk_term(J @ J.T, probe.residuals(source.X, source.y), jitter_rel=jitter_rel)
    out["ntk_unrooted"], out["ntk_rooted"] = t.unrooted, t.rooted
    out["loss"] = w * out["loss_real"] + (1 - w) * out["loss_synth"]
    out["mmd"] = w * out["mmd_real"] + (1 - w) * out["mmd_synth"]
    out["ntk"] = t.unrooted
    out["small_sample"] = max(w, 1 - w) / source.n
    return out


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Fitted weights of the source paper's Eq. (8) (Eq. (74) in docs/theory.md).

    ``prediction = intercept + Σ_u w_u·(f_u − mean_u)/std_u``.
    """

    weights: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    intercept: float
    target: str
    r2: float

    def predict(self, F) -> np.ndarray:
        """Predicted target for feature rows F (m, 4)."""
        F = np.atleast_2d(as_float_array("features", F))
        return self.intercept + ((F - np.asarray(self.mean)) / np.asarray(self.std)) @ np.asarray(self.weights)

    def to_dict(self) -> dict:
        return {"weights": list(self.weights), "mean": list(self.mean), "std": list(self.std),
                "intercept": self.intercept, "target": self.target, "r2": self.r2}


def fit_score_weights(features, target=None, *, target_kind: str = "retrained", ridge: float = 1e-3) -> ScoreWeights:
    """Fit the weights of the source paper's Eq. (8) by (ridge) least squares (Eqs. (73)–(74) in docs/theory.md).

    ``target_kind="retrained"`` (default): ``target`` = retrained test loss of each calibration subset; features are
    standardised, ridge 1e-3, with an intercept. ``target_kind="paper"``: the source's target, the mean of the loss
    and MMD features, fitted on raw features without intercept — it returns (½, ½, 0, 0) exactly (degenerate).
    """
    check_choice("target_kind", target_kind, ("retrained", "paper"))
    F = as_float_array("features", features)
    if F.ndim != 2 or F.shape[1] != len(FEATURES):
        raise ValueError(f"features must be (m, {len(FEATURES)}), got shape {F.shape}")
    lam = float(check_nonnegative("ridge", ridge))
    m = F.shape[0]
    if target_kind == "paper":
        y = (F[:, 0] + F[:, 1]) / 2
        w, *_ = np.linalg.lstsq(F, y, rcond=None)
        return ScoreWeights(tuple(map(float, w)), (0.0,) * 4, (1.0,) * 4, 0.0, "paper", 1.0)
    if target is None:
        raise ValueError("target (retrained test loss per calibration subset) is required for target_kind='retrained'")
    y = as_float_array("target", target).reshape(-1)
    if y.size != m:
        raise ValueError(f"target must have one entry per feature row, got {y.size} for {m}")
    if m < len(FEATURES) + 1:
        raise ValueError(f"need >= {len(FEATURES) + 1} calibration subsets to fit 4 weights, got {m}")
    mu = F.mean(0)
    sd = F.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (F - mu) / sd
    yc = y - y.mean()
    w = np.linalg.solve(Z.T @ Z + lam * m * np.eye(Z.shape[1]), Z.T @ yc)
    resid = yc - Z @ w
    r2 = float(1 - resid @ resid / max(yc @ yc, 1e-300))
    return ScoreWeights(tuple(map(float, w)), tuple(map(float, mu)), tuple(map(float, sd)), float(y.mean()),
                        "retrained", r2)


def shared_kernel(calibration: Sequence[Source], test_X, probe, *, seed: int = 0) -> MultiKernel:
    """One MK-MMD weight vector learned on the pooled calibration data vs the test set, reused for every source."""
    pooled = np.vstack([probe.embed(s.X) for s in _check_sources(calibration)])
    return optimal_kernel(pooled, probe.embed(test_X), seed=seed)


def paper_score(sources: Sequence[Source], test_X, probe, weights: ScoreWeights, *,
                kernel: MultiKernel | None = None, seed: int = 0, extra_runtime_s: float = 0.0) -> ValuationResult:
    """The source paper's Eq. (8): ``v(S) = −prediction(features(S))`` with fitted weights (Eq. (75) in
    docs/theory.md)."""
    sources = _check_sources(sources)
    t0 = time.perf_counter()
    rows = [source_features(s, test_X, probe, kernel=kernel, seed=seed) for s in sources]
    F = np.array([[r[f] for f in FEATURES] for r in rows])
    values = -weights.predict(F)
    Z = (F - np.asarray(weights.mean)) / np.asarray(weights.std)
    terms = {f: F[:, i] for i, f in enumerate(FEATURES)}
    terms.update({f"contrib_{f}": -Z[:, i] * weights.weights[i] for i, f in enumerate(FEATURES)})
    terms.update({k: [r[k] for r in rows] for k in ("loss_real", "loss_synth", "mmd_real", "mmd_synth", "omega")})
    return ValuationResult("paper", [s.name for s in sources], values, terms,
                           time.perf_counter() - t0 + extra_runtime_s,
                           {"weights": weights.to_dict(), "kernel": None if kernel is None else kernel.to_dict()})


def davinz_score(sources: Sequence[Source], test_X, probe, *, sigma: float = 5.0, jitter_abs: float = 1e-4,
                 embed: bool = False) -> ValuationResult:
    """DAVINZ: ``v = −κ·NTK − MMD`` (Eq. (76) in docs/theory.md).

    Biased single-RBF MMD (σ = 5) on raw inputs, absolute NTK jitter 1e-4, κ = mean(MMD)/mean(NTK) over the sources.
    """
    sources = _check_sources(sources)
    t0 = time.perf_counter()
    kern = MultiKernel.single(sigma)
    Xt = probe.embed(test_X) if embed else np.asarray(test_X, dtype=float)
    mmd, ntk = [], []
    for s in sources:
        Xs = probe.embed(s.X) if embed else s.X
        mmd.append(mk_mmd(Xs, Xt, kern, estimator="biased"))
        J = probe.jacobian(s.X, s.y)
        ntk.append(ntk_term(J @ J.T, probe.residuals(s.X, s.y), jitter_abs=jitter_abs).rooted)
    mmd, ntk = np.array(mmd), np.array(ntk)
    kappa = float(mmd.mean() / ntk.mean()) if ntk.mean() > 0 else 0.0
    values = -kappa * ntk - mmd
    return ValuationResult("davinz", [s.name for s in sources], values, {"mmd": mmd, "ntk": ntk},
                           time.perf_counter() - t0, {"kappa": kappa, "sigma": sigma, "jitter_abs": jitter_abs})


def tracin_score(sources: Sequence[Source], test_X, test_y, probe) -> ValuationResult:
    """Gradient similarity at the initial model: ``v(S) = mean_{z∈S} ⟨∇ℓ(z), mean_t ∇ℓ(t)⟩`` (Eq. (77) in
    docs/theory.md).

    A positive value means one gradient step on S lowers the test loss (first order).
    """
    sources = _check_sources(sources)
    t0 = time.perf_counter()
    g_test = probe.loss_gradients(test_X, test_y).mean(0)
    vals, norms = [], []
    for s in sources:
        G = probe.loss_gradients(s.X, s.y)
        vals.append(float(np.mean(G @ g_test)))
        norms.append(float(np.mean(np.linalg.norm(G, axis=1))))
    return ValuationResult("tracin", [s.name for s in sources], vals, {"similarity": vals, "grad_norm": norms},
                           time.perf_counter() - t0)


def leave_one_out(sources: Sequence[Source], utility: Callable[[list[Source]], float]) -> ValuationResult:
    """Leave-one-source-out retraining: ``v(S_k) = U(all) − U(all \\ S_k)`` (Eq. (78) in docs/theory.md); the
    ground truth."""
    sources = _check_sources(sources)
    if len(sources) < 2:
        raise ValueError("leave-one-out needs at least 2 sources")
    t0 = time.perf_counter()
    full = float(utility(sources))
    rest = [float(utility(sources[:i] + sources[i + 1:])) for i in range(len(sources))]
    values = [full - r for r in rest]
    return ValuationResult("leave_one_out", [s.name for s in sources], values, {"utility_without": rest},
                           time.perf_counter() - t0, {"utility_all": full})


def single_source(sources: Sequence[Source], utility: Callable[[list[Source]], float]) -> ValuationResult:
    """Retrain on each source alone: ``v(S_k) = U({S_k})`` (Eq. (78) in docs/theory.md), the protocol of the source
    paper."""
    sources = _check_sources(sources)
    t0 = time.perf_counter()
    values = [float(utility([s])) for s in sources]
    return ValuationResult("single_source", [s.name for s in sources], values, {}, time.perf_counter() - t0)


def rank_correlations(result: ValuationResult, truth: ValuationResult) -> dict[str, float]:
    """Spearman and Pearson correlation of a method's values with a ground truth (matched by name), Eq. (79) in
    docs/theory.md."""
    from scipy import stats

    if set(result.names) != set(truth.names):
        raise ValueError("result and truth must value the same sources")
    a = np.array(result.values)
    b = np.array([truth.value_of(n) for n in result.names])
    if len(a) < 3:
        raise ValueError(f"need >= 3 sources for a correlation, got {len(a)}")
    return {"spearman": float(stats.spearmanr(a, b).statistic), "pearson": float(stats.pearsonr(a, b).statistic)}
