"""M1/M2 driver: exact fixed-level cases, capacity feedback invariants, results round trip, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from phasemix.sim.memorization import Dynamics, MemorizationResult, Setting, simulate
from phasemix.sim.population import PopulationSpec, build_population
from phasemix.sim.waterfill import web_marginal
from phasemix.theory.laws import DEFAULT_WEB_LAW

POP = PopulationSpec("power_law_subsets", subsets=20, subset_size=50)


def test_lam_zero_stores_every_eligible_fact_and_error_is_exact():
    pop = build_population(POP)
    cp = simulate(pop, Setting(params=1e6, ratio=0.1, tokens=(2e6,), lam=0.0), backend="numpy")[0].checkpoints[0]
    assert cp.learned_fraction == cp.eligible_fraction == cp.allocated_fraction
    # err = mass of the facts never seen: E = Σ p_j e^(−μ_j), independent facts, 5-sd band
    mu = 0.1 * pop.p / 100 * 2e6
    mean = float(np.sum(pop.p * np.exp(-mu)))
    sd = float(np.sqrt(np.sum(pop.p**2 * np.exp(-mu) * -np.expm1(-mu))))
    assert abs(cp.test_error - mean) <= 5 * sd + 1e-12
    acc = np.array(cp.subset_accuracy)
    assert acc[0] == 1.0 and acc[-1] < 1.0  # frequent subsets are all seen


def test_capacity_feedback_respects_capacity_and_water_level():
    res = simulate(POP, [Setting(params=n, ratio=0.05, tokens=(1e10,), seed=1) for n in (1e5, 1e6, 1e7)],
                   backend="numpy")
    lf = [r.checkpoints[0].learned_fraction for r in res]
    assert lf[0] <= lf[1] <= lf[2]  # more parameters, more stored (same seed and streams)
    for n, r in zip((1e5, 1e6, 1e7), res):
        cp = r.checkpoints[0]
        assert cp.capacity_used <= n
        level = (1 - 0.05) * web_marginal(DEFAULT_WEB_LAW, np.array([n - cp.capacity_used]))[0]
        assert cp.lambda_hat >= level * (1 - 2.0**-19)  # the lowest stored value is above the water level


def test_more_ratio_learns_more():
    lf = [simulate(POP, Setting(params=1e6, ratio=r, tokens=(1e10,), seed=2), backend="numpy")[0]
          .checkpoints[0].learned_fraction for r in (0.01, 0.05, 0.2)]
    assert lf[0] < lf[1] < lf[2]


def test_m2_checkpoints_are_cumulative():
    dyn = Dynamics(kind="bn", n_ref=100, kappa=0.5)
    res = simulate(POP, Setting(params=3e5, ratio=0.1, tokens=(1e9, 1e10, 1e11), seed=3, dynamics=dyn),
                   backend="numba")[0]
    elig = [c.eligible_fraction for c in res.checkpoints]
    assert elig[0] <= elig[1] <= elig[2]
    assert [c.tokens for c in res.checkpoints] == [1e9, 1e10, 1e11]


def test_seed_and_setting_streams():
    a, b, c = simulate(POP, [Setting(params=1e6, ratio=0.1, tokens=(3e6,), seed=s, lam=0.0) for s in (1, 1, 2)],
                       backend="numpy")
    assert repr(a.checkpoints) == repr(b.checkpoints) != repr(c.checkpoints)
    # a setting's streams do not depend on the other settings of the batch
    alone = simulate(POP, Setting(params=1e6, ratio=0.1, tokens=(3e6,), seed=2, lam=0.0), backend="numpy")[0]
    assert repr(alone.checkpoints) == repr(c.checkpoints)


def test_result_json_round_trip(tmp_path):
    res = simulate(POP, Setting(params=1e6, ratio=0.1, tokens=(1e8, 1e9)), backend="numpy")[0]
    res.to_json(tmp_path / "r.json")
    back = MemorizationResult.from_json(tmp_path / "r.json")
    assert repr(back) == repr(res) and back.schema_version == 1 and back.rng_family == "xoro-v1"


@pytest.mark.parametrize("kwargs, name", [
    ({"params": -1.0}, "params"), ({"ratio": 1.0}, "ratio"), ({"ratio": float("nan")}, "ratio"),
    ({"tokens": (2e9, 1e9)}, "tokens"), ({"tokens": (-1.0,)}, "tokens"), ({"seed": -2}, "seed"),
    ({"lam": -1e-9}, "lam"), ({"tokens_per_fact": 0.0}, "tokens_per_fact"),
])
def test_bad_settings_name_the_argument(kwargs, name):
    base = {"params": 1e6, "ratio": 0.1, "tokens": (1e9,)}
    with pytest.raises((ValueError, TypeError), match=name):
        Setting(**{**base, **kwargs})


@pytest.mark.parametrize("kwargs, name", [({"kind": "magic"}, "dynamics.kind"), ({"n_min": 0}, "dynamics.n_min"),
                                          ({"theta": 1.0}, "dynamics.theta"), ({"b_max": 0}, "dynamics.b_max")])
def test_bad_dynamics(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Dynamics(**kwargs)


def test_batch_must_share_checkpoints():
    with pytest.raises(ValueError, match="share checkpoints"):
        simulate(POP, [Setting(1e6, 0.1, (1e9, 2e9)), Setting(1e6, 0.1, (2e9, 3e9))], backend="numpy")


def test_m1_batch_with_different_token_budgets_equals_separate_runs():
    sts = [Setting(1e6, 0.1, (d,), seed=3) for d in (1e8, 1e9, 1e10)]
    batch = simulate(POP, sts, backend="numba")
    alone = [simulate(POP, s, backend="numpy")[0] for s in sts]
    assert [repr(r.checkpoints) for r in batch] == [repr(r.checkpoints) for r in alone]
    assert [r.checkpoints[0].tokens for r in batch] == [1e8, 1e9, 1e10]


def test_too_many_race_chunks_is_a_clear_error():
    dyn = Dynamics(kind="race", eta=1.0, max_step=1e-6)
    with pytest.raises(ValueError, match="max_step"):
        simulate(POP, Setting(1e6, 0.1, (1e12,), dynamics=dyn), backend="numpy")


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="population"):
        simulate("zipf", Setting(1e6, 0.1, (1e9,)), backend="numpy")
    with pytest.raises(TypeError, match="settings"):
        simulate(POP, [{"params": 1e6}], backend="numpy")


def test_integer_and_float_numbers_are_the_same_setting():
    """Streams are keyed on the setting's JSON: params=58048 and 58048.0 must draw the same numbers."""
    from phasemix.sim.memorization import Setting, simulate
    from phasemix.sim.population import PopulationSpec

    pop = PopulationSpec("uniform", facts=2000)
    as_int = Setting(params=58048, ratio=0.2, tokens=(3_000_000,), tokens_per_fact=15, bits_per_fact=34)
    as_float = Setting(params=58048.0, ratio=0.2, tokens=(3e6,), tokens_per_fact=15.0, bits_per_fact=34.0)
    assert as_int == as_float and as_int.to_dict() == as_float.to_dict()
    a, b = (simulate(pop, s, backend="numpy")[0].checkpoints[0] for s in (as_int, as_float))
    assert a == b
