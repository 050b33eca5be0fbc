"""Mixing (exact token share, counted exposures, determinism) and evaluation (stored bits, oracle model)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasemix.validate.evaluate import (
    learned_fraction_bootstrap,
    pack_bits,
    slot_correct,
    stored_bits,
    summarize,
    unpack_bits,
)
from phasemix.validate.mixing import MixConfig, MixedStream
from phasemix.validate.synbio import SynBioConfig, generate
from phasemix.validate.tokenizer import BioVocab

WEB = (np.arange(5000) * 7919) % 300


def _stream(ratio, steps=50, batch=16, seed=0, k=40, **kw):
    bio = generate(SynBioConfig(individuals=k), 0)
    voc = BioVocab(bio.config, 300)
    return MixedStream(MixConfig(ratio, batch, 60, steps, seed, **kw), bio, voc, WEB)


@given(st.floats(0.0, 1.0), st.integers(1, 40), st.integers(1, 16))
def test_token_share_is_exact(r, steps, batch):
    s = _stream(r, steps, batch)
    rows = steps * batch
    n_bio = int(round(r * rows))
    assert s.schedule.sum() == n_bio
    assert math.isclose(s.realized_ratio(), n_bio / rows)  # bio rows and web rows hold 60 tokens each
    assert abs(s.realized_ratio() - r) <= 0.5 / rows + 1e-12


def test_exposures_counted_and_uniform():
    s = _stream(0.5, steps=50, batch=16, k=40)
    counts = np.zeros(40, dtype=int)
    for step in range(50):
        x, y, idx = s.batch(step)
        np.add.at(counts, idx, 1)
        bio_rows = s.schedule[step]
        assert (x[bio_rows][:, 0] == s.vocab.bos).all()
        assert (y[bio_rows][:, -1] == -100).all() and (y[~bio_rows] != -100).all()
    n_bios = s.schedule.sum() * s.bios_per_row
    assert counts.sum() == n_bios
    assert counts.max() - counts.min() <= 1  # epoch-wise permutations: uniform exposures
    assert s.tokens(50)["bio"] == n_bios * 15


def test_batches_are_a_function_of_seed_and_step():
    a, b, c = _stream(0.3, seed=4), _stream(0.3, seed=4), _stream(0.3, seed=5)
    for step in (0, 7, 49):
        assert all(np.array_equal(u, v) for u, v in zip(a.batch(step), b.batch(step)))
    assert not np.array_equal(a.batch(3)[0], c.batch(3)[0])


def test_subsample_only_shows_active_individuals():
    s = _stream(1.0, steps=20, k=40, subsample=0.25)
    seen = np.concatenate([s.batch(i)[2] for i in range(20)])
    assert set(seen.tolist()) == set(range(10))


def test_mix_config_rejects_bad_ratio():
    with pytest.raises(ValueError, match="ratio"):
        MixConfig(1.2, 8, 60, 10, 0)
    with pytest.raises(ValueError, match="ratio"):
        MixConfig(float("nan"), 8, 60, 10, 0)
    with pytest.raises(ValueError, match="control"):
        MixConfig(0.5, 8, 60, 10, 0, control="bogus")


def test_stored_bits_known_values():
    assert stored_bits([1.0, 1.0], [2, 8], 10) == pytest.approx(40.0)
    assert stored_bits([0.5, 1 / 8], [2, 8], 10) == pytest.approx(0.0)  # chance gives nothing
    assert stored_bits([0.0, 0.0], [2, 8], 10) == 0.0  # below chance is clipped to 0 per token, never negative
    with pytest.raises(ValueError, match="slot_accuracy"):
        stored_bits([1.5, 0.0], [2, 8], 10)


def test_oracle_model_scores_everything_and_blind_model_scores_floor():
    torch = pytest.importorskip("torch")
    bio = generate(SynBioConfig(individuals=30), 1)
    voc = BioVocab(bio.config, 300)
    table = {}
    seg = voc.segment_table(bio.values)
    for i in range(30):
        for a in range(5):
            head = [voc.bos, bio.first[i] + voc.first_base, bio.last[i] + voc.last_base]
            seq = head + [t for t in seg[i, a] if t >= 0]
            for j in range(3, len(seq) - 1):
                table[tuple(seq[:j + 1])] = seq[j + 1]

    class Oracle(torch.nn.Module):
        def forward(self, idx):
            out = torch.zeros(idx.shape[0], idx.shape[1], voc.end)
            for b in range(idx.shape[0]):
                for t in range(idx.shape[1]):
                    nxt = table.get(tuple(idx[b, :t + 1].tolist()))
                    if nxt is not None:
                        out[b, t, nxt] = 10.0
            return out

    correct, nll = slot_correct(Oracle(), bio, voc)
    m = summarize(correct, nll, bio)
    assert m["accuracy"] == 1.0 and m["learned_fraction"] == pytest.approx(1.0)
    assert m["stored_bits"] == pytest.approx(bio.config.total_bits)

    class Blind(torch.nn.Module):  # always predicts id 0: a web token, never a value
        def forward(self, idx):
            out = torch.zeros(idx.shape[0], idx.shape[1], voc.end)
            out[..., 0] = 1.0
            return out

    correct, nll = slot_correct(Blind(), bio, voc)
    m = summarize(correct, nll, bio)
    assert m["accuracy"] == 0.0 and m["learned_fraction"] == 0.0
    assert m["chance"] < m["marginal_floor"] <= 1.0
    boot = learned_fraction_bootstrap(correct, bio, 20)
    assert (boot == 0).all()


def test_pack_roundtrip():
    a = np.random.default_rng(0).random((13, 7)) > 0.5
    assert np.array_equal(unpack_bits(pack_bits(a), a.shape), a)
