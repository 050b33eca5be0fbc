"""Exceptions of phasemix. Each subclasses a builtin so callers can catch either."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration file or value is malformed (names the key and the rule)."""


class SolverError(RuntimeError):
    """A numerical solver (scipy, cvxpy) did not converge; carries the solver status."""

    def __init__(self, message: str, status: str | None = None):
        super().__init__(message if status is None else f"{message} (solver status: {status})")
        self.status = status


class BackendUnavailableError(RuntimeError):
    """An explicitly requested compute backend cannot run here; carries the reason."""

    def __init__(self, backend: str, reason: str):
        super().__init__(f"backend {backend!r} is not usable here: {reason}")
        self.backend = backend
        self.reason = reason


class ResultsFileError(ValueError):
    """A results or checkpoint file is corrupt, foreign or of a newer schema."""
