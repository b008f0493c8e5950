"""Trajectory parity with optax, PyTorch and Keras, each with the documented recipe.

Every run is 100 steps on the same random least-squares problem under the schedule
η(n) = η0·0.97ⁿ, in float32. The recipes (the lrjax call for each reference optimizer)
are the ones in ``docs/conventions.md``. Against PyTorch and Keras the gradient of the
float32 params is computed once in float64 NumPy and cast to float32 for both sides, so
the comparison is of the optimizers, not of the two autodiff systems.

``python tests/test_optimizer_parity.py`` prints the largest error of every pair.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402

if __name__ == "__main__":  # as conftest.py does
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_dtype_promotion", "strict")
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
import references_optimizers as ref  # noqa: E402

import lrjax  # noqa: E402

STEPS = 100
A, B, X0 = ref.least_squares(2)
X0_32 = X0.astype(np.float32)

# optax and lrjax run the same float32 arithmetic up to the order of a few operations
# (lrjax computes bias corrections in float64 before casting); a few ulps per step on
# an O(1) iterate, well under 1e-6 after 100 contracting steps.
RTOL_OPTAX = 1e-6
# PyTorch and Keras compute the same formulas in float32 in a different order (Keras's
# m += (g - m)(1 - β1), PyTorch's fused addcdiv, their learning rate and bias
# corrections in float32 or Python floats): independent float32 roundings of ~6e-8 per
# step, which 100 steps accumulate to a few 1e-7..1e-6 of the iterate. The bound.
RTOL_FRAMEWORK = 1e-5


def sched32(lr0):
    return ref.sched(lr0, jnp.float32)


def _grad32(x) -> np.ndarray:
    return ref.ls_grad(A, B, np.asarray(x, np.float64)).astype(np.float32)


def lrjax_trajectory32(opt) -> np.ndarray:
    """lrjax in float32, fed the same NumPy gradients as PyTorch and Keras."""
    update = jax.jit(opt.update)
    x = jnp.asarray(X0_32)
    state = opt.init(x)
    xs = [np.asarray(x)]
    for _ in range(STEPS):
        u, state = update(jnp.asarray(_grad32(x)), state, x)
        x = x + u
        xs.append(np.asarray(x))
    return np.stack(xs).astype(np.float64)


def _moved(xs):
    # A run that barely moves would make any comparison pass.
    assert np.linalg.norm(xs[-1] - xs[0]) > 0.05 * np.linalg.norm(xs[0])


# ------------------------------------------------------------------------------ optax

# The Adam family runs with a beta2 that float32 holds exactly: with the default 0.999,
# optax computes 1 - float32(0.999)^n, 1.3e-5 off, where lrjax's bias correction is
# exact (test_float32_mode_bias_correction_is_exact_where_optax_rounds below).
B2 = 1 - 2.0**-10

# name -> (lrjax from a schedule, optax from a schedule, η0)
OPTAX = {
    "sgd": (lambda s: lrjax.sgd(s), lambda s: optax.sgd(s), 0.2),
    "sgd_momentum": (lambda s: lrjax.sgd(s, 0.9), lambda s: optax.sgd(s, 0.9), 0.05),
    "sgd_nesterov": (
        lambda s: lrjax.sgd(s, 0.9, True),
        lambda s: optax.sgd(s, 0.9, True),
        0.05,
    ),
    "adagrad": (lambda s: lrjax.adagrad(s), lambda s: optax.adagrad(s), 0.2),
    "adadelta": (lambda s: lrjax.adadelta(s), lambda s: optax.adadelta(s), 30.0),
    "adadelta_weight_decay": (
        lambda s: lrjax.adadelta(s, weight_decay=0.05),
        lambda s: optax.adadelta(s, weight_decay=0.05),
        30.0,
    ),
    "rmsprop": (lambda s: lrjax.rmsprop(s), lambda s: optax.rmsprop(s), 0.02),
    "rmsprop_centered_momentum": (
        lambda s: lrjax.rmsprop(s, centered=True, momentum=0.9),
        lambda s: optax.rmsprop(s, centered=True, momentum=0.9),
        0.005,
    ),
    "rmsprop_options": (
        lambda s: lrjax.rmsprop(s, 0.95, 1e-6, 0.1, False, False, 0.5, True, True),
        lambda s: optax.rmsprop(s, 0.95, 1e-6, 0.1, False, False, 0.5, True, True),
        0.01,
    ),
    "adam": (lambda s: lrjax.adam(s, b2=B2), lambda s: optax.adam(s, b2=B2), 0.05),
    "adam_eps_root": (
        lambda s: lrjax.adam(s, b2=B2, eps_root=1e-6),
        lambda s: optax.adam(s, b2=B2, eps_root=1e-6),
        0.05,
    ),
    "adamw": (lambda s: lrjax.adamw(s, b2=B2), lambda s: optax.adamw(s, b2=B2), 0.05),
    "adamw_mask": (
        lambda s: lrjax.adamw(s, b2=B2, weight_decay=0.1, mask=lambda p: True),
        lambda s: optax.adamw(s, b2=B2, weight_decay=0.1, mask=lambda p: True),
        0.05,
    ),
    "amsgrad": (lambda s: lrjax.amsgrad(s, b2=B2), lambda s: optax.amsgrad(s, b2=B2), 0.05),
    "amsgrad_paper": (
        lambda s: lrjax.amsgrad(s, bias_correction_mu=False, bias_correction_nu=False),
        lambda s: optax.amsgrad(s, bias_correction_mu=False, bias_correction_nu=False),
        0.01,
    ),
    "nadam": (lambda s: lrjax.nadam(s, b2=B2), lambda s: optax.nadam(s, b2=B2), 0.05),
    "adam_nesterov": (
        lambda s: lrjax.adam(s, b2=B2, nesterov=True),
        lambda s: optax.adam(s, b2=B2, nesterov=True),
        0.05,
    ),
    "adamax": (lambda s: lrjax.adamax(s), lambda s: optax.adamax(s), 0.05),
}


def optax_error(name: str) -> float:
    make, make_optax, lr0 = OPTAX[name]
    # optax's own code is not clean under strict promotion (see conftest.py).
    with jax.numpy_dtype_promotion("standard"):
        got = ref.jax_trajectory(make(sched32(lr0)), A, B, X0, STEPS, jnp.float32)
        want = ref.jax_trajectory(make_optax(sched32(lr0)), A, B, X0, STEPS, jnp.float32)
    _moved(want)
    return ref.rel_error(got, want)


@pytest.mark.parametrize("name", sorted(OPTAX))
def test_matches_optax(name):
    assert optax_error(name) <= RTOL_OPTAX


def test_float32_mode_bias_correction_is_exact_where_optax_rounds():
    """In JAX's default float32 mode optax computes 1 − float32(0.999)ⁿ, 1.3e-5 off;
    lrjax computes −expm1(n·log1p(−0.001)) and stays on the float64 formula. With x64
    on (the rest of this file) both are exact and agree to 0 on this problem."""
    exact = ref.run(
        ref.make_adam(ref.np_sched(0.05)), X0, lambda x: ref.ls_grad(A, B, x), STEPS
    )
    with jax.enable_x64(False), jax.numpy_dtype_promotion("standard"):
        ours = ref.jax_trajectory(lrjax.adam(sched32(0.05)), A, B, X0, STEPS, jnp.float32)
        theirs = ref.jax_trajectory(optax.adam(sched32(0.05)), A, B, X0, STEPS, jnp.float32)
    assert ref.rel_error(ours, exact) < 2e-6  # float32 rounding of the iterate only
    assert ref.rel_error(theirs, exact) > 1e-5


# ---------------------------------------------------------------------------- PyTorch


def _torch_sched(lr0):
    return lambda n: lr0 * 0.97**n


# name -> (torch optimizer from params, lrjax optimizer, η0, extra lr factor on n)
def _torch_cases():
    import torch

    o = torch.optim
    d = 0.01  # Adagrad lr_decay
    return {
        "SGD(momentum)": (
            lambda p, lr: o.SGD(p, lr, momentum=0.9),
            lambda s: lrjax.sgd(s, 0.9),
            0.05,
        ),
        "SGD(nesterov)": (
            lambda p, lr: o.SGD(p, lr, momentum=0.9, nesterov=True),
            lambda s: lrjax.sgd(s, 0.9, nesterov=True),
            0.05,
        ),
        "SGD(weight_decay)": (
            lambda p, lr: o.SGD(p, lr, momentum=0.9, weight_decay=0.05),
            lambda s: lrjax.chain(lrjax.add_decayed_weights(0.05), lrjax.sgd(s, 0.9)),
            0.05,
        ),
        "Adagrad": (
            lambda p, lr: o.Adagrad(p, lr),
            lambda s: lrjax.adagrad(s, 0.0, 1e-10, eps_in_sqrt=False),
            0.2,
        ),
        "Adagrad(lr_decay)": (
            lambda p, lr: o.Adagrad(p, lr, lr_decay=d),
            lambda s: lrjax.adagrad(
                lambda n: s(n) / (1 + d * jnp.asarray(n, jnp.float32)),
                0.0,
                1e-10,
                eps_in_sqrt=False,
            ),
            0.2,
        ),
        "Adadelta": (lambda p, lr: o.Adadelta(p, lr), lambda s: lrjax.adadelta(s), 30.0),
        "RMSprop": (
            lambda p, lr: o.RMSprop(p, lr),
            lambda s: lrjax.rmsprop(s, 0.99, 1e-8, eps_in_sqrt=False),
            0.02,
        ),
        "RMSprop(centered, momentum)": (
            lambda p, lr: o.RMSprop(p, lr, momentum=0.9, centered=True),
            lambda s: lrjax.rmsprop(
                s,
                0.99,
                1e-8,
                eps_in_sqrt=False,
                centered=True,
                momentum=0.9,
                lr_in_momentum=False,
            ),
            0.005,
        ),
        "Adam": (lambda p, lr: o.Adam(p, lr), lambda s: lrjax.adam(s), 0.05),
        "Adam(weight_decay)": (
            lambda p, lr: o.Adam(p, lr, weight_decay=0.05),
            lambda s: lrjax.chain(lrjax.add_decayed_weights(0.05), lrjax.adam(s)),
            0.05,
        ),
        "AdamW": (
            lambda p, lr: o.AdamW(p, lr),
            lambda s: lrjax.adamw(s, weight_decay=1e-2),
            0.05,
        ),
        "NAdam": (
            lambda p, lr: o.NAdam(p, lr),
            lambda s: lrjax.nadam(s, momentum_decay=4e-3),
            0.05,
        ),
        "Adamax": (lambda p, lr: o.Adamax(p, lr), lambda s: lrjax.adamax(s), 0.05),
        "Adam(amsgrad)": (
            lambda p, lr: o.Adam(p, lr, amsgrad=True),
            lambda s: lrjax.amsgrad(s, max_before_correction=True),
            0.05,
        ),
    }


TORCH_NAMES = [
    "SGD(momentum)",
    "SGD(nesterov)",
    "SGD(weight_decay)",
    "Adagrad",
    "Adagrad(lr_decay)",
    "Adadelta",
    "RMSprop",
    "RMSprop(centered, momentum)",
    "Adam",
    "Adam(weight_decay)",
    "AdamW",
    "NAdam",
    "Adamax",
    "Adam(amsgrad)",
]


def torch_trajectory(make_torch, lr0) -> np.ndarray:
    """PyTorch's recipe for a schedule: ``LambdaLR``, stepped after every update."""
    import torch

    p = torch.nn.Parameter(torch.tensor(X0_32))
    opt = make_torch([p], lr0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda n: 0.97**n)
    xs = [X0_32.astype(np.float64)]
    for _ in range(STEPS):
        p.grad = torch.from_numpy(_grad32(p.detach().numpy()))
        opt.step()
        sched.step()
        xs.append(p.detach().numpy().astype(np.float64))
    return np.stack(xs)


