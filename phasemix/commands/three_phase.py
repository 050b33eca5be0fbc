"""``phasemix three-phase``: test error of the memorization learner on a real/synthetic Zipf mixture, its breakpoints
and the phase of each training-set size (Eqs. (48)–(54) in docs/theory.md)."""

from __future__ import annotations

import argparse
import json

DEFAULT_SIZES = "1e2,1e3,1e4,1e5,1e6,1e7,1e8"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "three-phase",
        help="three-phase scaling of test error under real/synthetic mixtures",
        description="Expected test error E(|S|) = Σ p_i·exp(−|S|·q_i) of a learner that memorizes what it has seen, "
                    "with real Zipf(β) data mixed at share π with synthetic data truncated at rank k. Prints the "
                    "error, the breakpoints (closed form k^β, k^β/π and detected from local slopes) and the phase "
                    "of each size. With no flags: β = 2, k = 100, π = 0.05.",
    )
    p.add_argument("--beta", type=float, default=2.0, help="Zipf exponent β (> 1 for an infinite vocabulary)")
    cut = p.add_mutually_exclusive_group()
    cut.add_argument("--cutoff", type=int, default=None, help="synthetic cutoff rank k (default 100)")
    cut.add_argument("--top-p", type=float, default=None, help="nucleus sampling p_top → k (instead of --cutoff)")
    cut.add_argument("--temperature", type=float, default=None,
                     help="sampling temperature τ (with --samples in cut mode)")
    p.add_argument("--samples", type=float, default=None,
                   help="generated samples n: alone, k = expected distinct items; with --temperature, the cut rank")
    p.add_argument("--temperature-mode", choices=("cut", "exponent"), default="cut",
                   help="cut: k = max{i : n·p̃_i ≥ 1}; exponent: synthetic law p̃ ∝ i^(−β/τ), no breakpoints")
    p.add_argument("--real-share", type=float, default=0.05, help="π, share of real data in (0, 1] (default 0.05)")
    p.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma-separated |S| values (default {DEFAULT_SIZES})")
    p.add_argument("--n-items", type=float, default=None,
                   help="finite vocabulary N (default infinite; exponent mode defaults to 1e6)")
    p.add_argument("--exact-binomial", action="store_true", help="fixed-|S| form Σ p_i·(1−q_i)^|S|")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="write a log-log plot of the curve with its breakpoints (.png)")
    p.set_defaults(_run=run)


def _sizes(text: str) -> list[float]:
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"--sizes must be comma-separated numbers, got {text!r}") from exc
    if not values:
        raise ValueError("--sizes must list at least one size")
    for v in values:
        if not v >= 0 or v != v:
            raise ValueError(f"--sizes must be >= 0, got {v!r}")
    return values


def _cutoff(args) -> tuple[int | None, str]:
    """Resolve k and say where it came from."""
    from phasemix.theory import zipf

    n_items = None if args.n_items is None else int(args.n_items)
    if args.top_p is not None:
        if args.samples is not None:
            raise ValueError("--samples cannot be combined with --top-p")
        k = zipf.top_p_cutoff(args.beta, args.top_p, n_items)
        return k, f"k = {k} from top-p {args.top_p} (smallest rank holding that mass)"
    if args.temperature is not None:
        if args.temperature_mode == "exponent":
            return None, f"tempered synthetic law p̃ ∝ i^(−β/τ), β/τ = {args.beta / args.temperature:.4g}"
        if args.samples is None:
            raise ValueError("--temperature in cut mode needs --samples n (or use --temperature-mode exponent)")
        k = zipf.temperature_cutoff(args.beta, args.temperature, args.samples, n_items)
        return k, f"k = {k} from temperature {args.temperature} and {args.samples:g} samples (n·p̃_k ≥ 1)"
    if args.samples is not None:
        k = zipf.sampling_cutoff(args.beta, args.samples, n_items)
        return k, f"k = {k} expected distinct items in {args.samples:g} samples"
    k = 100 if args.cutoff is None else args.cutoff
    return k, f"k = {k} (given)"


