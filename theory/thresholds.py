"""Threshold frequency / popularity from per-item correctness, with bootstrap CIs (Eq. (38)–(39) in docs/theory.md).

- :func:`first_below_target`: grouped data (SynBio power-law subsets): the frequency of the first group, in
  descending frequency, whose accuracy is below the target (default 0.8), optionally interpolated in log frequency.
- :func:`popularity_scan`: Algorithm 1 of Gu et al. (2025, App. E.6) as reconstructed in the spec: scan from the
  most popular item down; the accuracy of everything at or above a candidate must meet the target (default 0.6);
  stop at the ``n_fail``-th failure (variant B, ``reset=False``) or the ``n_fail``-th consecutive failure
  (variant A, ``reset=True``); steps per item or per distinct popularity value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from phasemix._checks import as_float_array, check_choice, check_int, check_positive, check_unit_interval
from phasemix.results import SCHEMA_VERSION, ResultIO


@dataclass(frozen=True, slots=True)
class ThresholdEstimate(ResultIO):
    """A threshold with its percentile bootstrap CI.

    method : 'first_below' or 'scan'. variant : e.g. 'interpolate', 'step', 'reset/point'. status : 'ok';
    'all_above' (no group/scan failed: the threshold is at or below the smallest value, which is returned);
    'all_below' (the most frequent group already fails: threshold at or above the largest value, returned).
    """

    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    target: float
    method: str
    variant: str
    n_items: int
    n_boot: int
    seed: int
    status: str
    schema_version: int = SCHEMA_VERSION


def _check_items(name: str, values, correct) -> tuple[np.ndarray, np.ndarray]:
    x = check_positive(name, values)
    y = as_float_array("correct", correct)
    if x.ndim != 1 or x.size == 0 or y.shape != x.shape:
        raise ValueError(f"{name} and correct must be non-empty 1-D arrays of one length, got {x.shape} and {y.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        bad = y[~np.isin(y, (0.0, 1.0))][0]
        raise ValueError(f"correct must hold only 0/1 (or booleans), got {bad!r}")
    return x, y


def _percentile_ci(values: np.ndarray, conf: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    lo, hi = np.percentile(values, [(1 - conf) / 2 * 100, (1 + conf) / 2 * 100])
    return float(lo), float(hi)


# ------------------------------------------------------------------------------------------- first below target


def _first_below(freq: np.ndarray, acc: np.ndarray, target: float, interpolate: bool) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized over rows of ``acc`` (…, G) with groups sorted by descending ``freq``; returns (value, status)."""
    below = acc < target
    has = below.any(-1)
    i = np.where(has, np.argmax(below, -1), freq.size - 1)
    value = freq[i].astype(float)
    status = np.where(has, np.where(i == 0, 2, 0), 1)  # 0 ok, 1 all_above, 2 all_below
    if interpolate:
        ok = has & (i > 0)
        ip = np.maximum(i - 1, 0)
        a_prev = np.take_along_axis(acc, ip[..., None], -1)[..., 0]
        a_cur = np.take_along_axis(acc, i[..., None], -1)[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            w = (a_prev - target) / (a_prev - a_cur)
        lf = np.log(freq[ip]) + w * (np.log(freq[i]) - np.log(freq[ip]))
        value = np.where(ok, np.exp(lf), value)
    return value, status


_STATUS = {0: "ok", 1: "all_above", 2: "all_below"}


def first_below_target(frequency, correct, group=None, *, target: float = 0.8, interpolate: bool = False,
                       n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> ThresholdEstimate:
    """Frequency of the first group (descending frequency) whose accuracy is below ``target``.

    Eq. (38) in docs/theory.md.

    Parameters
    ----------
    frequency : per-item frequency (> 0); a group's frequency is the mean over its items.
    correct : per-item 0/1 correctness. group : per-item group labels (default: items of equal frequency).
    interpolate : interpolate log frequency linearly in accuracy between the last passing and the first failing
        group (the plain rule is step-valued, quantized to the group frequencies).
    n_boot, confidence, seed : the CI resamples items within groups (a group's resampled accuracy is
        Binomial(n_g, acc_g)/n_g, which is exactly that), so it is step-valued for the plain rule.
    """
    x, y = _check_items("frequency", frequency, correct)
    labels = x if group is None else np.asarray(group)
    if labels.shape != x.shape:
        raise ValueError(f"group must have one label per item ({x.shape}), got shape {labels.shape}")
    a = float(check_unit_interval("target", target, low_open=True, high_open=False))
    n_boot = check_int("n_boot", n_boot, minimum=0)
    conf = float(check_unit_interval("confidence", confidence, low_open=True, high_open=True))
    _, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    freq = np.bincount(inv, weights=x) / counts
    acc = np.bincount(inv, weights=y) / counts
    order = np.argsort(-freq, kind="stable")
    freq, acc, counts = freq[order], acc[order], counts[order]
    value, status = _first_below(freq, acc, a, interpolate)
    ci = (math.nan, math.nan)
    if n_boot:
        rng = np.random.default_rng(seed)
        acc_b = rng.binomial(counts, acc, size=(n_boot, freq.size)) / counts
        ci = _percentile_ci(_first_below(freq, acc_b, a, interpolate)[0], conf)
    return ThresholdEstimate(float(value), ci[0], ci[1], conf, a, "first_below",
                             "interpolate" if interpolate else "step", int(x.size), n_boot, int(seed),
                             _STATUS[int(status)])


# --------------------------------------------------------------------------------------- popularity scan (Alg. 1)


def _scan(x: np.ndarray, y: np.ndarray, target: float, n_fail: int, reset: bool, per_value: bool):
    """One run of the reconstructed Algorithm 1; returns (threshold, reached)."""
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    n = xs.size
    suf = np.cumsum(ys[::-1])[::-1] / np.arange(n, 0, -1)  # suf[k] = mean(ys[k:])
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]]) if per_value else np.arange(n)
    if starts.size < 2:
        return float(xs[0]), False
    fails = suf[starts[:-1]][::-1] < target  # candidates k = B-2, ..., 0 in scan order
    if reset:
        idx = np.arange(fails.size)
        last_ok = np.maximum.accumulate(np.where(~fails, idx, -1))
        count = idx - last_ok
    else:
        count = np.cumsum(fails)
    hit = np.flatnonzero(count >= n_fail)
    if hit.size == 0:
        return float(xs[0]), False
    k = starts.size - 2 - int(hit[0])  # the failing block; the threshold is the block just above it
    return float(xs[starts[k + 1]]), True


