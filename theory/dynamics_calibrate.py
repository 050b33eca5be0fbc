"""Calibration of the finite-training models: bounded multi-start least squares, bootstrap CIs, AIC, leave-one-out.

Objective (Eq. (115) in docs/theory.md), over the rows of a :class:`~phasemix.theory.datasets.CalibrationTable`:

    S(θ) = Σ_acc rows (A_pred − A_obs)² + 0.02·Σ_T rows (ln T_pred − ln T_obs)² + Σ bound rows hinge²

with A the chance-corrected learned fraction ``(acc − chance)/(1 − chance)`` and hinges ``max(0, ·)`` for rows whose
``relation`` is ``<`` or ``>`` (weighted like the points they bound). A predicted T of +inf is scored as
``ln T = 60 + 10·(A_target − A_∞)`` so the optimizer sees which way the asymptote must move.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from phasemix._checks import check_int, check_unit_interval
from phasemix.theory.capacity import DEFAULT_BITS_PER_PARAM
from phasemix.theory.datasets import CalibrationTable
from phasemix.theory.dynamics_models import MODELS, DynamicsModel, get_model, make_context
from phasemix.theory.dynamics_result import KIND, SCHEMA_VERSION, Calibration  # noqa: F401  (re-exported)
from phasemix.theory.laws import DEFAULT_WEB_LAW, PowerLaw

TOKENS_WEIGHT = 0.02
#: Size exponent β of the learning clock ``(N/N_ref)^β`` when the data hold one size (Allen-Zhu & Li 2024 find
#: bits stored per exposure size-independent over 1M–0.5B parameters); predictions off the calibrated size are
#: flagged and their band spans β ± SIZE_BAND_EXPONENT (clipped at 0).
DEFAULT_SPEED_EXPONENT = 0.0
SIZE_BAND_EXPONENT = 0.5
SPEED_EXPONENT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
_LOG_T_CAP = 60.0


class _Problem:
    """Precomputed contexts and observations of one table for one model."""

    def __init__(self, table: CalibrationTable, model: DynamicsModel, law: PowerLaw, bits_per_param: float,
                 reference_params: float, speed_exponent: float):
        self.model = model
        acc = table.is_accuracy
        self.acc_rows = np.flatnonzero(acc)
        self.tt_rows = np.flatnonzero(~acc)
        kw = {"law": law, "bits_per_param": bits_per_param, "reference_params": reference_params,
              "speed_exponent": speed_exponent, "cardinalities": table.shared_cardinalities}

        def ctx(rows, tokens):
            t = table
            return make_context(t.params[rows], t.ratio[rows], t.facts[rows], t.bits_per_fact[rows],
                                t.tokens_per_fact[rows], tokens, t.keep_fraction[rows], t.occurrences[rows], **kw)

        self.ctx_acc = ctx(self.acc_rows, table.tokens[self.acc_rows])
        self.ctx_tt = ctx(self.tt_rows, np.inf)
        ch = table.chance
        self.obs_acc = (table.accuracy[self.acc_rows] - ch[self.acc_rows]) / (1 - ch[self.acc_rows])
        self.target = (table.target[self.tt_rows] - ch[self.tt_rows]) / (1 - ch[self.tt_rows])
        self.obs_log_t = np.log(table.tokens_to_target[self.tt_rows])
        rel = np.asarray(table.relation, dtype=object)
        self.rel_acc = rel[self.acc_rows]
        self.rel_tt = rel[self.tt_rows]
        self.eq_acc = self.rel_acc == "="
        self.eq_tt = self.rel_tt == "="
        self.weight = np.ones(len(self.acc_rows) + len(self.tt_rows))
        self.lower = np.array([math.log(v) if lg else v for v, lg in zip(model.lower, model.log_scale)])
        self.upper = np.array([math.log(v) if lg else v for v, lg in zip(model.upper, model.log_scale)])

    def theta(self, x) -> tuple:
        """Natural parameters from optimizer coordinates ``x`` (last axis = parameters; arrays give columns)."""
        x = np.asarray(x, float)
        if x.ndim == 1:
            return tuple(math.exp(v) if lg else float(v) for v, lg in zip(x, self.model.log_scale))
        return tuple(np.exp(x[:, j:j + 1]) if lg else x[:, j:j + 1] for j, lg in enumerate(self.model.log_scale))

    def x_of(self, theta) -> np.ndarray:
        x = np.array([math.log(v) if lg else v for v, lg in zip(theta, self.model.log_scale)], dtype=float)
        return np.clip(x, self.lower, self.upper)

    def predict(self, theta) -> tuple[np.ndarray, np.ndarray]:
        """Predicted learned fractions at the accuracy rows and scored ln T at the tokens-to-target rows.

        ``theta`` holds floats, or (S, 1) columns for S parameter vectors at once (rows then on the last axis).
        """
        acc = self.model.core(self.ctx_acc, *theta)
        t = self.model.tokens_to_target(self.ctx_tt, self.target, theta)
        with np.errstate(divide="ignore"):
            log_t = np.log(np.maximum(t, 1.0))
        if not np.isfinite(log_t).all():
            lim = self.model.limit(self.ctx_tt, *theta)
            log_t = np.where(np.isfinite(log_t), log_t, _LOG_T_CAP + 10 * np.maximum(self.target - lim, 0))
        shape = np.broadcast_shapes(np.shape(theta[0]), (1,))[:-1]
        acc = np.broadcast_to(acc, (*shape, len(self.acc_rows)))
        log_t = np.broadcast_to(np.minimum(log_t, _LOG_T_CAP + 10), (*shape, len(self.tt_rows)))
        return acc, log_t

    def residual_matrix(self, acc, log_t, obs_acc=None, obs_log_t=None) -> np.ndarray:
        """Weighted residuals (last axis = rows) of predictions against observations, hinges on bound rows."""
        obs_acc = self.obs_acc if obs_acc is None else obs_acc
        obs_log_t = self.obs_log_t if obs_log_t is None else obs_log_t
        ra = acc - obs_acc
        ra = np.where(self.rel_acc == "<", np.maximum(ra, 0), np.where(self.rel_acc == ">", np.minimum(ra, 0), ra))
        rt = log_t - obs_log_t
        rt = np.where(self.rel_tt == "<", np.maximum(rt, 0), np.where(self.rel_tt == ">", np.minimum(rt, 0), rt))
        return np.concatenate([ra, math.sqrt(TOKENS_WEIGHT) * rt], axis=-1) * self.weight

    def residuals(self, x, obs_acc=None, obs_log_t=None) -> np.ndarray:
        return self.residual_matrix(*self.predict(self.theta(x)), obs_acc, obs_log_t)

    def objective(self, x) -> float:
        return float(np.sum(self.residuals(x) ** 2))

    def fit(self, starts) -> tuple[np.ndarray, float]:
        """Bounded least squares from each start, then a Nelder–Mead polish of the best (the objective has kinks:
        hinges, and ln T is singular where the asymptote meets the target)."""
        best_x, best_cost = None, math.inf
        for x0 in starts:
            x0 = np.clip(np.asarray(x0, float), self.lower + 1e-9, self.upper - 1e-9)
            res = optimize.least_squares(self.residuals, x0, bounds=(self.lower, self.upper), method="trf",
                                         max_nfev=200, x_scale=1.0, diff_step=1e-4)
            cost = float(np.sum(res.fun**2))
            if cost < best_cost:
                best_x, best_cost = res.x, cost
        polish = optimize.minimize(self.objective, best_x, method="Nelder-Mead",
                                   bounds=list(zip(self.lower, self.upper)),
                                   options={"xatol": 1e-7, "fatol": 1e-12, "maxfev": 400})
        if polish.fun < best_cost:
            best_x, best_cost = polish.x, float(polish.fun)
        return np.asarray(best_x, float), best_cost

    def cloud(self, centre, half_width, n: int, rng: np.random.Generator) -> np.ndarray:
        """Sobol points in ``centre ± half_width`` (clipped to the bounds), the centre first."""
        lo = np.maximum(centre - half_width, self.lower)
        hi = np.minimum(centre + half_width, self.upper)
        hi = np.where(hi > lo, hi, lo + 1e-12)
        sobol = stats.qmc.Sobol(d=len(centre), scramble=True, seed=rng)
        pts = stats.qmc.scale(sobol.random_base2(int(math.ceil(math.log2(n)))), lo, hi)
        return np.vstack([centre, pts])


def _starts(problem: _Problem, n_starts: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The reference fit plus ``n_starts`` scrambled Sobol points of the bounded (log) box."""
    if n_starts == 0:
        return [problem.x_of(problem.model.reference)]
    sobol = stats.qmc.Sobol(d=len(problem.lower), scramble=True, seed=rng)
    box = stats.qmc.scale(sobol.random_base2(max(int(math.ceil(math.log2(n_starts))), 0)),
                          problem.lower, problem.upper)
    return [problem.x_of(problem.model.reference), *box[:n_starts]]


