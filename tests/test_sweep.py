"""The compiled grid sweep against separate runs, a float64 NumPy transcription, and its
promises: params untouched, one compile per shape, chunks equal to vmap, named errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrjax


def _least_squares(seed=0, steps=40, n=32, d=4):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(steps, n, d)).astype(np.float32)
    b = (a @ rng.normal(size=d) + 0.1 * rng.normal(size=(steps, n))).astype(np.float32)

    def loss_fn(w, batch):
        x, y = batch
        return 0.5 * jnp.mean((x @ w - y) ** 2)

    return loss_fn, a, b


def _python_loop(loss_fn, params, batches, lr, factory, steps):
    """One run as a user writes it: a jitted step called from Python."""
    opt = factory(lr)

    @jax.jit
    def step(p, s, batch):
        loss, g = jax.value_and_grad(loss_fn)(p, batch)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, loss

    state, losses = opt.init(params), []
    for i in range(steps):
        params, state, loss = step(
            params, state, jax.tree.map(lambda x, i=i: x[i], batches)
        )
        losses.append(float(loss))
    return np.array(losses), params


@pytest.mark.parametrize(
    "factory",
    [lrjax.adam, lambda lr: lrjax.sgd(lr, momentum=0.9), optax.adamw],
    ids=["lrjax.adam", "lrjax.sgd momentum", "optax.adamw"],
)
def test_every_rate_equals_its_own_run_in_a_python_loop(factory, standard_promotion):
    loss_fn, a, b = _least_squares()
    grid = [1e-3, 1e-2, 1e-1]
    res = lrjax.sweep_learning_rates(
        loss_fn, jnp.zeros(4, jnp.float32), (a, b), grid, factory
    )
    assert res.losses.shape == (3, 40) and res.tail == 10
    for k, lr in enumerate(grid):
        losses, _ = _python_loop(
            loss_fn, jnp.zeros(4, jnp.float32), (a, b), lr, factory, 40
        )
        # float32 on both sides; vmap batches the same matmuls, whose summation order
        # XLA may change: a few ulps per step, compounded over 40 steps.
        np.testing.assert_allclose(res.losses[k], losses, rtol=2e-5, atol=1e-7)
        assert res.scores[k] == pytest.approx(np.mean(losses[-10:]), rel=2e-5)
    assert res.best_index == int(np.argmin(res.scores))
    assert res.best_learning_rate == grid[res.best_index]


@pytest.mark.x64  # the reference is a float64 transcription
def test_sgd_momentum_matches_a_float64_numpy_transcription():
    # PyTorch's SGD(momentum=mu): buf = mu buf + g (buf = g at the first step), w -= lr buf.
    loss_fn, a, b = _least_squares(seed=1)
    a, b = a.astype(np.float64), b.astype(np.float64)
    grid, mu, steps = [3e-3, 3e-2, 0.3], 0.5, 40
    res = lrjax.sweep_learning_rates(
        loss_fn,
        jnp.zeros(4, jnp.float64),
        (a, b),
        grid,
        lambda lr: lrjax.sgd(lr, momentum=mu),
        tail=5,
    )
    for k, lr in enumerate(grid):
        w, buf, losses = np.zeros(4), np.zeros(4), []
        for i in range(steps):
            r = a[i] @ w - b[i]
            losses.append(0.5 * np.mean(r**2))
            buf = mu * buf + a[i].T @ r / len(r)
            w = w - lr * buf
        np.testing.assert_allclose(res.losses[k], losses, rtol=1e-12)
        assert res.scores[k] == pytest.approx(np.mean(losses[-5:]), rel=1e-12)


def test_eval_fn_scores_the_final_params_and_divergence_scores_inf():
    loss_fn, a, b = _least_squares()
    x_val, y_val = a[0], b[0]

    def val_loss(w):
        return 0.5 * jnp.mean((x_val @ w - y_val) ** 2)

    grid = [1e-2, 1e-1, 1e4]  # the last one overflows to inf/NaN
    res = lrjax.sweep_learning_rates(
        loss_fn, jnp.zeros(4, jnp.float32), (a, b), grid, lrjax.sgd, eval_fn=val_loss
    )
    _, w = _python_loop(loss_fn, jnp.zeros(4, jnp.float32), (a, b), 1e-1, lrjax.sgd, 40)
    assert res.scores[1] == pytest.approx(float(val_loss(w)), rel=1e-5)
    assert res.diverged.tolist() == [False, False, True] and res.scores[2] == math.inf
    assert res.best_index == 1 and res.tail == 0 and "val_loss" in res.score
    # Every run diverging: no best.
    bad = lrjax.sweep_learning_rates(
        loss_fn, jnp.zeros(4, jnp.float32), (a, b), [1e4, 1e5], lrjax.sgd
    )
    assert bad.best_index == -1 and math.isnan(bad.best_learning_rate)


def test_compiled_once_per_shape_and_params_untouched():
    calls = []
    _, a, b = _least_squares()

    def loss_fn(w, batch):
        calls.append(1)  # runs once per trace
        x, y = batch
        return 0.5 * jnp.mean((x @ w - y) ** 2)

    w0 = np.zeros(4, np.float32)
    first = lrjax.sweep_learning_rates(loss_fn, w0, (a, b), [1e-3, 1e-2], lrjax.adam)
    # Other rates, other params and batches of the same shapes: no new trace.
    again = lrjax.sweep_learning_rates(loss_fn, w0 + 1, (2 * a, b), [1e-1, 1.0], lrjax.adam)
    assert len(calls) == 1
    assert not np.array_equal(first.losses, again.losses)
    np.testing.assert_array_equal(w0, np.zeros(4, np.float32))
    # As many steps but three rates: the same program, traced for the new shape.
    lrjax.sweep_learning_rates(loss_fn, w0, (a, b), [1e-3, 1e-2, 1e-1], lrjax.adam)
    assert len(calls) == 2
    assert not any(isinstance(v, jax.Array) for v in vars(first).values())


def test_chunks_give_the_same_runs_as_one_vmap():
    loss_fn, a, b = _least_squares()
    grid = list(10.0 ** np.linspace(-3, 0, 7))
    whole = lrjax.sweep_learning_rates(loss_fn, jnp.zeros(4, jnp.float32), (a, b), grid)
    chunked = lrjax.sweep_learning_rates(
        loss_fn, jnp.zeros(4, jnp.float32), (a, b), grid, chunk_size=3
    )
    # lax.map over chunks of a vmap: the same float32 operations, batched differently.
    np.testing.assert_allclose(chunked.losses, whole.losses, rtol=1e-5, atol=1e-7)
    assert chunked.best_index == whole.best_index


def test_a_traced_peak_schedule_and_a_batch_function():
    loss_fn, a, b = _least_squares()
    a_j, b_j = jnp.asarray(a), jnp.asarray(b)
    res = lrjax.sweep_learning_rates(
        loss_fn,
        jnp.zeros(4, jnp.float32),
        lambda i: (a_j[i], b_j[i]),
        [0.01, 0.1],
        lambda peak: lrjax.adam(lrjax.one_cycle(peak, total_steps=40)),
        num_steps=40,
    )
    for k, peak in enumerate([0.01, 0.1]):
        factory = lambda p: lrjax.adam(lrjax.one_cycle(p, total_steps=40))  # noqa: E731
        losses, _ = _python_loop(
            loss_fn, jnp.zeros(4, jnp.float32), (a, b), peak, factory, 40
        )
        np.testing.assert_allclose(res.losses[k], losses, rtol=2e-5, atol=1e-7)


def test_a_factory_that_needs_a_concrete_rate_says_how_to_fix_it():
    loss_fn, a, b = _least_squares()
    with pytest.raises(TypeError, match=r"traced scalar.*rate \* unit_schedule"):
        lrjax.sweep_learning_rates(
            loss_fn,
            jnp.zeros(4, jnp.float32),
            (a, b),
            [0.1],
            lambda lr: optax.adam(optax.warmup_cosine_decay_schedule(0.0, lr, 5, 40)),
        )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(optimizer=lrjax.adam(1e-3)), TypeError, r"lambda lr: lrjax.adam"),
        (dict(optimizer=0.1), TypeError, "optimizer"),
        (dict(learning_rates=[]), ValueError, "learning_rates"),
        (dict(learning_rates=0.1), TypeError, "learning_rates"),
        (dict(learning_rates=[0.1, -1.0]), ValueError, r"learning_rates\[1\]"),
        (dict(learning_rates=[math.nan]), ValueError, r"learning_rates\[0\]"),
        (dict(tail=0), ValueError, "tail"),
        (dict(tail=41), ValueError, "tail"),
        (dict(tail=5, eval_fn=lambda p: 0.0), ValueError, "tail"),
        (dict(eval_fn=3), TypeError, "eval_fn"),
        (dict(chunk_size=0), ValueError, "chunk_size"),
        (dict(num_steps=0), ValueError, "num_steps"),
        (dict(batches=None), ValueError, "num_steps"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(kwargs, error, match):
    loss_fn, a, b = _least_squares()
    args = dict(batches=(a, b), learning_rates=[0.1], optimizer=lrjax.sgd)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        lrjax.sweep_learning_rates(
            loss_fn,
            jnp.zeros(4, jnp.float32),
            args.pop("batches"),
            args.pop("learning_rates"),
            **args,
        )


def test_plot_draws_scores_and_marks_the_range_test():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loss_fn, a, b = _least_squares()
    grid = [1e-3, 1e-2, 1e-1, 1.0, 1e4]
    res = lrjax.sweep_learning_rates(
        loss_fn, jnp.zeros(4, jnp.float32), (a, b), grid, lrjax.sgd
    )
    finder = lrjax.find_learning_rate(
        loss_fn,
        jnp.zeros(4, jnp.float32),
        (a, b),
        lrjax.sgd,
        min_lr=1e-4,
        max_lr=10.0,
        num_steps=40,
    )
    ax = res.plot(finder=finder)
    try:
        scores, best, diverged, suggestion, lowest = ax.lines
        np.testing.assert_array_equal(scores.get_xdata(), res.learning_rates[:4])
        np.testing.assert_array_equal(scores.get_ydata(), res.scores[:4])
        assert best.get_xdata()[0] == res.best_learning_rate
        assert diverged.get_xdata()[0] == 1e4
        assert suggestion.get_xdata()[0] == finder.suggestion
        assert lowest.get_xdata()[0] == finder.minimum_learning_rate
        assert ax.get_xscale() == "log" and "range test (steep)" in suggestion.get_label()
    finally:
        plt.close(ax.figure)
