"""scale_by_learning_rate and current_learning_rate."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrjax
from lrjax._learning_rate import ScaleByLearningRateState, safe_increment


def _sched(n):
    return 0.1 / (1.0 + jnp.asarray(n, jnp.float64))


def _run(tx, steps, params=None):
    params = jnp.ones(3) if params is None else params
    state = tx.init(params)
    out = []
    for _ in range(steps):
        u, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
        out.append(u)
    return out, state


def test_multiplies_by_minus_the_schedule_and_records_it():
    us, state = _run(lrjax.scale_by_learning_rate(_sched), 4)
    for n, u in enumerate(us):
        np.testing.assert_allclose(np.asarray(u), -0.1 / (1 + n) * np.ones(3), rtol=1e-15)
    assert int(state.count) == 4
    np.testing.assert_allclose(float(lrjax.current_learning_rate(state)), 0.1 / 4)


def test_flip_sign_false_ascends():
    (u,), _ = _run(lrjax.scale_by_learning_rate(0.5, flip_sign=False), 1)
    np.testing.assert_allclose(np.asarray(u), 0.5 * np.ones(3))


def test_before_any_update_it_reports_the_first_rate():
    state = lrjax.scale_by_learning_rate(_sched).init(jnp.ones(3))
    np.testing.assert_allclose(float(lrjax.current_learning_rate(state)), 0.1)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float64])
def test_keeps_the_update_dtype(dtype):
    (u,), _ = _run(lrjax.scale_by_learning_rate(0.1), 1, jnp.ones(3, dtype))
    assert u.dtype == dtype


def test_counter_saturates_at_int32_max():
    top = jnp.asarray(jnp.iinfo(jnp.int32).max, jnp.int32)
    assert int(safe_increment(top)) == int(top)
    assert safe_increment(top).dtype == jnp.int32
    state = ScaleByLearningRateState(top, jnp.asarray(0.0))
    tx = lrjax.scale_by_learning_rate(lrjax.exponential_decay(1.0, 1e-9))
    u, state = tx.update(jnp.ones(2), state)
    assert int(state.count) == int(top)
    assert bool(jnp.all(jnp.isfinite(u)))


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", None])
def test_bad_learning_rate_is_rejected(bad):
    with pytest.raises((ValueError, TypeError), match="learning_rate"):
        lrjax.scale_by_learning_rate(bad)


def test_found_deep_in_a_chain():
    tx = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.chain(optax.identity(), lrjax.sgd(_sched, momentum=0.9)),
        optax.scale(1.0),
    )
    _, state = _run(tx, 3)
    np.testing.assert_allclose(float(lrjax.current_learning_rate(state)), 0.1 / 3)


def test_inject_hyperparams_with_a_schedule_where_optax_tree_get_fails():
    tx = optax.inject_hyperparams(lrjax.sgd)(learning_rate=_sched, momentum=0.9)
    _, state = _run(tx, 3)
    # optax's own lookup finds the learning rate twice and gives up.
    with pytest.raises(Exception):
        optax.tree.get(state, "learning_rate")
    np.testing.assert_allclose(float(lrjax.current_learning_rate(state)), 0.1 / 3)


def test_plain_optax_inside_inject_hyperparams_reports_its_hyperparameter(
    standard_promotion,
):
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=_sched)
    _, state = _run(tx, 3)
    np.testing.assert_allclose(float(lrjax.current_learning_rate(state)), 0.1 / 3)


def test_multisteps_and_flax_train_state(standard_promotion):
    tx = optax.MultiSteps(lrjax.sgd(_sched), every_k_schedule=2)
    _, state = _run(tx, 4)
    # Two inner updates were applied (n = 0 and n = 1).
    np.testing.assert_allclose(float(lrjax.current_learning_rate(state)), 0.1 / 2)

    train_state = pytest.importorskip("flax.training.train_state")
    ts = train_state.TrainState.create(
        apply_fn=None, params={"w": jnp.ones(3)}, tx=lrjax.sgd(_sched)
    )
    for _ in range(3):
        ts = ts.apply_gradients(grads={"w": jnp.ones(3)})
    np.testing.assert_allclose(float(lrjax.current_learning_rate(ts.opt_state)), 0.1 / 3)
    np.testing.assert_allclose(np.asarray(ts.params["w"]), 1 - 0.1 * (1 + 1 / 2 + 1 / 3))


def test_multi_transform_needs_by_path():
    tx = optax.multi_transform(
        {"fast": lrjax.sgd(0.1), "slow": lrjax.sgd(0.01)}, {"a": "fast", "b": "slow"}
    )
    params = {"a": jnp.ones(2), "b": jnp.ones(2)}
    _, state = _run(tx, 1, params)
    with pytest.raises(ValueError, match="by_path"):
        lrjax.current_learning_rate(state)
    rates = lrjax.current_learning_rate(state, by_path=True)
    assert sorted(float(v) for v in rates.values()) == pytest.approx([0.01, 0.1])
    assert all("fast" in k or "slow" in k for k in rates)


def test_no_record_is_a_clear_error():
    _, state = _run(optax.sgd(0.1), 1)
    with pytest.raises(ValueError, match="no learning rate is recorded"):
        lrjax.current_learning_rate(state)


def test_under_jit_and_vmap():
    tx = lrjax.sgd(_sched)

    @jax.jit
    def run(p):
        state = tx.init(p)
        for _ in range(2):
            _, state = tx.update(jnp.ones_like(p), state)
        return lrjax.current_learning_rate(state)

    np.testing.assert_allclose(float(run(jnp.ones(3))), 0.05)
    batched = jax.vmap(run)(jnp.ones((4, 3)))
    np.testing.assert_allclose(np.asarray(batched), 0.05 * np.ones(4))
