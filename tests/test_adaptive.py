"""The adaptive directions against float64 NumPy transcriptions of their papers.

Every optimizer runs 100 steps on a random least-squares problem under a decaying
schedule, next to the float64 transcription in ``references_optimizers.py``: in float32
(x64 off, what users run) and, with the ``x64`` marker, in float64 at a tolerance that
only an exact transcription meets.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import references_optimizers as ref

import lrjax

STEPS = 100
A, B, X0 = ref.least_squares(0)

RTOL64 = ref.RTOL64
RTOL32 = ref.RTOL32  # float32 rounding at each of the 100 steps (references_optimizers)
sched, np_sched = ref.sched, ref.np_sched


def _check(opt, step, steps=STEPS, dtype=jnp.float64):
    got = ref.jax_trajectory(opt, A, B, X0, steps, dtype)
    want = ref.run(step, X0, lambda x: ref.ls_grad(A, B, x), steps)
    err = ref.rel_error(got, want)
    assert err < (RTOL64 if dtype == jnp.float64 else RTOL32), err
    # The run must move: a transform that returned zeros would otherwise pass.
    assert np.linalg.norm(want[-1] - want[0]) > 1e-2 * np.linalg.norm(want[0])
    return err


# name -> (lrjax optimizer from a schedule, reference step from a NumPy schedule, η0)
CASES = {
    "adagrad": (lambda s: lrjax.adagrad(s), lambda s: ref.make_adagrad(s), 0.3),
    "adagrad_torch": (
        lambda s: lrjax.adagrad(s, 0.0, 1e-10, eps_in_sqrt=False),
        lambda s: ref.make_adagrad(s, 0.0, 1e-10, eps_in_sqrt=False),
        0.3,
    ),
    "adadelta": (lambda s: lrjax.adadelta(s), lambda s: ref.make_adadelta(s), 20.0),
    "adadelta_keras": (
        lambda s: lrjax.adadelta(s, rho=0.95, eps=1e-7),
        lambda s: ref.make_adadelta(s, rho=0.95, eps=1e-7),
        50.0,
    ),
    "adadelta_wd": (
        lambda s: lrjax.adadelta(s, weight_decay=0.1),
        lambda s: ref.make_adadelta(s, weight_decay=0.1),
        20.0,
    ),
    "rmsprop": (lambda s: lrjax.rmsprop(s), lambda s: ref.make_rmsprop(s), 0.02),
    "rmsprop_centered_momentum": (
        lambda s: lrjax.rmsprop(s, centered=True, momentum=0.8),
        lambda s: ref.make_rmsprop(s, centered=True, momentum=0.8),
        0.01,
    ),
    "rmsprop_nesterov_biascorr_init": (
        lambda s: lrjax.rmsprop(
            s,
            decay=0.95,
            initial_scale=0.5,
            momentum=0.5,
            nesterov=True,
            bias_correction=True,
        ),
        lambda s: ref.make_rmsprop(
            s, decay=0.95, initial=0.5, momentum=0.5, nesterov=True, bias_correction=True
        ),
        0.01,
    ),
    "rmsprop_torch_momentum": (
        lambda s: lrjax.rmsprop(
            s, 0.99, 1e-8, eps_in_sqrt=False, momentum=0.8, lr_in_momentum=False
        ),
        lambda s: ref.make_rmsprop(
            s, 0.99, 1e-8, eps_in_sqrt=False, momentum=0.8, lr_in_momentum=False
        ),
        0.01,
    ),
    "rmsprop_torch_centered_nesterov": (
        lambda s: lrjax.rmsprop(
            s,
            0.99,
            1e-8,
            eps_in_sqrt=False,
            centered=True,
            momentum=0.6,
            nesterov=True,
            lr_in_momentum=False,
        ),
        lambda s: ref.make_rmsprop(
            s,
            0.99,
            1e-8,
            eps_in_sqrt=False,
            centered=True,
            momentum=0.6,
            nesterov=True,
            lr_in_momentum=False,
        ),
        0.01,
    ),
    "adam": (lambda s: lrjax.adam(s), lambda s: ref.make_adam(s), 0.05),
    "adam_eps_root": (
        lambda s: lrjax.adam(s, eps_root=1e-3),
        lambda s: ref.make_adam(s, eps_root=1e-3),
        0.05,
    ),
    "adam_epsilon_hat": (
        lambda s: lrjax.adam(s, eps=1e-3, epsilon_hat=True),
        lambda s: ref.make_adam(s, eps=1e-3, epsilon_hat=True),
        0.05,
    ),
    "adam_nesterov": (
        lambda s: lrjax.adam(s, nesterov=True),
        lambda s: ref.make_adam(s, nesterov=True),
        0.05,
    ),
    "adamw": (
        lambda s: lrjax.adamw(s, weight_decay=0.1),
        lambda s: ref.make_adam(s, weight_decay=0.1, decoupled=True),
        0.05,
    ),
    "adamw_keras": (
        lambda s: lrjax.adamw(s, eps=1e-3, weight_decay=0.1, epsilon_hat=True),
        lambda s: ref.make_adam(
            s, eps=1e-3, weight_decay=0.1, decoupled=True, epsilon_hat=True
        ),
        0.05,
    ),
    "adam_coupled_l2": (
        lambda s: lrjax.chain(lrjax.add_decayed_weights(0.1), lrjax.adam(s)),
        lambda s: ref.make_adam(s, weight_decay=0.1),
        0.05,
    ),
    "amsgrad": (lambda s: lrjax.amsgrad(s), lambda s: ref.make_amsgrad(s), 0.05),
    "amsgrad_torch": (
        lambda s: lrjax.amsgrad(s, max_before_correction=True),
        lambda s: ref.make_amsgrad(s, max_of="raw"),
        0.05,
    ),
    "amsgrad_keras": (
        lambda s: lrjax.amsgrad(s, eps=1e-3, max_before_correction=True, epsilon_hat=True),
        lambda s: ref.make_amsgrad(s, eps=1e-3, max_of="raw", epsilon_hat=True),
        0.05,
    ),
    "nadam": (lambda s: lrjax.nadam(s), lambda s: ref.make_nadam(s), 0.05),
    "nadam_torch": (
        lambda s: lrjax.nadam(s, momentum_decay=4e-3),
        lambda s: ref.make_nadam(s, momentum_decay=4e-3),
        0.05,
    ),
    "nadam_keras": (
        lambda s: lrjax.nadam(s, eps=1e-7, momentum_decay=1.0),
        lambda s: ref.make_nadam(s, eps=1e-7, momentum_decay=1.0),
        0.05,
    ),
    "adamax": (lambda s: lrjax.adamax(s), lambda s: ref.make_adamax(s), 0.05),
    "adamax_keras": (
        lambda s: lrjax.adamax(s, eps=1e-3, eps_in_max=False),
        lambda s: ref.make_adamax(s, eps=1e-3, eps_in_max=False),
        0.05,
    ),
    "adagrad_norm": (
        lambda s: lrjax.adagrad_norm(s),
        lambda s: ref.make_adagrad_norm(s),
        1.0,
    ),
    "adagrad_norm_b0_eps": (
        lambda s: lrjax.adagrad_norm(s, b0=0.0, eps=1e-3),
        lambda s: ref.make_adagrad_norm(s, b0=0.0, eps=1e-3),
        1.0,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_float64_transcription_in_float32(name):
    make, make_ref, lr0 = CASES[name]
    _check(make(sched(lr0, jnp.float32)), make_ref(np_sched(lr0)), dtype=jnp.float32)


@pytest.mark.x64  # 1e-11 against the transcription: the formula itself, in float64
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_float64_transcription(name):
    make, make_ref, lr0 = CASES[name]
    _check(make(sched(lr0)), make_ref(np_sched(lr0)))


def test_options_change_the_trajectory():
    """Each reproduction option must matter on this problem, or the tests above would
    not tell the variants apart."""
    pairs = [
        ("adagrad", "adagrad_torch"),
        ("rmsprop_centered_momentum", "rmsprop"),
        ("adam", "adam_epsilon_hat"),
        ("adam", "adam_nesterov"),
        ("amsgrad", "amsgrad_torch"),
        ("nadam", "nadam_torch"),
        ("nadam_torch", "nadam_keras"),
        ("adamax", "adamax_keras"),
    ]
    grad = lambda x: ref.ls_grad(A, B, x)  # noqa: E731
    for left, right in pairs:
        xs = [
            ref.run(CASES[k][1](np_sched(CASES[k][2])), X0, grad, STEPS)
            for k in (left, right)
        ]
        assert ref.rel_error(xs[0], xs[1]) > 1e-6, (left, right)


def test_rmsprop_momentum_lr_placement_differs_only_with_a_schedule():
    def run(lr, inside):
        return ref.jax_trajectory(
            lrjax.rmsprop(lr, momentum=0.8, lr_in_momentum=inside),
            A,
            B,
            X0,
            50,
            jnp.float32,
        )

    # Equal in exact arithmetic for a constant rate; in float32 the two orders of the
    # multiplications round differently (RTOL32, as for the transcriptions).
    assert ref.rel_error(run(0.01, True), run(0.01, False)) < RTOL32
    s = sched(0.01, jnp.float32)
    assert ref.rel_error(run(s, True), run(s, False)) > 1e-4


def test_adagrad_norm_uses_one_scalar_for_the_tree():
    tx = lrjax.scale_by_adagrad_norm(b0=0.5)
    p = {"a": jnp.zeros(3), "b": jnp.zeros((2, 2))}
    g = {"a": jnp.asarray([1.0, 2.0, 2.0]), "b": jnp.full((2, 2), 2.0)}
    state = tx.init(p)
    d, state = tx.update(g, state)
    b = np.sqrt(0.25 + 9.0 + 16.0)
    # float32: a sum of seven exact squares, a root and a division, a few ulps.
    np.testing.assert_allclose(np.asarray(d["a"]), np.asarray(g["a"]) / b, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(d["b"]), np.asarray(g["b"]) / b, rtol=1e-6)
    np.testing.assert_allclose(float(state.sum_of_squares), b * b, rtol=1e-6)


def test_adagrad_norm_accumulates_in_float32_for_bfloat16():
    tx = lrjax.scale_by_adagrad_norm()
    p = jnp.zeros(4, jnp.bfloat16)
    state = tx.init(p)
    assert state.sum_of_squares.dtype == jnp.float32
    step = jax.jit(tx.update)
    for _ in range(2000):
        d, state = step(jnp.ones(4, jnp.bfloat16), state)
    assert d.dtype == jnp.bfloat16
    # 0.01 + 4·2000 = 8000.01 in float32 (to 1e-6); a bfloat16 sum stalls near 2¹¹.
    np.testing.assert_allclose(float(state.sum_of_squares), 8000.01, rtol=1e-6)


def test_adagrad_zero_gradient_coordinate_stays_put_without_eps():
    tx = lrjax.scale_by_adagrad(0.0, 0.0, eps_in_sqrt=False)
    d, _ = tx.update(jnp.asarray([0.0, 2.0]), tx.init(jnp.zeros(2)))
    np.testing.assert_array_equal(np.asarray(d), [0.0, 1.0])


def test_centered_rmsprop_never_nan_from_rounding():
    # A constant gradient makes ν − μ² zero in exact arithmetic, and rounding can
    # push it negative; the variance is clipped at 0 before the root.
    tx = lrjax.scale_by_rmsprop(decay=0.9, eps=0.0, eps_in_sqrt=False, centered=True)
    g = jnp.full(8, 0.1, jnp.float32) * jnp.arange(1, 9, dtype=jnp.float32)
    state = tx.init(g)
    update = jax.jit(tx.update)
    for _ in range(30):
        d, state = update(g, state)
    assert not bool(jnp.any(jnp.isnan(d)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: lrjax.adam(0.1),
        lambda: lrjax.amsgrad(0.1),
        lambda: lrjax.nadam(0.1),
        lambda: lrjax.adamax(0.1),
        lambda: lrjax.rmsprop(0.1, centered=True, momentum=0.9),
        lambda: lrjax.adagrad(0.1),
        lambda: lrjax.adadelta(1.0),
    ],
    ids=["adam", "amsgrad", "nadam", "adamax", "rmsprop", "adagrad", "adadelta"],
)
def test_moments_keep_bfloat16(make):
    tx = make()
    p = jnp.asarray([0.5, -1.0, 2.0], jnp.bfloat16)
    state = tx.init(p)
    step = jax.jit(tx.update)
    for _ in range(5):
        u, state = step(p * 2, state, p)
        p = p + u
    assert u.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(u)))
    for leaf in jax.tree.leaves(state):
        if leaf.ndim == 1:  # moments; scalars are counters and recorded rates
            assert leaf.dtype == jnp.bfloat16


@pytest.mark.parametrize(
    "make", [lrjax.scale_by_adam, lrjax.scale_by_amsgrad, lrjax.scale_by_nadam]
)
def test_mu_dtype(make):
    tx, plain = make(mu_dtype=jnp.bfloat16), make()
    p = jnp.ones(3, jnp.float32)
    state, state_plain = tx.init(p), plain.init(p)
    for g in (0.3, -0.2):
        gs = jnp.full(3, g, jnp.float32)
        d, state = tx.update(gs, state)
        d_plain, state_plain = plain.update(gs, state_plain)
    assert state.mu.dtype == jnp.bfloat16 and state.nu.dtype == jnp.float32
    assert d.dtype == jnp.float32
    # Only the stored first moment is rounded to bfloat16 (8 significant bits, relative
    # error <= 2^-8 ~ 3.9e-3, once per step).
    np.testing.assert_allclose(np.asarray(d), np.asarray(d_plain), rtol=8e-3)


def test_nadam_state_records_the_momentum_product():
    tx = lrjax.scale_by_nadam(momentum_decay=4e-3)
    state = tx.init(jnp.zeros(1))
    for _ in range(3):
        _, state = tx.update(jnp.ones(1), state)
    want = np.prod([0.9 * (1 - 0.5 * 0.96 ** (t * 4e-3)) for t in (1, 2, 3)])
    # float32: three factors, each a power and two roundings, a few ulps each.
    np.testing.assert_allclose(float(state.mu_product), want, rtol=1e-6)
