"""CuPy kernels: vectorized on the GPU with CuPy's own generator, so **equal in distribution only** to the others.

Exposure counts come from ``cupy.random.RandomState(seed).poisson`` (seeded per setting and chunk from the same
keyed base), the race, histogram and reduction steps are the reference's integer algorithm on CuPy arrays. Records
carry ``rng_family = "cupy"``. CuPy is imported when this module is, which :mod:`phasemix.kernels.backend` does
only after :func:`~phasemix.kernels.backend.cupy_status` said CuPy works.
"""

from __future__ import annotations

import cupy as cp
import numpy as np

from phasemix.kernels.poisson import FIXED_SHIFT
from phasemix.kernels.rng import splitmix64_int

RNG_FAMILY = "cupy"
U64 = cp.uint64
ONE = 1 << 32
MAXX = (1 << 32) - 1
MAXN = (1 << 32) - 1


def put(a):
    return cp.asarray(a) if isinstance(a, np.ndarray) else a


def get(a):
    return cp.asnumpy(a) if isinstance(a, cp.ndarray) else a


def row_max(n):
    return cp.asnumpy(n.max(axis=1)).astype(np.int64)


def _mulq(a, b):
    prod = (a * b) >> U64(32)
    return cp.where(a == U64(ONE), b, cp.where(b == U64(ONE), a, prod))


def _powq(q, e):
    r = cp.full(e.shape, ONE, dtype=U64)
    b = q.astype(U64)
    e = e.astype(cp.int64)
    while bool((e > 0).any()):
        r = cp.where((e & 1) == 1, _mulq(r, b), r)
        e = e >> 1
        b = cp.where(e > 0, _mulq(b, b), b)
    return r


def advance(n, x, base, pmix, gclass, subset_size, mode, tab_of, scale, nsub, tables, chunk, purpose, race, rho_half,
            qw) -> None:
    """Same contract as :func:`phasemix.kernels.reference.advance`; Poisson draws from CuPy's generator."""
    n_set, n_fact = n.shape
    j = cp.arange(n_fact, dtype=cp.int64)
    for s in range(n_set):
        if mode == 0:
            cls = j // subset_size
            means = cp.asarray(tables.means)[cp.asarray(tab_of)[s, cls]] * cp.asarray(nsub)[s, cls]
        else:
            means = pmix * (float(scale[s]) / 2.0 ** FIXED_SHIFT)
        seed = splitmix64_int(int(base[s]) ^ (int(chunk) << 40) ^ (int(purpose) << 60)) & ((1 << 63) - 1)
        dn = cp.random.RandomState(seed).poisson(means).astype(cp.int64)
        n[s] = cp.minimum(n[s].astype(cp.int64) + dn, MAXN).astype(cp.uint32)
        if race:
            rho = U64(int(rho_half[s]))
            xx = _mulq(x[s].astype(U64), rho)
            y = U64(ONE) - xx
            y = _mulq(y, _powq(cp.asarray(qw)[s, gclass.astype(cp.int64), 1], dn))
            xx = cp.minimum(U64(ONE) - y, U64(MAXX))
            x[s] = _mulq(xx, rho).astype(cp.uint32)


def _bits(nn, s, g, inv_d, w, btab, nref):
    idx = cp.minimum(nn, int(nref[s]))
    u = ((nn.astype(cp.float64) * float(inv_d[s])) * cp.asarray(w)[s, g]) * cp.asarray(btab)[s, idx]
    return u.view(U64)


def value_hist(n, gclass, inv_d, w, btab, ctab, nref, n_min, shift, use_prefix, prefix_shift, prefix, kmin, nbins):
    """Same contract as :func:`phasemix.kernels.reference.value_hist`."""
    n_set = n.shape[0]
    count = np.zeros((n_set, nbins), dtype=np.int64)
    cost = np.zeros((n_set, nbins), dtype=np.int64)
    ct = cp.asarray(ctab)
    for s in range(n_set):
        nn = n[s].astype(cp.int64)
        ok = nn >= int(n_min[s])
        nn, g = nn[ok], gclass[ok].astype(cp.int64)
        bits = _bits(nn, s, g, inv_d, w, btab, nref)
        if use_prefix:
            keep = (bits >> U64(prefix_shift)) == U64(int(prefix[s]))
            bits, nn = bits[keep], nn[keep]
        key = cp.clip((bits >> U64(shift)).astype(cp.int64) - int(kmin[s]), 0, nbins - 1)
        count[s] = cp.asnumpy(cp.bincount(key, minlength=nbins))
        c = ct[s, cp.minimum(nn, int(nref[s]))]
        cost[s] = cp.asnumpy(cp.bincount(key, weights=c.astype(cp.float64), minlength=nbins)).astype(np.int64)
    return count, cost


def final_reduce(n, x, gclass, fbin, p_fp, subset_size, nsubsets, nfbins, inv_d, w, btab, nref, n_min, lam_bits, race,
                 theta):
    """Same contract as :func:`phasemix.kernels.reference.final_reduce`."""
    n_set, n_fact = n.shape
    j = cp.arange(n_fact, dtype=cp.int64)
    sub_cnt = np.zeros((n_set, nsubsets), dtype=np.int64)
    fb_cnt = np.zeros((n_set, nfbins), dtype=np.int64)
    err = np.zeros(n_set, dtype=np.uint64)
    totals = np.zeros((n_set, 4), dtype=np.int64)
    for s in range(n_set):
        nn = n[s].astype(cp.int64)
        elig = nn >= int(n_min[s])
        bits = _bits(cp.maximum(nn, 1), s, gclass.astype(cp.int64), inv_d, w, btab, nref)
        alloc = elig & (bits > U64(int(lam_bits[s])))
        rec = (x[s] >= theta) if race else cp.ones(n_fact, dtype=bool)
        stored = alloc & rec
        sub_cnt[s] = cp.asnumpy(cp.bincount(j[stored] // subset_size, minlength=nsubsets))
        fb_cnt[s] = cp.asnumpy(cp.bincount(fbin[stored].astype(cp.int64), minlength=nfbins))
        err[s] = int(p_fp[~stored].sum(dtype=U64))
        xs = int(x[s].astype(cp.int64).sum()) if race else 0
        totals[s] = (int(elig.sum()), int(alloc.sum()), int(rec.sum()), xs)
    return sub_cnt, fb_cnt, err, totals