def compute(args: argparse.Namespace) -> dict:
    """Everything the command prints, as a dict."""
    import numpy as np

    from phasemix.theory import threephase as tp
    from phasemix.theory.phasedetect import detect_breakpoints

    sizes = _sizes(args.sizes)
    k, how = _cutoff(args)
    n_items = None if args.n_items is None else int(args.n_items)
    out: dict = {"beta": args.beta, "real_share": args.real_share, "cutoff": k, "cutoff_source": how,
                 "n_items": n_items, "sizes": sizes}
    if k is None:  # tempered exponent mode: error only
        n_eff = n_items if n_items is not None else 10**6
        err = tp.expected_error_tempered(sizes, args.beta, args.temperature, args.real_share, n_eff)
        out.update({"n_items": n_eff, "errors": [float(e) for e in err], "phases": ["n/a"] * len(sizes),
                    "breakpoints_closed_form": None, "detection": None, "plateau_height": None})
        return out
    err = tp.expected_error(sizes, args.beta, k, args.real_share, n_items=n_items,
                            exact_binomial=args.exact_binomial)
    s1, s2 = tp.breakpoints(args.beta, k, args.real_share)
    det = detect_breakpoints(args.beta, k, args.real_share, n_items=n_items)
    if det.plateau_resolved and det.breakpoint_1 is not None and det.breakpoint_2 is not None:
        phases = tp.phase_of(sizes, det.breakpoint_1, det.breakpoint_2)
    else:
        phases = ["no_plateau"] * len(sizes)
    out.update({
        "errors": [float(e) for e in np.atleast_1d(err)],
        "phases": phases,
        "breakpoints_closed_form": [s1, s2],
        "detection": {key: v for key, v in det.to_dict().items() if key not in ("sizes", "slopes")},
        "plateau_height": tp.plateau_height(args.beta, k, n_items),
        "phase_exponents": tp.phase_exponents(args.beta) if args.beta > 1 else None,
    })
    return out


def _plot(res: dict, args, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from phasemix.theory import threephase as tp

    if not path.lower().endswith(".png"):
        raise ValueError(f"--out must name a .png file, got {path!r}")
    lo = max(1.0, min([s for s in res["sizes"] if s > 0], default=10.0) / 10)
    hi = max(res["sizes"]) * 10
    if res["breakpoints_closed_form"]:
        hi = max(hi, res["breakpoints_closed_form"][1] * 100)
    grid = np.geomspace(lo, hi, 400)
    if res["cutoff"] is None:
        curve = tp.expected_error_tempered(grid, args.beta, args.temperature, args.real_share, res["n_items"])
    else:
        curve = tp.expected_error(grid, args.beta, res["cutoff"], args.real_share, n_items=res["n_items"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(grid, curve, label="E(|S|)")
    ax.loglog(res["sizes"], res["errors"], "o", label="requested sizes")
    if res["breakpoints_closed_form"]:
        for x, name in zip(res["breakpoints_closed_form"], ("k^β", "k^β/π")):
            ax.axvline(x, color="gray", ls=":", label=name)
        det = res["detection"]
        if det and det["plateau_resolved"]:
            for x in (det["breakpoint_1"], det["breakpoint_2"]):
                if x is not None:
                    ax.axvline(x, color="red", ls="--", alpha=0.6)
        ax.axhline(res["plateau_height"], color="green", ls=":", alpha=0.6, label="plateau (tail mass)")
    ax.set_xlabel("|S| (training samples)")
    ax.set_ylabel("expected test error")
    ax.set_title(f"β={args.beta}, π={args.real_share}, {res['cutoff_source']}", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _text(res: dict) -> str:
    lines = [f"three-phase scaling: β = {res['beta']}, π = {res['real_share']}, {res['cutoff_source']}"]
    if res["breakpoints_closed_form"]:
        s1, s2 = res["breakpoints_closed_form"]
        lines.append(f"closed-form breakpoints: k^β = {s1:.4g}, k^β/π = {s2:.4g}")
        det = res["detection"]
        if det["plateau_resolved"]:
            lines.append(f"detected breakpoints (local slope crosses s∞/2): {det['breakpoint_1']:.4g}, "
                         f"{det['breakpoint_2']:.4g} (flattest slope = {det['peak_slope_ratio']:.3f}·s∞)")
        else:
            lines.append(f"no resolved plateau (flattest slope = {det['peak_slope_ratio']:.3f}·s∞ > s∞/2)")
        lines.append(f"plateau height (real tail mass beyond k): {res['plateau_height']:.4g}")
    lines.append(f"{'|S|':>12}  {'error':>12}  phase")
    for s, e, ph in zip(res["sizes"], res["errors"], res["phases"]):
        lines.append(f"{s:>12.4g}  {e:>12.5g}  {ph}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    res = compute(args)
    if args.out:
        _plot(res, args, args.out)
        res["plot"] = args.out
    print(json.dumps(res) if args.json else _text(res))
    return 0
