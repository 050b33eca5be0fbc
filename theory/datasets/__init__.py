"""Small published measurement tables shipped with their citations, and the calibration-CSV reader.

Calibration CSV schema (one row per observation; lines starting with ``#`` are comments; empty cell = missing):

=================  ========  ====================================================================================
column             required  meaning and rule
=================  ========  ====================================================================================
params             yes       parameter count N of the web law's basis (> 0)
ratio              yes       knowledge token share r, in [0, 1]
facts              yes       K, facts (individuals) in the full set (> 0)
tokens_per_fact    yes       tokens one fact takes in one copy of the set (> 0)
bits_per_fact      yes       h, bits per fact (> 0)
tokens             yes*      training tokens D (> 0); empty on tokens-to-target rows
accuracy           yes*      exact-match accuracy over the full set, in [0, 1]; empty on tokens-to-target rows
keep_fraction      no        ρ ∈ (0, 1], subsampled share of the set (default 1)
occurrences        no        occurrences of each fact's value in one copy (default 1)
chance             no        chance accuracy in [0, 1) (default 0); learned fraction = (acc − chance)/(1 − chance)
accuracy_std       no        standard deviation over seeds (>= 0; reported, not used by the fit)
seeds              no        number of seeds (>= 1; reported)
target             row*      accuracy level of a tokens-to-target row, in (0, 1) (same units as ``accuracy``)
tokens_to_target   row*      tokens until accuracy reaches ``target`` (> 0)
relation           no        ``=`` (default), ``<`` (observed value is an upper bound), ``>`` (a lower bound)
cardinalities      no        attribute value counts separated by ``;`` (e.g. ``33600;200;300;100;263``), integers
                             >= 1; enables per-attribute difficulty (model ``chain-attr``)
note               no        free text
=================  ========  ====================================================================================

A row is an *accuracy row* (``tokens`` and ``accuracy`` filled, ``target``/``tokens_to_target`` empty) or a
*tokens-to-target row* (the reverse). Anything else, unknown columns, NaN or out-of-range values raise
:class:`ValueError` naming the column and the row (1-based data row and file line).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

REQUIRED = ("params", "ratio", "facts", "tokens_per_fact", "bits_per_fact", "tokens", "accuracy")
OPTIONAL = ("keep_fraction", "occurrences", "chance", "accuracy_std", "seeds", "target", "tokens_to_target",
            "relation", "cardinalities", "note")
RELATIONS = ("=", "<", ">")


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """A shipped table: file name inside this package and its citation."""

    name: str
    filename: str
    citation: str
    description: str


DATASETS: dict[str, DatasetInfo] = {
    "gu2025-70m": DatasetInfo(
        "gu2025-70m", "gu2025_70m.csv",
        "Gu, Lyu, Li, Zhang (2025), 'Data Mixing Can Induce Phase Transitions in Knowledge Acquisition', "
        "arXiv 2505.18091 (NeurIPS 2025): Table 1 and the tokens-to-40% fit",
        "Pythia-70M, FineWeb-Edu + SynBio-320k (100 tokens, 45.6 bits per bio), 32B tokens, r = 0.10-0.45; "
        "r = 0.2 at 512B tokens; tokens to 40% accuracy at r = 0.3-0.55 and lower bounds at r = 0.2, 0.25",
    ),
}


@dataclass(frozen=True, slots=True)
class CalibrationTable:
    """Validated calibration observations (arrays of equal length; NaN marks a cell that does not apply)."""

    name: str
    params: np.ndarray
    ratio: np.ndarray
    facts: np.ndarray
    tokens_per_fact: np.ndarray
    bits_per_fact: np.ndarray
    tokens: np.ndarray
    accuracy: np.ndarray
    keep_fraction: np.ndarray
    occurrences: np.ndarray
    chance: np.ndarray
    accuracy_std: np.ndarray
    target: np.ndarray
    tokens_to_target: np.ndarray
    relation: tuple[str, ...]
    citation: str = ""
    cardinalities: tuple[tuple[int, ...] | None, ...] = ()

    def __len__(self) -> int:
        return len(self.params)

    @property
    def is_accuracy(self) -> np.ndarray:
        """Boolean mask of accuracy rows (the others are tokens-to-target rows)."""
        return ~np.isnan(self.accuracy)

    @property
    def shared_cardinalities(self) -> tuple[int, ...] | None:
        """The attributes' cardinalities if every row gives the same ones, else None."""
        cards = set(self.cardinalities) if self.cardinalities else {None}
        return cards.pop() if len(cards) == 1 else None

    @property
    def sizes(self) -> np.ndarray:
        """Distinct model sizes in the table."""
        return np.unique(self.params)

    def subset(self, mask) -> CalibrationTable:
        """The rows where ``mask`` is true (same name and citation)."""
        mask = np.asarray(mask)
        arrays = {f: getattr(self, f)[mask] for f in _ARRAY_FIELDS}
        rel = tuple(np.asarray(self.relation, dtype=object)[mask])
        idx = np.flatnonzero(mask) if mask.dtype == bool else mask
        cards = tuple(self.cardinalities[i] for i in idx) if self.cardinalities else ()
        return CalibrationTable(self.name, relation=rel, citation=self.citation, cardinalities=cards, **arrays)