def popularity_scan(popularity, correct, *, target: float = 0.6, n_fail: int = 5, reset: bool = False,
                    step: str = "point", group=None, n_boot: int = 1000, confidence: float = 0.95,
                    seed: int = 0) -> ThresholdEstimate:
    """Threshold popularity by the popularity scan of Algorithm 1 (Eq. (39) in docs/theory.md).

    Parameters
    ----------
    popularity, correct : per-item popularity (> 0) and 0/1 correctness.
    target : accuracy the items at or above a candidate must meet. n_fail : failures tolerated (the n_fail-th stops).
    reset : variant A (True) resets the failure count after a success; variant B (False) never resets (the paper
        leaves this open: compare both). step : 'point' (one item per step) or 'value' (one distinct popularity).
    group : optional labels; the bootstrap then resamples items within each group. n_boot, confidence, seed : CI.

    Returns the popularity just above the point where the n_fail-th failure occurs, or the smallest popularity
    (status 'all_above') when the scan never fails n_fail times.
    """
    x, y = _check_items("popularity", popularity, correct)
    a = float(check_unit_interval("target", target, low_open=True))
    n_fail = check_int("n_fail", n_fail, minimum=1)
    check_choice("step", step, ("point", "value"))
    n_boot = check_int("n_boot", n_boot, minimum=0)
    conf = float(check_unit_interval("confidence", confidence, low_open=True, high_open=True))
    per_value = step == "value"
    value, reached = _scan(x, y, a, n_fail, reset, per_value)
    ci = (math.nan, math.nan)
    if n_boot:
        rng = np.random.default_rng(seed)
        if group is None:
            members = [np.arange(x.size)]
        else:
            labels = np.asarray(group)
            if labels.shape != x.shape:
                raise ValueError(f"group must have one label per item ({x.shape}), got shape {labels.shape}")
            members = [np.flatnonzero(labels == g) for g in np.unique(labels)]
        boot = np.empty(n_boot)
        for i in range(n_boot):
            idx = np.concatenate([m[rng.integers(0, m.size, m.size)] for m in members])
            boot[i] = _scan(x[idx], y[idx], a, n_fail, reset, per_value)[0]
        ci = _percentile_ci(boot, conf)
    variant = f"{'reset' if reset else 'no_reset'}/{step}"
    return ThresholdEstimate(value, ci[0], ci[1], conf, a, "scan", variant, int(x.size), n_boot, int(seed),
                             "ok" if reached else "all_above")