def calibrate(table: CalibrationTable, model: str = "exposure", *, bootstrap: int = 200, seed: int = 0,
              n_starts: int = 8, ci_level: float = 0.95, speed_exponent: float | None = None,
              law: PowerLaw = DEFAULT_WEB_LAW, bits_per_param: float = DEFAULT_BITS_PER_PARAM,
              leave_one_out: bool = True, cloud_size: int = 4096) -> Calibration:
    """Fit ``model`` to ``table`` (Eq. (115)); bootstrap CIs, AIC and leave-one-out error for model comparison.

    Parameters
    ----------
    table : observations (see :mod:`phasemix.theory.datasets` for the CSV schema).
    model : ``exposure``, ``race``, ``chain``, ``chain-attr``, ``chain-run`` (these two need the attributes'
        cardinalities) or ``static``.
    bootstrap : residual-bootstrap replicates (0 = no CIs); residuals are resampled within accuracy and ln T rows.
    seed : seed of the multi-start points, the candidate clouds and the bootstrap.
    speed_exponent : size exponent β of the learning clock; None = DEFAULT_SPEED_EXPONENT with one size (flagged
        as assumed) or the best of SPEED_EXPONENT_GRID (profile fit) with several sizes.
    cloud_size : candidate parameter vectors per refit cloud (Notes).

    Notes
    -----
    The point fit is multi-start bounded least squares polished by Nelder–Mead. Bootstrap and leave-one-out refits
    minimise the same objective over a shared candidate cloud (Sobol points around the fit, evaluated in one
    vectorized call): a wide cloud (±15% of each bound's span) locates the replicate optima, a second cloud on
    their bounding box refines them. Each refit is therefore exact up to the cloud's spacing (about 1/16 of the
    box per axis at 4096 points), and robust to the objective's kinks where local refits stall.
    """
    spec = get_model(model)
    if not isinstance(table, CalibrationTable):
        raise TypeError(f"table must be a CalibrationTable, got {type(table).__name__}")
    bootstrap = check_int("bootstrap", bootstrap, minimum=0)
    seed = check_int("seed", seed, minimum=0)
    n_starts = check_int("n_starts", n_starts, minimum=0)
    cloud_size = check_int("cloud_size", cloud_size, minimum=16)
    ci_level = float(check_unit_interval("ci_level", ci_level, low_open=True, high_open=True))
    n_eq = int(sum(r == "=" for r in table.relation))
    if n_eq <= len(spec.parameter_names):
        raise ValueError(f"table: {n_eq} equality rows cannot pin {len(spec.parameter_names)} parameters of model "
                         f"{model!r}; need at least {len(spec.parameter_names) + 1}")
    sizes = table.sizes
    reference = float(np.exp(np.mean(np.log(sizes))))
    rng = np.random.default_rng(seed)
    if speed_exponent is None and len(sizes) > 1:
        grid, assumed = SPEED_EXPONENT_GRID, False
    else:
        grid = (DEFAULT_SPEED_EXPONENT if speed_exponent is None else float(speed_exponent),)
        assumed = speed_exponent is None
    best = None
    for beta in grid:
        prob = _Problem(table, spec, law, bits_per_param, reference, beta)
        x, cost = prob.fit(_starts(prob, n_starts, rng))
        if best is None or cost < best[2]:
            best = (prob, x, cost, beta)
    prob, x_hat, cost, beta = best
    theta = prob.theta(x_hat)
    acc_hat, log_t_hat = prob.predict(theta)

    obs_sets = _bootstrap_observations(prob, acc_hat, log_t_hat, bootstrap, rng)
    loo_masks = _loo_masks(prob) if leave_one_out else []
    samples = np.empty((0, len(theta)))
    loo = (math.nan, math.nan, math.nan)
    if obs_sets or loo_masks:
        span = prob.upper - prob.lower
        wide = prob.cloud(x_hat, 0.15 * span, cloud_size, rng)
        pick_b, pick_l = _cloud_argmins(prob, wide, obs_sets, loo_masks)
        chosen = np.vstack([wide[pick_b], wide[pick_l]])
        lo, hi = chosen.min(axis=0), chosen.max(axis=0)
        pad = np.maximum(0.2 * (hi - lo), 0.002 * span)
        fine = prob.cloud(0.5 * (lo + hi), 0.5 * (hi - lo) + pad, cloud_size, rng)
        cloud = np.vstack([wide, fine])
        pick_b, pick_l = _cloud_argmins(prob, cloud, obs_sets, loo_masks)
        samples = np.array([prob.theta(cloud[i]) for i in pick_b]).reshape(-1, len(theta))
        if loo_masks:
            loo = _loo_scores(prob, cloud, pick_l, loo_masks)
    tail = (1 - ci_level) / 2 * 100
    ci_lo = tuple(np.percentile(samples, tail, axis=0)) if len(samples) else tuple(math.nan for _ in theta)
    ci_hi = tuple(np.percentile(samples, 100 - tail, axis=0)) if len(samples) else tuple(math.nan for _ in theta)

    k = len(theta) + (0 if len(grid) == 1 else 1)
    aic = n_eq * math.log(max(cost, 1e-300) / n_eq) + 2 * k
    points = _points(table, prob, acc_hat, log_t_hat)
    return Calibration(
        model=spec.name, parameter_names=spec.parameter_names, parameters=tuple(float(v) for v in theta),
        ci_low=tuple(float(v) for v in ci_lo), ci_high=tuple(float(v) for v in ci_hi), ci_level=ci_level,
        bootstrap=tuple(tuple(float(v) for v in row) for row in samples), seed=seed, objective=float(cost),
        aic=float(aic), n_points=n_eq, loo_rmse_accuracy=loo[0], loo_rmse_log_tokens=loo[1], loo_objective=loo[2],
        reference_params=reference, params_min=float(sizes.min()), params_max=float(sizes.max()),
        speed_exponent=float(beta), speed_exponent_assumed=bool(assumed), bits_per_param=float(bits_per_param),
        law=law.to_dict(), dataset=table.name, citation=table.citation, points=points,
    )


