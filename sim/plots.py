"""Plots of sweep results: learned fraction over (N, r) next to the theory's boundary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from phasemix.errors import ConfigError

if TYPE_CHECKING:
    from phasemix.sim.sweep import SweepConfig


def learned_table(records: list[dict]) -> dict[tuple[float, float], float]:
    """Seed-averaged learned fraction at the last checkpoint per (N, r) (m1: the largest tokens)."""
    acc: dict[tuple[float, float], list[float]] = {}
    best_t: dict[tuple[float, float], float] = {}
    for rec in records:
        st, cps = rec["setting"], rec["outputs"].get("checkpoints")
        if not cps:
            continue
        key = (float(st["params"]), float(st["ratio"]))
        t = cps[-1]["tokens"]
        if t > best_t.get(key, -1.0):
            best_t[key] = t
            acc[key] = []
        if t == best_t[key]:
            acc[key].append(float(cps[-1]["learned_fraction"]))
    return {k: sum(v) / len(v) for k, v in acc.items()}


def plot_learned(cfg: SweepConfig, records: list[dict], path: str | Path) -> Path:
    """Heat map of the learned fraction over (N, r) with the theory's onset and full-learning sizes.

    The boundary lines are the two-domain closed forms (Eq. (9)–(10)) for a uniform set of the population's size,
    bits and tokens per fact; for non-uniform populations they are a reference, not the exact boundary.
    """
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from phasemix.sim.population import PopulationSpec
    from phasemix.theory.allocation import full_params, onset_params
    from phasemix.theory.capacity import KnowledgeSet

    if cfg.model == "m3":
        raise ConfigError("plot_learned needs an m1 or m2 sweep (learned fraction over N and r)")
    table = learned_table(records)
    if not table:
        raise ConfigError("no finished settings to plot")
    ns = sorted({k[0] for k in table})
    rs = sorted({k[1] for k in table})
    z = np.full((len(rs), len(ns)), np.nan)
    for (n, r), v in table.items():
        z[rs.index(r), ns.index(n)] = v
    fig, ax = plt.subplots(figsize=(6, 4.5))
    mesh = ax.pcolormesh(_edges(ns), _edges(rs), z, vmin=0, vmax=1, cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, label="simulated learned fraction")
    spec = PopulationSpec.from_dict(cfg.population)
    ks = KnowledgeSet(spec.n_facts, float(cfg.setting.get("bits_per_fact", 45.5916)),
                      float(cfg.setting.get("tokens_per_fact", 100.0)))
    rr = np.geomspace(max(min(rs), 1e-6), max(rs), 200) if min(rs) > 0 else np.linspace(1e-6, max(rs), 200)
    b = float(cfg.dynamics.get("b_max", 2.0))
    what = "" if spec.kind == "uniform" else " (uniform set of equal size)"
    ax.plot(onset_params(rr, ks, bits_per_param=b), rr, "w--", label=f"theory onset N_on(r){what}")
    ax.plot(full_params(rr, ks, bits_per_param=b), rr, "w:", label=f"theory full N_full(r){what}")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yscale("log" if min(rs) > 0 else "linear")
    ax.set_xlim(_edges(ns)[0], _edges(ns)[-1])
    ax.set_ylim(_edges(rs)[0], _edges(rs)[-1])
    ax.set_xlabel("parameters N")
    ax.set_ylabel("knowledge share r")
    ax.set_title(f"{cfg.name}: learned fraction vs theory")
    ax.legend(loc="lower left", fontsize=8)
    out = Path(path)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out


def _edges(vals: list[float]):
    import numpy as np

    v = np.asarray(vals, dtype=float)
    if v.size == 1:
        return np.array([v[0] / 1.5, v[0] * 1.5])
    if (v > 0).all():
        lv = np.log(v)
        mid = (lv[1:] + lv[:-1]) / 2
        return np.exp(np.concatenate([[2 * lv[0] - mid[0]], mid, [2 * lv[-1] - mid[-1]]]))
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])
