"""Counter-keyed xoroshiro128+ streams shared bit for bit by numpy, Numba CPU and Numba CUDA.

Host side only: splitmix64 / xoroshiro128+ on numpy ``uint64`` arrays (the vectorized reference), stream keying
(Eq. (80)–(82) in docs/theory.md), setting ids and golden vectors. The per-fact device versions of the same
functions are built by :func:`phasemix.kernels._device.make_device` for each compile target.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np

U64 = np.uint64
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
STATE_SALT = 0xD1B54A32D192ED03
#: Bit positions of the chunk and purpose fields inside the stream counter (Eq. (81)).
CHUNK_SHIFT = 40
PURPOSE_SHIFT = 60
MAX_FACTS = 1 << 40
MAX_CHUNKS = 1 << 20
MAX_PURPOSES = 16
#: Stream purposes.
PURPOSE_EXPOSURE = 0
PURPOSE_SAMPLE = 1
RNG_FAMILY = "xoro-v1"
RNG_VERSION = 1


# ---------------------------------------------------------------------------------------------------------------
# Python big-int reference (independent of numpy's wrap-around; used for golden vectors)
# ---------------------------------------------------------------------------------------------------------------

def splitmix64_int(z: int) -> int:
    """splitmix64 finaliser on a Python int (Eq. (80) in docs/theory.md)."""
    z = (z + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _rotl_int(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK64


def stream_state_int(base: int, fact: int, chunk: int, purpose: int) -> tuple[int, int]:
    """Initial xoroshiro128+ state of the stream (setting base, fact, chunk, purpose) (Eq. (81)–(82))."""
    counter = fact ^ (chunk << CHUNK_SHIFT) ^ (purpose << PURPOSE_SHIFT)
    key = splitmix64_int(base ^ splitmix64_int(counter & MASK64))
    s0 = splitmix64_int(key)
    s1 = splitmix64_int(key ^ STATE_SALT)
    if s0 == 0 and s1 == 0:
        s0 = GOLDEN
    return s0, s1


def xoroshiro_words_int(s0: int, s1: int, count: int) -> list[int]:
    """``count`` outputs of xoroshiro128+ (55, 14, 36) from state (s0, s1) (Eq. (83))."""
    out = []
    for _ in range(count):
        out.append((s0 + s1) & MASK64)
        s1 ^= s0
        s0 = _rotl_int(s0, 55) ^ s1 ^ ((s1 << 14) & MASK64)
        s1 = _rotl_int(s1, 36)
    return out


# ---------------------------------------------------------------------------------------------------------------
# numpy vectorized reference
# ---------------------------------------------------------------------------------------------------------------

def splitmix64_np(z: np.ndarray) -> np.ndarray:
    """Vectorized splitmix64 on ``uint64`` arrays (wrap-around arithmetic)."""
    z = np.asarray(z, dtype=U64)
    with np.errstate(over="ignore"):
        z = z + U64(GOLDEN)
        z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
    return z ^ (z >> U64(31))


def stream_state_np(base: int, facts: np.ndarray, chunk: int, purpose: int) -> tuple[np.ndarray, np.ndarray]:
    """Initial states for many facts of one (setting, chunk, purpose) (Eq. (81)–(82))."""
    counter = np.asarray(facts, dtype=U64) ^ U64((chunk << CHUNK_SHIFT) ^ (purpose << PURPOSE_SHIFT))
    key = splitmix64_np(U64(base) ^ splitmix64_np(counter))
    s0 = splitmix64_np(key)
    s1 = splitmix64_np(key ^ U64(STATE_SALT))
    both0 = (s0 == 0) & (s1 == 0)
    if both0.any():  # pragma: no cover - probability 2^-128
        s0 = np.where(both0, U64(GOLDEN), s0)
    return s0, s1


def xoroshiro_next_np(s0: np.ndarray, s1: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One xoroshiro128+ step on arrays: returns (output, new s0, new s1) (Eq. (83))."""
    with np.errstate(over="ignore"):
        out = s0 + s1
    s1 = s1 ^ s0
    s0 = ((s0 << U64(55)) | (s0 >> U64(9))) ^ s1 ^ (s1 << U64(14))
    s1 = (s1 << U64(36)) | (s1 >> U64(28))
    return out, s0, s1


def to_unit_float(x: np.ndarray) -> np.ndarray:
    """Map 64-bit words to floats in [0, 1): ``(x >> 11)·2^−53``."""
    return (np.asarray(x, dtype=U64) >> U64(11)).astype(np.float64) * (2.0 ** -53)


# ---------------------------------------------------------------------------------------------------------------
# Setting ids and bases
# ---------------------------------------------------------------------------------------------------------------

def _canon(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"setting values must be finite for keying, got {value!r}")
    return value


def canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, floats via repr (Python's json already uses repr)."""
    return json.dumps(_canon(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def setting_uid(setting: dict) -> int:
    """First 8 bytes (little-endian) of blake2b-64 of the canonical JSON of ``setting`` without its seed."""
    if not isinstance(setting, dict):
        raise TypeError(f"setting must be a dict, got {type(setting).__name__}")
    body = {k: v for k, v in setting.items() if k != "seed"}
    digest = hashlib.blake2b(canonical_json(body).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def setting_base(seed: int, uid: int) -> int:
    """``base_s = SM(seed) ^ uid_s`` (Eq. (81))."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0 or seed >= 1 << 64:
        raise ValueError(f"seed must be an integer in [0, 2^64), got {seed!r}")
    return splitmix64_int(int(seed)) ^ (int(uid) & MASK64)


#: Golden vectors: (base, fact, chunk, purpose) -> first 4 words, computed once with the big-int reference above
#: and hard-coded, so a silent change to any implementation (or to the reference) fails a test.
GOLDEN_KEYS: tuple[tuple[int, int, int, int], ...] = (
    (0, 0, 0, 0),
    (0x0123456789ABCDEF, 12345, 7, 1),
    (0xFFFFFFFFFFFFFFFF, (1 << 40) - 1, (1 << 20) - 1, 15),
)
GOLDEN_WORDS: tuple[tuple[int, int, int, int], ...] = (
    (0x5CC39EB2C3C26A8F, 0xA89187EFD5B47FDB, 0xBC0800FF8ECF61C6, 0x7661893A74B02CAA),
    (0x8318D5D7E9A2E266, 0x53FC5CD6A7C35AA2, 0x284CB82925FDF370, 0xB61BAFC04288B87A),
    (0x3090AF242D9F13E4, 0xB29ED679D437540B, 0x0B1437B1171E30C3, 0xB1E3243A8BA67047),
)