def _bootstrap_observations(prob: _Problem, acc_hat, log_t_hat, n: int, rng) -> list[tuple[np.ndarray, np.ndarray]]:
    """Residual bootstrap: fitted values plus residuals resampled within the accuracy and the ln T equality rows."""
    res_a = (prob.obs_acc - acc_hat)[prob.eq_acc]
    res_t = (prob.obs_log_t - log_t_hat)[prob.eq_tt]
    out = []
    for _ in range(n):
        oa, ot = prob.obs_acc.copy(), prob.obs_log_t.copy()
        if res_a.size:
            oa[prob.eq_acc] = acc_hat[prob.eq_acc] + rng.choice(res_a, size=res_a.size, replace=True)
        if res_t.size:
            ot[prob.eq_tt] = log_t_hat[prob.eq_tt] + rng.choice(res_t, size=res_t.size, replace=True)
        out.append((oa, ot))
    return out


def _loo_masks(prob: _Problem) -> list[int]:
    eq = np.concatenate([prob.eq_acc, prob.eq_tt])
    return [int(i) for i in np.flatnonzero(eq)]


def _cloud_argmins(prob: _Problem, cloud: np.ndarray, obs_sets, loo_rows) -> tuple[np.ndarray, np.ndarray]:
    """Index of the best cloud point for each bootstrap observation set and for each left-out row."""
    acc, log_t = prob.predict(prob.theta(cloud))
    pick_b = [int(np.argmin(np.sum(prob.residual_matrix(acc, log_t, oa, ot) ** 2, axis=1))) for oa, ot in obs_sets]
    sq = prob.residual_matrix(acc, log_t) ** 2
    total = sq.sum(axis=1)
    pick_l = [int(np.argmin(total - sq[:, i])) for i in loo_rows]
    return np.array(pick_b, dtype=int), np.array(pick_l, dtype=int)


