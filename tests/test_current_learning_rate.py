"""current_learning_rate is exact or it refuses, over the chain shapes people build.

Each row runs a full optimizer and the same chain without its rate ("the direction")
in lockstep on a unit-gradient problem (params fixed at ones, every gradient ones), and
compares the reported rate after each update with the measured ratio of the update to
the direction: ``update = -rate * direction`` (descent) or ``+rate * direction`` (a
chain of factors alone). Rows that cannot be exact must raise, naming the transform.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrjax

STEPS = 6
SCHED = lrjax.step_decay(0.1, drop=0.5, drop_every=2)
ADAM_SCHED = lrjax.exponential_decay(1e-2, decay=0.3)
P = {"w": jnp.ones(3), "b": jnp.ones(2)}


def _losses(k: int) -> jax.Array:
    # Flat, then worse: every plateau rule below cuts within STEPS.
    return jnp.asarray(1.0 + 0.0 * k)


class Row(NamedTuple):
    full: Callable[[], Any]
    direction: Callable[[], Any] | None  # None: the direction is the gradient
    sign: float = -1.0  # update = sign * rate * direction
    neutral: tuple = ()
    leaf: str = "w"  # the leaf whose ratio is measured
    nan_at: int | None = None  # a step whose gradient is NaN (skipped)
    value: bool = False  # pass value= (a plateau is in the chain)
    label: str | None = None  # multi_transform: the label of ``leaf``


def _user_scale():
    class DoubleState(NamedTuple):
        count: jax.Array

    def init(params):
        del params
        return DoubleState(jnp.zeros([], jnp.int32))

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda u: 2 * u, updates), DoubleState(state.count + 1)

    return optax.GradientTransformation(init, update)


ROWS: dict[str, Row] = {
    "sgd constant": Row(lambda: lrjax.sgd(0.1), None),
    "sgd schedule": Row(lambda: lrjax.sgd(SCHED), None),
    "sgd momentum schedule": Row(
        lambda: lrjax.sgd(SCHED, momentum=0.9), lambda: lrjax.trace(0.9)
    ),
    "adam schedule": Row(lambda: lrjax.adam(ADAM_SCHED), lambda: lrjax.scale_by_adam()),
    "adamw weight decay": Row(
        lambda: lrjax.adamw(1e-3, weight_decay=0.1),
        lambda: lrjax.chain(lrjax.scale_by_adam(), lrjax.add_decayed_weights(0.1)),
    ),
    "adamw + optax contrib plateau": Row(
        lambda: optax.chain(
            lrjax.adamw(1e-3, weight_decay=0.1),
            optax.contrib.reduce_on_plateau(factor=0.5, patience=1),
        ),
        lambda: lrjax.chain(lrjax.scale_by_adam(), lrjax.add_decayed_weights(0.1)),
        value=True,
    ),
    "sgd + lrjax plateau": Row(
        lambda: lrjax.chain(lrjax.sgd(SCHED), lrjax.reduce_on_plateau(0.5, patience=0)),
        None,
        value=True,
    ),
    "lrjax plateau alone (a factor)": Row(
        lambda: lrjax.reduce_on_plateau(0.5, patience=0, learning_rate=1.0),
        None,
        sign=1.0,
        value=True,
    ),
    "adam + recorded constant factor": Row(
        lambda: lrjax.chain(
            lrjax.adam(1e-2), lrjax.scale_by_learning_rate(0.5, flip_sign=False)
        ),
        lambda: lrjax.scale_by_adam(),
    ),
    "inject_hyperparams(optax.adam), schedule": Row(
        lambda: optax.inject_hyperparams(optax.adam)(learning_rate=ADAM_SCHED),
        lambda: optax.scale_by_adam(),
    ),
    "inject_hyperparams(lrjax.sgd), momentum": Row(
        lambda: optax.inject_hyperparams(lrjax.sgd)(learning_rate=SCHED, momentum=0.9),
        lambda: lrjax.trace(0.9),
    ),
    "inject_hyperparams(optax.sgd) + lrjax plateau": Row(
        lambda: lrjax.chain(
            optax.inject_hyperparams(optax.sgd)(learning_rate=0.1),
            lrjax.reduce_on_plateau(0.5, patience=1),
        ),
        None,
        value=True,
    ),
    "MultiSteps(sgd schedule)": Row(
        lambda: optax.MultiSteps(lrjax.sgd(SCHED), every_k_schedule=2),
        lambda: optax.MultiSteps(lrjax.trace(0.0), every_k_schedule=2),
    ),
    "skip_nonfinite(adam schedule), one NaN step": Row(
        lambda: lrjax.skip_nonfinite(lrjax.adam(ADAM_SCHED)),
        lambda: lrjax.skip_nonfinite(lrjax.scale_by_adam()),
        nan_at=2,
    ),
    "skip_nonfinite(sgd + plateau), one NaN step": Row(
        lambda: lrjax.skip_nonfinite(
            lrjax.chain(lrjax.sgd(0.1), lrjax.reduce_on_plateau(0.5, patience=0))
        ),
        lambda: lrjax.skip_nonfinite(lrjax.trace(0.0)),
        nan_at=1,
        value=True,
    ),
    "apply_if_finite(sgd schedule), one NaN step": Row(
        lambda: optax.apply_if_finite(lrjax.sgd(SCHED), 3),
        lambda: optax.apply_if_finite(lrjax.trace(0.0), 3),
        nan_at=3,
    ),
    "masked(sgd)": Row(lambda: optax.masked(lrjax.sgd(0.1), {"w": True, "b": False}), None),
    "multi_transform, label fast": Row(
        lambda: optax.multi_transform(
            {"fast": lrjax.sgd(0.1), "slow": lrjax.adam(ADAM_SCHED)},
            {"w": "fast", "b": "slow"},
        ),
        lambda: optax.multi_transform(
            {"fast": lrjax.trace(0.0), "slow": lrjax.scale_by_adam()},
            {"w": "fast", "b": "slow"},
        ),
        label="fast",
    ),
    "multi_transform, label slow": Row(
        lambda: optax.multi_transform(
            {"fast": lrjax.sgd(0.1), "slow": lrjax.adam(ADAM_SCHED)},
            {"w": "fast", "b": "slow"},
        ),
        lambda: optax.multi_transform(
            {"fast": lrjax.trace(0.0), "slow": lrjax.scale_by_adam()},
            {"w": "fast", "b": "slow"},
        ),
        leaf="b",
        label="slow",
    ),
    "clip_by_global_norm + sgd, EmptyState vouched": Row(
        lambda: optax.chain(optax.clip_by_global_norm(0.5), lrjax.sgd(SCHED)),
        lambda: optax.clip_by_global_norm(0.5),
        neutral=(optax.EmptyState,),
    ),
    "named_chain(sgd, plateau)": Row(
        lambda: optax.named_chain(
            ("opt", lrjax.sgd(0.1)), ("plateau", lrjax.reduce_on_plateau(0.5, patience=0))
        ),
        None,
        value=True,
    ),
    "grouped(adam schedule)": Row(
        lambda: lrjax.grouped(lrjax.adam(ADAM_SCHED), min_group_size=1),
        lambda: lrjax.scale_by_adam(),
    ),
    "sgd_hd (a learned rate)": Row(lambda: lrjax.sgd_hd(0.01), None),
    "nested chains": Row(
        lambda: lrjax.chain(
            lrjax.chain(
                lrjax.scale_by_adam(), lrjax.chain(lrjax.scale_by_learning_rate(SCHED))
            ),
            lrjax.chain(lrjax.reduce_on_plateau(0.5, patience=1)),
        ),
        lambda: lrjax.scale_by_adam(),
        value=True,
    ),
}

# Chains whose rate cannot be read exactly: the error names the transform.
REFUSED: dict[str, tuple[Callable[[], Any], str]] = {
    "adam + optax.scale(0.5)": (
        lambda: optax.chain(lrjax.adam(1e-3), optax.scale(0.5)),
        r"optax.EmptyState at state\[1\].*optax.scale",
    ),
    "optax.adam with a schedule": (
        lambda: optax.adam(ADAM_SCHED),
        r"ScaleByScheduleState at state\[1\].*scale_by_schedule",
    ),
    "sgd + optax.scale_by_schedule": (
        lambda: optax.chain(lrjax.sgd(0.1), optax.scale_by_schedule(SCHED)),
        r"ScaleByScheduleState at state\[1\]",
    ),
    "plain optax.sgd(0.1)": (lambda: optax.sgd(0.1), r"EmptyState at state\[0\]"),
    "a user's own transform": (
        lambda: optax.chain(lrjax.sgd(0.1), _user_scale()),
        r"unknown state .*DoubleState at state\[1\]",
    ),
    "MultiSteps(chain(adam, optax.scale(0.5)))": (
        lambda: optax.MultiSteps(
            optax.chain(lrjax.adam(1e-3), optax.scale(0.5)), every_k_schedule=2
        ),
        r"EmptyState at state.inner_opt_state\[1\]",
    ),
}

# Learning-rate-free methods: the step size they chose is the rate reported.
ROWS.update(
    {
        "dog (its eta)": Row(lambda: lrjax.dog(SCHED), None),
        "dowg (its eta)": Row(lambda: lrjax.dowg(0.5), None),
        "polyak_sgd sps_max schedule": Row(
            lambda: lrjax.polyak_sgd(SCHED, variant="sps_max"), None, value=True
        ),
        "polyak_sgd smooth": Row(lambda: lrjax.polyak_sgd(), None, value=True),
        "momo schedule (its tau)": Row(lambda: lrjax.momo(SCHED), None, value=True),
        "momo_adam (tau rho, of Adam's direction)": Row(
            lambda: lrjax.momo_adam(ADAM_SCHED), lambda: lrjax.scale_by_adam(), value=True
        ),
    }
)
REFUSED.update(
    {
        "cocob (no learning rate)": (lambda: lrjax.cocob(), r"COCOBState at state: .*no "),
        "l_dog (a rate per leaf)": (
            lambda: lrjax.l_dog(),
            r"LDoGState at state: .*per leaf",
        ),
    }
)


def _grads(k: int, nan_at: int | None) -> dict:
    g = jax.tree.map(jnp.ones_like, P)
    if k == nan_at:
        g = jax.tree.map(lambda x: x * jnp.nan, g)
    return g


def _kwargs(row: Row, k: int) -> dict:
    return {"value": _losses(k)} if row.value else {}


def _measure(row: Row):
    """(measured ratio or None, reported rate) after each update."""
    full = optax.with_extra_args_support(row.full())
    direction = optax.with_extra_args_support(
        row.direction() if row.direction is not None else optax.identity()
    )
    s_full, s_dir = full.init(P), direction.init(P)
    out = []
    for k in range(STEPS):
        g, kw = _grads(k, row.nan_at), _kwargs(row, k)
        u, s_full = full.update(g, s_full, P, **kw)
        d, s_dir = direction.update(g, s_dir, P, **kw)
        rate = lrjax.current_learning_rate(s_full, neutral=row.neutral)
        if row.label is not None:
            rate = rate[row.label]
        u, d = np.asarray(u[row.leaf], np.float64), np.asarray(d[row.leaf], np.float64)
        ratio = None if np.all(d == 0) or not np.all(np.isfinite(d)) else u / d
        out.append((ratio, float(rate)))
    return out


@pytest.mark.parametrize("name", sorted(ROWS))
def test_the_reported_rate_is_the_measured_ratio(name, standard_promotion):
    row = ROWS[name]
    last = None
    measured_any = 0
    for k, (ratio, rate) in enumerate(_measure(row)):
        if ratio is None:
            # Nothing was applied (a skipped step, a MultiSteps mini-step): the rate
            # the last applied update used is still the one reported.
            if last is not None:
                assert rate == pytest.approx(last, rel=1e-6), (name, k)
            continue
        measured_any += 1
        np.testing.assert_allclose(
            row.sign * ratio, rate, rtol=2e-5, err_msg=f"{name}, {k}"
        )
        last = rate
    assert measured_any >= STEPS // 2


def test_the_table_covers_the_rates_that_change():
    """The schedules, plateau cuts and learned rates in the table really move."""
    moved = 0
    for row in ROWS.values():
        with jax.numpy_dtype_promotion("standard"):
            rates = {round(r, 12) for _, r in _measure(row)}
        moved += len(rates) > 1
    assert len(ROWS) + len(REFUSED) >= 20
    assert moved >= 12


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_rate_that_cannot_be_known_is_refused(name, standard_promotion):
    build, match = REFUSED[name]
    tx = build()
    state = tx.init(P)
    _u, state = tx.update(jax.tree.map(jnp.ones_like, P), state, P)
    with pytest.raises(ValueError, match=match):
        lrjax.current_learning_rate(state)


def test_a_wrong_neutral_is_not_a_type():
    state = lrjax.sgd(0.1).init(P)
    with pytest.raises(TypeError, match="neutral"):
        lrjax.current_learning_rate(state, neutral=("EmptyState",))


def test_a_user_transform_vouched_neutral_is_read_through():
    class NoopState(NamedTuple):
        count: jax.Array

    noop = optax.GradientTransformation(
        lambda p: NoopState(jnp.zeros([], jnp.int32)),
        lambda u, s, p=None: (u, NoopState(s.count + 1)),
    )
    state = optax.chain(noop, lrjax.sgd(0.1)).init(P)
    with pytest.raises(ValueError, match="NoopState"):
        lrjax.current_learning_rate(state)
    rate = lrjax.current_learning_rate(state, neutral=(NoopState,))
    np.testing.assert_allclose(float(rate), 0.1)


def test_line_search_step_is_a_factor():
    """optax's backtracking line search records the step it accepted; it multiplies."""
    f = lambda p: 2.0 * jnp.sum(p**2)
    opt = optax.chain(
        lrjax.sgd(0.5), optax.scale_by_backtracking_linesearch(max_backtracking_steps=15)
    )
    p = jnp.ones(3)
    state = opt.init(p)
    for _ in range(3):
        value, grad = jax.value_and_grad(f)(p)
        u, state = opt.update(grad, state, p, value=value, grad=grad, value_fn=f)
        rate = float(lrjax.current_learning_rate(state))
        np.testing.assert_allclose(-np.asarray(u) / np.asarray(grad), rate, rtol=1e-6)
        assert rate < 0.5  # the line search cut the step
        p = optax.apply_updates(p, u)


