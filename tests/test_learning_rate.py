"""scale_by_learning_rate and current_learning_rate.

The tests run in float32 (x64 off, what users run); the recorded rate is then float32,
and the rates are checked against their float64 values at RTOL32 below. The ``x64``
variants check that float64 updates keep float64 and that the rate is recorded in
float64, to float64 accuracy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrjax
from lrjax._learning_rate.scale import ScaleByLearningRateState
from lrjax._shared.numerics import safe_increment

U = 2.0**-24  # float32's unit roundoff (eps / 2)
# A rate read back in float32: 0.1 rounds once, the schedule's division (or a product of
# factors) once more, and a multiplication by a factor or a sum of a few terms at most
# once more: three roundings of U, and 4U for the second-order terms.
RTOL32 = 4 * U


def _sched(n):
    # In the default float dtype: float32 with x64 off, float64 in the x64 variants.
    return 0.1 / (1.0 + jnp.asarray(n, float))


def _run(tx, steps, params=None):
    params = jnp.ones(3) if params is None else params
    state = tx.init(params)
    out = []
    for _ in range(steps):
        u, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
        out.append(u)
    return out, state


@pytest.mark.parametrize(
    "dtype, rtol",
    [(jnp.float32, RTOL32), pytest.param(jnp.float64, 1e-15, marks=pytest.mark.x64)],
    ids=["float32", "float64"],
)
def test_multiplies_by_minus_the_schedule_and_records_it(dtype, rtol):
    us, state = _run(lrjax.scale_by_learning_rate(_sched), 4, jnp.ones(3, dtype))
    for n, u in enumerate(us):
        assert u.dtype == dtype
        np.testing.assert_allclose(
            np.asarray(u, np.float64), -0.1 / (1 + n) * np.ones(3), rtol=rtol
        )
    assert int(state.count) == 4
    rate = lrjax.current_learning_rate(state)
    assert rate.dtype == dtype
    np.testing.assert_allclose(float(rate), 0.1 / 4, rtol=rtol)


def test_flip_sign_false_ascends():
    (u,), _ = _run(lrjax.scale_by_learning_rate(0.5, flip_sign=False), 1)
    np.testing.assert_array_equal(np.asarray(u), 0.5 * np.ones(3))  # 0.5 is exact


def test_before_any_update_it_reports_the_first_rate():
    state = lrjax.scale_by_learning_rate(_sched).init(jnp.ones(3))
    np.testing.assert_allclose(float(lrjax.current_learning_rate(state)), 0.1, rtol=RTOL32)


@pytest.mark.parametrize(
    "dtype", [jnp.float32, jnp.bfloat16, pytest.param(jnp.float64, marks=pytest.mark.x64)]
)
def test_keeps_the_update_dtype(dtype):
    (u,), _ = _run(lrjax.scale_by_learning_rate(0.1), 1, jnp.ones(3, dtype))
    assert u.dtype == dtype


def test_counter_saturates_at_int32_max():
    top = jnp.asarray(jnp.iinfo(jnp.int32).max, jnp.int32)
    assert int(safe_increment(top)) == int(top)
    assert safe_increment(top).dtype == jnp.int32
    state = ScaleByLearningRateState(top, jnp.asarray(0.0))
    tx = lrjax.scale_by_learning_rate(lrjax.exponential_decay(1.0, decay=1e-9))
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
    )
    _, state = _run(tx, 3)
    # Clipping and identity leave an EmptyState, as optax.scale(c) does: refused...
    with pytest.raises(ValueError, match=r"EmptyState at state\[0\].*neutral="):
        lrjax.current_learning_rate(state)
    # ... unless the caller vouches that no stateless transform scales.
    rate = lrjax.current_learning_rate(state, neutral=(optax.EmptyState,))
    np.testing.assert_allclose(float(rate), 0.1 / 3, rtol=RTOL32)


def test_inject_hyperparams_with_a_schedule_where_optax_tree_get_fails():
    tx = optax.inject_hyperparams(lrjax.sgd)(learning_rate=_sched, momentum=0.9)
    _, state = _run(tx, 3)
    # optax's own lookup finds the learning rate twice and gives up.
    with pytest.raises(KeyError, match="multiple values"):
        optax.tree.get(state, "learning_rate")
    np.testing.assert_allclose(
        float(lrjax.current_learning_rate(state)), 0.1 / 3, rtol=RTOL32
    )


def test_plain_optax_inside_inject_hyperparams_reports_its_hyperparameter(
    standard_promotion,
):
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=_sched)
    _, state = _run(tx, 3)
    np.testing.assert_allclose(
        float(lrjax.current_learning_rate(state)), 0.1 / 3, rtol=RTOL32
    )


def test_multisteps_and_flax_train_state(standard_promotion):
    tx = optax.MultiSteps(lrjax.sgd(_sched), every_k_schedule=2)
    _, state = _run(tx, 4)
    # Two inner updates were applied (n = 0 and n = 1).
    np.testing.assert_allclose(
        float(lrjax.current_learning_rate(state)), 0.1 / 2, rtol=RTOL32
    )

    train_state = pytest.importorskip("flax.training.train_state")
    ts = train_state.TrainState.create(
        apply_fn=None, params={"w": jnp.ones(3)}, tx=lrjax.sgd(_sched)
    )
    for _ in range(3):
        ts = ts.apply_gradients(grads={"w": jnp.ones(3)})
    np.testing.assert_allclose(
        float(lrjax.current_learning_rate(ts.opt_state)), 0.1 / 3, rtol=RTOL32
    )
    # Three float32 rates, each within 2U of its value (terms that sum to 0.18), and
    # three float32 subtractions from values below 1 (U each): below 0.4U + 3U < 4U.
    np.testing.assert_allclose(
        np.asarray(ts.params["w"], np.float64),
        1 - 0.1 * (1 + 1 / 2 + 1 / 3),
        rtol=0,
        atol=4 * U,
    )


def test_multi_transform_gives_a_dict_by_label():
    tx = optax.multi_transform(
        {"fast": lrjax.sgd(0.1), "slow": lrjax.sgd(0.01)}, {"a": "fast", "b": "slow"}
    )
    params = {"a": jnp.ones(2), "b": jnp.ones(2)}
    _, state = _run(tx, 1, params)
    rates = lrjax.current_learning_rate(state)
    assert sorted(rates) == ["fast", "slow"]
    np.testing.assert_allclose(float(rates["fast"]), 0.1, rtol=RTOL32)
    np.testing.assert_allclose(float(rates["slow"]), 0.01, rtol=RTOL32)


def test_no_record_is_a_clear_error():
    _, state = _run(lrjax.scale_by_adam(), 1)
    with pytest.raises(ValueError, match="no learning rate is recorded"):
        lrjax.current_learning_rate(state)


def test_a_plain_optax_optimizer_is_refused_with_advice():
    _, state = _run(optax.sgd(0.1), 1)
    with pytest.raises(ValueError, match="inject_hyperparams"):
        lrjax.current_learning_rate(state)


def test_under_jit_and_vmap():
    tx = lrjax.sgd(_sched)

    @jax.jit
    def run(p):
        state = tx.init(p)
        for _ in range(2):
            _, state = tx.update(jnp.ones_like(p), state)
        return lrjax.current_learning_rate(state)

    np.testing.assert_allclose(float(run(jnp.ones(3))), 0.05, rtol=RTOL32)
    batched = jax.vmap(run)(jnp.ones((4, 3)))
    np.testing.assert_allclose(
        np.asarray(batched, np.float64), 0.05 * np.ones(4), rtol=RTOL32
    )


# (lrjax, optax) pairs with the same constant rate: the seven optimizers.
_SAME_AS_OPTAX = {
    "sgd": (lambda: lrjax.sgd(0.1), lambda: optax.sgd(0.1)),
    "momentum": (
        lambda: lrjax.sgd(0.1, momentum=0.9),
        lambda: optax.sgd(0.1, momentum=0.9),
    ),
    "adagrad": (lambda: lrjax.adagrad(0.1), lambda: optax.adagrad(0.1)),
    "adadelta": (lambda: lrjax.adadelta(0.1), lambda: optax.adadelta(0.1)),
    "rmsprop": (lambda: lrjax.rmsprop(0.1), lambda: optax.rmsprop(0.1)),
    "adam": (lambda: lrjax.adam(0.1), lambda: optax.adam(0.1)),
    "adamw": (lambda: lrjax.adamw(0.1), lambda: optax.adamw(0.1)),
}


def _state_bytes(tx, params):
    shapes = jax.eval_shape(tx.init, params)
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes))


@pytest.mark.parametrize("name", sorted(_SAME_AS_OPTAX))
def test_a_constant_rate_keeps_one_scalar_more_than_optax(name):
    """The recorded learning rate, and nothing else, is more than optax keeps."""
    make_lrjax, make_optax = _SAME_AS_OPTAX[name]
    params = {"w": jnp.zeros((3, 5)), "b": jnp.zeros(5, jnp.bfloat16)}
    scalar = jnp.dtype(jnp.result_type(float)).itemsize
    assert _state_bytes(make_lrjax(), params) == _state_bytes(make_optax(), params) + scalar


@pytest.mark.parametrize(
    "rate_dtype", [jnp.float32, pytest.param(jnp.float64, marks=pytest.mark.x64)]
)
def test_a_constant_rate_is_recorded_as_a_scalar_array(rate_dtype):
    """The rate is recorded in the default float dtype: float32 with x64 off."""
    tx = lrjax.scale_by_learning_rate(0.25)
    state = tx.init(jnp.ones(3))
    assert state.count == ()
    (leaf,) = jax.tree.leaves(state)
    assert leaf.shape == () and leaf.dtype == rate_dtype
    u, new = jax.jit(tx.update)(jnp.ones(3), state)
    assert jax.tree.structure(new) == jax.tree.structure(state)
    np.testing.assert_array_equal(np.asarray(u), -0.25 * np.ones(3))
    assert float(lrjax.current_learning_rate(new)) == 0.25


def test_the_tree_structure_does_not_depend_on_the_rate_value():
    structures = {
        jax.tree.structure(lrjax.adam(lr).init(jnp.ones(2))) for lr in (1e-3, 5e-4, 0.0)
    }
    assert len(structures) == 1
    # A NumPy float, a Python float and an int give the same structure too.
    same = {
        jax.tree.structure(lrjax.sgd(v).init(jnp.ones(2)))
        for v in (np.float64(0.5), 0.5, 1)
    }
    assert len(same) == 1


def _scan(tx, p, state, length=3):
    def body(carry, _):
        p, s = carry
        u, s = tx.update(2.0 * p, s, p)
        return (optax.apply_updates(p, u), s), None

    (p, state), _ = jax.lax.scan(body, (p, state), length=length)
    return p, state


def test_a_checkpoint_restores_into_another_constant_rate_with_flax_serialization():
    serialization = pytest.importorskip("flax.serialization")
    old, new = lrjax.adam(1e-3), lrjax.adam(5e-4)
    p = jnp.ones(4)
    p, state = _scan(old, p, old.init(p))
    restored = serialization.from_bytes(
        new.init(jnp.zeros(4)), serialization.to_bytes(state)
    )
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # The checkpoint's record until the next update; then the new optimizer's rate.
    np.testing.assert_allclose(
        float(lrjax.current_learning_rate(restored)), 1e-3, rtol=RTOL32
    )
    _, resumed = _scan(new, p, restored)
    np.testing.assert_allclose(
        float(lrjax.current_learning_rate(resumed)), 5e-4, rtol=RTOL32
    )


def test_a_checkpoint_restores_into_another_constant_rate_with_orbax(tmp_path):
    ocp = pytest.importorskip("orbax.checkpoint")
    old, new = lrjax.sgd(0.1, momentum=0.9), lrjax.sgd(0.05, momentum=0.9)
    p = jnp.ones(3)
    p, state = _scan(old, p, old.init(p))
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(tmp_path / "state", state)
        ckpt.wait_until_finished()
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, new.init(jnp.zeros(3)))
        restored = ckpt.restore(tmp_path / "state", target)
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    _, resumed = _scan(new, p, restored)
    np.testing.assert_allclose(
        float(lrjax.current_learning_rate(resumed)), 0.05, rtol=RTOL32
    )


def test_the_applied_rate_is_the_one_recorded_after_a_foreign_restore():
    """A state restored from another rate's checkpoint records this optimizer's rate."""
    old = lrjax.sgd(0.5).init(jnp.ones(2))
    _, new = lrjax.sgd(0.1).update(jnp.ones(2), old)
    np.testing.assert_allclose(float(lrjax.current_learning_rate(new)), 0.1, rtol=RTOL32)


def test_a_constant_rate_record_does_not_hide_the_line_search_value():
    """optax finds a line search's loss by the field name ``value``: it must stay unique."""
    opt = optax.chain(
        lrjax.sgd(1.0), optax.scale_by_backtracking_linesearch(5, store_grad=True)
    )
    f = lambda p: jnp.sum(p**2)
    p = jnp.ones(3)
    state = opt.init(p)
    value, grad = optax.value_and_grad_from_state(f)(p, state=state)
    u, state = opt.update(grad, state, p, value=value, grad=grad, value_fn=f)
    # The line search stores the loss at the params it accepted.
    accepted = float(f(optax.apply_updates(p, u)))
    assert float(optax.tree_utils.tree_get(state, "value")) == accepted < float(f(p))
