"""Valuation benchmark: how well do retraining-free scores rank data sources, and at what cost?

Data: scikit-learn's digits (shipped with the package, no download). The test distribution D_T is long-tailed over
classes (Zipf weights over a seeded class order). Each source mixes a real part drawn from D_T with a synthetic part
whose class law is truncated at rank k (rare classes dropped), with pixel noise ("generator artifacts") and label
corruption at controlled rates. The base model (the "pretrained checkpoint" the scores inspect) is a small torch MLP
trained on a separate class-balanced split.

Methods, all through the ``phasemix.theory.valuation`` API: the paper's score (weights fitted on calibration subsets
with retrained test error; their retraining time is part of its runtime), the same score with the paper's own
(degenerate) target, DAVINZ, TracIn-style gradient similarity, and the retraining ground truths: leave-one-source-out
(primary) and single-source retraining (the source paper's protocol). Prints a table of Spearman/Pearson correlations
and runtimes and writes ``benchmarks/results/valuation.json``.

Run: ``python benchmarks/bench_valuation.py [--sources 12] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "valuation.json"


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def build_problem(n_sources: int, n_calib: int, size: int, seed: int):
    """Digits splits, the long-tail test set, the base model and the sources."""
    import torch
    from sklearn.datasets import load_digits

    from phasemix.theory.valuation import Source

    rng = np.random.default_rng(seed)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    perm = rng.permutation(len(y))
    base_idx, test_pool, src_pool = perm[:200], perm[200:700], perm[700:]
    order = rng.permutation(10)  # class order of the long tail
    rank = np.empty(10, int)
    rank[order] = np.arange(1, 11)
    class_p = rank.astype(float) ** -1.2
    class_p /= class_p.sum()

    def sample(pool, n, cls_p, replace=True):
        w = cls_p[y[pool]] / np.bincount(y[pool], minlength=10)[y[pool]]
        return rng.choice(pool, n, replace=replace, p=w / w.sum())

    test_idx = sample(test_pool, 300, class_p, replace=False)

    settings = []
    for i in range(n_sources + n_calib):
        settings.append({
            "omega": float(rng.choice([0.2, 0.4, 0.6, 0.8])),
            "cutoff": int(rng.choice([2, 3, 5, 8])),
            "label_noise": float(rng.choice([0.0, 0.1, 0.25, 0.4])),
            "pixel_noise": float(rng.choice([0.0, 0.15, 0.3])),
            "calibration": i >= n_sources,
        })
    sources = []
    for i, st in enumerate(settings):
        n_real = int(round(st["omega"] * size))
        trunc = np.where(rank <= st["cutoff"], class_p, 0.0)
        trunc /= trunc.sum()
        ir = sample(src_pool, n_real, class_p, replace=False)  # no duplicates inside a part
        ig = sample(src_pool, size - n_real, trunc, replace=False)
        Xg = np.clip(X[ig] + st["pixel_noise"] * rng.standard_normal((len(ig), 64)), 0, 1)
        yr, yg = y[ir].copy(), y[ig].copy()
        for lab in (yr, yg):
            flip = rng.random(lab.size) < st["label_noise"]
            lab[flip] = rng.integers(0, 10, flip.sum())
        name = f"{'cal' if st['calibration'] else 'src'}{i:02d}"
        sources.append(Source(name, X[ir], yr, Xg, yg))
    valued = sources[:n_sources]
    calib = sources[n_sources:]

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10)).double()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xb, yb = torch.as_tensor(X[base_idx]), torch.as_tensor(y[base_idx])
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
    return {"X_test": X[test_idx], "y_test": y[test_idx], "valued": valued, "calib": calib, "model": model,
            "settings": settings[:n_sources], "calib_settings": settings[n_sources:]}


def make_utility(X_test, y_test):
    """U(sources) = test accuracy of a logistic regression retrained on the union of the sources."""
    from sklearn.linear_model import LogisticRegression

    def utility(sel) -> float:
        Xs = np.vstack([s.X for s in sel])
        ys = np.concatenate([s.y for s in sel])
        if np.unique(ys).size < 2:
            return float(np.mean(y_test == ys[0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = LogisticRegression(C=1.0, max_iter=300).fit(Xs, ys)
        return float(clf.score(X_test, y_test))

    return utility


def run(n_sources: int, n_calib: int, size: int, seed: int) -> dict:
    import torch

    from phasemix.theory.ntk import TorchProbe
    from phasemix.theory.valuation import (
        FEATURES,
        davinz_score,
        fit_score_weights,
        leave_one_out,
        paper_score,
        rank_correlations,
        shared_kernel,
        single_source,
        source_features,
        tracin_score,
    )

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    prob = build_problem(n_sources, n_calib, size, seed)
    print(f"[setup] {n_sources} sources + {n_calib} calibration subsets of {size} samples, "
          f"{time.perf_counter() - t0:.1f}s", flush=True)
    probe = TorchProbe(prob["model"])
    Xt, yt = prob["X_test"], prob["y_test"]
    utility = make_utility(Xt, yt)
    results = {}

    loo = leave_one_out(prob["valued"], utility)
    results["leave_one_out"] = loo
    print(f"[truth] leave-one-out retraining {loo.runtime_s:.1f}s", flush=True)
    single = single_source(prob["valued"], utility)
    results["single_source"] = single
    print(f"[truth] single-source retraining {single.runtime_s:.1f}s", flush=True)

    # the paper's score: calibration (retraining on calibration subsets) + features + weights
    t = time.perf_counter()
    kernel = shared_kernel(prob["calib"], Xt, probe, seed=seed)
    calib_err = [1.0 - utility([c]) for c in prob["calib"]]
    feats = np.array([[f[k] for k in FEATURES] for f in (source_features(c, Xt, probe, kernel=kernel, seed=seed)
                                                           for c in prob["calib"])])
    weights = fit_score_weights(feats, calib_err)
    calib_time = time.perf_counter() - t
    results["paper"] = paper_score(prob["valued"], Xt, probe, weights, kernel=kernel, seed=seed,
                                   extra_runtime_s=calib_time)
    paper_w = fit_score_weights(feats, target_kind="paper")
    results["paper_target_paper"] = paper_score(prob["valued"], Xt, probe, paper_w, kernel=kernel, seed=seed,
                                                extra_runtime_s=calib_time)
    print(f"[paper] calibration {calib_time:.1f}s, weights {np.round(weights.weights, 3)}, R² {weights.r2:.2f}",
          flush=True)
    results["davinz"] = davinz_score(prob["valued"], Xt, probe)
    results["tracin"] = tracin_score(prob["valued"], Xt, yt, probe)

    rows = []
    for name, res in results.items():
        c_loo = rank_correlations(res, loo)
        c_single = rank_correlations(res, single)
        rows.append({"method": name, "spearman_loo": c_loo["spearman"], "pearson_loo": c_loo["pearson"],
                     "spearman_single": c_single["spearman"], "pearson_single": c_single["pearson"],
                     "runtime_s": res.runtime_s})
    fastest_truth = min(loo.runtime_s, single.runtime_s)
    for r in rows:
        r["runtime_vs_single_retraining"] = r["runtime_s"] / single.runtime_s if single.runtime_s > 0 else None
    return {
        "schema_version": 1,
        "benchmark": "valuation",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": _git_commit(),
        "config": {"n_sources": n_sources, "n_calibration": n_calib, "source_size": size, "seed": seed,
                   "test_size": int(len(yt)), "base_model": "MLP 64-32-10 tanh, Adam 150 steps on 200 digits",
                   "retraining_model": "sklearn LogisticRegression(C=1, max_iter=300)", "utility": "test accuracy",
                   "cpu_threads": 1, "blas_threads": 1},
        "table": rows,
        "fastest_ground_truth_s": fastest_truth,
        "paper_weights": weights.to_dict(),
        "paper_target_weights": paper_w.to_dict(),
        "sources": [{"name": s.name, **st} for s, st in zip(prob["valued"], prob["settings"])],
        "results": {k: v.to_dict() for k, v in results.items()},
        "total_runtime_s": time.perf_counter() - t0,
    }


def print_table(out: dict) -> None:
    print()
    print(f"{'method':<22}{'ρ_s LOO':>9}{'r LOO':>9}{'ρ_s single':>12}{'r single':>10}{'runtime s':>11}")
    for r in out["table"]:
        print(f"{r['method']:<22}{r['spearman_loo']:>9.3f}{r['pearson_loo']:>9.3f}{r['spearman_single']:>12.3f}"
              f"{r['pearson_single']:>10.3f}{r['runtime_s']:>11.2f}")
    print(f"total {out['total_runtime_s']:.1f}s")


def write_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", type=int, default=16, help="sources to value")
    ap.add_argument("--calibration", type=int, default=12, help="calibration subsets for the paper's weights")
    ap.add_argument("--size", type=int, default=150, help="samples per source")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        out = run(args.sources, args.calibration, args.size, args.seed)
    ntk_warnings = [str(w.message) for w in caught if "NTK Gram" in str(w.message)]
    out["ntk_singular_warnings"] = len(ntk_warnings)
    print_table(out)
    write_atomic(RESULTS, out)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
