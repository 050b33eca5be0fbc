"""The frozen result object shared by every source-valuation method (pyDVL-style ``ValuationResult``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from phasemix.errors import ResultsFileError

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class ValuationResult:
    """Values of named sources by one method; larger value = more valuable source.

    Attributes
    ----------
    method : the method's name (``"paper"``, ``"davinz"``, ``"tracin"``, ``"leave_one_out"``, ...).
    names : source names.
    values : one value per source.
    terms : per-term breakdown, term name → one number per source (e.g. the four Eq. (8) features and their
        weighted contributions).
    runtime_s : wall-clock seconds the method took (including any calibration it needed).
    extras : method-specific metadata (weights, κ, utility of the full set, ...), JSON-serialisable.
    """

    method: str
    names: tuple[str, ...]
    values: tuple[float, ...]
    terms: dict = field(default_factory=dict)
    runtime_s: float = 0.0
    extras: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        values = tuple(float(v) for v in np.asarray(self.values, dtype=float).reshape(-1))
        if len(names) != len(values):
            raise ValueError(f"names and values must have the same length, got {len(names)} and {len(values)}")
        if len(set(names)) != len(names):
            raise ValueError("source names must be unique")
        if any(np.isnan(values)):
            raise ValueError("values must not be NaN")
        terms = {}
        for key, col in dict(self.terms).items():
            arr = tuple(float(v) for v in np.asarray(col, dtype=float).reshape(-1))
            if len(arr) != len(names):
                raise ValueError(f"term {key!r} must have one entry per source ({len(names)}), got {len(arr)}")
            terms[str(key)] = arr
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "terms", terms)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def ranking(self) -> tuple[str, ...]:
        """Source names from most to least valuable (ties keep input order)."""
        order = np.argsort(-np.asarray(self.values), kind="stable")
        return tuple(self.names[i] for i in order)

    def value_of(self, name: str) -> float:
        """The value of one source by name."""
        try:
            return self.values[self.names.index(name)]
        except ValueError:
            raise KeyError(f"no source named {name!r}") from None

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return {"schema_version": self.schema_version, "method": self.method, "names": list(self.names),
                "values": list(self.values), "terms": {k: list(v) for k, v in self.terms.items()},
                "ranking": list(self.ranking), "runtime_s": self.runtime_s, "extras": self.extras}

    def to_json(self, **kwargs) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> ValuationResult:
        """Inverse of :meth:`to_json`; rejects foreign or newer files with :class:`ResultsFileError`."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ResultsFileError(f"not a valuation result (invalid JSON: {exc})") from exc
        if not isinstance(d, dict) or "values" not in d or "names" not in d:
            raise ResultsFileError("not a valuation result (missing 'names'/'values')")
        if d.get("schema_version", 0) > SCHEMA_VERSION:
            raise ResultsFileError(f"schema_version {d['schema_version']} is newer than {SCHEMA_VERSION}")
        return cls(method=d.get("method", "?"), names=tuple(d["names"]), values=tuple(d["values"]),
                   terms=d.get("terms", {}), runtime_s=float(d.get("runtime_s", 0.0)), extras=d.get("extras", {}),
                   schema_version=int(d.get("schema_version", SCHEMA_VERSION)))

    def to_dataframe(self):
        """A pandas DataFrame indexed by source name: value, rank and one column per term (pandas imported here)."""
        import pandas as pd

        df = pd.DataFrame({"value": self.values, **self.terms}, index=pd.Index(self.names, name="source"))
        df.insert(1, "rank", df["value"].rank(ascending=False, method="min").astype(int))
        return df
