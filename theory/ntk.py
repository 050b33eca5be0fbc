"""Empirical neural tangent kernel at initialization and the NTK complexity term ``ŷᵀΘ₀⁻¹ŷ/n``.

``Θ₀ = J·Jᵀ`` with J the per-example Jacobian of a scalar output (or of one selected output per example, e.g. the
true-class logit) with respect to all parameters, computed by ``torch.func`` (jacrev + vmap); torch is imported
inside the functions (Eq. (65) in docs/theory.md). The complexity term uses a jitter relative to the kernel's scale
and a Cholesky solve, optionally on random diagonal blocks (Eq. (66) in docs/theory.md). Analytic kernels for
checks: the linear model (Eq. (67) in docs/theory.md) and the infinitely wide 2-layer ReLU net in NTK
parametrisation (Eq. (68) in docs/theory.md).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from phasemix._checks import as_float_array, check_int, check_positive

SCHEMA_VERSION = 1


def jacobian(model, X, output_index=None, *, chunk: int = 256) -> np.ndarray:
    """Per-example Jacobian of the model output w.r.t. all trainable parameters, shape (n, P) (Eq. (65) in
    docs/theory.md).

    Parameters
    ----------
    model : a ``torch.nn.Module`` mapping a batch (n, ...) to (n,), (n, 1) or (n, C) outputs.
    X : inputs (array or tensor), n >= 1.
    output_index : for C > 1 outputs, one integer class per example (the true-class logit, as in DAVINZ).
    chunk : examples per vmap call.
    """
    import torch
    from torch.func import functional_call, jacrev, vmap

    Xt = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    Xt = Xt.to(next(model.parameters()).dtype)
    n = Xt.shape[0]
    if n == 0:
        raise ValueError("X must not be empty (0 examples)")
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    if not params:
        raise ValueError("model has no trainable parameters")
    idx = None if output_index is None else torch.as_tensor(np.asarray(output_index), dtype=torch.long)
    if idx is not None and idx.shape[0] != n:
        raise ValueError(f"output_index must have one entry per example, got {idx.shape[0]} for {n} examples")

    def f(p, x, i):
        out = functional_call(model, p, (x.unsqueeze(0),)).reshape(-1)
        if out.numel() == 1:
            return out[0]
        if i is None:
            raise ValueError(f"the model has {out.numel()} outputs: pass output_index to pick one per example")
        return out.gather(0, i.reshape(1))[0]

    rows = []
    was_training = model.training
    model.eval()
    try:
        for s in range(0, n, chunk):
            xs = Xt[s:s + chunk]
            if idx is None:
                jac = vmap(jacrev(lambda p, x: f(p, x, None)), in_dims=(None, 0))(params, xs)
            else:
                jac = vmap(jacrev(f), in_dims=(None, 0, 0))(params, xs, idx[s:s + chunk])
            rows.append(torch.cat([j.reshape(xs.shape[0], -1) for j in jac.values()], dim=1))
    finally:
        model.train(was_training)
    return torch.cat(rows).detach().double().numpy()


def empirical_ntk(model, X, X2=None, output_index=None, output_index2=None) -> np.ndarray:
    """``Θ₀(X, X2) = J(X)·J(X2)ᵀ`` at the model's current (initial) parameters (Eq. (65) in docs/theory.md)."""
    J1 = jacobian(model, X, output_index)
    J2 = J1 if X2 is None else jacobian(model, X2, output_index2)
    return J1 @ J2.T


def linear_ntk(X, X2=None) -> np.ndarray:
    """NTK of the linear model ``f = wᵀx + b``: ``XXᵀ + 1`` (Eq. (67) in docs/theory.md)."""
    A = as_float_array("X", X)
    B = A if X2 is None else as_float_array("X2", X2)
    return A @ B.T + 1.0


def relu_ntk(X, X2=None) -> np.ndarray:
    """Infinite-width NTK of ``f = m^(−1/2)·Σ_r a_r·relu(w_rᵀx)`` with a, w ~ N(0, 1), no biases (Eq. (68) in
    docs/theory.md).

    ``Θ(x, x') = xᵀx'·(π−θ)/(2π) + ‖x‖‖x'‖·(sin θ + (π−θ)·cos θ)/(2π)``, θ the angle between x and x'.
    """
    A = as_float_array("X", X)
    B = A if X2 is None else as_float_array("X2", X2)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[1]:
        raise ValueError(f"X and X2 must be 2-D with the same feature dimension, got {A.shape} and {B.shape}")
    na = np.linalg.norm(A, axis=1)[:, None]
    nb = np.linalg.norm(B, axis=1)[None, :]
    dot = A @ B.T
    cos = np.clip(dot / np.maximum(na * nb, 1e-300), -1.0, 1.0)
    th = np.arccos(cos)
    return dot * (np.pi - th) / (2 * np.pi) + na * nb * (np.sin(th) + (np.pi - th) * cos) / (2 * np.pi)


