"""PNG figures of the validate report (matplotlib, Agg backend, imported lazily)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _legend(ax, size: int) -> None:
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=size)


def _main(records, group, control="none"):
    return [r for r in records if r["spec"]["group"] == group and r["spec"]["control"] == control]


def fraction_vs_ratio(records, summary, path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    lines: dict = {}
    for r in records:
        s = r["spec"]
        if s["control"] != "none" or s["group"] in ("web_law", "capacity", "subsample") or s["ratio"] >= 1:
            continue
        key = (s["d_model"], s["tokens"], s["seed"])
        lines.setdefault(key, []).append(r)
    for (d, t, seed), rs in sorted(lines.items()):
        rs = sorted(rs, key=lambda r: r["spec"]["ratio"])
        x = [r["spec"]["ratio"] for r in rs]
        lab = f"d={d}, {t / 1e6:g}M tok, seed {seed}"
        style = "-o" if len(rs) > 1 else "s"
        axes[0].plot(x, [r["final"]["learned_fraction"] for r in rs], style, label=lab)
        axes[1].plot(x, [r["final"]["accuracy"] for r in rs], style, label=lab)
    for c in [r for r in records if r["spec"]["control"] == "fresh"]:
        axes[0].plot([c["spec"]["ratio"]], [c["final"]["learned_fraction"]], "kx", ms=9, label="fresh-value control")
        axes[1].plot([c["spec"]["ratio"]], [c["final"]["accuracy"]], "kx", ms=9, label="fresh-value control")
    pred = summary.get("predicted")
    if pred and "ratios" in pred:
        axes[0].plot(pred["ratios"], pred["learned_fraction"], "k--", lw=1, label="theory (fitted law, measured b)")
        axes[1].plot(pred["ratios"], pred["accuracy"], "k--", lw=1, label="theory")
    _simulated(axes[0], summary, lambda r: r.get("subsample", 1.0) == 1.0, "ratio")
    if records:
        axes[1].axhline(records[0]["final"]["chance"], color="grey", lw=0.8, ls=":", label="chance")
    axes[0].axhline(summary["target"], color="grey", lw=0.8, ls="-.")
    axes[0].set(xlabel="knowledge token share r", ylabel="learned fraction (chance-corrected stored bits / K·h)")
    axes[1].set(xlabel="knowledge token share r", ylabel="exact-match accuracy (mean over attributes)")
    for ax in axes:
        ax.set_ylim(-0.02, 1.02)
        _legend(ax, 7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _simulated(ax, summary, keep, x_key: str) -> None:
    """Simulated learned fractions (M1 with the fitted law) as open triangles, one per simulated run."""
    sim = summary.get("_simulation")
    rows = [r for r in (sim or {}).get("runs", []) if "skipped" not in r and keep(r)]
    if rows:
        ax.plot([r[x_key] for r in rows], [r["learned_fraction"] for r in rows], "^", mfc="none", color="tab:red",
                ms=8, label="simulation (M1, fitted law)")


def mechanism(records, summary, path: Path) -> None:
    plt = _plt()
    ch = summary["checks"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax = axes[0]
    for d in ch.get("doubling", []):
        ax.plot(d["tokens"], d["learned_fraction"], "-o", label=f"r = {d['ratio']:g}")
    ax.set(xscale="log", xlabel="tokens", ylabel="learned fraction", title="doubling test")
    _legend(ax, 8)
    ax = axes[1]
    rows = ch.get("control", [])
    if rows:
        c = rows[0]
        vals = [c.get("real_learned_fraction", np.nan), c["control_learned_fraction"]]
        ax.bar([0, 1], vals, color=["tab:blue", "tab:grey"])
        ax.set_xticks([0, 1], ["real bios", "fresh values"])
        wl = [c.get("real_web_loss_nats", np.nan), c["control_web_loss_nats"]]
        ax.set_title(f"control at r = {c['ratio']:g}: web loss {wl[0]:.3f} vs {wl[1]:.3f} nats", fontsize=9)
        ax.set_ylabel("learned fraction")
    ax = axes[2]
    ref = _main(records, "reference")
    if ref:
        cur = max(ref, key=lambda r: r["spec"]["tokens"])["curve"]
        ax.plot([c["exposures_mean"] for c in cur], [c["learned_fraction"] for c in cur], "k-o", label="r = 1")
    mixed = sorted(_main(records, "core"), key=lambda r: r["spec"]["ratio"]) + _main(records, "doubling")
    for r in mixed:
        if r["spec"]["d_model"] != (ref[0]["spec"]["d_model"] if ref else r["spec"]["d_model"]):
            continue
        ax.plot([c["exposures_mean"] for c in r["curve"]], [c["learned_fraction"] for c in r["curve"]],
                "--" if r["spec"]["group"] == "doubling" else "-",
                label=f"r = {r['spec']['ratio']:g}, {r['spec']['tokens'] / 1e6:g}M")
    ax.set(xscale="log", xlabel="exposures per bio (counted)", ylabel="learned fraction", title="iso-exposure")
    _legend(ax, 7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def phase_diagram(records, summary, path: Path) -> None:
    from phasemix.theory import allocation as al
    from phasemix.theory.laws import PowerLaw
    from phasemix.validate.analysis import _knowledge

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    pts = [r for r in records if r["spec"]["control"] == "none" and 0 < r["spec"]["ratio"] < 1
           and r["spec"]["group"] != "subsample"]
    if pts:
        sc = ax.scatter([r["params"]["total"] for r in pts], [r["spec"]["ratio"] for r in pts],
                        c=[r["final"]["learned_fraction"] for r in pts], cmap="viridis", vmin=0, vmax=1, s=60,
                        edgecolors="k")
        fig.colorbar(sc, label="learned fraction")
    law, bpp = summary.get("web_law"), summary.get("bits_per_param")
    if law and bpp and pts:
        rec = pts[0]
        pl = PowerLaw(E=law["E"], A=law["A"], alpha=law["alpha"], unit=law["unit"], loss_units="nats")
        share = rec["params"]["fact_capable"] / rec["params"]["total"]
        b = bpp["bits_per_fact_capable_param"] * share
        ks = _knowledge(rec)
        n = np.geomspace(min(r["params"]["total"] for r in pts) / 3, max(r["params"]["total"] for r in pts) * 3, 200)
        ax.plot(n, al.critical_ratio(n, ks, pl, b), "k--", label="predicted onset r_on(N)")
        ax.plot(n, al.target_ratio(n, ks, summary["target"], pl, b), "r-",
                label=f"predicted r_a(N), a = {summary['target']}")
        _legend(ax, 8)
    ax.set(xscale="log", xlabel="total parameters N", ylabel="knowledge token share r", ylim=(0, 1),
           title="phase diagram (points: runs)")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def time_to_target(records, summary, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    rows = [t for t in summary["time_to_target"] if t["tokens_to_target"] is not None
            and math.isfinite(t["tokens_to_target"])]
    for d in sorted({t["d_model"] for t in rows}):
        sel = sorted([t for t in rows if t["d_model"] == d], key=lambda t: t["ratio"])
        ax.plot([1 / t["ratio"] for t in sel], [t["tokens_to_target"] for t in sel], "o", label=f"d={d}")
    never = [t for t in summary["time_to_target"] if t not in rows]
    for t in never:
        ax.axvline(1 / t["ratio"], color="grey", lw=0.6, ls=":")
    ax.set(xlabel="1/r", ylabel=f"tokens to learned fraction {summary['target']}", yscale="log",
           title="time to target (dotted: never reached)")
    _legend(ax, 8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def web_law(records, summary, path: Path) -> None:
    law = summary.get("web_law")
    if not law:
        return
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    n = np.asarray(law["points"]["params_total"], dtype=float)
    ax.plot(n, law["points"]["web_loss_nats"], "o", label="r = 0 runs")
    g = np.geomspace(n.min() / 2, n.max() * 2, 100)
    ax.plot(g, law["E"] + law["A"] * (g / law["unit"]) ** (-law["alpha"]), "k-",
            label=f"E={law['E']:.2f} (fixed)" if law["E_fixed"] else f"E={law['E']:.2f}")
    ax.set(xscale="log", xlabel="total parameters", ylabel="web validation loss (nats/token)",
           title=f"web law: alpha = {law['alpha']:.3f}")
    _legend(ax, 8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def subsampling(records, summary, path: Path) -> None:
    sub = summary.get("subsampling")
    if not sub:
        return
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(sub["rho"], sub["learned_fraction"], "o-", label="measured (full set)")
    if "theory_rho" in sub:
        ax.plot(sub["theory_rho"], sub["theory_fraction"], "k--", label="theory acc(rho)")
    _simulated(ax, summary, lambda r: r["group"] == "subsample", "subsample")
    ax.set(xlabel="subsampling fraction rho", ylabel="learned fraction over the full set",
           title=f"subsampling at r = {sub['ratio']:g}")
    _legend(ax, 8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def draw_all(records, summary, out: Path, simulation: dict | None = None) -> list[str]:
    """Draw every figure that has data; returns the file names. ``simulation`` (report.json's) adds the simulated
    learned fractions to the fraction-vs-ratio and subsampling figures."""
    if simulation and simulation.get("done"):
        summary = {**summary, "_simulation": simulation}
    names = []
    figs = ((fraction_vs_ratio, "fraction_vs_ratio.png"), (mechanism, "mechanism_checks.png"),
            (phase_diagram, "phase_diagram.png"), (time_to_target, "time_to_target.png"),
            (web_law, "web_law.png"), (subsampling, "subsampling.png"))
    if records and all(r["spec"]["group"] == "subsample" for r in records):  # mitigation: one figure has data
        figs = figs[-1:]
    for fn, name in figs:
        try:
            fn(records, summary, out / name)
        except (ValueError, KeyError, IndexError) as exc:  # a figure without data is skipped, not fatal
            print(f"figure {name} skipped: {exc}")
            continue
        if (out / name).exists():
            names.append(name)
    return names
