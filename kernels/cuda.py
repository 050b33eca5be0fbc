"""Numba CUDA kernels (real GPU or ``NUMBA_ENABLE_CUDASIM=1``), bit-identical to the numpy reference.

Grid: ``(blocks_x, S)``; ``blockIdx.y`` is the setting, threads stride over facts. Reductions are global integer
``atomic.add`` (integer addition commutes, so results are deterministic; float atomics are never used); per-thread
sums first for the scalar totals. State arrays stay on the device between chunks (``put``/``get``).
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
from numba import cuda

from phasemix.kernels._device import make_device

_D = make_device(cuda.jit(device=True))
_draw = _D.draw_exposures
_race = _D.race_update
_vbits = _D.value_bits
U64 = np.uint64
_MAXN = np.int64((1 << 32) - 1)
#: Threads per block and facts per thread (a tuning knob; results do not depend on either).
THREADS = 256
FACTS_PER_THREAD = 4
MAX_BLOCKS_X = 65535


@cuda.jit
def _advance_k(n, x, base, pmix, gclass, subset_size, mode, tab_of, scale, nsub, thr, off, lo, guide, chunk, purpose,
               race, rho_half, qw):
    s = cuda.blockIdx.y
    n_fact = n.shape[1]
    start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    stride = cuda.gridDim.x * cuda.blockDim.x
    for j in range(start, n_fact, stride):
        tab = np.int64(0)
        ns = np.int64(0)
        mu = U64(0)
        if mode == 0:
            c = j // subset_size
            tab = tab_of[s, c]
            ns = nsub[s, c]
        else:
            mu = U64(pmix[j] * scale[s])
        dn = _draw(base[s], j, chunk, purpose, mode, tab, mu, ns, thr, off, lo, guide)
        v = np.int64(n[s, j]) + dn
        if v > _MAXN:
            v = _MAXN
        n[s, j] = v
        if race:
            x[s, j] = _race(U64(x[s, j]), dn, rho_half[s], qw[s, gclass[j]])


@cuda.jit
def _value_hist_k(n, gclass, inv_d, w, btab, ctab, nref, n_min, shift, use_prefix, prefix_shift, prefix, kmin, nbins,
                  count, cost):
    s = cuda.blockIdx.y
    n_fact = n.shape[1]
    start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    stride = cuda.gridDim.x * cuda.blockDim.x
    ushift = U64(shift)
    pshift = U64(prefix_shift)
    for j in range(start, n_fact, stride):
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
        cuda.atomic.add(count, (s, key), 1)
        cuda.atomic.add(cost, (s, key), ctab[s, ii])


@cuda.jit
def _final_k(n, x, gclass, fbin, p_fp, subset_size, inv_d, w, btab, nref, n_min, lam_bits, race, theta, sub_cnt,
             fb_cnt, err, totals):
    s = cuda.blockIdx.y
    n_fact = n.shape[1]
    start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    stride = cuda.gridDim.x * cuda.blockDim.x
    t_el = np.int64(0)
    t_al = np.int64(0)
    t_re = np.int64(0)
    t_x = np.int64(0)
    t_err = U64(0)
    for j in range(start, n_fact, stride):
        nn = np.int64(n[s, j])
        alloc = False
        if nn >= n_min[s]:
            t_el += 1
            ii = nn if nn < nref[s] else nref[s]
            bits = _vbits(nn, inv_d[s], w[s, gclass[j]], btab[s, ii])
            alloc = bits > lam_bits[s]
        rec = True
        if race:
            rec = x[s, j] >= theta
            t_x += np.int64(x[s, j])
        if alloc:
            t_al += 1
        if rec:
            t_re += 1
        if alloc and rec:
            cuda.atomic.add(sub_cnt, (s, j // subset_size), 1)
            cuda.atomic.add(fb_cnt, (s, np.int64(fbin[j])), 1)
        else:
            t_err += p_fp[j]
    cuda.atomic.add(totals, (s, 0), t_el)
    cuda.atomic.add(totals, (s, 1), t_al)
    cuda.atomic.add(totals, (s, 2), t_re)
    cuda.atomic.add(totals, (s, 3), t_x)
    cuda.atomic.add(err, s, t_err)


@cuda.jit
def _row_max_k(n, out):
    s = cuda.blockIdx.y
    start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    stride = cuda.gridDim.x * cuda.blockDim.x
    m = np.int64(0)
    for j in range(start, n.shape[1], stride):
        v = np.int64(n[s, j])
        if v > m:
            m = v
    cuda.atomic.max(out, s, m)


def _simulating() -> bool:
    from numba import config

    return bool(config.ENABLE_CUDASIM)


@contextlib.contextmanager
def _launch_ctx():
    """The simulator computes with numpy uint64 scalars, which warn on (intended) wrap-around: silence that."""
    if _simulating():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
    else:
        yield


def _grid(n_fact: int, n_set: int, threads: int | None) -> tuple[tuple[int, int], int]:
    threads = THREADS if threads is None else int(threads)
    bx = max(1, min(MAX_BLOCKS_X, -(-n_fact // (threads * FACTS_PER_THREAD))))
    return (bx, n_set), threads


def put(a):
    """Host array → device array (device arrays pass through)."""
    if isinstance(a, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(a))
    return a


def get(a):
    """Device array → host numpy array."""
    return a if isinstance(a, np.ndarray) else a.copy_to_host()


_TABLE_CACHE: dict[int, tuple] = {}


def _tables_dev(tables):
    key = id(tables)
    hit = _TABLE_CACHE.get(key)
    if hit is None or hit[0] is not tables:
        if len(_TABLE_CACHE) > 16:
            _TABLE_CACHE.clear()
        hit = (tables, put(tables.thr), put(tables.off), put(tables.lo), put(tables.guide))
        _TABLE_CACHE[key] = hit
    return hit[1:]


def advance(n, x, base, pmix, gclass, subset_size, mode, tab_of, scale, nsub, tables, chunk, purpose, race, rho_half,
            qw, threads: int | None = None) -> None:
    """CUDA version of :func:`phasemix.kernels.reference.advance` (in place on device ``n``, ``x``)."""
    thr, off, lo, guide = _tables_dev(tables)
    grid, block = _grid(n.shape[1], n.shape[0], threads)
    with _launch_ctx():
        _advance_k[grid, block](n, x, put(base), put(pmix), put(gclass), np.int64(subset_size), np.int64(mode),
                                put(tab_of), put(scale), put(nsub), thr, off, lo, guide, np.int64(chunk),
                                np.int64(purpose), bool(race), put(rho_half), put(qw))


def value_hist(n, gclass, inv_d, w, btab, ctab, nref, n_min, shift, use_prefix, prefix_shift, prefix, kmin, nbins,
               threads: int | None = None):
    """CUDA version of :func:`phasemix.kernels.reference.value_hist`."""
    n_set = n.shape[0]
    count = put(np.zeros((n_set, nbins), dtype=np.int64))
    cost = put(np.zeros((n_set, nbins), dtype=np.int64))
    grid, block = _grid(n.shape[1], n_set, threads)
    with _launch_ctx():
        _value_hist_k[grid, block](n, put(gclass), put(inv_d), put(w), put(btab), put(ctab), put(nref), put(n_min),
                                   np.int64(shift), bool(use_prefix), np.int64(prefix_shift), put(prefix), put(kmin),
                                   np.int64(nbins), count, cost)
    return get(count), get(cost)


def final_reduce(n, x, gclass, fbin, p_fp, subset_size, nsubsets, nfbins, inv_d, w, btab, nref, n_min, lam_bits, race,
                 theta, threads: int | None = None):
    """CUDA version of :func:`phasemix.kernels.reference.final_reduce`."""
    n_set = n.shape[0]
    sub_cnt = put(np.zeros((n_set, nsubsets), dtype=np.int64))
    fb_cnt = put(np.zeros((n_set, nfbins), dtype=np.int64))
    err = put(np.zeros(n_set, dtype=np.uint64))
    totals = put(np.zeros((n_set, 4), dtype=np.int64))
    grid, block = _grid(n.shape[1], n_set, threads)
    with _launch_ctx():
        _final_k[grid, block](n, x, put(gclass), put(fbin), put(p_fp), np.int64(subset_size), put(inv_d), put(w),
                              put(btab), put(nref), put(n_min), put(lam_bits), bool(race), np.uint32(theta), sub_cnt,
                              fb_cnt, err, totals)
    return get(sub_cnt), get(fb_cnt), get(err), get(totals)


def row_max(n, threads: int | None = None):
    """Per-setting maximum of ``n`` (integer atomic max)."""
    out = put(np.zeros(n.shape[0], dtype=np.int64))
    grid, block = _grid(n.shape[1], n.shape[0], threads)
    with _launch_ctx():
        _row_max_k[grid, block](n, out)
    return get(out)
