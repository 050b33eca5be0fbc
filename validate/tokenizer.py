"""Tokenizers: a byte-level BPE for web text trained in-process and cached by content hash, and the compact bio
vocabulary, which lives in its own id range above the BPE ids (one id per name part, key and value token)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phasemix._checks import check_int
from phasemix.validate.synbio import ATTRIBUTE_SLOTS, ATTRIBUTES, SynBioConfig

BPE_SPECIAL = "<|endoftext|>"
_CACHE_VERSION = "1"


def train_bpe(texts: list[str], vocab_size: int = 512, cache_dir: str | os.PathLike | None = None):
    """Train (or load from ``cache_dir``) a byte-level BPE on ``texts``; the cache key hashes texts and settings."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    vocab_size = check_int("vocab_size", vocab_size, minimum=260)
    if not texts or not any(t.strip() for t in texts):
        raise ValueError("texts must hold some non-empty text to train the tokenizer on, got an empty corpus")
    h = hashlib.sha256(f"bpe-v{_CACHE_VERSION}-{vocab_size}".encode())
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    key = h.hexdigest()[:24]
    path = Path(cache_dir) / f"bpe-{key}.json" if cache_dir is not None else None
    if path is not None and path.exists():
        return Tokenizer.from_file(str(path))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BPE_SPECIAL],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tok.save(str(tmp))
        os.replace(tmp, path)
    return tok


def encode_texts(tokenizer, texts: list[str]) -> np.ndarray:
    """Encode ``texts`` and join them with the end-of-text id into one int32 stream."""
    eot = tokenizer.token_to_id(BPE_SPECIAL)
    parts = []
    for enc in tokenizer.encode_batch(texts):
        parts.append(np.asarray(enc.ids, dtype=np.int32))
        parts.append(np.asarray([eot], dtype=np.int32))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


@dataclass(frozen=True, slots=True)
class BioVocab:
    """Compact-format ids: ``<bos>``, 5 keys, first names, last names, then each value slot, from ``offset`` up."""

    config: SynBioConfig
    offset: int

    def __post_init__(self) -> None:
        check_int("offset", self.offset, minimum=0)

    @property
    def bos(self) -> int:
        return self.offset

    def key(self, attribute: int) -> int:
        return self.offset + 1 + attribute

    @property
    def first_base(self) -> int:
        return self.offset + 1 + len(ATTRIBUTES)

    @property
    def last_base(self) -> int:
        return self.first_base + self.config.first_names

    @property
    def slot_bases(self) -> np.ndarray:
        base = self.last_base + self.config.last_names
        cards = np.asarray(self.config.slot_cardinalities)
        return base + np.concatenate([[0], np.cumsum(cards)[:-1]])

    @property
    def size(self) -> int:
        """Number of bio ids."""
        return 1 + len(ATTRIBUTES) + self.config.first_names + self.config.last_names + sum(
            self.config.slot_cardinalities)

    @property
    def end(self) -> int:
        """One past the last bio id (the model's vocabulary size when the BPE ids come first)."""
        return self.offset + self.size

    def segment_table(self, values: np.ndarray) -> np.ndarray:
        """(n, 5, 4) table of ``key value...`` segments per attribute, padded with −1 (date: 4 ids, others 2)."""
        ids = values + self.slot_bases  # (n, 7)
        out = np.full((values.shape[0], len(ATTRIBUTES), 4), -1, dtype=np.int64)
        for a, slots in enumerate(ATTRIBUTE_SLOTS):
            out[:, a, 0] = self.key(a)
            out[:, a, 1:1 + len(slots)] = ids[:, list(slots)]
        return out

    @property
    def tokens_per_bio(self) -> int:
        return 3 + len(ATTRIBUTES) + sum(len(s) for s in ATTRIBUTE_SLOTS)

    def compact(self, first: np.ndarray, last: np.ndarray, values: np.ndarray, rng: np.random.Generator
                ) -> np.ndarray:
        """(n, 15) compact bios ``<bos> FIRST LAST key value ...``, attribute order redrawn per bio (Eq. (122) in
        docs/theory.md)."""
        n = len(first)
        seg = self.segment_table(values)
        order = np.argsort(rng.random((n, len(ATTRIBUTES))), axis=1)
        seg = np.take_along_axis(seg, order[:, :, None], axis=1).reshape(n, -1)
        body = seg[seg >= 0].reshape(n, -1)
        head = np.stack([np.full(n, self.bos), first + self.first_base, last + self.last_base], axis=1)
        return np.concatenate([head, body], axis=1)

    def to_dict(self) -> dict:
        return {"offset": self.offset, "size": self.size, "tokens_per_bio": self.tokens_per_bio}


def content_hash(obj) -> str:
    """Short sha256 of a JSON-serializable object (cache keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]
