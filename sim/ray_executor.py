"""Ray executor: run sweep points on a local Ray instance or an existing Ray cluster (docs/distributed.md).

:class:`RayExecutor` implements the :class:`phasemix.sim.executors.Executor` contract (``map(fn, args)`` yields one
:class:`~phasemix.sim.executors.PointOutcome` per arg in completion order; ``close()``), so the sweep driver stays
the results store's only writer: workers compute ``fn(arg)`` and ship the return value back. It is generic: any
module-level ``fn`` and picklable args work (``phasemix.sim.sweep.run_task`` on simulate tasks, a validate run).

Faults: each point is one Ray task with Ray's own retries switched off; the driver resubmits a point whose worker
died (``WorkerCrashedError``, a lost node or object) or whose function raised, up to ``max_retries`` times, then
yields it as a failed outcome carrying the last error. A fault therefore costs only that point. Progress (points
done / running / queued / failed / retries) and an end summary go to stderr.

Ray is imported only when a :class:`RayExecutor` is built: ``import phasemix.sim`` (and this module) never imports
it. Install it with ``pip install phasemix[distributed]``.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from phasemix._checks import check_int
from phasemix.sim.executors import Executor, PointOutcome

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install phasemix[distributed]"
#: Compute backends (phasemix.kernels) whose points need a GPU.
GPU_BACKENDS = ("cuda", "cupy")


def ray_available() -> bool:
    """Whether Ray can be imported (checked without importing it)."""
    return importlib.util.find_spec("ray") is not None


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError(f"executor 'ray' needs Ray, which is not installed here: {INSTALL_HINT}") from exc
    return ray


def check_address(address: str | None) -> str | None:
    """Validate a Ray cluster address: ``None`` (start a local instance), ``"auto"``, ``"HOST:PORT"`` or
    ``"ray://HOST:PORT"`` (Ray Client); returns it unchanged or raises ValueError naming ``address``."""
    if address is None or address == "auto":
        return address
    if not isinstance(address, str):
        raise ValueError(f"address must be 'HOST:PORT', 'ray://HOST:PORT' or 'auto', got {address!r}")
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535 or any(c.isspace() for c in rest):
        raise ValueError(f"address must be 'HOST:PORT' (port 1-65535), 'ray://HOST:PORT' or 'auto', got {address!r}")
    return address


def needs_gpu(arg: Any) -> bool:
    """Default GPU rule: a point needs a GPU when its ``backend`` is ``"cuda"`` or ``"cupy"`` or its ``device``
    starts with ``"cuda"`` (a dict key or an attribute). ``"auto"`` needs none: it resolves on the worker."""
    get = arg.get if isinstance(arg, dict) else (lambda k: getattr(arg, k, None))
    backend, device = get("backend"), get("device")
    return backend in GPU_BACKENDS or (isinstance(device, str) and device.startswith("cuda"))


def _run_point(fn: Callable[[Any], Any], arg: Any) -> Any:
    """Body of the Ray task: exceptions propagate, so the driver sees them as ``RayTaskError``."""
    return fn(arg)


@dataclass(frozen=True, slots=True)
class RayMapStats:
    """What the last :meth:`RayExecutor.map` did (``attempts[i]`` = submissions of point ``i``)."""

    total: int
    done: int
    failed: int
    retries: int
    attempts: tuple[int, ...]
    failed_points: tuple[int, ...]
    errors: tuple[str, ...]
    wall_s: float

    @property
    def retried_points(self) -> tuple[int, ...]:
        return tuple(i for i, a in enumerate(self.attempts) if a > 1)


class _Progress:
    """Whole-sweep progress line on ``stream``: at most every ``every_s`` seconds off a TTY, ``\\r`` on a TTY."""

    def __init__(self, total: int, enabled: bool, every_s: float, stream: IO[str]):
        self.total, self.enabled, self.every_s, self.stream = total, enabled, every_s, stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.t0 = time.monotonic()
        self.last = -math.inf
        self.shown: tuple[int, ...] = ()

    def show(self, done: int, running: int, queued: int, failed: int, retries: int, force: bool = False) -> None:
        now = time.monotonic()
        state = (done, running, queued, failed, retries)
        if not self.enabled or (not force and (state == self.shown or now - self.last < self.every_s)):
            return
        self.last, self.shown = now, state
        msg = (f"[ray] {done}/{self.total} points done, {running} running, {queued} queued, {failed} failed, "
               f"{retries} retries, {now - self.t0:.1f} s")
        print(("\r" + msg) if self.tty else msg, end="" if self.tty else "\n", file=self.stream, flush=True)

    def summary(self, stats: RayMapStats, where: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            print(file=self.stream)
        retried = len(stats.retried_points)
        print(f"[ray] summary: {stats.total} points on {where}: {stats.done} done, {stats.failed} failed, "
              f"{stats.retries} retries ({retried} points retried), {stats.wall_s:.1f} s", file=self.stream)
        for i, err in zip(stats.failed_points, stats.errors):
            print(f"[ray]   point {i} failed after {stats.attempts[i]} attempts: {err}", file=self.stream)
        self.stream.flush()


class RayExecutor(Executor):
    """Evaluate sweep points as Ray tasks, with per-point retries, progress and a summary.

    Parameters
    ----------
    address : ``None`` starts a local Ray instance (stopped by :meth:`close`); ``"HOST:PORT"`` (the head's GCS
        address printed by ``ray start --head``), ``"ray://HOST:PORT"`` (Ray Client) or ``"auto"`` connects to an
        existing cluster, which :meth:`close` leaves running. If this process is already connected to Ray, that
        connection is reused (and left open).
    num_cpus : CPUs of the local instance (default ``os.cpu_count()``); only with ``address=None``.
    num_gpus_per_point : GPUs requested by each point that needs one (fractions pack several points on a GPU);
        default ``None`` = 1. Points that need no GPU request 0, whatever this is.
    max_retries : resubmissions of a point after its worker died or its function raised (≥ 0); after that the
        point is yielded as failed with its last error.
    cpus_per_point : CPUs requested by each point (default 1).
    gpu_rule : ``arg -> bool``, whether a point needs a GPU (default :func:`needs_gpu`: backend cuda/cupy or a
        cuda device).
    max_pending : points submitted to Ray at once (default max(16, 4 × slots), slots = cluster CPUs //
        cpus_per_point), so a huge grid is not serialized up front while Ray's queue stays full. Progress counts
        min(submitted, slots) of them as running and the rest as queued (an estimate: Ray does not report which
        of a driver's tasks have started).
    progress : print progress and the end summary on ``stream`` (default stderr).
    progress_every_s : least seconds between progress lines when stderr is not a terminal.
    runtime_env : Ray runtime environment for the workers (e.g. ``{"pip": ["phasemix"]}`` on a bare cluster).
    init_kwargs : further keyword arguments for ``ray.init`` (e.g. ``object_store_memory``).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 num_gpus_per_point: float | None = None, max_retries: int = 2, *, cpus_per_point: float = 1.0,
                 gpu_rule: Callable[[Any], bool] | None = None, max_pending: int | None = None,
                 progress: bool = True, progress_every_s: float = 2.0, runtime_env: dict | None = None,
                 init_kwargs: dict | None = None, stream: IO[str] | None = None):
        self.address = check_address(address)
        if num_cpus is not None:
            if address is not None:
                raise ValueError(f"num_cpus={num_cpus!r} applies to a local Ray instance only; the size of the "
                                 f"cluster at address {address!r} is set by `ray start` on its nodes")
            num_cpus = check_int("num_cpus", num_cpus, minimum=1)
        self.max_retries = check_int("max_retries", max_retries, minimum=0)
        self.cpus_per_point = _check_amount("cpus_per_point", cpus_per_point, allow_zero=False)
        self.num_gpus_per_point = (1.0 if num_gpus_per_point is None else
                                   _check_amount("num_gpus_per_point", num_gpus_per_point, allow_zero=True))
        self.max_pending = None if max_pending is None else check_int("max_pending", max_pending, minimum=1)
        self.progress_every_s = _check_amount("progress_every_s", progress_every_s, allow_zero=True)
        self.gpu_rule = gpu_rule or needs_gpu
        self.progress = bool(progress)
        self.stream = stream
        self.last_stats: RayMapStats | None = None
        ray = _import_ray()
        self._ray = ray
        self._owns = False
        if ray.is_initialized():
            log.info("RayExecutor: reusing this process's Ray connection")
        else:
            kwargs = {"include_dashboard": False, "log_to_driver": True, **(init_kwargs or {})}
            if runtime_env is not None:
                kwargs["runtime_env"] = runtime_env
            if self.address is None:  # "local": a new instance even if `ray start` ran on this machine
                kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
                ray.init(address="local", **kwargs)
            else:
                kwargs.pop("include_dashboard", None)  # a cluster's dashboard is configured by `ray start`
                try:
                    ray.init(address=self.address, **kwargs)
                except (ConnectionError, TimeoutError, RuntimeError) as exc:
                    raise ConnectionError(
                        f"cannot connect to the Ray cluster at address {self.address!r}: {exc}. Is `ray start --head` "
                        "running there, with the same Ray version? If the cluster uses token authentication (the "
                        "default for `ray start` since Ray 2.59), set RAY_AUTH_MODE=token and the cluster's token "
                        "(RAY_AUTH_TOKEN or ~/.ray/auth_token) here too") from exc
            self._owns = True
        self._remote = ray.remote(max_retries=0, retry_exceptions=False)(_run_point)

    def resources(self) -> dict[str, float]:
        """The cluster's total resources (``{"CPU": .., "GPU": .., ...}``)."""
        return dict(self._ray.cluster_resources())

    def _where(self, res: dict[str, float]) -> str:
        kind = "local Ray" if self.address is None else f"Ray cluster {self.address}"
        return f"{kind} ({res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs)"

    def map(self, fn: Callable[[Any], Any], args: Sequence[Any]) -> Iterator[PointOutcome]:
        """Yield one outcome per element of ``args`` in completion order (see the module docstring)."""
        ray = self._ray
        from ray.exceptions import RayTaskError

        args = list(args)
        n = len(args)
        res = self.resources()
        gpus = [self.num_gpus_per_point if self.gpu_rule(a) else 0.0 for a in args]
        need = max(gpus, default=0.0)
        if need > 0 and res.get("GPU", 0.0) < need:
            first = next(i for i, g in enumerate(gpus) if g > 0)
            raise RuntimeError(f"point {first} needs {need:g} GPU(s) (its backend runs on a GPU) but the Ray "
                               f"cluster has {res.get('GPU', 0.0):g}; add GPU nodes or choose a CPU backend")
        slots = max(1, int(res.get("CPU", 1.0) // self.cpus_per_point))
        max_pending = self.max_pending or max(16, 4 * slots)
        prog = _Progress(n, self.progress, self.progress_every_s, self.stream or sys.stderr)
        t0 = time.monotonic()
        attempts = [0] * n
        failed_points: list[int] = []
        errors: list[str] = []
        done = retries = 0
        queue = deque(range(n))
        pending: dict[Any, int] = {}
        variants: dict[float, Any] = {}
        fn_ref = ray.put(fn)  # shipped once, resolved by Ray in each task
        try:
            while queue or pending:
                while queue and len(pending) < max_pending:
                    i = queue.popleft()
                    attempts[i] += 1
                    if gpus[i] not in variants:
                        variants[gpus[i]] = self._remote.options(num_cpus=self.cpus_per_point, num_gpus=gpus[i])
                    ref = variants[gpus[i]].remote(fn_ref, args[i])
                    pending[ref] = i
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.progress_every_s or None)
                if ready and len(pending) > 1:  # collect whatever else has finished too
                    first = set(ready)
                    rest = [r for r in pending if r not in first]
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                    ready = list(ready) + list(more)
                for ref in ready:
                    i = pending.pop(ref)
                    try:
                        value = ray.get(ref)
                    except RayTaskError as exc:  # fn raised: the original exception is exc.cause
                        err: BaseException = getattr(exc, "cause", None) or exc
                        text = str(exc)
                    except Exception as exc:  # noqa: BLE001 - WorkerCrashedError, node/object lost, ...
                        err, text = exc, f"{type(exc).__name__}: {exc}"
                    else:
                        done += 1
                        yield PointOutcome(i, value=value)
                        continue
                    if attempts[i] <= self.max_retries:
                        retries += 1
                        log.warning("point %d failed on attempt %d (%s: %s); retrying", i, attempts[i],
                                    type(err).__name__, _first_line(err))
                        queue.appendleft(i)
                        continue
                    failed_points.append(i)
                    errors.append(f"{type(err).__name__}: {_first_line(err)}")
                    yield PointOutcome(i, error=err, traceback=f"failed after {attempts[i]} attempts; last error:\n"
                                                                f"{text}")
                running = min(len(pending), slots)
                prog.show(done, running, len(pending) - running, len(failed_points), retries)
        finally:
            for ref in pending:  # interrupted (Ctrl-C, consumer stopped): do not leave work running
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - best effort
                    pass
            self.last_stats = RayMapStats(total=n, done=done, failed=len(failed_points), retries=retries,
                                          attempts=tuple(attempts), failed_points=tuple(failed_points),
                                          errors=tuple(errors), wall_s=time.monotonic() - t0)
            if not pending:
                prog.show(done, 0, 0, len(failed_points), retries, force=True)
                prog.summary(self.last_stats, self._where(res))

    def close(self) -> None:
        """Stop the local Ray instance this executor started (a cluster connection is only dropped)."""
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""


def _check_amount(name: str, value: Any, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0 \
            or (value == 0 and not allow_zero):
        rule = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return float(value)