_ARRAY_FIELDS = ("params", "ratio", "facts", "tokens_per_fact", "bits_per_fact", "tokens", "accuracy",
                 "keep_fraction", "occurrences", "chance", "accuracy_std", "target", "tokens_to_target")

# column -> (rule text, predicate) for filled cells
_RULES = {
    "params": ("> 0 and finite", lambda x: 0 < x < math.inf),
    "ratio": ("in [0, 1]", lambda x: 0 <= x <= 1),
    "facts": ("> 0 and finite", lambda x: 0 < x < math.inf),
    "tokens_per_fact": ("> 0 and finite", lambda x: 0 < x < math.inf),
    "bits_per_fact": ("> 0 and finite", lambda x: 0 < x < math.inf),
    "tokens": ("> 0 and finite", lambda x: 0 < x < math.inf),
    "accuracy": ("in [0, 1]", lambda x: 0 <= x <= 1),
    "keep_fraction": ("in (0, 1]", lambda x: 0 < x <= 1),
    "occurrences": ("> 0 and finite", lambda x: 0 < x < math.inf),
    "chance": ("in [0, 1)", lambda x: 0 <= x < 1),
    "accuracy_std": (">= 0 and finite", lambda x: 0 <= x < math.inf),
    "seeds": (">= 1", lambda x: 1 <= x < math.inf),
    "target": ("in (0, 1)", lambda x: 0 < x < 1),
    "tokens_to_target": ("> 0 and finite", lambda x: 0 < x < math.inf),
}
_DEFAULTS = {"keep_fraction": 1.0, "occurrences": 1.0, "chance": 0.0}


