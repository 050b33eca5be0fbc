"""Per-fact device functions, written once and compiled for each target by a factory.

``make_device(jit)`` returns a namespace of functions compiled with ``jit`` (``numba.njit`` for the CPU,
``numba.cuda.jit(device=True)`` for CUDA or its simulator). Helpers reach each other through the factory's
closure, so each target compiles its own copies (a shared plain function cannot call another plain function:
simulation.md §8). Only integer operations, float ``*``, and truncating casts appear here: no float add on a
product and no libm, so CUDA's FMA contraction cannot change a bit (simulation.md §0).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from phasemix.kernels.poisson import DIGIT_BIG, DIGIT_HIGH, DIGIT_LOW
from phasemix.kernels.rng import CHUNK_SHIFT, GOLDEN, PURPOSE_SHIFT, STATE_SALT

U64 = np.uint64
ONE_Q32 = 1 << 32  # 1.0 in Q0.32 (needs 33 bits; products stay below 2^64, see mulq)
MAX_X = (1 << 32) - 1
MAX_N = (1 << 32) - 1


def make_device(jit, bitcast=None) -> SimpleNamespace:
    """Compile the per-fact functions with decorator ``jit`` and return them in a namespace.

    ``bitcast`` (optional) is a compiled float64 → uint64 bit reinterpretation for the target; without it the float
    bits come from ``frexp`` (exact, works on CUDA and its simulator). Both give the same bits for positive normal
    floats, which is all the kernels ever convert.
    """
    c_gold = U64(GOLDEN)
    c_salt = U64(STATE_SALT)
    c_m1 = U64(0xBF58476D1CE4E5B9)
    c_m2 = U64(0x94D049BB133111EB)
    c_one = U64(ONE_Q32)
    c_maxx = U64(MAX_X)
    n_pos = DIGIT_HIGH - DIGIT_LOW + 1
    u0 = U64(0)
    u1 = U64(1)
    u4 = U64(4)
    u9 = U64(9)
    u11 = U64(11)
    u14 = U64(14)
    u15 = U64(15)
    u27 = U64(27)
    u28 = U64(28)
    u30 = U64(30)
    u31 = U64(31)
    u32 = U64(32)
    u36 = U64(36)
    u48 = U64(48)
    u52 = U64(52)
    big = np.int64(DIGIT_BIG)
    u55 = U64(55)
    u56 = U64(56)
    c_chunk = U64(CHUNK_SHIFT)
    c_purp = U64(PURPOSE_SHIFT)
    two52 = float(2 ** 52)

    @jit
    def splitmix64(z):
        z = z + c_gold
        z = (z ^ (z >> u30)) * c_m1
        z = (z ^ (z >> u27)) * c_m2
        return z ^ (z >> u31)

    @jit
    def stream_state(base, fact, chunk, purpose):
        counter = U64(fact) ^ (U64(chunk) << c_chunk) ^ (U64(purpose) << c_purp)
        key = splitmix64(base ^ splitmix64(counter))
        s0 = splitmix64(key)
        s1 = splitmix64(key ^ c_salt)
        if s0 == u0 and s1 == u0:
            s0 = c_gold
        return s0, s1

    @jit
    def xoro_next(s0, s1):
        out = s0 + s1
        s1 = s1 ^ s0
        s0 = ((s0 << u55) | (s0 >> u9)) ^ s1 ^ (s1 << u14)
        s1 = (s1 << u36) | (s1 >> u28)
        return out, s0, s1

    @jit
    def table_draw(x, tab, thr, off, lo, guide):
        i = guide[tab, np.int64(x >> u56)]
        last = off[tab + 1] - 1
        while i < last and x >= thr[i]:
            i += 1
        return i - off[tab] + lo[tab]

    @jit
    def draw_exposures(base, fact, chunk, purpose, mode, tab, mu_fp, nsub, thr, off, lo, guide):
        """Poisson draw (Eq. (85)–(86)): table mode (mode 0: ``nsub`` draws from table ``tab``) or digit mode
        (mode 1: ``mu_fp >> 48`` draws of mean 2^16, then one per nonzero base-16 digit of the low 48 bits)."""
        s0, s1 = stream_state(base, fact, chunk, purpose)
        total = np.int64(0)
        if mode == 0:
            for _ in range(nsub):
                x, s0, s1 = xoro_next(s0, s1)
                total += table_draw(x, tab, thr, off, lo, guide)
        else:
            for _ in range(np.int64(mu_fp >> u48)):
                x, s0, s1 = xoro_next(s0, s1)
                total += table_draw(x, big, thr, off, lo, guide)
            for e in range(n_pos):
                d = np.int64((mu_fp >> (u4 * U64(e))) & u15)
                if d != 0:
                    x, s0, s1 = xoro_next(s0, s1)
                    total += table_draw(x, e * 15 + d - 1, thr, off, lo, guide)
        return total

    @jit
    def mulq(a, b):
        """(a·b) >> 32 for Q0.32 numbers a, b <= 2^32 (1.0 = 2^32), floor rounding."""
        if a == c_one:
            return b
        if b == c_one:
            return a
        return (a * b) >> u32

    @jit
    def powq(q, e):
        """q^e in Q0.32 by square-and-multiply (q <= 2^32)."""
        r = c_one
        b = q
        while e > 0:
            if e & 1:
                r = mulq(r, b)
            e >>= 1
            if e > 0:
                b = mulq(b, b)
            if r == u0:
                break
        return r

    @jit
    def race_update(x, dn, rho_half, qpow):
        """Strang-split forgetting race in Q0.32: half erase, write (1−x) ← (1−x)·q^dn, half erase (Eq. (92)).

        ``qpow[d] = q^d`` (host table from the same integer powq) for d < len(qpow); larger dn use powq(qpow[1]).
        """
        x = mulq(x, rho_half)
        y = c_one - x
        if dn < qpow.shape[0]:
            pw = qpow[dn]
        else:
            pw = powq(qpow[1], dn)
        y = mulq(y, pw)
        x = c_one - y
        if x > c_maxx:
            x = c_maxx
        x = mulq(x, rho_half)
        return x

    if bitcast is not None:
        float_bits = bitcast
    else:
        @jit
        def float_bits(u):
            """IEEE-754 bit pattern of a positive normal float64, from frexp (exact; no libm rounding)."""
            m, e = math.frexp(u)
            mant = U64((m + m - 1.0) * two52)
            return (U64(e + 1022) << u52) | mant

    @jit
    def value_bits(n, inv_d, w, b):
        """Bits of the value density u = ((n·(1/D))·w_g)·b(n) (Eq. (88)), products only."""
        u = ((np.float64(n) * inv_d) * w) * b
        return float_bits(u)

    return SimpleNamespace(
        splitmix64=splitmix64, stream_state=stream_state, xoro_next=xoro_next, table_draw=table_draw,
        draw_exposures=draw_exposures, mulq=mulq, powq=powq, race_update=race_update, float_bits=float_bits,
        value_bits=value_bits, u1=u1, u11=u11,
    )