def torch_error(name: str) -> float:
    make_torch, make, lr0 = _torch_cases()[name]
    want = torch_trajectory(make_torch, lr0)
    _moved(want)
    return ref.rel_error(lrjax_trajectory32(make(sched32(lr0))), want)


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_matches_pytorch(name):
    pytest.importorskip("torch")
    assert torch_error(name) <= RTOL_FRAMEWORK


def test_pytorch_adagrad_lr_decay_is_inverse_time_decay():
    pytest.importorskip("torch")
    if not hasattr(lrjax, "inverse_time_decay"):
        pytest.skip("lrjax.inverse_time_decay is not available yet")
    import torch

    p = torch.nn.Parameter(torch.tensor(X0_32))
    opt = torch.optim.Adagrad([p], 0.2, lr_decay=0.05)
    xs = [X0_32.astype(np.float64)]
    for _ in range(STEPS):
        p.grad = torch.from_numpy(_grad32(p.detach().numpy()))
        opt.step()
        xs.append(p.detach().numpy().astype(np.float64))
    got = lrjax_trajectory32(
        lrjax.adagrad(
            lrjax.inverse_time_decay(0.2, decay_rate=0.05), 0.0, 1e-10, eps_in_sqrt=False
        )
    )
    assert ref.rel_error(got, np.stack(xs)) <= RTOL_FRAMEWORK