def parse_calibration_csv(text: str, name: str = "<csv>", citation: str = "") -> CalibrationTable:
    """Parse and validate calibration CSV text (schema in this module's docstring)."""
    lines = text.splitlines()
    data_lines = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")]
    if not data_lines:
        raise ValueError(f"{name}: calibration CSV is empty (no header)")
    reader = csv.reader(io.StringIO("\n".join(ln for _, ln in data_lines)))
    rows = list(reader)
    header = [h.strip() for h in rows[0]]
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL]
    if unknown:
        raise ValueError(f"{name}: unknown column(s) {unknown}; allowed: {', '.join(REQUIRED + OPTIONAL)}")
    missing = [h for h in REQUIRED if h not in header]
    if missing:
        raise ValueError(f"{name}: missing required column(s) {missing}")
    if len(set(header)) != len(header):
        raise ValueError(f"{name}: duplicate column names in header {header}")
    if len(rows) < 2:
        raise ValueError(f"{name}: calibration CSV has a header but no data rows")
    cols: dict[str, list[float]] = {f: [] for f in _ARRAY_FIELDS}
    relations: list[str] = []
    card_rows: list[tuple[int, ...] | None] = []
    for k, (row, (line_no, _)) in enumerate(zip(rows[1:], data_lines[1:]), start=1):
        where = f"{name}: row {k} (line {line_no})"
        if len(row) != len(header):
            raise ValueError(f"{where}: has {len(row)} cells, header has {len(header)}")
        cells = {h: c.strip() for h, c in zip(header, row)}
        values: dict[str, float] = {}
        for col, (rule, ok) in _RULES.items():
            cell = cells.get(col, "")
            if cell == "":
                values[col] = _DEFAULTS.get(col, math.nan)
                continue
            try:
                x = float(cell)
            except ValueError:
                raise ValueError(f"{where}: column {col!r} must be a number, got {cell!r}") from None
            if math.isnan(x):
                raise ValueError(f"{where}: column {col!r} is NaN")
            if not ok(x):
                raise ValueError(f"{where}: column {col!r} must be {rule}, got {x!r}")
            values[col] = x
        for col in ("params", "ratio", "facts", "tokens_per_fact", "bits_per_fact"):
            if math.isnan(values[col]):
                raise ValueError(f"{where}: column {col!r} is empty (required)")
        is_acc = not math.isnan(values["accuracy"]) or not math.isnan(values["tokens"])
        is_tt = not math.isnan(values["target"]) or not math.isnan(values["tokens_to_target"])
        if is_acc == is_tt:
            raise ValueError(f"{where}: fill either 'tokens' and 'accuracy' (an accuracy row) or 'target' and "
                             "'tokens_to_target' (a tokens-to-target row), not both or neither")
        pair = ("tokens", "accuracy") if is_acc else ("target", "tokens_to_target")
        for col in pair:
            if math.isnan(values[col]):
                raise ValueError(f"{where}: column {col!r} is empty but its row needs it")
        if is_acc and values["accuracy"] < values["chance"] and cells.get("relation", "=") == ">":
            raise ValueError(f"{where}: a lower bound on accuracy below chance carries no information")
        rel = cells.get("relation", "") or "="
        if rel not in RELATIONS:
            raise ValueError(f"{where}: column 'relation' must be one of {RELATIONS}, got {rel!r}")
        relations.append(rel)
        cards = _parse_cardinalities(cells.get("cardinalities", ""), where)
        if cards is not None:
            h = sum(math.log2(c) for c in cards)
            if not math.isclose(h, values["bits_per_fact"], rel_tol=1e-4):
                raise ValueError(f"{where}: column 'bits_per_fact' = {values['bits_per_fact']!r} is inconsistent "
                                 f"with column 'cardinalities' (their entropy is {h:.6g} bits)")
        card_rows.append(cards)
        for f in _ARRAY_FIELDS:
            cols[f].append(values[f])
    arrays = {f: np.asarray(v, dtype=float) for f, v in cols.items()}
    return CalibrationTable(name, relation=tuple(relations), citation=citation, cardinalities=tuple(card_rows),
                            **arrays)


def _parse_cardinalities(cell: str, where: str) -> tuple[int, ...] | None:
    if cell == "":
        return None
    parts = [c.strip() for c in cell.split(";")]
    try:
        values = [float(c) for c in parts]
    except ValueError:
        raise ValueError(f"{where}: column 'cardinalities' must be integers separated by ';', got {cell!r}") from None
    if any(not math.isfinite(v) or v < 1 or v != int(v) for v in values):
        raise ValueError(f"{where}: column 'cardinalities' must be integers >= 1, got {cell!r}")
    return tuple(int(v) for v in values)


def read_calibration_csv(path: str | Path) -> CalibrationTable:
    """Read a calibration CSV file (see the module docstring for the schema)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"data: no such file {str(p)!r} and not a shipped dataset name ({', '.join(DATASETS)})")
    return parse_calibration_csv(p.read_text(encoding="utf-8"), name=str(p))


def load(name_or_path: str | Path) -> CalibrationTable:
    """A shipped dataset by name (e.g. ``"gu2025-70m"``) or a CSV file by path.

    >>> len(load("gu2025-70m"))
    16
    """
    key = str(name_or_path)
    if key in DATASETS:
        info = DATASETS[key]
        text = resources.files(__name__).joinpath(info.filename).read_text(encoding="utf-8")
        return parse_calibration_csv(text, name=info.name, citation=info.citation)
    return read_calibration_csv(name_or_path)
