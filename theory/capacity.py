"""Capacity in bits and knowledge sets: facts, bits per fact (exact entropy from cardinalities), tokens.

Eq. (2) and Eq. (3) in docs/theory.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from phasemix._checks import check_positive

#: Bits of capacity per parameter measured by Allen-Zhu & Li (2024) for sufficiently trained models.
DEFAULT_BITS_PER_PARAM = 2.0

#: SynBio attribute cardinalities: birth date (28 days × 12 months × 100 years), city, university, major, employer.
SYNBIO_CARDINALITIES: tuple[int, ...] = (28 * 12 * 100, 200, 300, 100, 263)


def capacity_bits(params: np.ndarray | float, bits_per_param: float = DEFAULT_BITS_PER_PARAM) -> np.ndarray:
    """Capacity ``m = b·N`` in bits (Eq. (2)).

    >>> float(capacity_bits(70e6))
    140000000.0
    """
    return check_positive("bits_per_param", bits_per_param) * check_positive("params", params)


def bits_per_fact_from_cardinalities(cardinalities: Sequence[float]) -> float:
    """Exact entropy ``h = Σ log2 |V_a|`` of one fact whose attributes are uniform and independent (Eq. (3)).

    >>> round(bits_per_fact_from_cardinalities(SYNBIO_CARDINALITIES), 4)
    45.5916
    """
    if len(cardinalities) == 0:
        raise ValueError("cardinalities must not be empty")
    cards = check_positive("cardinalities", list(cardinalities))
    if (cards < 1).any() or (cards != np.round(cards)).any():
        raise ValueError(f"cardinalities must be integers >= 1, got {list(cardinalities)!r}")
    return float(np.sum(np.log2(cards)))


@dataclass(frozen=True, slots=True)
class KnowledgeSet:
    """A knowledge-dense data set of ``facts`` equally frequent facts.

    Parameters
    ----------
    facts : K, the number of facts (e.g. individuals).
    bits_per_fact : h, entropy of one fact in bits.
    tokens_per_fact : tokens one fact takes in one copy of the set (T_K = K·tokens_per_fact).
    occurrences : c, occurrences of each fact's value in one copy of the set (1 for SynBio, 11 for WikiBio).
    cardinalities : attribute cardinalities when known (chance level of each attribute, predicted accuracy).
    """

    facts: float
    bits_per_fact: float
    tokens_per_fact: float
    occurrences: float = 1.0
    cardinalities: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        check_positive("facts", self.facts)
        check_positive("bits_per_fact", self.bits_per_fact)
        check_positive("tokens_per_fact", self.tokens_per_fact)
        check_positive("occurrences", self.occurrences)
        if self.cardinalities is not None:
            h = bits_per_fact_from_cardinalities(self.cardinalities)
            if not math.isclose(h, self.bits_per_fact, rel_tol=1e-9):
                raise ValueError(
                    f"bits_per_fact={self.bits_per_fact!r} is inconsistent with cardinalities "
                    f"{self.cardinalities!r} (their entropy is {h:.6g} bits)"
                )

    @classmethod
    def from_cardinalities(
        cls, facts: float, cardinalities: Sequence[int], tokens_per_fact: float, occurrences: float = 1.0
    ) -> KnowledgeSet:
        """A knowledge set whose bits per fact is the exact entropy of ``cardinalities``."""
        cards = tuple(int(c) for c in cardinalities)
        return cls(facts, bits_per_fact_from_cardinalities(cards), tokens_per_fact, occurrences, cards)

    @classmethod
    def synbio(cls, facts: float = 320_000, tokens_per_fact: float = 100.0) -> KnowledgeSet:
        """SynBio-K (Gu et al. 2025): 5 attributes, 45.59 bits per individual, ~100 tokens per biography."""
        return cls.from_cardinalities(facts, SYNBIO_CARDINALITIES, tokens_per_fact)

    @property
    def total_bits(self) -> float:
        """``K·h``: bits to store the whole set."""
        return float(self.facts * self.bits_per_fact)

    @property
    def tokens(self) -> float:
        """``T_K``: tokens in one copy of the set."""
        return float(self.facts * self.tokens_per_fact)

    @property
    def value_per_bit(self) -> float:
        """``p = c/T_K``: bits per knowledge token saved by storing one bit (Eq. (4))."""
        return float(self.occurrences / self.tokens)

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return {
            "facts": self.facts,
            "bits_per_fact": self.bits_per_fact,
            "tokens_per_fact": self.tokens_per_fact,
            "occurrences": self.occurrences,
            "cardinalities": list(self.cardinalities) if self.cardinalities else None,
            "total_bits": self.total_bits,
            "tokens": self.tokens,
            "value_per_bit": self.value_per_bit,
        }
