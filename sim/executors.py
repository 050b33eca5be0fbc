"""Executors: how the sweep runner evaluates its points (serial, a local process pool, later Ray).

The interface is deliberately small::

    class Executor:
        def map(self, fn, args) -> Iterator[PointOutcome]   # one outcome per arg, in completion order
        def close(self) -> None                              # also via ``with``

- ``fn`` is a module-level (picklable) function of one argument; each ``args[i]`` is a picklable point task.
- ``map`` yields exactly one :class:`PointOutcome` per task, as tasks finish: ``index`` (position in ``args``),
  ``value`` (what ``fn`` returned) or ``error`` (the exception it raised) with ``traceback`` text. An exception in
  one point never stops the others, and ``map`` itself raises only for a broken executor.
- The executor never writes results: the sweep driver consumes the outcomes and is the store's only writer, so a
  distributed executor only has to ship ``fn(arg)`` to workers and the return value back.

A Ray executor would submit ``ray.remote(fn).remote(arg)`` per task and yield outcomes from ``ray.wait``.
"""

from __future__ import annotations

import abc
import logging
import os
import traceback as _tb
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from phasemix._checks import check_choice, check_int
from phasemix.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PointOutcome:
    """Result of one point: ``value`` when it succeeded, else ``error`` (the exception) and ``traceback`` text."""

    index: int
    value: Any = None
    error: BaseException | None = None
    traceback: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


class Executor(abc.ABC):
    """Evaluates ``fn(arg)`` for many args; see the module docstring for the contract."""

    name: str = "executor"

    @abc.abstractmethod
    def map(self, fn: Callable[[Any], Any], args: Sequence[Any]) -> Iterator[PointOutcome]:
        """Yield one :class:`PointOutcome` per element of ``args``, in completion order."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _call(fn: Callable[[Any], Any], index: int, arg: Any) -> PointOutcome:
    try:
        return PointOutcome(index, value=fn(arg))
    except Exception as exc:  # noqa: BLE001 - every point error is reported, never raised
        return PointOutcome(index, error=exc, traceback=_tb.format_exc())


def _limit_threads(threads: int) -> None:
    """Worker initializer: cap the compute threads before any numeric library starts its pool."""
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))


class SerialExecutor(Executor):
    """Runs points one after another in this process (deterministic order; easiest to debug)."""

    name = "serial"

    def map(self, fn, args):
        for i, arg in enumerate(args):
            yield _call(fn, i, arg)


class LocalExecutor(Executor):
    """A local process pool (``concurrent.futures.ProcessPoolExecutor``).

    Parameters
    ----------
    workers : number of processes (default: ``os.cpu_count()``).
    start_method : ``"spawn"`` (default; safe with Numba's thread pools), ``"forkserver"`` or ``"fork"``.
    max_pending : tasks in flight at once (default 2 × workers), so huge grids do not pickle everything up front.
    threads_per_worker : compute threads each worker may use (Numba/OpenMP; default cpu_count // workers, at least
        1), so a pool does not oversubscribe the machine; variables already set in the environment win.
    """

    name = "local"

    def __init__(self, workers: int | None = None, start_method: str = "spawn", max_pending: int | None = None,
                 threads_per_worker: int | None = None):
        import multiprocessing as mp

        self.workers = check_int("workers", workers if workers is not None else (os.cpu_count() or 1), minimum=1)
        check_choice("start_method", start_method, ("spawn", "forkserver", "fork"))
        self.max_pending = check_int("max_pending", max_pending or 2 * self.workers, minimum=1)
        default_threads = max(1, (os.cpu_count() or 1) // self.workers)
        self.threads_per_worker = check_int("threads_per_worker", threads_per_worker or default_threads, minimum=1)
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context(start_method),
                                         initializer=_limit_threads, initargs=(self.threads_per_worker,))

    def map(self, fn, args):
        pending: dict[Any, int] = {}
        it = iter(enumerate(args))
        exhausted = False
        while True:
            while not exhausted and len(pending) < self.max_pending:
                try:
                    i, arg = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending[self._pool.submit(_call, fn, i, arg)] = i
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                try:
                    yield fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed, or an unpicklable result
                    yield PointOutcome(i, error=exc, traceback=_tb.format_exc())

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


EXECUTORS = ("serial", "local", "ray")


def make_executor(kind: str = "serial", workers: int | None = None, address: str | None = None) -> Executor:
    """Build an executor by name: ``"serial"``, ``"local"`` (process pool) or ``"ray"`` (docs/distributed.md).

    ``workers`` is the pool size (local) or the CPUs of a local Ray instance; with an ``address`` the cluster's
    size comes from ``ray start`` and ``workers`` is not used. ``address`` is only valid with ``"ray"``. Ray is
    imported only for ``"ray"``.
    """
    check_choice("executor", kind, EXECUTORS)
    if address is not None and kind != "ray":
        raise ConfigError(f"address {address!r} applies only to executor 'ray', got executor {kind!r}")
    if kind == "serial":
        return SerialExecutor()
    if kind == "local":
        return LocalExecutor(workers=workers)
    from phasemix.sim import ray_executor as rx

    if not rx.ray_available():
        raise ImportError(f"executor 'ray' needs Ray, which is not installed here: {rx.INSTALL_HINT}")
    rx.check_address(address)
    if address is not None and workers is not None:
        log.info("executor 'ray' at %s: workers=%s not used (the cluster's size is set by `ray start`)",
                 address, workers)
    return rx.RayExecutor(address=address, num_cpus=workers if address is None else None)