def test_jit_and_vmap():
    tx = lrjax.chain(lrjax.sgd(SCHED), lrjax.reduce_on_plateau(0.5, patience=0))

    @jax.jit
    def run(p):
        state = tx.init(p)
        for k in range(3):
            _, state = tx.update(jnp.ones_like(p), state, value=_losses(k))
        return lrjax.current_learning_rate(state)

    np.testing.assert_allclose(float(run(jnp.ones(3))), 0.05 * 0.25, rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(jax.vmap(run)(jnp.ones((2, 3)))), 0.0125, rtol=1e-6
    )


def test_flax_train_state_is_read_directly():
    train_state = pytest.importorskip("flax.training.train_state")
    ts = train_state.TrainState.create(apply_fn=None, params=P, tx=lrjax.adam(ADAM_SCHED))
    direction = lrjax.scale_by_adam()
    s_dir = direction.init(P)
    for _ in range(4):
        g = jax.tree.map(jnp.ones_like, P)
        new = ts.apply_gradients(grads=g)
        d, s_dir = direction.update(g, s_dir)
        ratio = (np.asarray(new.params["w"]) - np.asarray(ts.params["w"])) / np.asarray(
            d["w"]
        )
        ts = new
        rate = float(lrjax.current_learning_rate(ts))
        np.testing.assert_allclose(-ratio, rate, rtol=1e-4)
        assert rate == float(lrjax.current_learning_rate(ts.opt_state))


