"""Integer-inversion Poisson sampler: table structure and chi-square goodness of fit (spec §6.3).

Each chi-square test uses a fixed seed and level α = 1e-4, so a correct sampler fails a given test with probability
1e-4; over the 9 tests in this module the family-wise false-failure rate is ≤ 9e-4.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from phasemix.kernels import poisson, rng
from phasemix.kernels.reference import draw_exposures_np

ALPHA = 1e-4
DRAWS = 40_000


def _chi2_pvalue(values: np.ndarray, mean: float) -> float:
    """Chi-square p-value of integer draws against Poisson(mean), pooling cells with expected count < 5."""
    lo, hi = int(values.min()), int(values.max())
    k = np.arange(max(0, lo - 5), hi + 6)
    exp = stats.poisson.pmf(k, mean) * values.size
    exp[0] += stats.poisson.cdf(k[0] - 1, mean) * values.size
    exp[-1] += stats.poisson.sf(k[-1], mean) * values.size
    obs = np.bincount(values - k[0], minlength=k.size)[: k.size].astype(float)
    # pool adjacent cells left to right until each pooled cell expects >= 5
    pooled_o, pooled_e, acc_o, acc_e = [], [], 0.0, 0.0
    for o, e in zip(obs, exp):
        acc_o += o
        acc_e += e
        if acc_e >= 5:
            pooled_o.append(acc_o)
            pooled_e.append(acc_e)
            acc_o = acc_e = 0.0
    if acc_e > 0:
        if pooled_e:
            pooled_o[-1] += acc_o
            pooled_e[-1] += acc_e
        else:
            pooled_o.append(acc_o)
            pooled_e.append(acc_e)
    if len(pooled_e) < 2:
        return 1.0
    o, e = np.array(pooled_o), np.array(pooled_e)
    e *= o.sum() / e.sum()
    return float(stats.chisquare(o, e).pvalue)


def _words(seed: int, n: int) -> np.ndarray:
    s0, s1 = rng.stream_state_np(rng.setting_base(seed, 99), np.arange(n, dtype=np.uint64), 0, 0)
    return rng.xoroshiro_next_np(s0, s1)[0]


@pytest.mark.parametrize("mean", [1e-3, 0.3, 5.0, 50.0, 400.0, 6e4])
def test_table_draws_fit_poisson(mean):
    tables = poisson.build_tables([mean])
    draws = poisson.table_draw_np(_words(int(mean * 1000) + 1, DRAWS), 0, tables)
    if mean == 1e-3:  # expected 40 ones in 40 000 draws: an exact binomial test on P(n >= 1) instead
        k = int((draws >= 1).sum())
        p1 = stats.poisson.sf(0, mean)
        assert stats.binomtest(k, DRAWS, p1).pvalue > ALPHA
        assert draws.max() <= 3
        return
    assert _chi2_pvalue(draws, mean) > ALPHA


@pytest.mark.parametrize("mean", [0.73, 123.456, 200_000.37])
def test_digit_decomposition_draws_fit_poisson(mean):
    tables = poisson.digit_tables()
    n = DRAWS
    mu_fp = np.full(n, int(mean * 2**32), dtype=np.uint64)
    draws = draw_exposures_np(rng.setting_base(5, 17), np.arange(n, dtype=np.uint64), 0, 0, 1, np.zeros(n, np.int64),
                              mu_fp, 1, tables)
    assert _chi2_pvalue(draws, mean) > ALPHA


def test_tables_are_monotone_and_end_at_top():
    t = poisson.build_tables([0.0, 0.3, 5.0, 400.0, 6e4])
    for i in range(t.ntab):
        seg = t.thr[t.off[i]:t.off[i + 1]]
        assert np.all(seg[1:] >= seg[:-1])
        assert seg[-1] == np.uint64(2**64 - 1)


def test_guided_draw_equals_plain_search():
    """The guide table only accelerates the search: draws equal searchsorted over the full table."""
    t = poisson.build_tables([0.3, 50.0, 6e4])
    x = _words(11, 5000)
    for tab in range(t.ntab):
        seg = t.thr[t.off[tab]:t.off[tab + 1]]
        want = np.minimum(np.searchsorted(seg, x, side="right"), seg.size - 1) + t.lo[tab]
        assert np.array_equal(poisson.table_draw_np(x, tab, t), want)


def test_extreme_words_stay_in_table():
    t = poisson.build_tables([5.0])
    x = np.array([0, 2**64 - 1, 2**63], dtype=np.uint64)
    v = poisson.table_draw_np(x, 0, t)
    assert v[0] == 0 and v[1] == t.thr.size - 1 + t.lo[0] and 0 < v[2] < 20


def test_zero_mean_always_draws_zero():
    t = poisson.build_tables([0.0])
    assert not poisson.table_draw_np(_words(1, 100), 0, t).any()


@pytest.mark.parametrize("bad", [[-1.0], [float("nan")], [2.0**17], []])
def test_bad_means_raise_naming_the_argument(bad):
    with pytest.raises(ValueError, match="means"):
        poisson.build_tables(bad)


def test_split_count_keeps_sub_means_below_limit():
    for m in [0.0, 1.0, 65535.0, 1e6, 3.3e7]:
        k = poisson.split_count(m)
        assert m / k <= poisson.MAX_TABLE_MEAN
