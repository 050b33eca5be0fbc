"""SynBio: a seeded synthetic biography generator with exact entropy accounting.

K individuals, each with a unique two-token name (first × last, drawn without replacement) and five attributes
(birth date, birth city, university, major, employer) drawn uniformly and independently. A birth date is three value
tokens (day, month, year), every other attribute one. Formats: prose (5 templates per attribute, sentence order
shuffled and templates redrawn per exposure), compact (``<bos> FIRST LAST key value ...``, attribute order redrawn
per exposure) and the CKM tuple. Variants: power-law subset weights and the fresh-value control.
Eq. (120)–(123) in docs/theory.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

from phasemix._checks import check_int, check_positive

ATTRIBUTES: tuple[str, ...] = ("birth_date", "birth_city", "university", "major", "employer")
#: value-token slots; the birth date uses the first three.
SLOTS: tuple[str, ...] = ("day", "month", "year", "city", "university", "major", "employer")
ATTRIBUTE_SLOTS: tuple[tuple[int, ...], ...] = ((0, 1, 2), (3,), (4,), (5,), (6,))
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
FIRST_YEAR = 1900
_UNI_PATTERNS = ("University of {}", "{} State University", "{} Institute of Technology")
_EMPLOYER_SUFFIXES = ("Industries", "Holdings", "Systems", "Logistics", "Health", "Capital")


@cache
def value_list(name: str) -> tuple[str, ...]:
    """A shipped value list (``first_names``, ``last_names``, ``cities``, ``majors``) or a derived one."""
    if name == "universities":
        cities = value_list("cities")
        return tuple(p.format(c) for p in _UNI_PATTERNS for c in cities)
    if name == "employers":
        return tuple(f"{s} {suf}" for suf in _EMPLOYER_SUFFIXES for s in value_list("last_names"))
    text = resources.files("phasemix.validate").joinpath("data", f"{name}.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@dataclass(frozen=True, slots=True)
class SynBioConfig:
    """Sizes of a SynBio set. Defaults are the CPU recipe of the sizing spec (34.5 bits per individual)."""

    individuals: int = 1000
    first_names: int = 100
    last_names: int = 100
    days: int = 28
    months: int = 12
    years: int = 20
    cities: int = 50
    universities: int = 50
    majors: int = 30
    employers: int = 50

    def __post_init__(self) -> None:
        limits = {"first_names": len(value_list("first_names")), "last_names": len(value_list("last_names")),
                  "days": 28, "months": 12, "years": 200, "cities": len(value_list("cities")),
                  "universities": len(value_list("universities")), "majors": len(value_list("majors")),
                  "employers": len(value_list("employers"))}
        check_int("individuals", self.individuals, minimum=1)
        for key, hi in limits.items():
            v = check_int(key, getattr(self, key), minimum=1)
            if v > hi:
                raise ValueError(f"{key} must be <= {hi} (the shipped value list), got {v}")
        names = self.first_names * self.last_names
        if self.individuals > names:
            raise ValueError(f"individuals must be <= first_names*last_names = {names} (names are unique), "
                             f"got {self.individuals}")

    @property
    def slot_cardinalities(self) -> tuple[int, ...]:
        """Number of values of each value token (``SLOTS`` order)."""
        return (self.days, self.months, self.years, self.cities, self.universities, self.majors, self.employers)

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Number of values of each attribute (``ATTRIBUTES`` order); a date is day × month × year."""
        c = self.slot_cardinalities
        return (c[0] * c[1] * c[2], c[3], c[4], c[5], c[6])

    @property
    def bits_per_individual(self) -> float:
        """Exact entropy ``h = Σ_a log2 |V_a|`` of one individual's attributes (Eq. (120) in docs/theory.md)."""
        return float(sum(math.log2(c) for c in self.cardinalities))

    @property
    def total_bits(self) -> float:
        """Exact entropy of the attribute table, ``K·h`` bits (Eq. (121) in docs/theory.md); names are given, not
        stored."""
        return self.individuals * self.bits_per_individual


@dataclass(frozen=True, slots=True)
class SynBio:
    """One drawn set: name indices ``first``, ``last`` (K,) and value indices ``values`` (K, 7) per slot."""

    config: SynBioConfig
    seed: int
    first: np.ndarray = field(repr=False)
    last: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)

    @property
    def size(self) -> int:
        return self.config.individuals

    def name(self, i: int) -> str:
        return f"{value_list('first_names')[self.first[i]]} {value_list('last_names')[self.last[i]]}"

    def value_strings(self, values: np.ndarray) -> tuple[str, ...]:
        """Strings of the five attributes for one row of slot values."""
        d, m, y, c, u, mj, e = (int(x) for x in values)
        return (f"{MONTHS[m]} {d + 1:02d}, {FIRST_YEAR + y}", value_list("cities")[c],
                value_list("universities")[u], value_list("majors")[mj], value_list("employers")[e])

    def knowledge_set(self, tokens_per_fact: float):
        """The theory layer's :class:`~phasemix.theory.capacity.KnowledgeSet` for this set."""
        from phasemix.theory.capacity import KnowledgeSet

        return KnowledgeSet.from_cardinalities(self.size, self.config.cardinalities, tokens_per_fact)


