"""The optimizers' interface: optax's defaults, the learning rate, bad input."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrjax

ALIASES = [
    "sgd",
    "adagrad",
    "adadelta",
    "rmsprop",
    "adam",
    "adamw",
    "amsgrad",
    "nadam",
    "adamax",
]


@pytest.mark.parametrize("name", ALIASES)
def test_defaults_and_positional_order_equal_optax(name):
    ours = inspect.signature(getattr(lrjax, name)).parameters
    theirs = inspect.signature(getattr(optax, name)).parameters
    deliberate = {("adadelta", "learning_rate")}  # None in optax ascends; see below
    for key in set(ours) & set(theirs):
        if (name, key) in deliberate:
            continue
        assert ours[key].default == theirs[key].default, (name, key)

    # A positional call means the same thing in both libraries.
    def positional(params):
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return [k for k, p in params.items() if p.kind in kinds]

    mine, optax_order = positional(ours), positional(theirs)
    n = min(len(mine), len(optax_order))
    assert mine[:n] == optax_order[:n]


def test_adadelta_default_descends_where_optax_ascends():
    f = lambda x: jnp.sum(x**2)  # noqa: E731
    x0 = jnp.asarray([1.0, 2.0, 3.0])

    def run(opt):
        def step(x, state):
            u, state = opt.update(jax.grad(f)(x), state, x)
            return optax.apply_updates(x, u), state

        x, state = x0, opt.init(x0)
        for _ in range(3):
            x, state = jax.jit(step)(x, state)
        return float(f(x))

    assert run(lrjax.adadelta()) < 14.0
    with jax.numpy_dtype_promotion("standard"):
        assert run(optax.adadelta()) > 14.0  # the defect recorded in REFERENCES.md
    # lrjax's default is learning_rate=1.0, which is optax's explicit 1.0.
    with jax.numpy_dtype_promotion("standard"):
        assert run(lrjax.adadelta()) == pytest.approx(run(optax.adadelta(1.0)), rel=1e-12)


def _every_optimizer(lr):
    return {
        "sgd": lrjax.sgd(lr, 0.9),
        "sgd_keras": lrjax.sgd(lr, 0.9, lr_in_momentum=True),
        "adagrad": lrjax.adagrad(lr),
        "adadelta": lrjax.adadelta(lr),
        "rmsprop": lrjax.rmsprop(lr, momentum=0.9),
        "rmsprop_torch": lrjax.rmsprop(lr, momentum=0.9, lr_in_momentum=False),
        "adam": lrjax.adam(lr),
        "adamw": lrjax.adamw(lr),
        "amsgrad": lrjax.amsgrad(lr),
        "nadam": lrjax.nadam(lr),
        "adamax": lrjax.adamax(lr),
        "adagrad_norm": lrjax.adagrad_norm(lr),
    }


def test_every_optimizer_reports_the_scheduled_rate():
    sched = lambda n: 0.1 / (1.0 + jnp.asarray(n, jnp.float32))  # noqa: E731
    p = jnp.asarray([1.0, -2.0])
    for name, opt in _every_optimizer(sched).items():
        state = opt.init(p)
        np.testing.assert_allclose(float(lrjax.current_learning_rate(state)), 0.1)
        # float32: 0.1 and the quotient are each rounded once, <= 1.2e-7 relative.
        for n in range(3):
            _, state = opt.update(p, state, p)
            np.testing.assert_allclose(
                float(lrjax.current_learning_rate(state)),
                0.1 / (1 + n),
                rtol=3e-7,
                err_msg=name,
            )


def test_learning_rate_scales_the_whole_update():
    """Doubling a constant learning rate doubles the first update of every optimizer
    (the lr enters only through scale_by_learning_rate)."""
    p = jnp.asarray([1.0, -2.0])
    one, two = _every_optimizer(0.1), _every_optimizer(0.2)
    for name in one:
        u1, _ = one[name].update(p, one[name].init(p), p)
        u2, _ = two[name].update(p, two[name].init(p), p)
        np.testing.assert_allclose(
            np.asarray(u2), 2 * np.asarray(u1), rtol=1e-14, err_msg=name
        )
        assert bool(jnp.all(u1 * p < 0)), name  # descends on f = |p|²/2


def test_other_hyperparameters_can_be_injected():
    opt = optax.inject_hyperparams(lrjax.adamw)(
        learning_rate=0.1, b1=0.8, weight_decay=0.01
    )
    p = jnp.asarray([1.0, -2.0])
    state = opt.init(p)
    u, state = jax.jit(opt.update)(p, state, p)
    want, _ = lrjax.adamw(0.1, b1=0.8, weight_decay=0.01).update(
        p, lrjax.adamw(0.1, b1=0.8, weight_decay=0.01).init(p), p
    )
    np.testing.assert_allclose(np.asarray(u), np.asarray(want), rtol=1e-6)


BAD = [
    (lrjax.sgd, dict(learning_rate=-0.1), "learning_rate"),
    (lrjax.sgd, dict(learning_rate=float("nan")), "learning_rate"),
    (lrjax.sgd, dict(learning_rate=0.1, momentum=1.0), "momentum"),
    (lrjax.sgd, dict(learning_rate=0.1, momentum=-0.1), "momentum"),
    (lrjax.sgd, dict(learning_rate=0.1, nesterov=True), "momentum"),
    (lrjax.trace, dict(decay=1.5), "decay"),
    (lrjax.add_decayed_weights, dict(weight_decay=-1e-4), "weight_decay"),
    (lrjax.adagrad, dict(learning_rate=-1.0), "learning_rate"),
    (
        lrjax.adagrad,
        dict(learning_rate=0.1, initial_accumulator_value=-0.1),
        "initial_accumulator_value",
    ),
    (lrjax.adagrad, dict(learning_rate=0.1, eps=-1e-7), "eps"),
    (lrjax.adadelta, dict(learning_rate=-1.0), "learning_rate"),
    (lrjax.adadelta, dict(rho=1.0), "rho"),
    (lrjax.adadelta, dict(rho=-0.5), "rho"),
    (lrjax.adadelta, dict(eps=0.0), "eps"),
    (lrjax.adadelta, dict(weight_decay=-0.1), "weight_decay"),
    (lrjax.rmsprop, dict(learning_rate=-1.0), "learning_rate"),
    (lrjax.rmsprop, dict(learning_rate=0.1, decay=1.0), "decay"),
    (lrjax.rmsprop, dict(learning_rate=0.1, eps=-1.0), "eps"),
    (lrjax.rmsprop, dict(learning_rate=0.1, initial_scale=-1.0), "initial_scale"),
    (lrjax.rmsprop, dict(learning_rate=0.1, momentum=1.0), "momentum"),
    (
        lrjax.rmsprop,
        dict(learning_rate=0.1, momentum=1.0, lr_in_momentum=False),
        "momentum",
    ),
    (lrjax.rmsprop, dict(learning_rate=0.1, nesterov=True), "momentum"),
    (lrjax.adam, dict(learning_rate=-1.0), "learning_rate"),
    (lrjax.adam, dict(learning_rate=0.1, b1=1.0), "b1"),
    (lrjax.adam, dict(learning_rate=0.1, b1=-0.1), "b1"),
    (lrjax.adam, dict(learning_rate=0.1, b2=1.0), "b2"),
    (lrjax.adam, dict(learning_rate=0.1, eps=-1e-8), "eps"),
    (lrjax.adam, dict(learning_rate=0.1, eps_root=-1e-8), "eps_root"),
    (lrjax.adam, dict(learning_rate=0.1, mu_dtype=jnp.int32), "mu_dtype"),
    (lrjax.adamw, dict(learning_rate=0.1, weight_decay=-1e-4), "weight_decay"),
    (lrjax.adamw, dict(learning_rate=0.1, b2=1.2), "b2"),
    (lrjax.amsgrad, dict(learning_rate=0.1, b1=1.0), "b1"),
    (lrjax.amsgrad, dict(learning_rate=0.1, eps=-1.0), "eps"),
    (lrjax.nadam, dict(learning_rate=0.1, b2=-0.1), "b2"),
    (lrjax.nadam, dict(learning_rate=0.1, momentum_decay=-4e-3), "momentum_decay"),
    (lrjax.adamax, dict(learning_rate=0.1, b2=1.0), "b2"),
    (lrjax.adamax, dict(learning_rate=0.1, eps=-1.0), "eps"),
    (lrjax.adagrad_norm, dict(learning_rate=-1.0), "learning_rate"),
    (lrjax.adagrad_norm, dict(learning_rate=1.0, b0=-0.1), "b0"),
    (lrjax.adagrad_norm, dict(learning_rate=1.0, eps=-1.0), "eps"),
    (lrjax.adagrad_norm, dict(learning_rate=1.0, b0=0.0, eps=0.0), "b0"),
    (lrjax.scale_by_adam, dict(b1=float("inf")), "b1"),
    (lrjax.scale_by_rmsprop, dict(decay=2.0), "decay"),
]


@pytest.mark.parametrize(
    "factory,kwargs,name",
    BAD,
    ids=[f"{f.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for f, kw, _ in BAD],
)
def test_bad_hyperparameter_is_named(factory, kwargs, name):
    with pytest.raises(ValueError, match=name) as info:
        factory(**kwargs)
    assert name in str(info.value)


@pytest.mark.parametrize(
    "factory,kwargs,name",
    [
        (lrjax.adam, dict(learning_rate=0.1, b1="0.9"), "b1"),
        (lrjax.adam, dict(learning_rate=0.1, mu_dtype="not-a-dtype"), "mu_dtype"),
        (lrjax.rmsprop, dict(learning_rate=0.1, eps=None), "eps"),
    ],
)
def test_wrong_kind_of_value_is_a_type_error(factory, kwargs, name):
    with pytest.raises(TypeError, match=name):
        factory(**kwargs)
