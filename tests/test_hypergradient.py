"""Hypergradient descent against float64 transcriptions of Baydin et al. (2018).

Every test runs in float32 (x64 off, what users run) against the NumPy float64
transcriptions, at RTOL32; the ``x64``-marked variants run the same comparisons in
float64 at RTOL64, a tolerance only an exact transcription meets, and check that
float64 params keep float64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import references_plateau_hd as ref
from references_optimizers import RTOL32, rel_error

import lrjax
from lrjax._lr_free.hypergradient import DEFAULT_MULTIPLICATIVE_HYPER_LR

# A strictly convex quadratic over a two-leaf pytree (5 coordinates in all).
_rng = np.random.default_rng(0)
_M = _rng.standard_normal((5, 5))
A = _M @ _M.T / 5 + 0.5 * np.eye(5)
B = _rng.standard_normal(5)
THETA0 = _rng.standard_normal(5)


def _grad_np(theta):
    return A @ theta - B


def _loss(p):
    theta = jnp.concatenate([p["a"], p["b"].ravel()])
    return 0.5 * theta @ jnp.asarray(A) @ theta - jnp.asarray(B) @ theta


def _tree(theta):
    return {"a": jnp.asarray(theta[:3]), "b": jnp.asarray(theta[3:]).reshape(1, 2)}


def _flat(p):
    return np.concatenate([np.ravel(np.asarray(p["a"])), np.ravel(np.asarray(p["b"]))])


def _trajectory(opt, steps, *, pass_grad=False, eager=False):
    """Parameters and recorded learning rate after each step, one scan."""

    def body(carry, _):
        p, state = carry
        g = jax.grad(_loss)(p)
        extra = {"grad": g} if pass_grad else {}
        u, state = opt.update(g, state, p, **extra)
        p = lrjax.apply_updates(p, u)
        return (p, state), (p, lrjax.current_learning_rate(state))

    p0 = _tree(THETA0)
    if eager:  # a few steps: cheaper than compiling a scan
        carry, outs = (p0, opt.init(p0)), []
        for _ in range(steps):
            carry, out = body(carry, None)
            outs.append(out)
        ps, lrs = jax.tree.map(lambda *xs: jnp.stack(xs), *outs)
    else:
        _, (ps, lrs) = jax.jit(lambda c: jax.lax.scan(body, c, None, length=steps))(
            (p0, opt.init(p0))
        )
    thetas = np.concatenate(
        [np.asarray(ps["a"]), np.asarray(ps["b"]).reshape(steps, -1)], axis=1
    )
    return thetas, np.asarray(lrs)


# float64 throughout; the references sum the dot products in another order and
# (Adam) take square roots of the same numbers: a few ulps per step, accumulated over
# 60 steps of a contraction, stay below 1e-11 relative.
RTOL64 = 1e-11
# float32 against the float64 transcription (RTOL32 = 1e-5, references_optimizers.py):
# the data, the gradient, the dot product or cosine and the update round to float32
# (U = 6e-8) at each of the 60 steps; the rate is a sum (additive) or a product
# (multiplicative) of 60 such terms, so its error grows at most linearly, ~60 x a few
# U, about 1e-5 in the worst case. Measured: at most 5.3e-7 on the rates and 3.8e-7 on
# the iterates (relative to their norm, as rel_error measures; single coordinates
# near 0 are relatively far less accurate, 2e-4).
MODES = [
    pytest.param(jnp.float32, id="float32"),
    pytest.param(jnp.float64, id="float64", marks=pytest.mark.x64),
]


def _assert_matches(dtype, thetas, lrs, ref_t, ref_a):
    assert thetas.dtype == dtype and lrs.dtype == dtype  # the params' dtype, kept
    if dtype == jnp.float64:
        np.testing.assert_allclose(lrs, ref_a, rtol=RTOL64)
        np.testing.assert_allclose(thetas, ref_t, rtol=RTOL64, atol=1e-13)
    else:
        np.testing.assert_allclose(lrs, ref_a, rtol=RTOL32)
        assert rel_error(thetas, ref_t) < RTOL32


@pytest.mark.parametrize("dtype", MODES)
@pytest.mark.parametrize(
    "momentum, nesterov", [(None, False), (0.9, False), (0.5, True)], ids=str
)
def test_sgd_hd_additive_is_the_paper_algorithm(momentum, nesterov, dtype):
    steps, alpha0, beta = 60, 0.05, 0.01
    thetas, lrs = _trajectory(
        lrjax.sgd_hd(alpha0, beta, momentum, nesterov, rule="additive"), steps
    )
    ref_t, ref_a = ref.sgd_hd(
        _grad_np, THETA0, alpha0, beta, steps, momentum=momentum or 0.0, nesterov=nesterov
    )
    assert ref_a.min() > 0  # the floor is not what is being tested here
    _assert_matches(dtype, thetas, lrs, ref_t, ref_a)
    assert abs(ref_a[-1] - alpha0) > 0.01  # the rate did move


@pytest.mark.parametrize("dtype", MODES)
def test_adam_hd_additive_is_the_paper_algorithm(dtype):
    steps, alpha0, beta = 60, 0.01, 1e-3
    thetas, lrs = _trajectory(lrjax.adam_hd(alpha0, beta, rule="additive"), steps)
    ref_t, ref_a = ref.adam_hd(_grad_np, THETA0, alpha0, beta, steps)
    _assert_matches(dtype, thetas, lrs, ref_t, ref_a)
    assert abs(ref_a[-1] - alpha0) > 1e-3


@pytest.mark.parametrize("dtype", MODES)
@pytest.mark.parametrize("direction", ["sgd", "adam"])
def test_multiplicative_rule_matches_reference(direction, dtype):
    steps, alpha0 = 60, 0.01
    opt = lrjax.sgd_hd(alpha0) if direction == "sgd" else lrjax.adam_hd(alpha0)
    thetas, lrs = _trajectory(opt, steps)
    beta = DEFAULT_MULTIPLICATIVE_HYPER_LR
    ref_t, ref_a = ref.multiplicative_hd(_grad_np, THETA0, alpha0, beta, steps, direction)
    _assert_matches(dtype, thetas, lrs, ref_t, ref_a)
    assert ref_a[-1] > 1.5 * alpha0


# The alias is this chain: the same operations in two compiled programs, which XLA may
# fuse differently, a few ulps per step over 30 contracting steps: 1e-6 in float32
# (measured: identical), 1e-14 in float64.
@pytest.mark.parametrize(
    "rtol", [1e-6, pytest.param(1e-14, marks=pytest.mark.x64)], ids=["float32", "float64"]
)
def test_grad_extra_arg_after_a_direction_transform_equals_the_alias(rtol):
    steps = 30
    chained = lrjax.chain(
        lrjax.scale_by_adam(), lrjax.scale_by_hypergradient(0.01, 1e-3, rule="additive")
    )
    t_chain, a_chain = _trajectory(chained, steps, pass_grad=True)
    t_alias, a_alias = _trajectory(lrjax.adam_hd(0.01, 1e-3, rule="additive"), steps)
    np.testing.assert_allclose(a_chain, a_alias, rtol=rtol)
    assert rel_error(t_chain, t_alias) < rtol
    # Without grad= the direction stands in for the gradient: a different rule.
    _, a_wrong = _trajectory(chained, steps)
    assert np.max(np.abs(a_wrong - a_alias)) > 1e-4


def test_the_rate_never_goes_negative():
    # beta far too large: the paper's rule drives the rate below zero ...
    steps, alpha0, beta = 4, 1.0, 1.0
    _, ref_a = ref.sgd_hd(_grad_np, THETA0, alpha0, beta, steps)
    assert ref_a[1] < 0
    # ... lrjax clips it at min_lr (0 by default), and the multiplicative rule with
    # the largest allowed beta stays positive by construction.
    _, lrs = _trajectory(lrjax.sgd_hd(alpha0, beta, rule="additive"), steps, eager=True)
    assert lrs.min() >= 0 and lrs[1] == 0
    _, lrs = _trajectory(lrjax.sgd_hd(alpha0, 0.999), steps, eager=True)
    assert lrs.min() > 0
    _, lrs = _trajectory(
        lrjax.sgd_hd(alpha0, beta, rule="additive", min_lr=0.1, max_lr=0.6),
        steps,
        eager=True,
    )
    assert lrs.min() >= 0.1 and lrs.max() <= 0.6


# eps = 0 makes Adam's direction exactly scale-free; the rest is rounding. Scaling by
# 1e3 (not a power of two) rounds every gradient, moment and cosine differently: in
# float32 a few U per factor of a product of 30, RTOL32 (measured 1.6e-7); in float64
# 1e-10.
@pytest.mark.parametrize(
    "rtol", [RTOL32, pytest.param(1e-10, marks=pytest.mark.x64)], ids=["float32", "float64"]
)
def test_multiplicative_rule_is_invariant_to_the_loss_scale(rtol):
    """Scaling the loss by c leaves Adam's direction and the cosine unchanged."""

    def rates(opt):
        def run(c):
            def body(carry, _):
                p, state = carry
                g = jax.grad(lambda q: c * _loss(q))(p)
                u, state = opt.update(g, state, p)
                return (lrjax.apply_updates(p, u), state), lrjax.current_learning_rate(
                    state
                )

            p0 = _tree(THETA0)
            return jax.lax.scan(body, (p0, opt.init(p0)), None, length=30)[1]

        # One compilation for both scales: c is traced.
        return np.asarray(jax.jit(jax.vmap(run))(jnp.asarray([1.0, 1e3])))

    mult = rates(lrjax.adam_hd(0.01, eps=0.0))
    np.testing.assert_allclose(mult[1], mult[0], rtol=rtol)
    add = rates(lrjax.adam_hd(0.01, 1e-4, eps=0.0, rule="additive"))
    assert abs(add[1, -1] - add[0, -1]) > 1e-3


