"""``phasemix fit web-law|prefactor|threshold --csv FILE``: calibrate from measurements, estimates with CIs.

CSV files have a header row; extra columns are ignored. Sizes may be written like ``70M``.

- ``web-law``: columns ``params,loss`` (optional ``weight``).
- ``prefactor``: columns ``params,critical_ratio`` (measured ratios at ``--target``), or ``params,ratio,accuracy``
  (a sweep; the crossing of ``--target`` is interpolated per size after chance correction).
- ``threshold``: columns ``frequency,correct`` (``popularity`` is accepted for ``frequency``), optional ``group``;
  ``correct`` is 0/1.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from phasemix.commands.predict import add_model_arguments, knowledge_from_args, law_from_args


def read_columns(path: str, required: list[str], optional: tuple[str, ...] = (), *,
                 counts: tuple[str, ...] = ()) -> dict[str, list]:
    """Read named numeric columns from a CSV with a header; errors name the file, row and column."""
    from phasemix.units import parse_count

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"--csv: file {path!r} does not exist")
    with p.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(f"--csv {path}: missing column(s) {', '.join(missing)} (header: {', '.join(header)}; "
                             f"needs {', '.join(required)})")
        cols: dict[str, list] = {c: [] for c in required + [c for c in optional if c in header]}
        for i, row in enumerate(reader, start=2):
            row = {(k or "").strip(): v for k, v in row.items()}
            for c in cols:
                cell = (row.get(c) or "").strip()
                if c == "group":
                    cols[c].append(cell)
                    continue
                try:
                    value = parse_count(cell, name=c) if c in counts else float(cell)
                except ValueError as exc:
                    raise ValueError(f"--csv {path}: row {i}, column {c!r}: not a number: {cell!r}") from exc
                if not math.isfinite(value):
                    raise ValueError(f"--csv {path}: row {i}, column {c!r}: must be finite, got {cell!r}")
                cols[c].append(value)
    if not cols[required[0]]:
        raise ValueError(f"--csv {path}: no data rows")
    return cols


def _ci(lo: float, hi: float) -> str:
    return "[n/a]" if not (math.isfinite(lo) and math.isfinite(hi)) else f"[{lo:.6g}, {hi:.6g}]"


def register(subparsers) -> None:
    p = subparsers.add_parser("fit", help="fit the web-loss law, the r* prefactor or a threshold from a CSV",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)

    def common(q):
        q.add_argument("--csv", required=True, help="measurements (CSV with a header row)")
        q.add_argument("--json", action="store_true", help="print one JSON object")
        q.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (default 1000)")
        q.add_argument("--confidence", type=float, default=0.95, help="CI level (default 0.95)")
        q.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")

    w = sub.add_parser("web-law", help="fit L(N) = E + A·(N/unit)^-alpha (columns params,loss)")
    common(w)
    w.add_argument("--fix-E", type=float, default=None, help="fix E (needed with 3-4 sizes; 0 allowed)")
    w.add_argument("--unit", default="1M", help="size unit of the law (default 1M)")
    w.add_argument("--loss-units", choices=("nats", "bits"), default="nats", help="units of the loss column")
    w.set_defaults(_run=run_web_law)

    f = sub.add_parser("prefactor", help="fit phi in odds(r_a) = phi·q_a(N) (columns params,critical_ratio)")
    common(f)
    f.add_argument("--target", type=float, default=0.4, help="learned fraction a of the measured ratios (0.4)")
    add_model_arguments(f)
    f.set_defaults(_run=run_prefactor)

    t = sub.add_parser("threshold", help="threshold frequency from per-item correctness (columns frequency,correct)")
    common(t)
    t.add_argument("--method", choices=("first-below", "scan"), default="first-below",
                   help="'first-below' (grouped data, target 0.8) or 'scan' (Algorithm 1, target 0.6)")
    t.add_argument("--target", type=float, default=None, help="accuracy target (default 0.8 / 0.6 by method)")
    t.add_argument("--interpolate", action="store_true", help="first-below: interpolate in log frequency")
    t.add_argument("--n-fail", type=int, default=5, help="scan: failures tolerated (default 5)")
    t.add_argument("--reset", action="store_true", help="scan: reset the failure count after a success")
    t.add_argument("--step", choices=("point", "value"), default="point", help="scan: step per item or value")
    t.set_defaults(_run=run_threshold)


def _emit(result, args, lines: list[str]) -> int:
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        print("\n".join(lines))
    return 0


def run_web_law(args: argparse.Namespace) -> int:
    from phasemix.theory.calibrate import fit_web_law
    from phasemix.units import parse_count

    cols = read_columns(args.csv, ["params", "loss"], ("weight",), counts=("params",))
    fit = fit_web_law(cols["params"], cols["loss"], unit=parse_count(args.unit, name="--unit"),
                      loss_units=args.loss_units, fix_E=args.fix_E, weights=cols.get("weight"),
                      n_boot=args.n_boot, confidence=args.confidence, seed=args.seed)
    pct = f"{fit.confidence:.0%} CI"
    lines = [f"web-loss law L(N) = E + A·(N/{fit.unit:.4g})^-alpha, {fit.loss_units}/token, "
             f"{fit.n_points} points at {fit.n_sizes} sizes (status: {fit.status})",
             f"  E     = {fit.E:.6g} " + ("(fixed)" if fit.E_fixed else f"{pct} {_ci(*fit.E_ci)}"),
             f"  A     = {fit.A:.6g} {pct} {_ci(*fit.A_ci)}",
             f"  alpha = {fit.alpha:.6g} {pct} {_ci(*fit.alpha_ci)}",
             f"  predicted exponent of r*: -(alpha+1) = {-(fit.alpha + 1):.6g}",
             f"  rss = {fit.rss:.4g}; bootstrap: {fit.n_boot_used}/{fit.n_boot} replicates (residual, seed "
             f"{fit.seed})"]
    return _emit(fit, args, lines)


def run_prefactor(args: argparse.Namespace) -> int:
    import numpy as np

    from phasemix.theory.calibrate import critical_ratios_from_grid, fit_prefactor

    knowledge, law = knowledge_from_args(args), law_from_args(args)
    header = Path(args.csv).read_text().splitlines()[0] if Path(args.csv).is_file() else ""
    if "critical_ratio" in [h.strip() for h in header.split(",")]:
        cols = read_columns(args.csv, ["params", "critical_ratio"], counts=("params",))
        sizes, ratios = np.asarray(cols["params"]), np.asarray(cols["critical_ratio"])
    else:
        cols = read_columns(args.csv, ["params", "ratio", "accuracy"], counts=("params",))
        chance = 0.0
        if knowledge.cardinalities:
            chance = float(np.mean(1.0 / np.asarray(knowledge.cardinalities, dtype=float)))
        sizes, ratios = critical_ratios_from_grid(cols["params"], cols["ratio"], cols["accuracy"],
                                                  target=args.target, chance=chance)
        keep = np.isfinite(ratios)
        if not keep.any():
            raise ValueError(f"--csv {args.csv}: no size crosses --target {args.target} within the measured ratios")
        sizes, ratios = sizes[keep], ratios[keep]
    fit = fit_prefactor(sizes, ratios, knowledge, law, args.bits_per_param, target=args.target,
                        n_boot=args.n_boot, confidence=args.confidence, seed=args.seed)
    lines = [f"prefactor of the critical ratio at target a = {fit.target:g} (exponent fixed at {fit.exponent:.6g}), "
             f"{fit.n_points} sizes",
             f"  phi = {fit.phi:.6g} {fit.confidence:.0%} CI {_ci(*fit.phi_ci)}  (log phi = {fit.log_phi:.4g} "
             f"± {fit.log_phi_se:.2g} s.e.)",
             f"  sizes scale by phi^(1/(alpha+1)) = {fit.params_scale:.6g}",
             f"  log residuals: {np.array2string(fit.residuals, precision=3)}"]
    return _emit(fit, args, lines)


def run_threshold(args: argparse.Namespace) -> int:
    from phasemix.theory.thresholds import first_below_target, popularity_scan

    header = Path(args.csv).read_text().splitlines()[0] if Path(args.csv).is_file() else ""
    name = "popularity" if "popularity" in [h.strip() for h in header.split(",")] else "frequency"
    cols = read_columns(args.csv, [name, "correct"], ("group",))
    common = {"n_boot": args.n_boot, "confidence": args.confidence, "seed": args.seed}
    if args.method == "first-below":
        est = first_below_target(cols[name], cols["correct"], cols.get("group"),
                                 target=0.8 if args.target is None else args.target, interpolate=args.interpolate,
                                 **common)
    else:
        est = popularity_scan(cols[name], cols["correct"], target=0.6 if args.target is None else args.target,
                              n_fail=args.n_fail, reset=args.reset, step=args.step, group=cols.get("group"),
                              **common)
    lines = [f"threshold {name} ({est.method}, {est.variant}, target {est.target:g}, {est.n_items} items)",
             f"  estimate = {est.estimate:.6g} {est.confidence:.0%} CI {_ci(est.ci_low, est.ci_high)} "
             f"(status: {est.status})"]
    return _emit(est, args, lines)