def _loo_scores(prob: _Problem, cloud: np.ndarray, picks, rows) -> tuple[float, float, float]:
    """RMS error of each left-out equality row predicted by the fit without it (Eq. (116)), and the PRESS-like
    sum of the weighted squared errors (comparable across models)."""
    n_acc = len(prob.acc_rows)
    acc, log_t = prob.predict(prob.theta(cloud[picks]))
    err_a = [acc[j, i] - prob.obs_acc[i] for j, i in enumerate(rows) if i < n_acc]
    err_t = [log_t[j, i - n_acc] - prob.obs_log_t[i - n_acc] for j, i in enumerate(rows) if i >= n_acc]
    press = float(np.sum(np.square(err_a)) + TOKENS_WEIGHT * np.sum(np.square(err_t)))
    return _rmse(err_a), _rmse(err_t), press


def _rmse(errors) -> float:
    return float(np.sqrt(np.mean(np.square(errors)))) if len(errors) else math.nan


def _points(table: CalibrationTable, prob: _Problem, acc_hat, log_t_hat) -> tuple[dict, ...]:
    out = []
    for j, i in enumerate(prob.acc_rows):
        ch = table.chance[i]
        out.append({"row": int(i + 1), "kind": "accuracy", "ratio": float(table.ratio[i]),
                    "params": float(table.params[i]), "tokens": float(table.tokens[i]),
                    "relation": table.relation[i], "observed": float(table.accuracy[i]),
                    "predicted": float(acc_hat[j] + (1 - acc_hat[j]) * ch)})
    for j, i in enumerate(prob.tt_rows):
        pred = float(math.exp(log_t_hat[j])) if log_t_hat[j] < _LOG_T_CAP else math.inf
        out.append({"row": int(i + 1), "kind": "tokens_to_target", "ratio": float(table.ratio[i]),
                    "params": float(table.params[i]), "target": float(table.target[i]),
                    "relation": table.relation[i], "observed": float(table.tokens_to_target[i]), "predicted": pred})
    return tuple(out)


def compare(table: CalibrationTable, models=tuple(MODELS), **kwargs) -> list[Calibration]:
    """Calibrate each model on ``table``; sorted by AIC (best first)."""
    cals = [calibrate(table, m, **kwargs) for m in models]
    return sorted(cals, key=lambda c: c.aic)
