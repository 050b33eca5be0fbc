"""One readable trainer: AdamW, warmup + cosine or WSD, fp32 on CPU (CUDA when asked), deterministic seeds,
periodic evaluation, progress on stderr, and atomic checkpoints (weights_only loading) so a killed run resumes."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from phasemix._checks import check_choice, check_int, check_positive, check_unit_interval
from phasemix.errors import BackendUnavailableError, ResultsFileError

SCHEMA_VERSION = 1
CHECKPOINT_KIND = "phasemix.validate.checkpoint"
SCHEDULES = ("cosine", "wsd", "constant")


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Optimizer and schedule. ``warmup=None`` means ``min(200, steps // 10)``; ``decay_fraction`` is WSD's tail."""

    steps: int
    lr: float = 1e-2
    min_lr_fraction: float = 0.1
    warmup: int | None = None
    schedule: str = "cosine"
    decay_fraction: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    seed: int = 0
    evals: int = 12
    checkpoint_seconds: float = 60.0

    def __post_init__(self) -> None:
        check_int("steps", self.steps, minimum=1)
        check_positive("lr", self.lr)
        check_unit_interval("min_lr_fraction", self.min_lr_fraction)
        if self.warmup is not None:
            check_int("warmup", self.warmup, minimum=0)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_unit_interval("decay_fraction", self.decay_fraction)
        check_int("seed", self.seed, minimum=0)
        check_int("evals", self.evals, minimum=1)

    @property
    def warmup_steps(self) -> int:
        return min(200, self.steps // 10) if self.warmup is None else self.warmup


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate at ``step`` (Eq. (132) in docs/theory.md): linear warmup, then cosine to ``min_lr_fraction``·lr,
    or WSD
    (constant, then linear decay over the last ``decay_fraction`` of steps), or constant."""
    w, n, lo = cfg.warmup_steps, cfg.steps, cfg.min_lr_fraction
    if step < w:
        return cfg.lr * (step + 1) / w
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "cosine":
        prog = (step - w) / max(1, n - w)
        return cfg.lr * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * min(1.0, prog))))
    start = n - int(round(cfg.decay_fraction * n))
    if step < start:
        return cfg.lr
    return cfg.lr * (1 - (1 - lo) * (step - start + 1) / max(1, n - start))


def resolve_device(device: str) -> str:
    """``cpu`` or ``cuda``; an explicit ``cuda`` that cannot run raises BackendUnavailableError."""
    import torch

    check_choice("device", device, ("cpu", "cuda"))
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError("cuda", "torch.cuda.is_available() is False")
    return device


def load_checkpoint(path: str | os.PathLike, fingerprint: str) -> dict:
    """Load a checkpoint with ``weights_only=True``; a corrupt, foreign or other-run file raises ResultsFileError."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the file is unusable
        raise ResultsFileError(f"checkpoint {str(path)!r} is corrupt or not a torch checkpoint: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("kind") != CHECKPOINT_KIND:
        raise ResultsFileError(f"checkpoint {str(path)!r} is not a phasemix.validate checkpoint (foreign file)")
    if ckpt.get("schema_version") != SCHEMA_VERSION:
        raise ResultsFileError(f"checkpoint {str(path)!r} has schema_version {ckpt.get('schema_version')!r}, "
                               f"expected {SCHEMA_VERSION}")
    if ckpt.get("fingerprint") != fingerprint:
        raise ResultsFileError(f"checkpoint {str(path)!r} belongs to another run configuration "
                               "(fingerprint mismatch); delete it or choose another output folder")
    return ckpt


def _save(path: Path, obj: dict) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _public(curve: list[dict]) -> list[dict]:
    return [{k: v for k, v in c.items() if not k.startswith("_")} for c in curve]


def eval_steps(cfg: TrainConfig) -> list[int]:
    """Steps (1-based counts of finished steps) after which the run evaluates: log-spaced, always the last."""
    pts = np.unique(np.round(np.geomspace(max(1, cfg.steps / 64), cfg.steps, cfg.evals)).astype(int))
    return sorted(set(pts.tolist()) | {cfg.steps})


def train(model_cfg, cfg: TrainConfig, stream, evaluate: Callable[[object, int], dict], *,
          fingerprint: str, checkpoint: str | os.PathLike | None = None, device: str = "cpu",
          threads: int | None = 2, label: str = "", stop_after: int | None = None) -> dict:
    """Train a fresh GPT (or resume from ``checkpoint``) on ``stream`` and return the run record.

    ``evaluate(model, step)`` returns a dict of metrics; it is called at :func:`eval_steps`. ``stop_after`` halts
    after that many steps (it simulates a killed run in tests). Exposures per individual are counted exactly.
    """
    import torch
    from torch.nn import functional as F

    from phasemix.validate.model import build_model

    device = resolve_device(device)
    if threads and device == "cpu":
        torch.set_num_threads(int(threads))
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = build_model(model_cfg).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), foreach=False)
    exposures = np.zeros(stream.bio.size, dtype=np.int64)
    curve: list[dict] = []
    start, elapsed = 0, 0.0
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        ck = load_checkpoint(path, fingerprint)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        start, elapsed = int(ck["step"]), float(ck["elapsed"])
        exposures = ck["exposures"].numpy().astype(np.int64)
        curve = json.loads(ck["curve"])
        print(f"[{label}] resumed at step {start}/{cfg.steps}", file=sys.stderr)

    def snapshot(step: int) -> None:
        if path is not None:
            _save(path, {"kind": CHECKPOINT_KIND, "schema_version": SCHEMA_VERSION, "fingerprint": fingerprint,
                         "config": json.dumps({"model": model_cfg.to_dict(), "train": asdict(cfg)}),
                         "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                         "elapsed": elapsed, "exposures": torch.as_tensor(exposures),
                         "curve": json.dumps(_public(curve))})

    evals = set(eval_steps(cfg))
    t0, last_print, last_ckpt = time.time(), 0.0, time.time()
    base_elapsed = elapsed
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    model.train()
    for step in range(start, end):
        x, y, idx = stream.batch(step)
        np.add.at(exposures, idx, 1)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        xt = torch.as_tensor(x, device=device)
        yt = torch.as_tensor(y, device=device)
        logits = model(xt)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yt.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        done = step + 1
        loss_value = float(loss.detach())
        elapsed = base_elapsed + time.time() - t0
        if done in evals:
            m = evaluate(model, done)
            m.update({"step": done, "tokens": done * stream.mix.batch * stream.mix.context,
                      "bio_tokens": stream.tokens(done)["bio"], "exposures_mean": float(exposures.mean()),
                      "train_loss": loss_value, "elapsed_s": round(elapsed, 2)})
            curve.append(m)
        now = time.time()
        if now - last_print > 10 or done == end:
            rate = (done - start) * stream.mix.batch * stream.mix.context / max(1e-9, now - t0)
            eta = (cfg.steps - done) * stream.mix.batch * stream.mix.context / max(1.0, rate)
            print(f"[{label}] step {done}/{cfg.steps} loss {loss_value:.3f} {rate / 1e3:.0f}k tok/s "
                  f"eta {eta:.0f}s", file=sys.stderr, flush=True)
            last_print = now
        if now - last_ckpt > cfg.checkpoint_seconds and done < end:
            snapshot(done)
            last_ckpt = now
    snapshot(end)
    return {"steps_done": end, "finished": end == cfg.steps, "elapsed_s": round(elapsed, 2),
            "exposures": exposures, "curve": curve, "model": model}
