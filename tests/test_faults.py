"""Faults during training: non-finite gradients, extreme values, saturated counters,
empty and masked trees. A run that goes on for weeks must not be lost to one bad batch.
"""

from __future__ import annotations

import digits
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conformance import all_cases, loss, params

import lrjax

CASES = all_cases()
GRADIENT_CASES = [c for c in CASES if not c.needs_loss]
INT32_MAX = int(jnp.iinfo(jnp.int32).max)


def _leaves_equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(
        np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb)
    )


def _all_finite(tree) -> bool:
    return all(
        bool(jnp.all(jnp.isfinite(x)))
        for x in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact)
    )


# ------------------------------------------------------------------ non-finite gradients


def _mlp_problem(steps=200, seed=0):
    x, y, _, _ = digits.load()
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.choice(len(x), 64, replace=False) for _ in range(steps)])
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    params = {
        "w1": jax.random.normal(k1, (64, 32), jnp.float32) * 0.15,
        "b1": jnp.zeros(32, jnp.float32),
        "w2": jax.random.normal(k2, (32, 10), jnp.float32) * 0.15,
        "b2": jnp.zeros(10, jnp.float32),
    }

    def loss_fn(p, xb, yb):
        logits = jnp.tanh(xb @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    return params, jnp.asarray(x[idx]), jnp.asarray(y[idx]), loss_fn


def test_nonfinite_batches_are_skipped_exactly():
    steps = 200
    params0, xs, ys, loss_fn = _mlp_problem(steps)
    rng = np.random.default_rng(1)
    bad = set(rng.choice(steps, size=steps // 20, replace=False).tolist())  # 5%
    opt = lrjax.skip_nonfinite(
        lrjax.adam(lrjax.warmup(lrjax.cosine_decay(1e-2, 200), warmup_steps=10))
    )

    @jax.jit
    def step(p, state, xb, yb, poison):
        value, g = jax.value_and_grad(loss_fn)(p, xb, yb)
        # Poison one entry of one leaf with NaN or inf, as a bad batch would.
        g = dict(g, w1=g["w1"].at[3, 5].add(poison))
        u, state = opt.update(g, state, p, value=value)
        return optax.apply_updates(p, u), state

    p, state = params0, opt.init(params0)
    skipped = 0
    for n in range(steps):
        poison = (jnp.nan if n % 2 else jnp.inf) if n in bad else 0.0
        before = state
        p_next, state = step(p, state, xs[n], ys[n], jnp.float32(poison))
        if n in bad:
            skipped += 1
            assert _leaves_equal(state.inner_state, before.inner_state)
            assert _leaves_equal(p_next, p)
        p = p_next
    assert skipped == len(bad) == 10
    assert int(state.total) == skipped
    assert _all_finite(p) and _all_finite(state)

    # The same guarded optimizer on the good batches alone ends at the same params.
    good = [n for n in range(steps) if n not in bad]
    q, clean = params0, opt.init(params0)
    for n in good:
        q, clean = step(q, clean, xs[n], ys[n], jnp.float32(0.0))
    assert _leaves_equal(q, p)
    assert _leaves_equal(clean.inner_state, state.inner_state)
    assert float(loss_fn(p, xs[0], ys[0])) < float(loss_fn(params0, xs[0], ys[0]))


def test_optax_apply_if_finite_gives_up_and_poisons_the_params(standard_promotion):
    """Why lrjax has its own guard: optax applies the NaN after a few bad steps."""
    nan = jnp.asarray([jnp.nan, 1.0])
    results = {}
    for name, opt in {
        "optax": optax.apply_if_finite(lrjax.sgd(0.1), max_consecutive_errors=2),
        "lrjax": lrjax.skip_nonfinite(lrjax.sgd(0.1)),
    }.items():
        p, state = jnp.ones(2), opt.init(jnp.ones(2))
        for _ in range(3):
            u, state = opt.update(nan, state, p)
            p = optax.apply_updates(p, u)
        results[name] = p
    assert not _all_finite(results["optax"])
    assert _leaves_equal(results["lrjax"], jnp.ones(2))


def test_overflow_inside_the_optimizer_is_caught():
    """A finite float32 gradient of 1e20 overflows Adam's g**2: the step is skipped."""
    p = jnp.ones(3, jnp.float32)
    g = jnp.asarray([1e20, 1.0, 1.0], jnp.float32)
    plain = lrjax.adam(1e-3)
    _, poisoned = plain.update(g, plain.init(p), p)
    assert not _all_finite(poisoned)  # the second moment is inf from here on
    guarded = lrjax.skip_nonfinite(lrjax.adam(1e-3))
    state = guarded.init(p)
    u, new = guarded.update(g, state, p)
    assert _leaves_equal(new.inner_state, state.inner_state)
    assert not bool(jnp.any(u)) and int(new.total) == 1


def test_nonfinite_loss_value_is_a_skip():
    opt = lrjax.skip_nonfinite(lrjax.sgd(0.1))
    state = opt.init(jnp.ones(2))
    u, state = opt.update(jnp.ones(2), state, value=jnp.asarray(jnp.inf))
    assert not bool(jnp.any(u)) and int(state.total) == 1 and not bool(state.last_finite)


# ------------------------------------------------------------------------ extreme values


@pytest.mark.parametrize(
    "dtype", [jnp.float32, jnp.bfloat16], ids=lambda d: jnp.dtype(d).name
)
@pytest.mark.parametrize("case", GRADIENT_CASES, ids=str)
def test_extreme_gradients_give_finite_updates(case, dtype):
    """Gradients of 1e30, 1e-30 and exactly 0, three steps each: finite updates."""
    tx = case.make(case.lr)
    p = params(dtype)

    @jax.jit
    def three_steps(magnitude):
        g = jax.tree.map(lambda x: jnp.full_like(x, magnitude), p)
        state, out = tx.init(p), []
        for _ in range(3):
            u, state = tx.update(g, state, p)
            out.append(u)
        return out

    for magnitude in (1e30, 1e-30, 0.0):
        for u in three_steps(jnp.asarray(magnitude, dtype)):
            for leaf, ref in zip(jax.tree.leaves(u), jax.tree.leaves(p)):
                assert leaf.dtype == ref.dtype
                assert bool(jnp.all(jnp.isfinite(leaf))), (
                    f"{case}: non-finite at {magnitude}"
                )


def _saturate(state):
    return jax.tree.map(
        lambda x: jnp.full_like(x, INT32_MAX) if jnp.result_type(x) == jnp.int32 else x,
        state,
    )


@pytest.mark.parametrize("case", CASES, ids=str)
def test_counters_saturate_at_int32_max(case):
    tx = case.make(case.lr)
    p = params(jnp.float32)
    state = _saturate(tx.init(p))
    g = jax.grad(loss)(p)
    extra = dict(value=loss(p), grad=g, value_fn=loss) if case.needs_loss else {}
    u, new = tx.update(g, state, p, **extra)
    assert _all_finite(u)
    # int32 overflow would wrap to a negative count; saturation keeps every counter
    # that was at the maximum there (or reset to a small value by design, e.g. a
    # plateau's patience counter after a cut).
    for leaf in jax.tree.leaves(new):
        if jnp.result_type(leaf) == jnp.int32:
            assert int(leaf) >= 0, f"{case}: an int32 counter wrapped around"
    records = [
        s
        for s in jax.tree.leaves(
            new, is_leaf=lambda x: isinstance(x, lrjax.ScaleByLearningRateState)
        )
        if isinstance(s, lrjax.ScaleByLearningRateState)
    ]
    for record in records:
        # A constant learning rate keeps no count (an empty tuple).
        assert isinstance(record.count, tuple) or int(record.count) == INT32_MAX


def test_schedules_are_finite_at_the_int32_limit():
    from test_validation import TABLE

    schedules = [
        name
        for name, (valid, _) in TABLE.items()
        if getattr(lrjax, name).__module__.startswith("lrjax._schedules.")
        and getattr(lrjax, name).__module__ != "lrjax._schedules.large_model"
    ]
    assert len(schedules) >= 17
    for name in schedules:
        fn = getattr(lrjax, name)(**TABLE[name][0])
        for n in (INT32_MAX, INT32_MAX - 1, jnp.asarray(INT32_MAX, jnp.int32)):
            value = float(fn(n))
            assert np.isfinite(value) and value >= 0.0, (name, n, value)


@pytest.mark.parametrize(
    "dtype", [jnp.float32, pytest.param(jnp.float64, marks=pytest.mark.x64)]
)
def test_decays_underflow_to_zero_not_nan(dtype):
    n = jnp.asarray([10**5, 10**6, 10**7, INT32_MAX], dtype)
    for fn in (lrjax.time_based_decay(0.1, 0.01), lrjax.exponential_decay(0.1, decay=0.5)):
        values = np.asarray(jax.vmap(fn)(n))
        assert np.all(values == 0.0), values


# ------------------------------------------------------------- empty and masked trees


@pytest.mark.parametrize("case", CASES, ids=str)
def test_empty_tree_passes_through(case):
    tx = case.make(case.lr)
    state = tx.init({})
    extra = (
        dict(value=jnp.asarray(0.0), grad={}, value_fn=lambda q: jnp.asarray(0.0))
        if case.needs_loss
        else {}
    )
    u, _ = tx.update({}, state, {}, **extra)
    assert u == {}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_none_leaves_pass_through(case):
    tx = case.make(case.lr)
    p = {"a": jnp.asarray([0.5, -1.0, 2.0]), "masked": None}
    g = {"a": jnp.asarray([0.1, 0.2, -0.3]), "masked": None}
    f = lambda q: jnp.sum(q["a"] ** 2)  # noqa: E731
    extra = dict(value=f(p), grad=g, value_fn=f) if case.needs_loss else {}
    u, _ = tx.update(g, tx.init(p), p, **extra)
    assert u["masked"] is None
    assert _all_finite(u["a"])