# ------------------------------------------------------------------------------ Keras


# A β2 close to Keras's 0.999 that float32 represents exactly.
B2_F32 = 1 - 2.0**-10


def _keras_cases():
    import keras

    k = keras.optimizers
    return {
        "SGD(momentum)": (
            lambda lr: k.SGD(lr, momentum=0.9),
            lambda s: lrjax.sgd(s, 0.9, lr_in_momentum=True),
            0.05,
        ),
        "SGD(nesterov)": (
            lambda lr: k.SGD(lr, momentum=0.9, nesterov=True),
            lambda s: lrjax.sgd(s, 0.9, nesterov=True, lr_in_momentum=True),
            0.05,
        ),
        "Adagrad": (lambda lr: k.Adagrad(lr), lambda s: lrjax.adagrad(s), 0.2),
        "Adadelta": (
            lambda lr: k.Adadelta(lr),
            lambda s: lrjax.adadelta(s, rho=0.95, eps=1e-7),
            30.0,
        ),
        "RMSprop": (lambda lr: k.RMSprop(lr), lambda s: lrjax.rmsprop(s, eps=1e-7), 0.02),
        "RMSprop(centered, momentum)": (
            lambda lr: k.RMSprop(lr, momentum=0.9, centered=True),
            lambda s: lrjax.rmsprop(s, eps=1e-7, centered=True, momentum=0.9),
            0.005,
        ),
        # β2 = 1 − 2⁻¹⁰ (exact in float32) for the Adam family: with 0.999, Keras's
        # own float32 bias correction is 1.3e-5 off (see the test of its defaults).
        "Adam": (
            lambda lr: k.Adam(lr, beta_2=B2_F32),
            lambda s: lrjax.adam(s, b2=B2_F32, eps=1e-7, epsilon_hat=True),
            0.05,
        ),
        "Adam(amsgrad)": (
            lambda lr: k.Adam(lr, beta_2=B2_F32, amsgrad=True),
            lambda s: lrjax.amsgrad(
                s, b2=B2_F32, eps=1e-7, max_before_correction=True, epsilon_hat=True
            ),
            0.05,
        ),
        "AdamW": (
            lambda lr: k.AdamW(lr, beta_2=B2_F32),
            lambda s: lrjax.adamw(
                s, b2=B2_F32, eps=1e-7, weight_decay=0.004, epsilon_hat=True
            ),
            0.05,
        ),
        "Nadam": (
            lambda lr: k.Nadam(lr),
            lambda s: lrjax.nadam(s, eps=1e-7, momentum_decay=1.0),
            0.05,
        ),
        "Adamax": (
            lambda lr: k.Adamax(lr),
            lambda s: lrjax.adamax(s, eps=1e-7, eps_in_max=False),
            0.05,
        ),
    }


