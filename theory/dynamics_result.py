"""The result of a finite-training calibration: a frozen, JSON-serializable :class:`Calibration`."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from phasemix.errors import ResultsFileError
from phasemix.results import to_jsonable, write_text_atomic
from phasemix.theory.dynamics_models import MODELS
from phasemix.theory.laws import PowerLaw

SCHEMA_VERSION = 1
KIND = "phasemix.dynamics.calibration"


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted finite-training model (frozen; JSON round trip with :meth:`to_json` / :meth:`from_json`)."""

    model: str
    parameter_names: tuple[str, ...]
    parameters: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    ci_level: float
    bootstrap: tuple[tuple[float, ...], ...]
    seed: int
    objective: float
    aic: float
    n_points: int
    loo_rmse_accuracy: float
    loo_rmse_log_tokens: float
    loo_objective: float
    reference_params: float
    params_min: float
    params_max: float
    speed_exponent: float
    speed_exponent_assumed: bool
    bits_per_param: float
    law: dict
    dataset: str
    citation: str
    points: tuple[dict, ...]
    schema_version: int = SCHEMA_VERSION
    kind: str = KIND

    @property
    def theta(self) -> tuple[float, ...]:
        """The fitted parameters in the model's order."""
        return self.parameters

    def web_law(self) -> PowerLaw:
        """The web law the parameters were fitted with."""
        return PowerLaw(**self.law)

    def to_dict(self) -> dict:
        """Plain dict (non-finite floats become None)."""
        return to_jsonable(asdict(self))

    def to_json(self, path: str | Path) -> Path:
        """Write the JSON (null for non-finite values) atomically to ``path``; returns the path."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")

    @classmethod
    def from_dict(cls, data, *, model: str | None = None, source: str = "calibration") -> Calibration:
        """Rebuild from :meth:`to_dict`; reject foreign files, newer schemas, unknown models, or another ``model``."""
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise ResultsFileError(f"{source}: not a phasemix dynamics calibration (kind must be {KIND!r}, got "
                                   f"{data.get('kind') if isinstance(data, dict) else type(data).__name__!r})")
        version = data.get("schema_version")
        if not isinstance(version, int) or version < 1:
            raise ResultsFileError(f"{source}: schema_version must be a positive integer, got {version!r}")
        if version > SCHEMA_VERSION:
            raise ResultsFileError(f"{source}: schema_version {version} is newer than this phasemix supports "
                                   f"({SCHEMA_VERSION}); upgrade phasemix")
        name = data.get("model")
        if name not in MODELS:
            raise ResultsFileError(f"{source}: unknown model {name!r} (known: {', '.join(MODELS)})")
        if model is not None and name != model:
            raise ResultsFileError(f"{source}: calibration is for model {name!r}, expected {model!r}")
        names = tuple(data.get("parameter_names", ()))
        if names != MODELS[name].parameter_names:
            raise ResultsFileError(f"{source}: parameter_names {names} do not match model {name!r} "
                                   f"{MODELS[name].parameter_names}")
        try:
            fields = {f: data[f] for f in cls.__dataclass_fields__}
        except KeyError as exc:
            raise ResultsFileError(f"{source}: missing key {exc.args[0]!r}") from None
        try:
            for key in ("parameters", "ci_low", "ci_high"):
                fields[key] = tuple(_nan(v) for v in fields[key])
            fields["parameter_names"] = names
            fields["bootstrap"] = tuple(tuple(float(v) for v in row) for row in fields["bootstrap"])
            fields["points"] = tuple({k: (math.inf if k == "predicted" and v is None else v) for k, v in p.items()}
                                     for p in fields["points"])
            for key in ("objective", "aic", "loo_rmse_accuracy", "loo_rmse_log_tokens", "loo_objective",
                        "reference_params", "params_min", "params_max", "speed_exponent", "bits_per_param"):
                fields[key] = _nan(fields[key])
            PowerLaw(**fields["law"])  # validates the stored law
            MODELS[name].check_parameters(fields["parameters"])
        except (TypeError, ValueError) as exc:
            raise ResultsFileError(f"{source}: malformed calibration ({exc})") from exc
        return cls(**fields)

    @classmethod
    def from_json(cls, path: str | Path, *, model: str | None = None) -> Calibration:
        """Read a file written by :meth:`to_json` (see :meth:`from_dict` for what is rejected)."""
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"calibration: no such file {str(p)!r}")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ResultsFileError(f"{p}: not valid JSON ({exc})") from exc
        return cls.from_dict(data, model=model, source=str(p))


def _nan(v):
    return math.nan if v is None else float(v)

