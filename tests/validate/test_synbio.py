"""SynBio: exact entropy against brute-force counts, determinism, formats, fresh-value control independence."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from phasemix.validate.mixing import MixConfig, MixedStream
from phasemix.validate.synbio import (
    ATTRIBUTE_SLOTS,
    ATTRIBUTES,
    SynBioConfig,
    fresh_values,
    generate,
    power_law_weights,
    prose_pieces,
    prose_text,
    tuple_text,
)
from phasemix.validate.tokenizer import BioVocab

SMALL = dict(days=2, months=3, years=2, cities=2, universities=3, majors=2, employers=2)


def test_entropy_matches_brute_force_count():
    cfg = SynBioConfig(individuals=2, **SMALL)
    cards = cfg.slot_cardinalities
    # every distinct attribute tuple of one individual, enumerated
    tuples = set()
    for v in itertools.product(*(range(c) for c in cards)):
        tuples.add(tuple(tuple(v[j] for j in s) for s in ATTRIBUTE_SLOTS))
    assert math.isclose(cfg.bits_per_individual, math.log2(len(tuples)), rel_tol=1e-12)
    # tables of K = 2 individuals: every pair of tuples
    tables = sum(1 for _ in itertools.product(tuples, repeat=2))
    assert math.isclose(cfg.total_bits, math.log2(tables), rel_tol=1e-12)
    # attribute cardinalities multiply to the count
    assert math.prod(cfg.cardinalities) == len(tuples)


def test_default_entropy_is_sizing_spec_value():
    assert round(SynBioConfig().bits_per_individual, 2) == 34.55


def test_generator_draws_uniform_values():
    cfg = SynBioConfig(individuals=6000, **SMALL)
    bio = generate(cfg, 3)
    combos = np.ravel_multi_index(bio.values.T, cfg.slot_cardinalities)
    counts = np.bincount(combos, minlength=math.prod(cfg.slot_cardinalities))
    assert stats.chisquare(counts).pvalue > 1e-3  # uniform over all 288 combinations at this seed


def test_deterministic_per_seed_and_names_unique():
    cfg = SynBioConfig(individuals=500)
    a, b, c = generate(cfg, 1), generate(cfg, 1), generate(cfg, 2)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.first, b.first) and np.array_equal(a.last, b.last)
    assert not np.array_equal(a.values, c.values)
    names = {(f, l) for f, l in zip(a.first, a.last)}
    assert len(names) == 500
    assert len({a.name(i) for i in range(500)}) == 500


def test_config_errors_name_the_argument():
    with pytest.raises(ValueError, match="individuals"):
        SynBioConfig(individuals=101, first_names=10, last_names=10)
    with pytest.raises(ValueError, match="cities"):
        SynBioConfig(cities=10_000)
    with pytest.raises(ValueError, match="individuals"):
        SynBioConfig(individuals=0)


def test_compact_format_redraws_attribute_order():
    bio = generate(SynBioConfig(individuals=50), 0)
    voc = BioVocab(bio.config, 512)
    rng = np.random.default_rng(0)
    idx = np.zeros(200, dtype=int)
    toks = voc.compact(bio.first[idx], bio.last[idx], bio.values[idx], rng)
    assert toks.shape == (200, voc.tokens_per_bio) == (200, 15)
    assert (toks[:, 0] == voc.bos).all() and (toks >= 512).all() and (toks < voc.end).all()
    keys = {voc.key(a) for a in range(len(ATTRIBUTES))}
    orders = set()
    for row in toks:
        ks = [t for t in row if t in keys]
        assert sorted(ks) == sorted(keys)
        orders.add(tuple(ks))
        # the value after each key is the individual's value
        pos = list(row).index(voc.key(1))
        assert row[pos + 1] == voc.slot_bases[3] + bio.values[0, 3]
    assert len(orders) > 50  # 120 orders possible; redrawn per exposure


def test_prose_and_tuple_formats():
    bio = generate(SynBioConfig(individuals=10), 0)
    rng = np.random.default_rng(1)
    texts = {prose_text(bio, 0, rng) for _ in range(30)}
    assert len(texts) > 20  # sentence order and templates redrawn
    pieces = prose_pieces(bio, 0, rng)
    assert sorted(p[2] for p in pieces) == list(range(5))
    vals = bio.value_strings(bio.values[0])
    for prefix, value, a in pieces:
        assert bio.name(0) in prefix and value == vals[a]
    t = tuple_text(bio, 0, rng)
    assert t.startswith(f"Bio: N {bio.name(0)} ") and all(v in t for v in vals)


def test_power_law_weights():
    w = power_law_weights(1000, 100, 1.5)
    assert math.isclose(w.sum(), 1.0) and (w > 0).all()
    assert (np.diff(w) <= 1e-15).all()  # non-increasing over subsets
    assert math.isclose(w[0] / w[-1], 100**1.5, rel_tol=1e-9)


def test_fresh_values_do_not_depend_on_the_name():
    bio = generate(SynBioConfig(individuals=20, cities=5), 0)
    # structural: the draw only uses the RNG, never the individual it will be shown with
    a = fresh_values(bio, 1000, np.random.default_rng(5))
    b = fresh_values(bio, 1000, np.random.default_rng(5))
    assert np.array_equal(a, b)
    # statistical: in the training stream, shown city is independent of the person (chi-square, fixed seed)
    voc = BioVocab(bio.config, 300)
    mix = MixConfig(ratio=1.0, batch=32, context=60, steps=60, seed=0, control="fresh")
    st = MixedStream(mix, bio, voc, np.arange(1000) % 300)
    table = np.zeros((20, 5))
    same = 0
    for s in range(60):
        x, _, idx = st.batch(s)
        rows = x.reshape(-1, 15)
        for row, i in zip(rows, idx):
            pos = list(row).index(voc.key(1))
            city = row[pos + 1] - voc.slot_bases[3]
            table[i, city] += 1
            same += city == bio.values[i, 3]
    p = stats.chi2_contingency(table).pvalue
    assert p > 1e-3
    # the real stream always shows the person's own value
    st_real = MixedStream(MixConfig(ratio=1.0, batch=8, context=60, steps=2, seed=0), bio, voc, np.arange(1000) % 300)
    x, _, idx = st_real.batch(0)
    for row, i in zip(x.reshape(-1, 15), idx):
        pos = list(row).index(voc.key(1))
        assert row[pos + 1] - voc.slot_bases[3] == bio.values[i, 3]
