"""lrjax inside Flax (linen and NNX), Haiku and optax's wrappers, with real models.

Each framework trains a small MLP on scikit-learn's digits with a scheduled lrjax
optimizer, reads ``current_learning_rate`` along the way, and must reach 95% test
accuracy (a 64-64-10 MLP reaches 96-98% here; 95% leaves room for seeds, not bugs).
"""

from __future__ import annotations

import digits
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrjax

STEPS = 300
BATCH = 128
ACCURACY = 0.95


def _batches(steps=STEPS, seed=0):
    x, y, _, _ = digits.load()
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.choice(len(x), BATCH, replace=False) for _ in range(steps)])
    return jnp.asarray(x[idx]), jnp.asarray(y[idx])


def _xent(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _accuracy(logits):
    _, _, _, y_te = digits.load()
    return float(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(y_te)))


def _lrs_match(recorded, schedule):
    expected = np.asarray(jax.vmap(schedule)(jnp.arange(len(recorded))))
    np.testing.assert_allclose(np.asarray(recorded), expected, rtol=1e-6)


def test_flax_linen_train_state(standard_promotion):
    nn = pytest.importorskip("flax.linen")
    from flax.training import train_state

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(10)(nn.relu(nn.Dense(64)(x)))

    model = MLP()
    xs, ys = _batches()
    schedule = lrjax.cosine_decay(0.5, STEPS, alpha=0.01)
    state = train_state.TrainState.create(
        apply_fn=model.apply,
        params=model.init(jax.random.PRNGKey(0), xs[0])["params"],
        tx=lrjax.sgd(schedule, momentum=0.9),
    )

    @jax.jit
    def train(state, xs, ys):
        def step(state, batch):
            x, y = batch
            grads = jax.grad(lambda p: _xent(state.apply_fn({"params": p}, x), y))(
                state.params
            )
            state = state.apply_gradients(grads=grads)
            return state, lrjax.current_learning_rate(state.opt_state)

        return jax.lax.scan(step, state, (xs, ys))

    state, lrs = train(state, xs, ys)
    _lrs_match(lrs, schedule)
    _, _, x_te, _ = digits.load()
    assert _accuracy(state.apply_fn({"params": state.params}, x_te)) >= ACCURACY


def test_flax_nnx_optimizer(standard_promotion):
    nnx = pytest.importorskip("flax.nnx")

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.hidden = nnx.Linear(64, 64, rngs=rngs)
            self.out = nnx.Linear(64, 10, rngs=rngs)

        def __call__(self, x):
            return self.out(nnx.relu(self.hidden(x)))

    model = MLP(nnx.Rngs(0))
    schedule = lrjax.one_cycle(0.05, total_steps=STEPS)
    optimizer = nnx.Optimizer(model, lrjax.adam(schedule), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer, x, y):
        grads = nnx.grad(lambda m: _xent(m(x), y))(model)
        optimizer.update(model, grads)
        return lrjax.current_learning_rate(optimizer.opt_state)

    xs, ys = _batches()
    lrs = [step(model, optimizer, xs[i], ys[i]) for i in range(STEPS)]
    _lrs_match(jnp.stack(lrs), schedule)
    _, _, x_te, _ = digits.load()
    assert _accuracy(model(jnp.asarray(x_te))) >= ACCURACY


def test_haiku_transform(standard_promotion):
    hk = pytest.importorskip("haiku")

    def forward(x):
        return hk.nets.MLP([64, 10])(x)

    net = hk.without_apply_rng(hk.transform(forward))
    xs, ys = _batches()
    params = net.init(jax.random.PRNGKey(0), xs[0])
    schedule = lrjax.warmup(lrjax.exponential_decay(0.01, decay=5e-3), warmup_steps=30)
    opt = lrjax.adam(schedule)

    @jax.jit
    def train(params, xs, ys):
        def step(carry, batch):
            params, opt_state = carry
            x, y = batch
            grads = jax.grad(lambda p: _xent(net.apply(p, x), y))(params)
            updates, opt_state = opt.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return (params, opt_state), lrjax.current_learning_rate(opt_state)

        return jax.lax.scan(step, (params, opt.init(params)), (xs, ys))

    (params, _), lrs = train(params, xs, ys)
    _lrs_match(lrs, schedule)
    _, _, x_te, _ = digits.load()
    assert _accuracy(net.apply(params, jnp.asarray(x_te))) >= ACCURACY


def test_multi_transform_with_a_different_optimizer_per_group():
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    tx = optax.multi_transform(
        {"adam": lrjax.adam(lrjax.cosine_decay(1e-2, 10)), "sgd": lrjax.sgd(0.1)},
        {"w": "adam", "b": "sgd"},
    )
    state = tx.init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    updates, state = jax.jit(tx.update)(grads, state, params)
    # Plain SGD on the biases; Adam's first step is -lr * sign(g) on the weights.
    np.testing.assert_allclose(np.asarray(updates["b"]), -0.1 * np.ones(2))
    np.testing.assert_allclose(np.asarray(updates["w"]), -1e-2 * np.ones((3, 2)), rtol=1e-6)
    rates = lrjax.current_learning_rate(state)
    assert {k: float(v) for k, v in rates.items()} == pytest.approx(
        {"adam": 1e-2, "sgd": 0.1}
    )


def test_apply_if_finite_skips_bad_steps_and_keeps_the_schedule_position(
    standard_promotion,
):
    schedule = lrjax.step_decay(0.1, drop=0.5, drop_every=2)
    tx = optax.apply_if_finite(lrjax.sgd(schedule, momentum=0.9), max_consecutive_errors=5)
    params = jnp.ones(3)
    state = tx.init(params)
    step = jax.jit(tx.update)
    good = jnp.ones(3)
    bad = jnp.asarray([1.0, jnp.nan, 1.0])
    _, state = step(good, state, params)
    before = state
    updates, state = step(bad, state, params)
    assert not bool(jnp.any(updates))  # the NaN step is skipped
    for a, b in zip(
        jax.tree.leaves(before.inner_state), jax.tree.leaves(state.inner_state)
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(state.notfinite_count) == 1
    _, state = step(good, state, params)
    # Two good steps were applied: the schedule is at n = 1, not n = 2.
    np.testing.assert_allclose(
        float(lrjax.current_learning_rate(state)), float(schedule(1))
    )
