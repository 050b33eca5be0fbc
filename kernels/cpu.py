"""Numba CPU kernels: ``@njit(parallel=True)`` loops over (setting, fact) with the shared device functions.

Same signatures and bit-identical results as :mod:`phasemix.kernels.reference`. Reductions use per-thread integer
partial rows (``numba.get_thread_id``) summed afterwards: integer addition commutes, so the result does not depend
on the thread count or the schedule (Eq. (89)–(91) in docs/theory.md).
"""

from __future__ import annotations

import contextlib

import numba
import numpy as np
from numba import njit, prange

from phasemix.kernels._device import make_device

_D = make_device(njit)
_draw = _D.draw_exposures
_race = _D.race_update
_vbits = _D.value_bits
U64 = np.uint64
_MAXN = np.int64((1 << 32) - 1)


@njit(parallel=True, cache=True)
def _advance(n, x, base, pmix, gclass, subset_size, mode, tab_of, scale, nsub, thr, off, lo, guide, chunk, purpose,
             race, rho_half, qw):
    n_set, n_fact = n.shape
    for idx in prange(n_set * n_fact):
        s = idx // n_fact
        j = idx - s * n_fact
        tab = np.int64(0)
        mu = U64(0)
        if mode == 0:
            tab = tab_of[s, j // subset_size]
        else:
            mu = U64(pmix[j] * scale[s])
        dn = _draw(base[s], j, chunk, purpose, mode, tab, mu, nsub[s], thr, off, lo, guide)
        v = np.int64(n[s, j]) + dn
        if v > _MAXN:
            v = _MAXN
        n[s, j] = v
        if race:
            x[s, j] = _race(U64(x[s, j]), dn, rho_half[s], qw[s, gclass[j]])


@njit(parallel=True, cache=True)
def _value_hist(n, gclass, inv_d, w, btab, ctab, nref, n_min, shift, use_prefix, prefix_shift, prefix, kmin, nbins,
                nthreads):
    n_set, n_fact = n.shape
    count = np.zeros((nthreads, n_set, nbins), dtype=np.int64)
    cost = np.zeros((nthreads, n_set, nbins), dtype=np.int64)
    ushift = U64(shift)
    pshift = U64(prefix_shift)
    for idx in prange(n_set * n_fact):
        s = idx // n_fact
        j = idx - s * n_fact
        nn = np.int64(n[s, j])
        if nn < n_min[s]:
            continue
        ii = nn if nn < nref[s] else nref[s]
        bits = _vbits(nn, inv_d[s], w[s, gclass[j]], btab[s, ii])
        if use_prefix and (bits >> pshift) != prefix[s]:
            continue
        key = np.int64(bits >> ushift) - kmin[s]
        if key < 0:
            key = 0
        if key >= nbins:
            key = nbins - 1
        t = numba.get_thread_id()
        count[t, s, key] += 1
        cost[t, s, key] += ctab[s, ii]
    return count.sum(axis=0), cost.sum(axis=0)


@njit(parallel=True, cache=True)
def _final_reduce(n, x, gclass, fbin, p_fp, subset_size, nsubsets, nfbins, inv_d, w, btab, nref, n_min, lam_bits,
                  race, theta, nthreads):
    n_set, n_fact = n.shape
    sub_cnt = np.zeros((nthreads, n_set, nsubsets), dtype=np.int64)
    fb_cnt = np.zeros((nthreads, n_set, nfbins), dtype=np.int64)
    err = np.zeros((nthreads, n_set), dtype=np.uint64)
    totals = np.zeros((nthreads, n_set, 4), dtype=np.int64)
    for idx in prange(n_set * n_fact):
        s = idx // n_fact
        j = idx - s * n_fact
        t = numba.get_thread_id()
        nn = np.int64(n[s, j])
        alloc = False
        if nn >= n_min[s]:
            totals[t, s, 0] += 1
            ii = nn if nn < nref[s] else nref[s]
            bits = _vbits(nn, inv_d[s], w[s, gclass[j]], btab[s, ii])
            alloc = bits > lam_bits[s]
        rec = True
        if race:
            rec = x[s, j] >= theta
            totals[t, s, 3] += np.int64(x[s, j])
        if alloc:
            totals[t, s, 1] += 1
        if rec:
            totals[t, s, 2] += 1
        if alloc and rec:
            sub_cnt[t, s, j // subset_size] += 1
            fb_cnt[t, s, fbin[j]] += 1
        else:
            err[t, s] += p_fp[j]
    return sub_cnt.sum(axis=0), fb_cnt.sum(axis=0), err.sum(axis=0), totals.sum(axis=0)


#: Below this many (setting, fact) pairs a kernel runs on one thread: on a loaded machine a parallel region can wait
#: milliseconds for a descheduled worker, far longer than the work (results never depend on the thread count).
SERIAL_BELOW = 1 << 17


def _nthreads() -> int:
    return int(numba.config.NUMBA_NUM_THREADS)


@contextlib.contextmanager
def _threads_for(work: int):
    if work >= SERIAL_BELOW:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def advance(n, x, base, pmix, gclass, subset_size, mode, tab_of, scale, nsub, tables, chunk, purpose, race, rho_half,
            qw) -> None:
    """Numba version of :func:`phasemix.kernels.reference.advance` (in place)."""
    with _threads_for(n.size):
        _advance(n, x, base, pmix, gclass, np.int64(subset_size), np.int64(mode), tab_of, scale, nsub, tables.thr,
                 tables.off, tables.lo, tables.guide, np.int64(chunk), np.int64(purpose), bool(race), rho_half, qw)


def value_hist(n, gclass, inv_d, w, btab, ctab, nref, n_min, shift, use_prefix, prefix_shift, prefix, kmin, nbins):
    """Numba version of :func:`phasemix.kernels.reference.value_hist`."""
    with _threads_for(n.size):
        return _value_hist(n, gclass, inv_d, w, btab, ctab, nref, n_min, np.int64(shift), bool(use_prefix),
                           np.int64(prefix_shift), prefix, kmin, np.int64(nbins), _nthreads())


def final_reduce(n, x, gclass, fbin, p_fp, subset_size, nsubsets, nfbins, inv_d, w, btab, nref, n_min, lam_bits, race,
                 theta):
    """Numba version of :func:`phasemix.kernels.reference.final_reduce`."""
    with _threads_for(n.size):
        return _final_reduce(n, x, gclass, fbin, p_fp, np.int64(subset_size), np.int64(nsubsets), np.int64(nfbins),
                             inv_d, w, btab, nref, n_min, lam_bits, bool(race), np.uint32(theta), _nthreads())
