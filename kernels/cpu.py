"""Numba CPU kernels: ``@njit(parallel=True)`` loops over (setting, fact) with the shared device functions.

Same signatures and bit-identical results as :mod:`phasemix.kernels.reference`. The reduction kernels loop over a
fixed number of fact blocks per setting; block scalars are written once per block and histograms go to padded
per-thread integer rows (``numba.get_thread_id``) summed afterwards. Integer addition commutes, so results do not
depend on the thread count or the schedule (Eq. (89)–(91) in docs/theory.md).
"""

from __future__ import annotations

import contextlib

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from phasemix.kernels._device import make_device


@intrinsic
def _f64_bits(typingctx, x):
    """LLVM bitcast float64 → uint64 (the CPU twin of the frexp route in _device)."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.uint64))

    return types.uint64(types.float64), codegen


_D = make_device(njit, bitcast=_f64_bits)
_draw = _D.draw_exposures
_state = _D.stream_state
_tdraw = _D.table_draw
_race = _D.race_update
_vbits = _D.value_bits
U64 = np.uint64
_MAXN = np.int64((1 << 32) - 1)


#: Facts per work item of the reduction kernels (a fixed block count per setting, independent of the thread count).
BLOCK = 8192
_PAD = 8  # int64 padding between per-thread histogram rows (one cache line)


# Each kernel is a prange over fixed fact blocks calling a serial block function: Numba optimizes a plain @njit loop
# far better than the same loop inside a parallel region (measured 2-3x), and block results are written once.


@njit(cache=True)
def _advance_block(n, x, s, j0, j1, base, pmix, gclass, subset_size, mode, tab_of, scale, nsub, thr, off, lo, guide,
                   chunk, purpose, race, rho_half, qw):
    bs = base[s]
    rh = rho_half[s]
    if mode == 0:  # branches hoisted out of the fact loop: each loop below is branch-light
        c = j0 // subset_size
        while c * subset_size < j1:
            tab = tab_of[s, c]
            ns = nsub[s, c]
            a = max(j0, c * subset_size)
            b = min(j1, (c + 1) * subset_size)
            if ns == 1:
                # one word per fact: generate the words in a loop LLVM vectorizes, then invert (same stream, same bits)
                words = np.empty(b - a, dtype=np.uint64)
                for j in range(a, b):
                    s0, s1 = _state(bs, j, chunk, purpose)
                    words[j - a] = s0 + s1  # first xoroshiro128+ output
                for j in range(a, b):
                    dn = _tdraw(words[j - a], tab, thr, off, lo, guide)
                    n[s, j] = min(np.int64(n[s, j]) + dn, _MAXN)
                    if race:
                        x[s, j] = _race(U64(x[s, j]), dn, rh, qw[s, gclass[j]])
            else:
                for j in range(a, b):
                    dn = _draw(bs, j, chunk, purpose, 0, tab, U64(0), ns, thr, off, lo, guide)
                    n[s, j] = min(np.int64(n[s, j]) + dn, _MAXN)
                    if race:
                        x[s, j] = _race(U64(x[s, j]), dn, rh, qw[s, gclass[j]])
            c += 1
    else:
        sc = scale[s]
        for j in range(j0, j1):
            dn = _draw(bs, j, chunk, purpose, 1, np.int64(0), U64(pmix[j] * sc), np.int64(0), thr, off, lo, guide)
            v = min(np.int64(n[s, j]) + dn, _MAXN)
            n[s, j] = v
            if race:
                x[s, j] = _race(U64(x[s, j]), dn, rh, qw[s, gclass[j]])


@njit(parallel=True, cache=True)
def _advance(n, x, base, pmix, gclass, subset_size, mode, tab_of, scale, nsub, thr, off, lo, guide, chunk, purpose,
             race, rho_half, qw):
    n_set, n_fact = n.shape
    nblk = (n_fact + BLOCK - 1) // BLOCK
    for b in prange(n_set * nblk):
        s = b // nblk
        j0 = (b - s * nblk) * BLOCK
        _advance_block(n, x, s, j0, min(j0 + BLOCK, n_fact), base, pmix, gclass, subset_size, mode, tab_of, scale,
                       nsub, thr, off, lo, guide, chunk, purpose, race, rho_half, qw)


@njit(cache=True)
def _hist_block(n, s, j0, j1, gclass, inv_d, w, btab, ctab, nref, n_min, ushift, use_prefix, pshift, prefix, kmin,
                nbins, count, cost):
    nm = n_min[s]
    nr = nref[s]
    idv = inv_d[s]
    km = kmin[s]
    pf = prefix[s]
    for j in range(j0, j1):
        nn = np.int64(n[s, j])
        if nn < nm:
            continue
        ii = nn if nn < nr else nr
        bits = _vbits(nn, idv, w[s, gclass[j]], btab[s, ii])
        if use_prefix and (bits >> pshift) != pf:
            continue
        key = np.int64(bits >> ushift) - km
        if key < 0:
            key = 0
        if key >= nbins:
            key = nbins - 1
        count[key] += 1
        cost[key] += ctab[s, ii]


@njit(parallel=True, cache=True)
def _value_hist(n, gclass, inv_d, w, btab, ctab, nref, n_min, shift, use_prefix, prefix_shift, prefix, kmin, nbins,
                nthreads):
    n_set, n_fact = n.shape
    nblk = (n_fact + BLOCK - 1) // BLOCK
    count = np.zeros((nthreads, n_set, nbins + _PAD), dtype=np.int64)
    cost = np.zeros((nthreads, n_set, nbins + _PAD), dtype=np.int64)
    for b in prange(n_set * nblk):
        s = b // nblk
        j0 = (b - s * nblk) * BLOCK
        t = numba.get_thread_id()
        _hist_block(n, s, j0, min(j0 + BLOCK, n_fact), gclass, inv_d, w, btab, ctab, nref, n_min, U64(shift),
                    use_prefix, U64(prefix_shift), prefix, kmin, nbins, count[t, s], cost[t, s])
    return count.sum(axis=0)[:, :nbins], cost.sum(axis=0)[:, :nbins]


@njit(cache=True)
def _final_block(n, x, s, j0, j1, gclass, fbin, p_fp, subset_size, inv_d, w, btab, nref, n_min, lam_bits, race, theta,
                 sub_row, fb_row, tot_row):
    nm = n_min[s]
    nr = nref[s]
    idv = inv_d[s]
    lam = lam_bits[s]
    t_el = np.int64(0)
    t_al = np.int64(0)
    t_re = np.int64(0)
    t_x = np.int64(0)
    t_err = U64(0)
    for j in range(j0, j1):
        nn = np.int64(n[s, j])
        alloc = False
        if nn >= nm:
            t_el += 1
            ii = nn if nn < nr else nr
            bits = _vbits(nn, idv, w[s, gclass[j]], btab[s, ii])
            alloc = bits > lam
        rec = True
        if race:
            rec = x[s, j] >= theta
            t_x += np.int64(x[s, j])
        if alloc:
            t_al += 1
        if rec:
            t_re += 1
        if alloc and rec:
            sub_row[j // subset_size] += 1
            fb_row[fbin[j]] += 1
        else:
            t_err += p_fp[j]
    tot_row[0] = t_el
    tot_row[1] = t_al
    tot_row[2] = t_re
    tot_row[3] = t_x
    return t_err


@njit(parallel=True, cache=True)
def _final_reduce(n, x, gclass, fbin, p_fp, subset_size, nsubsets, nfbins, inv_d, w, btab, nref, n_min, lam_bits,
                  race, theta, nthreads):
    n_set, n_fact = n.shape
    nblk = (n_fact + BLOCK - 1) // BLOCK
    sub_cnt = np.zeros((nthreads, n_set, nsubsets + _PAD), dtype=np.int64)
    fb_cnt = np.zeros((nthreads, n_set, nfbins + _PAD), dtype=np.int64)
    blk_err = np.zeros(n_set * nblk, dtype=np.uint64)
    blk_tot = np.zeros((n_set * nblk, 4), dtype=np.int64)
    for b in prange(n_set * nblk):
        s = b // nblk
        j0 = (b - s * nblk) * BLOCK
        t = numba.get_thread_id()
        blk_err[b] = _final_block(n, x, s, j0, min(j0 + BLOCK, n_fact), gclass, fbin, p_fp, subset_size, inv_d, w,
                                  btab, nref, n_min, lam_bits, race, theta, sub_cnt[t, s], fb_cnt[t, s], blk_tot[b])
    err = np.zeros(n_set, dtype=np.uint64)
    totals = np.zeros((n_set, 4), dtype=np.int64)
    for b in range(n_set * nblk):
        s = b // nblk
        err[s] += blk_err[b]
        totals[s] += blk_tot[b]
    return sub_cnt.sum(axis=0)[:, :nsubsets], fb_cnt.sum(axis=0)[:, :nfbins], err, totals


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
