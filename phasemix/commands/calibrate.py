"""``phasemix calibrate --data CSV_OR_NAME --model M --out CAL.json``: fit a finite-training model.

Models: ``exposure`` (exposure-dependent capacity), ``race`` (forgetting race, mean field), ``chain`` (consolidation
chain), ``chain-attr`` (the chain with per-attribute difficulty from the CSV's ``cardinalities``), ``chain-run``
(the same with the exact waiting-time law of a run of k survivals), ``static`` (static allocator with a ramp: the
baseline), or ``all`` (fit every model, compare them by AIC and leave-one-out
error, write the winner to ``--out``). ``--data`` is a shipped dataset name (``gu2025-70m``) or a CSV file (schema:
``phasemix.theory.datasets``; docs/theory.md §5). The file written is read by
``phasemix predict --tokens D --calibration CAL.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

MODEL_CHOICES = ("exposure", "race", "chain", "chain-attr", "chain-run", "static", "all")
#: Models that need the attributes' cardinalities (skipped by ``--model all`` when the data have none).
NEEDS_CARDINALITIES = ("chain-attr", "chain-run")


def register(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="fit a finite-training model to accuracy / tokens-to-target data",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="dataset name (gu2025-70m) or calibration CSV path")
    p.add_argument("--model", choices=MODEL_CHOICES, default="all", help="model to fit (default: all, compared)")
    p.add_argument("--out", required=True, help="calibration JSON to write (the best model with --model all)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates for the CIs (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the multi-start and the bootstrap (default 0)")
    p.add_argument("--speed-exponent", type=float, default=None,
                   help="size exponent of the learning clock (default: 0 with one size, flagged; fitted with several)")
    p.set_defaults(_run=run)


def _fmt(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.4g}"


def _summary(cal) -> dict:
    return {
        "model": cal.model,
        "parameters": dict(zip(cal.parameter_names, cal.parameters)),
        "ci_low": dict(zip(cal.parameter_names, cal.ci_low)),
        "ci_high": dict(zip(cal.parameter_names, cal.ci_high)),
        "objective": cal.objective,
        "aic": cal.aic,
        "loo_rmse_accuracy": cal.loo_rmse_accuracy,
        "loo_rmse_log_tokens": cal.loo_rmse_log_tokens,
        "loo_objective": cal.loo_objective,
    }


def _acceptance(cal) -> dict:
    """Largest Table-style accuracy error (points), largest tokens-to-target ratio error, and bound violations."""
    acc = [p for p in cal.points if p["kind"] == "accuracy" and p["relation"] == "="]
    tt = [p for p in cal.points if p["kind"] == "tokens_to_target" and p["relation"] == "="]
    bounds = [p for p in cal.points if p["relation"] != "="]
    worst_acc = max((abs(p["predicted"] - p["observed"]) for p in acc), default=math.nan)
    worst_t = max((abs(p["predicted"] / p["observed"] - 1) for p in tt), default=math.nan)
    violated = [p["row"] for p in bounds if (p["relation"] == "<" and p["predicted"] > p["observed"])
                or (p["relation"] == ">" and p["predicted"] < p["observed"])]
    return {"max_accuracy_error": worst_acc, "max_tokens_rel_error": worst_t, "bound_rows_violated": violated}


def run(args) -> int:
    from phasemix._checks import check_int
    from phasemix.theory.datasets import load
    from phasemix.theory.dynamics_calibrate import MODELS, calibrate

    check_int("--bootstrap", args.bootstrap, minimum=0)
    check_int("--seed", args.seed, minimum=0)
    table = load(args.data)
    names = tuple(MODELS) if args.model == "all" else (args.model,)
    if args.model == "all" and table.shared_cardinalities is None:
        names = tuple(n for n in names if n not in NEEDS_CARDINALITIES)
    cals = []
    for name in names:
        if not args.json:
            print(f"fitting {name} ...", file=sys.stderr, flush=True)
        cals.append(calibrate(table, name, bootstrap=args.bootstrap, seed=args.seed,
                              speed_exponent=args.speed_exponent))
    cals.sort(key=lambda c: c.aic)
    best = cals[0]
    out = best.to_json(args.out)
    report = {
        "data": table.name,
        "citation": table.citation,
        "out": str(out),
        "winner": best.model,
        "models": [{**_summary(c), **_acceptance(c)} for c in cals],
        "speed_exponent": best.speed_exponent,
        "speed_exponent_assumed": best.speed_exponent_assumed,
    }
    if len(cals) > 1:
        runner = cals[1]
        report["delta_aic_to_runner_up"] = runner.aic - best.aic
        report["runner_up"] = runner.model
        report["objective_ratio_runner_up"] = runner.objective / best.objective if best.objective > 0 else math.inf
    if args.json:
        from phasemix.results import to_jsonable

        print(json.dumps(to_jsonable(report), indent=2, allow_nan=False))
        return 0
    print(f"data: {table.name} ({len(table)} rows){' - ' + table.citation if table.citation else ''}")
    header = f"{'model':<10} {'objective':>10} {'AIC':>8} {'LOO acc':>8} {'LOO lnT':>8} {'max|dacc|':>9} " \
             f"{'max|dT|/T':>9}  parameters [{best.ci_level:.0%} CI]"
    print(header)
    for c in cals:
        acc = _acceptance(c)
        pars = ", ".join(f"{n}={_fmt(v)} [{_fmt(lo)}, {_fmt(hi)}]"
                         for n, v, lo, hi in zip(c.parameter_names, c.parameters, c.ci_low, c.ci_high))
        print(f"{c.model:<10} {c.objective:>10.5f} {c.aic:>8.2f} {_fmt(c.loo_rmse_accuracy):>8} "
              f"{_fmt(c.loo_rmse_log_tokens):>8} {_fmt(acc['max_accuracy_error']):>9} "
              f"{_fmt(acc['max_tokens_rel_error']):>9}  {pars}")
    if len(cals) > 1:
        print(f"winner: {best.model} (lowest AIC); AIC lower by {report['delta_aic_to_runner_up']:.2f} than "
              f"{runner.model}, objective {report['objective_ratio_runner_up']:.2f}x smaller")
    print(f"{best.model} at the data points (accuracy in %, tokens in B; relation = | < | >):")
    for pt in best.points:
        if pt["kind"] == "accuracy":
            print(f"  N={pt['params']:.3g} r={pt['ratio']:<5g} D={pt['tokens'] / 1e9:<7.4g} accuracy "
                  f"{pt['relation']} {100 * pt['observed']:6.2f}   predicted {100 * pt['predicted']:6.2f}")
        else:
            pred = pt["predicted"] / 1e9 if math.isfinite(pt["predicted"]) else math.inf
            print(f"  N={pt['params']:.3g} r={pt['ratio']:<5g} tokens to {100 * pt['target']:g}% "
                  f"{pt['relation']} {pt['observed'] / 1e9:8.4g}   predicted {pred:8.4g}")
    if best.speed_exponent_assumed:
        print(f"note: one calibration size; the size exponent of the learning clock is the default "
              f"{best.speed_exponent:g} (assumed, flagged in predictions off this size)")
    print(f"wrote {out}")
    return 0

