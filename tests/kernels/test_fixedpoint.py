"""Q0.32 fixed-point race step (Eq. (92)): error bound against real arithmetic, and Numba = numpy on random input."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

from phasemix.kernels.cpu import _D as CPU_DEVICE
from phasemix.kernels.reference import QPOW_LEN, race_power_table, race_update_np

ONE = 1 << 32
_race = CPU_DEVICE.race_update

xs = st.integers(0, ONE - 1)
dns = st.integers(0, 5000)
fracs = st.integers(0, ONE)


@njit
def _race_numba(x, dn, rho, qpow):
    return _race(np.uint64(x), dn, np.uint64(rho), qpow)


@given(x=xs, dn=dns, rho=fracs, q=fracs)
def test_race_step_error_is_bounded_by_its_multiplies(x, dn, rho, q):
    qpow = race_power_table(np.array([q], dtype=np.uint64))
    got = int(race_update_np(np.array([x], dtype=np.uint32), np.array([dn]), rho, qpow)[0])
    r, qq, xx = rho / ONE, q / ONE, x / ONE
    exact = r * (1 - (1 - r * xx) * qq**dn)
    multiplies = 2 * max(1, int(dn).bit_length()) + 4  # powq squarings and products, 3 products, clamp
    assert abs(got / ONE - exact) <= multiplies * 2.0**-32 + 1e-15


@given(x=xs, dn=dns, rho=fracs, q=fracs)
def test_numba_device_step_equals_numpy(x, dn, rho, q):
    qpow = race_power_table(np.array([q], dtype=np.uint64))
    want = int(race_update_np(np.array([x], dtype=np.uint32), np.array([dn]), rho, qpow)[0])
    assert int(_race_numba(x, dn, rho, qpow[0])) == want


def test_power_table_matches_repeated_products_for_small_exponents():
    q = np.array([0, 1, 3_000_000_000, ONE - 1, ONE], dtype=np.uint64)
    table = race_power_table(q)
    assert table.shape == (5, QPOW_LEN)
    assert np.all(table[:, 0] == ONE) and np.all(table[:, 1] == q)
    assert table[4, 10] == ONE and table[0, 3] == 0  # 1^d = 1, 0^d = 0 exactly
    assert np.all(np.diff(table[2].astype(np.int64)) <= 0)  # powers of q < 1 never increase
