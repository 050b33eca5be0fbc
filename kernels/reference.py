"""Vectorized numpy reference of the three per-fact kernels (the same integer algorithm as cpu.py and cuda.py).

Kernels (arrays in, arrays out; ``S`` settings × ``J`` facts; Eq. (87)–(93) in docs/theory.md):

- ``advance``: one training chunk: Poisson exposure draw ``n += Δn`` (saturating) and, optionally, the forgetting
  race on the Q0.32 strength ``x``; in place on ``n`` and ``x``.
- ``value_hist``: histogram (count, fixed-point cost) of the value-density keys of eligible facts.
- ``final_reduce``: stored flags → per-subset and per-frequency-bin counts, fixed-point test error, totals.

This is the backend every other backend must match bit for bit (CuPy: in distribution).
"""

from __future__ import annotations

import numpy as np

from phasemix.kernels import rng as _rng
from phasemix.kernels.poisson import DIGIT_BIG, DIGIT_HIGH, DIGIT_LOW, PoissonTables, table_draw_np

U64 = np.uint64
ONE = U64(1 << 32)
MAXX = U64((1 << 32) - 1)
MAXN = np.int64((1 << 32) - 1)
BLOCK = 1 << 18


def _mulq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=U64)
    b = np.asarray(b, dtype=U64)
    with np.errstate(over="ignore"):
        prod = (a * b) >> U64(32)
    return np.where(a == ONE, b, np.where(b == ONE, a, prod))


def _powq(q: np.ndarray, e: np.ndarray) -> np.ndarray:
    r = np.full(e.shape, ONE, dtype=U64)
    b = np.asarray(q, dtype=U64).copy()
    e = e.astype(np.int64).copy()
    while (e > 0).any():
        odd = (e & 1) == 1
        r = np.where(odd, _mulq(r, b), r)
        e >>= 1
        b = np.where(e > 0, _mulq(b, b), b)
    return r


#: Length of the per-(setting, class) table of q^d used by the race update.
QPOW_LEN = 64


def race_power_table(q_fp: np.ndarray) -> np.ndarray:
    """``q^d`` for d < QPOW_LEN in Q0.32 by the kernels' own square-and-multiply (host side; Eq. (92))."""
    q = np.asarray(q_fp, dtype=U64)
    d = np.broadcast_to(np.arange(QPOW_LEN, dtype=np.int64), q.shape + (QPOW_LEN,))
    return _powq(np.broadcast_to(q[..., None], d.shape), d)


def race_update_np(x: np.ndarray, dn: np.ndarray, rho_half: int, qpow: np.ndarray) -> np.ndarray:
    """Strang-split race step on uint32 strengths (Eq. (92)); ``qpow`` rows of q^d per fact."""
    xx = _mulq(x.astype(U64), U64(rho_half))
    y = ONE - xx
    small = dn < qpow.shape[-1]
    pw = np.where(small, qpow[np.arange(dn.size), np.minimum(dn, qpow.shape[-1] - 1)], U64(0))
    if not small.all():
        pw = np.where(small, pw, _powq(qpow[:, 1], dn))
    y = _mulq(y, pw)
    xx = np.minimum(ONE - y, MAXX)
    return _mulq(xx, U64(rho_half)).astype(np.uint32)


def _masked_draw(s0, s1, mask, tab, tables):
    x, t0, t1 = _rng.xoroshiro_next_np(s0, s1)
    draw = table_draw_np(x, np.where(mask, tab, 0), tables)
    return np.where(mask, t0, s0), np.where(mask, t1, s1), np.where(mask, draw, 0)


def draw_exposures_np(base: int, facts: np.ndarray, chunk: int, purpose: int, mode: int, tab: np.ndarray,
                      mu_fp: np.ndarray, nsub: np.ndarray, tables: PoissonTables) -> np.ndarray:
    """Vectorized exposure draw of one setting for ``facts`` (Eq. (85)–(86)); ``nsub`` per fact (table mode)."""
    s0, s1 = _rng.stream_state_np(base, facts, chunk, purpose)
    total = np.zeros(facts.shape, dtype=np.int64)
    if mode == 0:
        nsub = np.broadcast_to(np.asarray(nsub, dtype=np.int64), facts.shape)
        for i in range(int(nsub.max(initial=0))):
            s0, s1, draw = _masked_draw(s0, s1, nsub > i, tab, tables)
            total += draw
        return total
    hi = (mu_fp >> U64(48)).astype(np.int64)
    for i in range(int(hi.max(initial=0))):
        s0, s1, draw = _masked_draw(s0, s1, hi > i, DIGIT_BIG, tables)
        total += draw
    for e in range(DIGIT_HIGH - DIGIT_LOW + 1):
        d = ((mu_fp >> U64(4 * e)) & U64(15)).astype(np.int64)
        nz = d != 0
        if nz.any():
            s0, s1, draw = _masked_draw(s0, s1, nz, e * 15 + d - 1, tables)
            total += draw
    return total


