"""``phasemix phase-diagram``: learned fraction over a log-N × r grid with the predicted onset and full boundaries."""

from __future__ import annotations

import argparse
from pathlib import Path

from phasemix.commands.predict import _floats, add_model_arguments, knowledge_from_args, law_from_args


def _range(text: str, name: str, parse) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"{name} must be LOW,HIGH, got {text!r}")
    lo, hi = (parse(p.strip()) for p in parts)
    if not lo < hi:
        raise ValueError(f"{name} must have LOW < HIGH, got {text!r}")
    return lo, hi


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "phase-diagram",
        help="draw the predicted learned fraction over (model size, mixing ratio)",
        description="Draw the learned fraction of the knowledge set predicted by the optimal bounded-capacity "
                    "learner over a log-N × r grid, with the onset N_on(r) and full-learning N_on(r) + K·h/b "
                    "boundaries (Eq. (8)-(10) in docs/theory.md).",
    )
    p.add_argument("--out", required=True, help="output image (PNG, PDF or SVG by suffix)")
    p.add_argument("--params-range", default="10M,2B", help="LOW,HIGH model sizes, log axis (default 10M,2B)")
    p.add_argument("--ratio-range", default="0.005,0.6", help="LOW,HIGH mixing ratios in (0, 1) (default 0.005,0.6)")
    p.add_argument("--grid", type=int, default=300, help="points per axis (default 300)")
    p.add_argument("--log-ratio", action="store_true", help="log scale on the ratio axis")
    p.add_argument("--dpi", type=int, default=150, help="resolution of raster output (default 150)")
    add_model_arguments(p)
    p.set_defaults(_run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from phasemix._checks import check_int, check_unit_interval
    from phasemix.theory import allocation as al
    from phasemix.units import format_count, parse_count

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ValueError(f"--out must end in .png, .pdf or .svg, got {args.out!r}")
    if not out.parent.is_dir():
        raise ValueError(f"--out: folder {str(out.parent)!r} does not exist")
    n_lo, n_hi = _range(args.params_range, "--params-range", lambda s: parse_count(s, name="--params-range"))
    if n_lo <= 0:
        raise ValueError(f"--params-range must be > 0, got {args.params_range!r}")
    r_lo, r_hi = _range(args.ratio_range, "--ratio-range", lambda s: _floats(s, "--ratio-range", 1)[0])
    check_unit_interval("--ratio-range", [r_lo, r_hi], low_open=True, high_open=True)
    grid = check_int("--grid", args.grid, minimum=2)
    if grid > 4000:
        raise ValueError(f"--grid must be <= 4000, got {grid}")
    knowledge, law, b = knowledge_from_args(args), law_from_args(args), float(args.bits_per_param)

    sizes = np.geomspace(n_lo, n_hi, grid)
    ratios = np.geomspace(r_lo, r_hi, grid) if args.log_ratio else np.linspace(r_lo, r_hi, grid)
    nn, rr = np.meshgrid(sizes, ratios)
    frac = al.learned_fraction(nn, rr, knowledge, law, b)
    fine = np.geomspace(r_lo, r_hi, 4 * grid) if args.log_ratio else np.linspace(r_lo, r_hi, 4 * grid)
    onset = al.onset_params(fine, knowledge, law, b)
    full = al.full_params(fine, knowledge, law, b)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    mesh = ax.pcolormesh(sizes, ratios, frac, shading="auto", cmap="viridis", vmin=0.0, vmax=1.0)
    fig.colorbar(mesh, ax=ax, label="learned fraction of the knowledge set")
    ax.plot(onset, fine, color="white", lw=1.5, label=r"onset $N_{on}(r)$")
    ax.plot(full, fine, color="orange", lw=1.5, ls="--", label=r"full $N_{on}(r)+Kh/b$")
    ax.set_xscale("log")
    if args.log_ratio:
        ax.set_yscale("log")
    ax.set_xlim(n_lo, n_hi)
    ax.set_ylim(r_lo, r_hi)
    ax.set_xlabel("model parameters N")
    ax.set_ylabel("mixing ratio r")
    ax.set_title(f"K={format_count(knowledge.facts)}, h={knowledge.bits_per_fact:.4g} bits, b={b:g}, "
                 f"alpha={law.alpha:g}", fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=args.dpi)
    plt.close(fig)
    learned = float(np.mean(frac > 0))
    print(f"wrote {out} ({grid}x{grid} grid; {learned:.1%} of the grid learns something; "
          f"exponents: log-odds r* ~ N^{al.exponent_ratio_vs_params(law):.4g}, "
          f"N_on ~ odds^{al.exponent_params_vs_ratio(law):.4g})")
    return 0