def _nnx_model():
    nnx = pytest.importorskip("flax.nnx")
    return nnx, nnx.Linear(3, 2, rngs=nnx.Rngs(0))


def test_nnx_optimizer_is_read_directly(standard_promotion):
    nnx, model = _nnx_model()
    tx = optax.chain(
        lrjax.adam(ADAM_SCHED), optax.contrib.reduce_on_plateau(factor=0.5, patience=0)
    )
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    direction = lrjax.scale_by_adam()
    s_dir = direction.init(nnx.state(model, nnx.Param))
    rates = []
    for k in range(4):
        grads = jax.tree.map(jnp.ones_like, nnx.state(model, nnx.Param))
        before = np.asarray(model.kernel[...])
        optimizer.update(model, grads, value=_losses(k))
        d, s_dir = direction.update(grads, s_dir)
        ratio = (np.asarray(model.kernel[...]) - before) / np.asarray(d["kernel"][...])
        rate = float(lrjax.current_learning_rate(optimizer))
        np.testing.assert_allclose(-ratio, rate, rtol=1e-4)
        rates.append(rate)
    assert rates[-1] < rates[0] * 0.5  # schedule and plateau cuts both moved it


def test_nnx_state_is_refused_with_what_to_pass():
    """An nnx.State cannot tell chain(adam, optax.scale(0.5)) from chain(adam, identity)."""
    nnx, model = _nnx_model()
    halved = nnx.Optimizer(
        model, optax.chain(lrjax.adam(1e-3), optax.scale(0.5)), wrt=nnx.Param
    )
    plain = nnx.Optimizer(
        model, optax.chain(lrjax.adam(1e-3), optax.identity()), wrt=nnx.Param
    )
    a, b = nnx.state(halved), nnx.state(plain)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    with pytest.raises(ValueError, match="nnx.Optimizer itself"):
        lrjax.current_learning_rate(a)
    with pytest.raises(ValueError, match="optax.scale"):
        lrjax.current_learning_rate(halved)
    got = lrjax.current_learning_rate(plain, neutral=(optax.EmptyState,))
    np.testing.assert_allclose(float(got), 1e-3)
