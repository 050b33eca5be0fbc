"""Shared result plumbing: JSON round trip for frozen result dataclasses (arrays as lists, NaN as null)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from phasemix.errors import ResultsFileError


def to_jsonable(obj: Any) -> Any:
    """Plain-JSON copy of ``obj``: numpy arrays and scalars become Python values, NaN and ±inf become None."""
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.integer | np.bool_):
        return obj.item()
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never a torn one.

    A temporary file in the same folder is written, fsynced and renamed over ``path`` (``os.replace``); the parent
    folder is created if needed. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

SCHEMA_VERSION = 1


class ResultIO:
    """JSON round trip for frozen result dataclasses: arrays become lists, ``from_json`` restores them."""

    __slots__ = ()
    _array_fields: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict:
        """Plain-dict form (arrays as lists, non-finite floats as None)."""
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                v = [None if (isinstance(x, float) and not math.isfinite(x)) else x for x in v.tolist()]
            elif isinstance(v, float) and not math.isfinite(v):
                v = None
            elif isinstance(v, tuple):
                v = [None if (isinstance(x, float) and not math.isfinite(x)) else x for x in v]
            out[f.name] = v
        return out

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` atomically; returns the path."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=2, allow_nan=False))

    @classmethod
    def from_dict(cls, data: dict):
        """Rebuild from :meth:`to_dict` output; checks the schema version and the field names."""
        if not isinstance(data, dict):
            raise ResultsFileError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ResultsFileError(f"{cls.__name__}: schema_version must be {SCHEMA_VERSION}, got {version!r}")
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if set(data) != names:
            raise ResultsFileError(f"{cls.__name__}: fields {sorted(set(data) ^ names)} missing or unexpected")
        kwargs = {}
        for f in fields(cls):  # type: ignore[arg-type]
            v = data[f.name]
            if f.name in cls._array_fields:
                v = np.asarray([np.nan if x is None else x for x in v])
            elif isinstance(v, list):
                v = tuple(math.nan if x is None else x for x in v)
            elif v is None and f.type in ("float", float):
                v = math.nan
            kwargs[f.name] = v
        return cls(**kwargs)

    @classmethod
    def from_json(cls, path: str | Path):
        """Read a file written by :meth:`to_json`."""
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ResultsFileError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_dict(data)