KERAS_NAMES = [
    "SGD(momentum)",
    "SGD(nesterov)",
    "Adagrad",
    "Adadelta",
    "RMSprop",
    "RMSprop(centered, momentum)",
    "Adam",
    "Adam(amsgrad)",
    "AdamW",
    "Nadam",
    "Adamax",
]


def _keras_schedule(lr0):
    import keras

    # Keras's recipe for η0·0.97ⁿ; it is called with the 0-based iteration count.
    return keras.optimizers.schedules.ExponentialDecay(lr0, decay_steps=1, decay_rate=0.97)


def keras_trajectory(make_keras, lr0, steps=STEPS) -> np.ndarray:
    """Keras on its JAX backend, through ``stateless_apply`` (what ``fit`` runs),
    compiled once; :func:`test_keras_eager_apply_is_the_same` ties it to ``apply``."""
    import keras

    v = keras.Variable(X0_32)
    opt = make_keras(_keras_schedule(lr0))
    opt.build([v])
    opt_vars = [w.value for w in opt.variables]
    step = jax.jit(opt.stateless_apply)
    x = [v.value]
    xs = [X0_32.astype(np.float64)]
    for _ in range(steps):
        x, opt_vars = step(opt_vars, [jnp.asarray(_grad32(x[0]))], x)
        xs.append(np.asarray(x[0], np.float64))
    return np.stack(xs)


