"""Measurement: greedy exact match per attribute, chance levels, chance-corrected stored bits per value token,
knowledge-set loss and web validation loss (Eq. (127)–(131) in docs/theory.md). torch is imported lazily."""

from __future__ import annotations

import math

import numpy as np

from phasemix.validate.synbio import ATTRIBUTE_SLOTS, ATTRIBUTES, SLOTS, SynBio
from phasemix.validate.tokenizer import BioVocab

LN2 = math.log(2.0)


def stored_bits(slot_accuracy, slot_cardinalities, individuals: int) -> float:
    """Chance-corrected stored bits ``Σ_j max(0, (acc_j − 1/c_j)/(1 − 1/c_j))·K·log2 c_j`` (Eq. (128) in
    docs/theory.md).

    >>> stored_bits([1.0, 0.5], [2, 4], 10)
    16.666666666666664
    """
    acc = np.asarray(slot_accuracy, dtype=float)
    c = np.asarray(slot_cardinalities, dtype=float)
    if acc.shape != c.shape or acc.ndim != 1:
        raise ValueError(f"slot_accuracy and slot_cardinalities must be 1-D of one length, got {acc.shape}, {c.shape}")
    if ((acc < 0) | (acc > 1)).any() or np.isnan(acc).any():
        raise ValueError(f"slot_accuracy must lie in [0, 1], got {acc.tolist()}")
    chance = 1.0 / c
    a = np.where(c > 1, np.maximum(0.0, (acc - chance) / np.where(c > 1, 1.0 - chance, 1.0)), 0.0)
    return float(np.sum(a * individuals * np.log2(c)))


def slot_correct(model, bio: SynBio, vocab: BioVocab, device: str = "cpu", batch: int = 8192) -> tuple:
    """Teacher-forced argmax correctness (K, 7) per value token and value-token cross-entropy (K, 7) in nats.

    The prompt for attribute a is ``<bos> FIRST LAST key_a``; greedy decoding of the value is exact iff every
    teacher-forced argmax of its tokens is right, so exact match = all slots of the attribute correct (Eq. (127) in
    docs/theory.md).
    """
    import torch
    from torch.nn import functional as F

    k = bio.size
    seg = vocab.segment_table(bio.values)  # (K, 5, 4)
    head = np.stack([np.full(k, vocab.bos), bio.first + vocab.first_base, bio.last + vocab.last_base], axis=1)
    correct = np.zeros((k, len(SLOTS)), dtype=bool)
    nll = np.zeros((k, len(SLOTS)), dtype=float)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for a, slots in enumerate(ATTRIBUTE_SLOTS):
            n = len(slots)
            seq = np.concatenate([head, seg[:, a, :1 + n]], axis=1)  # (K, 4 + n)
            for lo in range(0, k, batch):
                s = torch.as_tensor(seq[lo:lo + batch], device=device)
                logits = model(s[:, :-1])[:, 3:3 + n].float()
                tgt = s[:, 4:4 + n]
                correct[lo:lo + batch, list(slots)] = (logits.argmax(-1) == tgt).cpu().numpy()
                ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none")
                nll[lo:lo + batch, list(slots)] = ce.view(-1, n).cpu().numpy()
    model.train(was_training)
    return correct, nll


def summarize(correct: np.ndarray, nll: np.ndarray, bio: SynBio) -> dict:
    """Accuracy per attribute/slot, chance, stored bits, learned fraction, marginal floor, knowledge loss."""
    cfg = bio.config
    slot_acc = correct.mean(axis=0)
    exact = np.stack([correct[:, list(s)].all(axis=1) for s in ATTRIBUTE_SLOTS], axis=1)
    att_acc = exact.mean(axis=0)
    chance = [1.0 / c for c in cfg.cardinalities]
    bits = stored_bits(slot_acc, cfg.slot_cardinalities, bio.size)
    # Best accuracy of any name-blind predictor (predict each attribute's most frequent value): Eq. (130) in
    # docs/theory.md.
    floor = []
    for s in ATTRIBUTE_SLOTS:
        _, counts = np.unique(bio.values[:, list(s)], axis=0, return_counts=True)
        floor.append(counts.max() / bio.size)
    return {
        "accuracy": float(att_acc.mean()),
        "accuracy_per_attribute": dict(zip(ATTRIBUTES, map(float, att_acc))),
        "slot_accuracy": dict(zip(SLOTS, map(float, slot_acc))),
        "chance": float(np.mean(chance)),
        "chance_per_attribute": dict(zip(ATTRIBUTES, chance)),
        "marginal_floor": float(np.mean(floor)),
        "stored_bits": bits,
        "learned_fraction": bits / cfg.total_bits,
        "knowledge_loss_nats": float(nll.mean()),
        "knowledge_loss_bits": float(nll.mean() / LN2),
    }


def learned_fraction_bootstrap(correct: np.ndarray, bio: SynBio, replicates: int = 200, seed: int = 0
                               ) -> np.ndarray:
    """Learned fraction recomputed on individuals resampled with replacement (indices shared via ``seed``)."""
    rng = np.random.default_rng([seed, 0xB007])
    k = bio.size
    out = np.empty(replicates)
    for b in range(replicates):
        idx = rng.integers(0, k, size=k)
        out[b] = stored_bits(correct[idx].mean(axis=0), bio.config.slot_cardinalities, k) / bio.config.total_bits
    return out


def web_windows(tokens: np.ndarray, context: int, windows: int) -> np.ndarray:
    """Fixed, evenly spaced validation windows (windows, context + 1)."""
    if len(tokens) < context + 2:
        raise ValueError(f"the web validation stream must be longer than the context ({context}), got {len(tokens)}")
    starts = np.linspace(0, len(tokens) - context - 1, num=windows).astype(np.int64)
    return np.asarray(tokens, dtype=np.int64)[starts[:, None] + np.arange(context + 1)]


def web_loss(model, windows: np.ndarray, device: str = "cpu", batch: int = 256) -> float:
    """Mean next-token cross-entropy on the web validation windows, nats per token (Eq. (131) in docs/theory.md)."""
    import torch
    from torch.nn import functional as F

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for lo in range(0, len(windows), batch):
            w = torch.as_tensor(windows[lo:lo + batch], device=device)
            logits = model(w[:, :-1]).float()
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1),
                                           reduction="sum"))
            count += w[:, 1:].numel()
    model.train(was_training)
    return total / count


def pack_bits(correct: np.ndarray) -> str:
    """Hex string of a boolean array (for per-individual results in JSONL)."""
    return np.packbits(correct.astype(np.uint8).ravel()).tobytes().hex()


def unpack_bits(text: str, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`pack_bits`."""
    n = int(np.prod(shape))
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))[:n].reshape(shape).astype(bool)