def _mlp_init(key, sizes):
    params = []
    for k, (n_in, n_out) in zip(
        jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])
    ):
        scale = jnp.asarray(np.sqrt(2.0 / n_in), jnp.float32)
        params.append(
            {
                "w": jax.random.normal(k, (n_in, n_out), jnp.float32) * scale,
                "b": jnp.zeros(n_out, jnp.float32),
            }
        )
    return params


def _mlp_loss(params, x, y):
    h = x
    for layer in params[:-1]:
        h = jax.nn.relu(h @ layer["w"] + layer["b"])
    logits = h @ params[-1]["w"] + params[-1]["b"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))


def digits_steps_to_target(
    optimizers, *, target=0.1, steps=120, batch=64, sizes=(64, 128, 128, 10), seed=0
):
    """Updates until the full training loss of a digits MLP first reaches ``target``.

    Float32 MLP, He-initialised; minibatches of ``batch`` images, each epoch a fresh
    permutation of the 1347 training images (fixed by ``seed``, so the batches do not
    depend on ``steps``); every optimizer sees the same batches from the same start.
    All optimizers run in one compiled program, one ``lax.scan`` each. Returns, per
    optimizer, the count (``None``: not reached) and the final learning rate.
    """
    import digits

    x, y, _, _ = (jnp.asarray(a) for a in digits.load())
    epochs = -(-steps * batch // x.shape[0])
    keys = jax.random.split(jax.random.PRNGKey(seed + 1), epochs)
    order = jnp.concatenate([jax.random.permutation(k, x.shape[0]) for k in keys])
    batches = order[: steps * batch].reshape(steps, batch)
    p0 = _mlp_init(jax.random.PRNGKey(seed), list(sizes))

    def train(opt):
        def body(carry, idx):
            p, state = carry
            u, state = opt.update(jax.grad(_mlp_loss)(p, x[idx], y[idx]), state, p)
            p = lrjax.apply_updates(p, u)
            return (p, state), (_mlp_loss(p, x, y), lrjax.current_learning_rate(state))

        return jax.lax.scan(body, (p0, opt.init(p0)), batches)[1]

    curves = jax.jit(lambda: [train(opt) for opt in optimizers])()
    out = []
    for losses, lrs in curves:
        hit = np.nonzero(np.asarray(losses) <= target)[0]
        out.append((int(hit[0]) + 1 if hit.size else None, float(lrs[-1])))
    return out


def test_adam_hd_reaches_the_target_on_digits_sooner_than_adam():
    pytest.importorskip("sklearn")
    (adam_steps, adam_lr), (hd_steps, hd_lr) = digits_steps_to_target(
        [lrjax.adam(1e-3), lrjax.adam_hd(1e-3)]
    )
    # Measured 101 (adam) and 61 (adam_hd) steps: demand a clear margin, not a tie.
    assert adam_steps is not None and hd_steps is not None
    assert hd_steps <= 0.8 * adam_steps, (hd_steps, adam_steps)
    assert adam_lr == pytest.approx(1e-3) and hd_lr > 2e-3


@pytest.mark.parametrize(
    "dtype", [jnp.float32, jnp.bfloat16, pytest.param(jnp.float64, marks=pytest.mark.x64)]
)
def test_params_keep_their_dtype(dtype):
    opt = lrjax.adam_hd(0.01)
    p = {"w": jnp.ones(4, dtype)}
    state = opt.init(p)
    step = jax.jit(opt.update)
    for _ in range(3):
        u, state = step({"w": jnp.full(4, 0.5, dtype)}, state, p)
    assert u["w"].dtype == dtype and state.previous["w"].dtype == dtype
    # Identical gradients: cos = 1 after the first step, the rate grows by 5% a step.
    np.testing.assert_allclose(
        float(lrjax.current_learning_rate(state)), 0.01 * 1.05**2, rtol=1e-6
    )
    assert step._cache_size() == 1


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(initial_lr=-0.1), ValueError, "initial_lr"),
        (dict(initial_lr=0.0), ValueError, "initial_lr"),
        (dict(initial_lr=lambda n: 0.1), TypeError, "initial_lr"),
        (dict(hyper_lr=1.0), ValueError, "hyper_lr"),
        (dict(hyper_lr=-0.1, rule="additive"), ValueError, "hyper_lr"),
        (dict(rule="additive"), ValueError, "hyper_lr"),
        (dict(rule="log"), ValueError, "rule"),
        (dict(min_lr=-1.0), ValueError, "min_lr"),
        (dict(min_lr=0.5, max_lr=0.1), ValueError, "max_lr"),
        (dict(direction="adam"), TypeError, "direction"),
    ],
)
def test_bad_hyperparameters(kwargs, error, match):
    kwargs = {"initial_lr": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        lrjax.scale_by_hypergradient(**kwargs)


def test_alias_argument_checks():
    with pytest.raises(ValueError, match="nesterov"):
        lrjax.sgd_hd(0.1, nesterov=True)
    with pytest.raises(ValueError, match="momentum"):
        lrjax.sgd_hd(0.1, momentum=1.5)
    with pytest.raises(ValueError, match="b1"):
        lrjax.adam_hd(0.1, b1=1.0)