def keras_error(name: str) -> float:
    make_keras, make, lr0 = _keras_cases()[name]
    want = keras_trajectory(make_keras, lr0)
    _moved(want)
    return ref.rel_error(lrjax_trajectory32(make(sched32(lr0))), want)


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_matches_keras(name):
    pytest.importorskip("keras")
    assert keras_error(name) <= RTOL_FRAMEWORK


def test_keras_eager_apply_is_the_same():
    keras = pytest.importorskip("keras")
    make_keras = _keras_cases()["Nadam"][0]
    v = keras.Variable(X0_32)
    opt = make_keras(_keras_schedule(0.05))
    for _ in range(3):
        opt.apply([_grad32(v.value)], [v])
    compiled = keras_trajectory(make_keras, 0.05, steps=3)[-1]
    # The same float32 program, eager or compiled: XLA may fuse differently (1 ulp).
    np.testing.assert_allclose(np.asarray(v.value), compiled, rtol=3e-7, atol=1e-7)


def test_keras_adam_defaults_differ_by_keras_float32_rounding():
    """With Keras's default β2 = 0.999 the recipe is off by ~2.6e-5, and the error is
    Keras's: its ``Adam`` takes 1 − β2 in double precision for the moment but
    1 − float32(0.999)ⁿ for the correction, 1.3e-5 (relative) apart. lrjax stays on the
    float64 transcription of Keras's own formula; Keras does not."""
    keras = pytest.importorskip("keras")
    exact = ref.run(
        ref.make_adam(ref.np_sched(0.05), eps=1e-7, epsilon_hat=True),
        X0_32.astype(np.float64),
        lambda x: ref.ls_grad(A, B, x),
        STEPS,
    )
    got = lrjax_trajectory32(lrjax.adam(sched32(0.05), eps=1e-7, epsilon_hat=True))
    want = keras_trajectory(lambda lr: keras.optimizers.Adam(lr), 0.05)
    # lrjax: float32 rounding only (as in the parity bound's justification).
    assert ref.rel_error(got, exact) < 2e-6
    assert ref.rel_error(want, exact) > 1e-5


def test_recipes_differ_from_the_defaults():
    """The placement of the learning rate matters under a schedule: lrjax's
    optax-default forms miss Keras's SGD momentum and PyTorch's RMSprop momentum by far
    more than the parity tolerance."""
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    kmake = _keras_cases()["SGD(momentum)"][0]
    assert (
        ref.rel_error(
            lrjax_trajectory32(lrjax.sgd(sched32(0.05), 0.9)), keras_trajectory(kmake, 0.05)
        )
        > 100 * RTOL_FRAMEWORK
    )
    tmake = _torch_cases()["RMSprop(centered, momentum)"][0]
    plain = lrjax.rmsprop(
        sched32(0.005), 0.99, 1e-8, eps_in_sqrt=False, centered=True, momentum=0.9
    )  # lr inside the buffer: optax's, not PyTorch's
    assert (
        ref.rel_error(lrjax_trajectory32(plain), torch_trajectory(tmake, 0.005))
        > 100 * RTOL_FRAMEWORK
    )


if __name__ == "__main__":  # the table of largest errors quoted in the docs
    sys.path.insert(0, os.path.dirname(__file__))
    for n in sorted(OPTAX):
        print(f"optax   {n:32s} {optax_error(n):.2e}")
    for n in TORCH_NAMES:
        print(f"torch   {n:32s} {torch_error(n):.2e}")
    for n in KERAS_NAMES:
        print(f"keras   {n:32s} {keras_error(n):.2e}")