@dataclass(frozen=True, slots=True)
class NTKTerm:
    """The complexity term ``C·√(ŷᵀ(Θ₀+εI)⁻¹ŷ/n)`` and its diagnostics (Eq. (66) in docs/theory.md).

    ``rooted`` feeds the bound, ``unrooted`` (= ŷᵀ(Θ₀+εI)⁻¹ŷ/n) the valuation feature of Eq. (8);
    ``rkhs_norm`` = √(ŷᵀ(Θ₀+εI)⁻¹ŷ) bounds the interpolant's RKHS norm.
    """

    rooted: float
    unrooted: float
    rkhs_norm: float
    jitter: float
    lambda_min: float
    condition: float
    block_size: int
    n: int
    n_permutations: int
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return {f: getattr(self, f) for f in self.__slots__}

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict())


def _quad(theta: np.ndarray, y: np.ndarray, eps: float) -> float:
    """``yᵀ(Θ+εI)⁻¹y`` by Cholesky."""
    c = linalg.cho_factor(theta + eps * np.eye(theta.shape[0]), lower=True, check_finite=False)
    return float(y @ linalg.cho_solve(c, y, check_finite=False))


def ntk_term(theta, yhat, *, jitter_rel: float = 1e-6, jitter_abs: float | None = None, root: bool = True,
             C: float = 1.0, block_size: int | None = None, n_permutations: int = 1, seed: int = 0) -> NTKTerm:
    """``C·√(ŷᵀ(Θ₀+εI)⁻¹ŷ/n)`` with ε = ε_rel·tr(Θ₀)/n (``jitter_abs`` overrides), Eq. (66) in docs/theory.md.

    Parameters
    ----------
    theta : (n, n) symmetric PSD Gram matrix Θ₀.
    yhat : (n,) residual targets ŷ.
    jitter_rel, jitter_abs : relative (default 1e-6) or absolute jitter ε.
    root : report ``rooted`` as C·√(·) (True) or C·(·) (False) in :attr:`NTKTerm.rooted`.
    C : multiplicative constant.
    block_size : if set (< n), use the block-diagonal approximation on blocks of this size from a seeded random
        permutation, averaged over ``n_permutations`` permutations (neither an upper nor a lower bound).
    """
    th = as_float_array("theta", theta)
    y = as_float_array("yhat", yhat).reshape(-1)
    if th.ndim != 2 or th.shape[0] != th.shape[1]:
        raise ValueError(f"theta must be a square matrix, got shape {th.shape}")
    n = th.shape[0]
    if n == 0:
        raise ValueError("theta must not be empty (0 examples)")
    if y.size != n:
        raise ValueError(f"yhat must have one entry per row of theta, got {y.size} for {n}")
    if not np.isfinite(th).all():
        raise ValueError("theta must be finite")
    C = float(check_positive("C", C))
    n_permutations = check_int("n_permutations", n_permutations, minimum=1)
    th = (th + th.T) / 2
    if jitter_abs is not None:
        eps = float(check_positive("jitter_abs", jitter_abs))
    else:
        eps = float(check_positive("jitter_rel", jitter_rel)) * max(float(np.trace(th)) / n, 1e-300)
    if block_size is None or block_size >= n:
        bs = n
        quad = _quad(th, y, eps)
        n_perm = 1
        ev = np.linalg.eigvalsh(th)
    else:
        bs = check_int("block_size", block_size, minimum=1)
        rng = np.random.default_rng(seed)
        tot = 0.0
        ev_min, ev_max = np.inf, 0.0
        for _ in range(n_permutations):
            perm = rng.permutation(n)
            for s in range(0, n, bs):
                b = perm[s:s + bs]
                sub = th[np.ix_(b, b)]
                tot += _quad(sub, y[b], eps)
                e = np.linalg.eigvalsh(sub)
                ev_min, ev_max = min(ev_min, e[0]), max(ev_max, e[-1])
        quad = tot / n_permutations
        n_perm = n_permutations
        ev = np.array([ev_min, ev_max])
    lam_min = float(ev[0])
    cond = float((ev[-1] + eps) / max(lam_min + eps, 1e-300))
    if lam_min < 10 * eps:
        warnings.warn(
            f"NTK Gram matrix is nearly singular: lambda_min = {lam_min:.3g} < 10·jitter = {10 * eps:.3g}; "
            "the complexity term is dominated by the jitter", RuntimeWarning, stacklevel=2)
    unrooted = quad / n
    rooted = C * (math.sqrt(max(unrooted, 0.0)) if root else unrooted)
    return NTKTerm(rooted, unrooted, math.sqrt(max(quad, 0.0)), eps, lam_min, cond, bs, n, n_perm)


