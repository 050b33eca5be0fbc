"""Valuation: result object, weight fitting (including the paper target's degeneracy), scores on a toy problem."""

from __future__ import annotations

import json

import numpy as np
import pytest

from phasemix.errors import ResultsFileError
from phasemix.theory.valuation import (
    Source,
    davinz_score,
    fit_score_weights,
    leave_one_out,
    paper_score,
    rank_correlations,
    single_source,
    source_features,
    tracin_score,
)
from phasemix.theory.valuation_result import ValuationResult

torch = pytest.importorskip("torch")
from phasemix.theory.ntk import TorchProbe  # noqa: E402

torch.set_num_threads(1)


def _toy(seed=0):
    """Two Gaussian classes in 4-D; a base linear model trained briefly; sources of varying label corruption."""
    rng = np.random.default_rng(seed)

    def draw(n, flip=0.0, shift=0.0):
        y = rng.integers(0, 2, n)
        X = rng.standard_normal((n, 4)) + np.where(y[:, None] == 1, 1.0, -1.0) * np.array([1.0, 0.5, 0, 0])
        X[:, 2] += shift
        flipped = rng.random(n) < flip
        return X, np.where(flipped, 1 - y, y)

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2)).double()
    Xb, yb = draw(200)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.as_tensor(Xb)), torch.as_tensor(yb)).backward()
        opt.step()
    test_X, test_y = draw(200)
    sources = []
    for i, flip in enumerate((0.0, 0.15, 0.3, 0.45)):
        Xr, yr = draw(30, flip)
        Xs, ys = draw(30, flip, shift=1.0)
        sources.append(Source(f"s{i}", Xr, yr, Xs, ys))
    return TorchProbe(model), sources, test_X, test_y, draw


def test_result_object_round_trip_ranking_and_dataframe():
    r = ValuationResult("m", ["a", "b", "c"], [0.1, 0.5, -1.0], {"t": [1, 2, 3]}, 0.25, {"k": 1})
    assert r.ranking == ("b", "a", "c")
    assert r.value_of("c") == -1.0
    back = ValuationResult.from_json(r.to_json())
    assert back == r
    df = r.to_dataframe()
    assert list(df.index) == ["a", "b", "c"] and list(df["rank"]) == [2, 1, 3]
    assert json.loads(r.to_json())["ranking"] == ["b", "a", "c"]
    with pytest.raises(ValueError, match="same length"):
        ValuationResult("m", ["a"], [1.0, 2.0])
    with pytest.raises(ValueError, match="one entry per source"):
        ValuationResult("m", ["a", "b"], [1.0, 2.0], {"t": [1.0]})
    with pytest.raises(ResultsFileError):
        ValuationResult.from_json("{not json")
    with pytest.raises(ResultsFileError, match="newer"):
        ValuationResult.from_json(r.to_json().replace('"schema_version": 1', '"schema_version": 7'))


def test_paper_target_is_degenerate_and_retrained_target_recovers_weights():
    rng = np.random.default_rng(0)
    F = rng.uniform(0, 1, (12, 4))
    w = fit_score_weights(F, target_kind="paper")
    np.testing.assert_allclose(w.weights, [0.5, 0.5, 0, 0], atol=1e-10)
    true = np.array([0.3, -0.2, 0.1, 0.05])
    y = 1.0 + ((F - F.mean(0)) / F.std(0)) @ true
    fit = fit_score_weights(F, y, ridge=1e-9)
    np.testing.assert_allclose(fit.weights, true, atol=1e-6)
    assert fit.r2 == pytest.approx(1.0)
    np.testing.assert_allclose(fit.predict(F), y, atol=1e-6)


@pytest.mark.filterwarnings("ignore:NTK Gram matrix is nearly singular")
def test_scores_on_toy_problem_track_label_corruption():
    probe, sources, test_X, test_y, draw = _toy()
    feats = [source_features(s, test_X, probe) for s in sources]
    losses = [f["loss"] for f in feats]
    assert losses == sorted(losses)  # more corruption → higher loss at the base model
    assert all(f["mmd"] >= 0 and f["ntk"] > 0 for f in feats)
    # calibration subsets with a target that is their corruption level
    calib, target = [], []
    for i, flip in enumerate(np.linspace(0, 0.5, 8)):
        Xr, yr = draw(30, flip)
        Xs, ys = draw(30, flip, shift=1.0)
        calib.append(Source(f"c{i}", Xr, yr, Xs, ys))
        target.append(flip)
    F = np.array([[f[k] for k in ("loss", "mmd", "ntk", "small_sample")]
                  for f in (source_features(c, test_X, probe) for c in calib)])
    weights = fit_score_weights(F, target)
    res = paper_score(sources, test_X, probe, weights)
    assert res.ranking[0] == "s0" and res.ranking[-1] == "s3"
    assert {"loss", "mmd", "ntk", "small_sample", "contrib_loss"} <= set(res.terms)
    tr = tracin_score(sources, test_X, test_y, probe)
    assert tr.ranking[0] == "s0" and tr.ranking[-1] == "s3"
    dv = davinz_score(sources, test_X, probe)
    assert len(dv) == 4 and dv.extras["kappa"] > 0


def test_leave_one_out_and_single_source_with_additive_utility():
    rng = np.random.default_rng(0)
    srcs = [Source(f"s{i}", rng.standard_normal((i + 2, 2)), np.zeros(i + 2), np.zeros((0, 2)), np.zeros(0))
            for i in range(4)]

    def utility(sel):  # additive: each source adds its size
        return float(sum(s.n for s in sel))

    loo = leave_one_out(srcs, utility)
    np.testing.assert_allclose(loo.values, [2, 3, 4, 5])
    single = single_source(srcs, utility)
    np.testing.assert_allclose(single.values, [2, 3, 4, 5])
    corr = rank_correlations(loo, single)
    assert corr["spearman"] == pytest.approx(1.0) and corr["pearson"] == pytest.approx(1.0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="both its real and synthetic parts"):
        Source("e", np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(ValueError, match="rows"):
        Source("e", np.zeros((3, 2)), np.zeros(2), np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(ValueError, match="feature dimensions differ"):
        Source("e", np.zeros((3, 2)), np.zeros(3), np.zeros((3, 5)), np.zeros(3))
    with pytest.raises(ValueError, match="sources must not be empty"):
        leave_one_out([], lambda s: 0.0)
    probe, sources, test_X, _, _ = _toy()
    with pytest.raises(ValueError, match="features but test_X has"):
        source_features(sources[0], np.zeros((5, 3)), probe)
    with pytest.raises(ValueError, match="calibration subsets"):
        fit_score_weights(np.ones((3, 4)), [1, 2, 3])