def generate(config: SynBioConfig, seed: int) -> SynBio:
    """Draw K unique names (without replacement) and uniform independent attribute values, deterministically."""
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng([seed, 0x5B10])
    n_names = config.first_names * config.last_names
    flat = rng.choice(n_names, size=config.individuals, replace=False)
    first, last = np.divmod(flat, config.last_names)
    cards = np.asarray(config.slot_cardinalities)
    values = (rng.random((config.individuals, len(SLOTS))) * cards).astype(np.int64)
    values = np.minimum(values, cards - 1)
    for a in (first, last, values):
        a.setflags(write=False)
    return SynBio(config, seed, first.astype(np.int64), last.astype(np.int64), values)


def fresh_values(bio: SynBio, count: int, rng: np.random.Generator) -> np.ndarray:
    """Fresh-value control: slot values of ``count`` individuals drawn uniformly from all K (Eq. (123) in
    docs/theory.md).

    The draw does not look at the name it will be shown with, so the shown values are independent of the name
    (their law is the population's empirical law for every name); nothing about a name can be memorized.
    """
    return bio.values[rng.integers(0, bio.size, size=count)]


def power_law_weights(individuals: int, subsets: int = 100, exponent: float = 1.5) -> np.ndarray:
    """Per-individual sampling probabilities: subset i (1-based) weighs ∝ i^(−exponent), split evenly (Eq. (122) in
    docs/theory.md)."""
    k = check_int("individuals", individuals, minimum=1)
    s = check_int("subsets", subsets, minimum=1)
    check_positive("exponent", exponent)
    if s > k:
        raise ValueError(f"subsets must be <= individuals ({k}), got {s}")
    group = subset_of(k, s)
    w_sub = np.arange(1, s + 1, dtype=float) ** (-float(exponent))
    sizes = np.bincount(group, minlength=s)
    w = w_sub[group] / sizes[group]
    return w / w.sum()


def subset_of(individuals: int, subsets: int) -> np.ndarray:
    """Subset index of each individual (contiguous, near-equal blocks)."""
    return (np.arange(individuals) * subsets) // individuals


# ------------------------------------------------------------------------------------------------ prose formats

PROSE_TEMPLATES: tuple[tuple[str, ...], ...] = (
    ("{n}'s birth date is", "{n} was born on", "{n} came into the world on", "{n}'s birthday falls on",
     "{n} celebrates a birthday on"),
    ("{n}'s birthplace is", "{n} was born in", "{n} spent early years in", "{n} hails from", "{n} grew up in"),
    ("{n} studied at", "{n} graduated from", "{n} received mentorship and guidance from faculty members at",
     "{n} completed a degree at", "{n} attended"),
    ("{n} has a degree in", "{n} majored in", "{n} focused on the study of", "{n} specialized in",
     "{n} chose an academic path in"),
    ("{n} works at", "{n} is employed by", "{n} is engaged in work at", "{n} has a job at", "{n} earns a living at"),
)


def prose_pieces(bio: SynBio, i: int, rng: np.random.Generator, values: np.ndarray | None = None
                 ) -> list[tuple[str, str, int]]:
    """One prose exposure of individual ``i`` as (prefix, value, attribute) pieces, shuffled, templates redrawn.

    A sentence is ``prefix + " " + value + "."``; tokenizing prefix and value separately keeps the value's tokens
    identical between training and the evaluation prompt.
    """
    vals = bio.value_strings(bio.values[i] if values is None else values)
    name = bio.name(i)
    out = []
    for a in rng.permutation(len(ATTRIBUTES)):
        t = PROSE_TEMPLATES[a][rng.integers(len(PROSE_TEMPLATES[a]))]
        out.append((t.format(n=name), vals[a], int(a)))
    return out


def prose_text(bio: SynBio, i: int, rng: np.random.Generator, values: np.ndarray | None = None) -> str:
    """One prose biography (the paper's format)."""
    return " ".join(f"{p} {v}." for p, v, _ in prose_pieces(bio, i, rng, values))


_TUPLE_KEYS = ("B", "C", "U", "M", "E")


def tuple_text(bio: SynBio, i: int, rng: np.random.Generator) -> str:
    """Compact Knowledge Mixing tuple ``Bio: N {name} B {date} C {city} ...`` with the attribute order redrawn."""
    vals = bio.value_strings(bio.values[i])
    parts = [f"{_TUPLE_KEYS[a]} {vals[a]}" for a in rng.permutation(len(ATTRIBUTES))]
    return f"Bio: N {bio.name(i)} " + " ".join(parts)
