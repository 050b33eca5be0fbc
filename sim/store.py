"""Append-only JSON Lines result store with a lock, torn-line repair, resume and Parquet export (simulation.md §7).

Layout of a results folder::

    results.jsonl   one record per finished setting, appended by the single writer
    sweep.json      the manifest (grid spec), written atomically (tmp + fsync + os.replace)
    .lock           fcntl.flock lock file held by the writer

A record is a JSON object ``{"schema_version", "key", "setting", "outputs", "backend", "rng_family",
"rng_version", "pkg_version", "wall_s", "utc"}``; ``key`` is the sha256 of the canonical JSON of what determines
the result. Non-finite floats are written as ``null`` and listed in ``outputs["_nonfinite"]``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from phasemix.errors import ResultsFileError
from phasemix.results import write_text_atomic

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RESULTS_NAME = "results.jsonl"
MANIFEST_NAME = "sweep.json"
LOCK_NAME = ".lock"
REQUIRED_FIELDS = ("schema_version", "key", "setting", "outputs")


def _plain(value: Any, path: str, nonfinite: list[str]) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{path}.{k}" if path else str(k), nonfinite) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v, f"{path}[{i}]", nonfinite) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        nonfinite.append(path)
        return None
    return value


def encode_outputs(outputs: dict) -> dict:
    """Plain-JSON copy of ``outputs``: numpy → Python, NaN/inf → null listed under ``_nonfinite``."""
    nonfinite: list[str] = []
    plain = _plain(outputs, "", nonfinite)
    if nonfinite:
        plain["_nonfinite"] = nonfinite
    return plain


def canonical(obj: Any) -> str:
    """Canonical JSON (sorted keys, compact, floats via repr); NaN is refused."""
    return json.dumps(_plain(obj, "", []), sort_keys=True, separators=(",", ":"), allow_nan=False)


def record_key(identity: dict) -> str:
    """sha256 hex of the canonical JSON of everything that determines a result (setting incl. seed, population,
    model version, rng family and version)."""
    return hashlib.sha256(canonical(identity).encode()).hexdigest()


def validate_record(rec: Any) -> dict:
    """Return ``rec`` if it is a well-formed record of a schema this code reads; else raise ResultsFileError."""
    if not isinstance(rec, dict):
        raise ResultsFileError(f"record must be a JSON object, got {type(rec).__name__}")
    missing = [f for f in REQUIRED_FIELDS if f not in rec]
    if missing:
        raise ResultsFileError(f"record is missing fields {missing}")
    if not isinstance(rec["schema_version"], int) or rec["schema_version"] > SCHEMA_VERSION:
        raise ResultsFileError(f"record schema_version {rec['schema_version']!r} is newer than {SCHEMA_VERSION}")
    if not isinstance(rec["key"], str) or len(rec["key"]) != 64:
        raise ResultsFileError(f"record key must be a 64-character sha256 hex string, got {rec['key']!r}")
    if not isinstance(rec["setting"], dict) or not isinstance(rec["outputs"], dict):
        raise ResultsFileError("record setting and outputs must be JSON objects")
    return rec


class ResultStore:
    """Single-writer JSONL store in ``directory``.

    Use as a context manager to write: ``with ResultStore(d) as st: st.append(rec)``. Entering takes an exclusive
    ``flock`` (a second writer gets ResultsFileError, not a corrupt file) and repairs a torn last line. Reading
    (:meth:`records`, :meth:`completed_keys`) needs no lock.

    Parameters
    ----------
    directory : results folder (created if missing).
    fsync_every : fsync after this many appended records, or 2 s after the last fsync (and on close).
    """

    def __init__(self, directory: str | os.PathLike, fsync_every: int = 16):
        self.dir = Path(directory)
        if self.dir.exists() and not self.dir.is_dir():
            raise ResultsFileError(f"results folder {str(self.dir)!r} exists and is not a directory")
        if fsync_every < 1:
            raise ValueError(f"fsync_every must be >= 1, got {fsync_every}")
        self.fsync_every = int(fsync_every)
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._pending = 0
        self._last_sync = time.monotonic()

    @property
    def results_path(self) -> Path:
        return self.dir / RESULTS_NAME

    @property
    def manifest_path(self) -> Path:
        return self.dir / MANIFEST_NAME

    # ---- locking and writing -------------------------------------------------------------------------------
    def __enter__(self) -> ResultStore:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Take the writer lock, repair a torn tail and open the results file for appending."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise ResultsFileError(f"results folder {str(self.dir)!r} is locked by another writer") from exc
        self._lock_fd = fd
        self.repair()
        self._fd = os.open(self.results_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def close(self) -> None:
        """fsync and release the lock."""
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def repair(self) -> int:
        """Truncate a torn last line (a file not ending in newline) to the last newline; returns bytes removed."""
        path = self.results_path
        if not path.exists():
            return 0
        size = path.stat().st_size
        if size == 0:
            return 0
        with open(path, "rb+") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) == b"\n":
                return 0
            block = 1 << 16
            pos = size
            keep = 0
            while pos > 0:
                start = max(0, pos - block)
                fh.seek(start)
                chunk = fh.read(pos - start)
                idx = chunk.rfind(b"\n")
                if idx >= 0:
                    keep = start + idx + 1
                    break
                pos = start
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        log.warning("removed a torn last line (%d bytes) from %s", size - keep, path)
        return size - keep

    def append(self, record: dict) -> None:
        """Append one record as a single ``os.write`` of its line (the writer lock must be held)."""
        if self._fd is None:
            raise RuntimeError("ResultStore.append needs the store opened (use it as a context manager)")
        validate_record(record)
        line = (json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode()
        written = os.write(self._fd, line)
        if written != len(line):  # pragma: no cover - regular files write fully or raise
            raise OSError(f"short write to {self.results_path}: {written} of {len(line)} bytes")
        self._pending += 1
        if self._pending >= self.fsync_every or time.monotonic() - self._last_sync > 2.0:
            os.fsync(self._fd)
            self._pending = 0
            self._last_sync = time.monotonic()

    # ---- manifest ------------------------------------------------------------------------------------------
    def write_manifest(self, manifest: dict) -> None:
        """Write ``sweep.json`` atomically (tmp + fsync + os.replace)."""
        write_text_atomic(self.manifest_path, json.dumps(manifest, sort_keys=True, indent=2, allow_nan=False))

    def read_manifest(self) -> dict | None:
        """The manifest, or None if there is none."""
        if not self.manifest_path.exists():
            return None
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise ResultsFileError(f"manifest {str(self.manifest_path)!r} is not valid JSON: {exc}") from exc

    # ---- reading -------------------------------------------------------------------------------------------
    def iter_records(self) -> Iterator[dict]:
        """Valid records in file order, first occurrence of each key only; invalid lines are logged and skipped.

        A torn last line (no trailing newline) is ignored here and removed by the next writer.
        """
        path = self.results_path
        if not path.exists():
            return
        seen: set[str] = set()
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.endswith(b"\n"):
                    log.warning("%s:%d: ignoring a torn last line", path, lineno)
                    break
                try:
                    rec = validate_record(json.loads(raw))
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    log.warning("%s:%d: skipping a line that is not JSON (%s)", path, lineno, exc)
                    continue
                except ResultsFileError as exc:
                    if "newer" in str(exc):
                        raise ResultsFileError(f"{path}:{lineno}: {exc}") from exc
                    log.warning("%s:%d: skipping an invalid record (%s)", path, lineno, exc)
                    continue
                if rec["key"] in seen:
                    continue
                seen.add(rec["key"])
                yield rec

    def records(self) -> list[dict]:
        """All valid records (first per key)."""
        return list(self.iter_records())

    def completed_keys(self) -> set[str]:
        """Keys of the valid records."""
        return {r["key"] for r in self.iter_records()}

    def to_parquet(self, path: str | os.PathLike) -> Path:
        """Export the records to Parquet (flattened setting.* and scalar outputs.*; lists as JSON text)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = []
        for rec in self.iter_records():
            row: dict[str, Any] = {"key": rec["key"]}
            for section in ("setting", "outputs"):
                for k, v in rec[section].items():
                    row[f"{section}.{k}"] = json.dumps(v) if isinstance(v, list | dict) else v
            for k in ("backend", "rng_family", "rng_version", "pkg_version", "wall_s", "utc"):
                row[k] = rec.get(k)
            rows.append(row)
        if not rows:
            raise ResultsFileError(f"no records to export in {str(self.results_path)!r}")
        columns = sorted({k for r in rows for k in r})
        table = pa.table({c: [r.get(c) for r in rows] for c in columns})
        out = Path(path)
        tmp = out.with_suffix(out.suffix + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, out)
        return out


def utc_now() -> str:
    """ISO-8601 UTC timestamp."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
