"""Empirical NTK against analytic kernels; the complexity term, jitter, blocks and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from phasemix.theory.ntk import (  # noqa: E402
    classifier_residuals,
    empirical_ntk,
    jacobian,
    linear_ntk,
    ntk_term,
    relu_ntk,
)

torch.set_num_threads(1)


class WideReLU(torch.nn.Module):
    """f = m^(−1/2)·Σ_r a_r·relu(w_rᵀx), a, w ~ N(0, 1): the NTK parametrisation."""

    def __init__(self, d: int, m: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W = torch.nn.Parameter(torch.randn(m, d, generator=g, dtype=torch.float64))
        self.a = torch.nn.Parameter(torch.randn(m, generator=g, dtype=torch.float64))
        self.m = m

    def forward(self, x):
        return torch.relu(x @ self.W.T) @ self.a / self.m**0.5


def _sphere(n: int, d: int, seed: int) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_linear_model_ntk_is_exact():
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 1).double()
    X = np.random.default_rng(0).standard_normal((12, 5))
    np.testing.assert_allclose(empirical_ntk(lin, X), linear_ntk(X), atol=1e-10)
    X2 = np.random.default_rng(1).standard_normal((4, 5))
    np.testing.assert_allclose(empirical_ntk(lin, X, X2), linear_ntk(X, X2), atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_wide_relu_ntk_within_4_over_sqrt_m(seed):
    m = 4096
    X = _sphere(30, 3, seed)
    emp = empirical_ntk(WideReLU(3, m, seed + 100), X)
    an = relu_ntk(X)
    # measured over 20 seeds: √m·rel ∈ [1.0, 2.7], median 1.7
    rel = np.linalg.norm(emp - an) / np.linalg.norm(an)
    assert rel <= 4 / np.sqrt(m)


def test_wide_relu_error_shrinks_with_width():
    X = _sphere(20, 3, 7)
    an = relu_ntk(X)

    def err(m):
        return np.mean([np.linalg.norm(empirical_ntk(WideReLU(3, m, s), X) - an) / np.linalg.norm(an)
                        for s in range(3)])

    assert err(4096) < 0.5 * err(128)


def test_relu_ntk_diagonal_and_psd():
    X = _sphere(25, 4, 3)
    K = relu_ntk(X)
    np.testing.assert_allclose(np.diag(K), 1.0, rtol=1e-7)  # κ = 1 on the unit sphere
    assert np.linalg.eigvalsh(K)[0] > -1e-10


def test_multi_output_selects_true_class_logit():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    X = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    idx = np.array([0, 1, 2, 0, 1, 2])
    J = jacobian(net, X, output_index=idx)
    assert J.shape == (6, sum(p.numel() for p in net.parameters()))
    # row 0 equals the gradient of logit 0 at x_0
    net.zero_grad()
    net(torch.as_tensor(X[:1]))[0, 0].backward()
    g = torch.cat([p.grad.reshape(-1) for p in net.parameters()]).double().numpy()
    np.testing.assert_allclose(J[0], g, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="output_index"):
        jacobian(net, X)


def test_ntk_term_matches_direct_solve_and_reports_diagnostics():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 60))
    theta = A @ A.T
    y = rng.standard_normal(40)
    t = ntk_term(theta, y)
    eps = 1e-6 * np.trace(theta) / 40
    direct = y @ np.linalg.solve(theta + eps * np.eye(40), y)
    assert t.jitter == pytest.approx(eps)
    assert t.unrooted == pytest.approx(direct / 40, rel=1e-9)
    assert t.rooted == pytest.approx(np.sqrt(direct / 40), rel=1e-9)
    assert t.rkhs_norm == pytest.approx(np.sqrt(direct), rel=1e-9)
    assert t.lambda_min == pytest.approx(np.linalg.eigvalsh(theta)[0], rel=1e-8)
    assert ntk_term(theta, y, root=False, C=2.0).rooted == pytest.approx(2 * direct / 40, rel=1e-9)
    assert ntk_term(theta, y, jitter_abs=1e-4).jitter == 1e-4


def test_block_diagonal_equals_full_for_block_diagonal_kernel():
    rng = np.random.default_rng(1)
    theta = np.diag(rng.uniform(1, 2, 30))
    y = rng.standard_normal(30)
    full = ntk_term(theta, y)
    blocks = ntk_term(theta, y, block_size=7, n_permutations=3, seed=2)
    assert blocks.unrooted == pytest.approx(full.unrooted, rel=1e-9)
    assert blocks.block_size == 7


def test_singular_kernel_warns():
    X = np.ones((5, 2))
    with pytest.warns(RuntimeWarning, match="nearly singular"):
        t = ntk_term(linear_ntk(X), np.arange(5.0))
    assert np.isfinite(t.rooted)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ntk_term(np.eye(3), np.ones(4)), "one entry per row"),
        (lambda: ntk_term(np.ones((2, 3)), np.ones(2)), "square"),
        (lambda: ntk_term(np.zeros((0, 0)), np.ones(0)), "empty"),
        (lambda: relu_ntk(np.ones((2, 3)), np.ones((2, 4))), "feature dimension"),
        (lambda: classifier_residuals(np.ones((3, 2)), [0, 1]), "one label"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