def classifier_residuals(logits, labels) -> np.ndarray:
    """DAVINZ residual targets for classification: ``ŷ_j = 1 − f₀(x_j)[y_j]`` (true-class logit)."""
    L = as_float_array("logits", logits)
    y = np.asarray(labels, dtype=int).reshape(-1)
    if L.ndim != 2 or L.shape[0] != y.size:
        raise ValueError(f"logits must be (n, C) with one label per row, got {L.shape} and {y.size} labels")
    return 1.0 - L[np.arange(y.size), y]


class TorchProbe:
    """Read-only view of a torch classifier at initialization for valuation (torch imported lazily).

    Supplies what the valuation scores need: per-example cross-entropy losses, embeddings (the output of all but
    the last module of an ``nn.Sequential``, or ``embed``), the true-class-logit Jacobian, DAVINZ residuals and
    per-example loss gradients (TracIn).
    """

    def __init__(self, model, embed=None, *, chunk: int = 256):
        import torch

        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self._embed = embed
        self.chunk = chunk

    def _tensor(self, X):
        import torch

        return torch.as_tensor(np.asarray(X), dtype=next(self.model.parameters()).dtype)

    def logits(self, X) -> np.ndarray:
        """Model outputs (n, C)."""
        import torch

        with torch.no_grad():
            return self.model.eval()(self._tensor(X)).double().numpy()

    def losses(self, X, y) -> np.ndarray:
        """Per-example cross-entropy."""
        import torch

        with torch.no_grad():
            out = self.model.eval()(self._tensor(X))
            return torch.nn.functional.cross_entropy(out, torch.as_tensor(np.asarray(y), dtype=torch.long),
                                                     reduction="none").double().numpy()

    def embed(self, X) -> np.ndarray:
        """Features for MMD: ``embed(X)`` or the penultimate activations of an ``nn.Sequential``."""
        import torch

        if self._embed is not None:
            return np.asarray(self._embed(X), dtype=float)
        if not isinstance(self.model, torch.nn.Sequential):
            return np.asarray(X, dtype=float).reshape(len(X), -1)
        with torch.no_grad():
            return self.model.eval()[:-1](self._tensor(X)).double().numpy()

    def jacobian(self, X, y) -> np.ndarray:
        """Per-example gradient of the true-class logit, (n, P)."""
        return jacobian(self.model, self._tensor(X), np.asarray(y), chunk=self.chunk)

    def residuals(self, X, y) -> np.ndarray:
        """DAVINZ targets ``1 − f₀(x)[y]``."""
        return classifier_residuals(self.logits(X), y)

    def loss_gradients(self, X, y) -> np.ndarray:
        """Per-example gradient of the cross-entropy w.r.t. all parameters, (n, P)."""
        import torch
        from torch.func import functional_call, grad, vmap

        params = {k: v.detach() for k, v in self.model.named_parameters() if v.requires_grad}

        def loss(p, x, t):
            out = functional_call(self.model, p, (x.unsqueeze(0),))
            return torch.nn.functional.cross_entropy(out, t.unsqueeze(0))

        Xt = self._tensor(X)
        yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
        rows = []
        self.model.eval()
        for s in range(0, Xt.shape[0], self.chunk):
            g = vmap(grad(loss), in_dims=(None, 0, 0))(params, Xt[s:s + self.chunk], yt[s:s + self.chunk])
            rows.append(torch.cat([v.reshape(v.shape[0], -1) for v in g.values()], dim=1))
        return torch.cat(rows).detach().double().numpy()
