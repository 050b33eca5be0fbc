"""The training stream: an exact token share r of compact bios mixed with web windows, a pure function of
(seed, step) so a resumed run sees the same batches, with exposures counted, not estimated (Eq. (125)–(126) in
docs/theory.md)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from phasemix._checks import check_choice, check_int, check_unit_interval
from phasemix.validate.synbio import SynBio, fresh_values
from phasemix.validate.tokenizer import BioVocab

IGNORE = -100
CONTROLS = ("none", "fresh")


@dataclass(frozen=True, slots=True)
class MixConfig:
    """How rows are mixed: ``ratio`` (bio token share), rows per step, context, steps, seed and variants.

    ``subsample`` keeps the first ``round(subsample·K)`` individuals (mitigation; evaluation stays over all K).
    ``weights`` (optional, per individual) switches from epoch-wise permutations to i.i.d. weighted draws.
    """

    ratio: float
    batch: int
    context: int
    steps: int
    seed: int
    control: str = "none"
    subsample: float = 1.0

    def __post_init__(self) -> None:
        check_unit_interval("ratio", self.ratio)
        check_int("batch", self.batch, minimum=1)
        check_int("context", self.context, minimum=2)
        check_int("steps", self.steps, minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_choice("control", self.control, CONTROLS)
        check_unit_interval("subsample", self.subsample, low_open=True)


class MixedStream:
    """Batches of ``(x, y)`` int64 arrays (B, T); bio rows hold ``T // tokens_per_bio`` whole compact bios."""

    def __init__(self, mix: MixConfig, bio: SynBio, vocab: BioVocab, web: np.ndarray,
                 weights: np.ndarray | None = None):
        self.mix, self.bio, self.vocab = mix, bio, vocab
        self.web = np.asarray(web, dtype=np.int64)
        t = mix.context
        self.bios_per_row = t // vocab.tokens_per_bio
        if mix.ratio > 0 and self.bios_per_row < 1:
            raise ValueError(f"context must be >= tokens_per_bio ({vocab.tokens_per_bio}) to hold a bio, got {t}")
        if mix.ratio < 1 and len(self.web) < t + 2:
            raise ValueError(f"the web token stream must be longer than the context ({t}), got {len(self.web)}")
        self.active = np.arange(max(1, int(round(mix.subsample * bio.size))))
        self.weights = None
        if weights is not None:
            w = np.asarray(weights, dtype=float)[self.active]
            if w.shape != self.active.shape or (w < 0).any() or w.sum() <= 0:
                raise ValueError("weights must be non-negative per individual with a positive sum")
            self.weights = w / w.sum()
        rows = mix.steps * mix.batch
        self.bio_rows_total = int(round(mix.ratio * rows))
        sched = np.zeros(rows, dtype=bool)
        sched[np.random.default_rng([mix.seed, 1]).permutation(rows)[:self.bio_rows_total]] = True
        self.schedule = sched.reshape(mix.steps, mix.batch)
        self.rows_before = np.concatenate([[0], np.cumsum(self.schedule.sum(axis=1))])

    @property
    def bio_tokens_per_row(self) -> int:
        return self.bios_per_row * self.vocab.tokens_per_bio

    def realized_ratio(self, steps: int | None = None) -> float:
        """Exact bio token share over the first ``steps`` steps (Eq. (125) in docs/theory.md)."""
        s = self.mix.steps if steps is None else steps
        bio_tok = int(self.rows_before[s]) * self.bio_tokens_per_row
        web_tok = (s * self.mix.batch - int(self.rows_before[s])) * self.mix.context
        return bio_tok / max(1, bio_tok + web_tok)

    def tokens(self, steps: int) -> dict[str, int]:
        """Bio and web tokens (inputs) seen in the first ``steps`` steps, counted exactly."""
        b = int(self.rows_before[steps])
        return {"bio": b * self.bio_tokens_per_row, "web": (steps * self.mix.batch - b) * self.mix.context}

    @lru_cache(maxsize=4)  # noqa: B019 - one stream per run, a handful of epochs alive at a time
    def _epoch(self, e: int) -> np.ndarray:
        return np.random.default_rng([self.mix.seed, 2, e]).permutation(self.active)

    def _bio_indices(self, start: int, count: int, step: int) -> np.ndarray:
        if self.weights is not None:
            rng = np.random.default_rng([self.mix.seed, 3, step])
            return self.active[rng.choice(len(self.active), size=count, p=self.weights)]
        k = len(self.active)
        out = np.empty(count, dtype=np.int64)
        pos = 0
        while pos < count:
            e, off = divmod(start + pos, k)
            take = min(k - off, count - pos)
            out[pos:pos + take] = self._epoch(e)[off:off + take]
            pos += take
        return out

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(x, y, bio_indices)`` of step ``step``; ``y`` uses −100 where no target is trained."""
        mix, t = self.mix, self.mix.context
        rows = self.schedule[step]
        rng = np.random.default_rng([mix.seed, 4, step])
        x = np.empty((mix.batch, t), dtype=np.int64)
        y = np.full((mix.batch, t), IGNORE, dtype=np.int64)
        nb = int(rows.sum())
        idx = np.zeros(0, dtype=np.int64)
        if nb:
            n = nb * self.bios_per_row
            idx = self._bio_indices(int(self.rows_before[step]) * self.bios_per_row, n, step)
            values = self.bio.values[idx] if mix.control == "none" else fresh_values(self.bio, n, rng)
            toks = self.vocab.compact(self.bio.first[idx], self.bio.last[idx], values, rng).reshape(nb, -1)
            w = toks.shape[1]
            x[rows, :w] = toks
            x[rows, w:] = self.vocab.bos
            y[rows, :w - 1] = toks[:, 1:]
        if nb < mix.batch:
            starts = rng.integers(0, len(self.web) - t - 1, size=mix.batch - nb)
            win = self.web[starts[:, None] + np.arange(t + 1)]
            x[~rows] = win[:, :-1]
            y[~rows] = win[:, 1:]
        return x, y, idx