def advance(n, x, base, pmix, gclass, subset_size, mode, tab_of, scale, nsub, tables: PoissonTables, chunk,
            purpose, race, rho_half, qw) -> None:
    """One chunk for every (setting, fact): ``n += Poisson`` (saturating), race update of ``x`` if ``race``.

    Table mode (0): fact j draws ``nsub[s, c]`` times from table ``tab_of[s, c]``, c = j // subset_size. Digit mode
    (1): the mean is ``μ_fp = trunc(pmix[j]·scale[s])`` in 32.32 fixed point.
    """
    n_set, n_fact = n.shape
    for s in range(n_set):
        for lo in range(0, n_fact, BLOCK):
            j = np.arange(lo, min(lo + BLOCK, n_fact), dtype=np.int64)
            cls = j // subset_size
            tab = tab_of[s, cls] if mode == 0 else np.zeros(j.size, dtype=np.int64)
            ns = nsub[s, cls] if mode == 0 else np.zeros(j.size, dtype=np.int64)
            mu_fp = (pmix[j] * scale[s]).astype(U64) if mode == 1 else np.zeros(j.size, dtype=U64)
            dn = draw_exposures_np(int(base[s]), j.astype(U64), chunk, purpose, mode, tab, mu_fp, ns, tables)
            n[s, j] = np.minimum(n[s, j].astype(np.int64) + dn, MAXN).astype(np.uint32)
            if race:
                x[s, j] = race_update_np(x[s, j], dn, int(rho_half[s]), qw[s, gclass[j]])


def _value_bits(nn: np.ndarray, s: int, g: np.ndarray, inv_d, w, btab, nref) -> np.ndarray:
    idx = np.minimum(nn, nref[s])
    u = ((nn.astype(np.float64) * inv_d[s]) * w[s, g]) * btab[s, idx]
    return u.view(U64)


def value_hist(n, gclass, inv_d, w, btab, ctab, nref, n_min, shift, use_prefix, prefix_shift, prefix, kmin,
               nbins) -> tuple[np.ndarray, np.ndarray]:
    """Count and fixed-point cost histograms of ``(bits(u) >> shift) − kmin[s]`` over eligible facts (Eq. (89))."""
    n_set, n_fact = n.shape
    count = np.zeros((n_set, nbins), dtype=np.int64)
    cost = np.zeros((n_set, nbins), dtype=np.int64)
    for s in range(n_set):
        for lo in range(0, n_fact, BLOCK):
            nn = n[s, lo:lo + BLOCK].astype(np.int64)
            g = gclass[lo:lo + BLOCK]
            ok = nn >= n_min[s]
            if not ok.any():
                continue
            nn, g = nn[ok], g[ok]
            bits = _value_bits(nn, s, g, inv_d, w, btab, nref)
            if use_prefix:
                keep = (bits >> U64(prefix_shift)) == U64(prefix[s])
                bits, nn = bits[keep], nn[keep]
            key = (bits >> U64(shift)).astype(np.int64) - kmin[s]
            key = np.clip(key, 0, nbins - 1)
            c = ctab[s, np.minimum(nn, nref[s])]
            count[s] += np.bincount(key, minlength=nbins)
            part = np.bincount(key, weights=c.astype(np.float64), minlength=nbins)
            if part.sum() >= 2.0 ** 53:  # pragma: no cover - only at > 1e9 facts per block
                raise OverflowError("cost histogram exceeds exact float range")
            cost[s] += part.astype(np.int64)
    return count, cost


def final_reduce(n, x, gclass, fbin, p_fp, subset_size, nsubsets, nfbins, inv_d, w, btab, nref, n_min, lam_bits,
                 race, theta):
    """Stored = eligible ∧ bits(u) > λ-bits ∧ (no race ∨ x ≥ θ); reductions (Eq. (90)–(91)).

    Returns ``sub_cnt [S, nsubsets]``, ``fb_cnt [S, nfbins]``, ``err_fp [S]`` (uint64, Σ p_fp over facts not
    stored) and ``totals [S, 4]`` = (eligible, allocated, recalled, Σx).
    """
    n_set, n_fact = n.shape
    sub_cnt = np.zeros((n_set, nsubsets), dtype=np.int64)
    fb_cnt = np.zeros((n_set, nfbins), dtype=np.int64)
    err = np.zeros(n_set, dtype=U64)
    totals = np.zeros((n_set, 4), dtype=np.int64)
    for s in range(n_set):
        for lo in range(0, n_fact, BLOCK):
            j = np.arange(lo, min(lo + BLOCK, n_fact), dtype=np.int64)
            nn = n[s, j].astype(np.int64)
            elig = nn >= n_min[s]
            alloc = np.zeros(j.size, dtype=bool)
            if elig.any():
                bits = _value_bits(np.maximum(nn, 1), s, gclass[j], inv_d, w, btab, nref)
                alloc = elig & (bits > U64(lam_bits[s]))
            recalled = (x[s, j] >= theta) if race else np.ones(j.size, dtype=bool)
            stored = alloc & recalled
            sub_cnt[s] += np.bincount(j[stored] // subset_size, minlength=nsubsets)
            fb_cnt[s] += np.bincount(fbin[j][stored].astype(np.int64), minlength=nfbins)
            err[s] += p_fp[j][~stored].sum(dtype=U64)
            xs = int(x[s, j].sum(dtype=np.int64)) if race else 0
            totals[s] += (int(elig.sum()), int(alloc.sum()), int(recalled.sum()), xs)
    return sub_cnt, fb_cnt, err, totals
