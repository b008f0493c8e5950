"""trace, sgd and add_decayed_weights against float64 transcriptions and by hand.

Every test runs in float32 (x64 off, what users run) against NumPy float64 references;
the ``x64``-marked variants check the same claims in float64, at tolerances that only an
exact transcription meets, and that float64 params keep float64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import references_optimizers as ref
from references_optimizers import RTOL32, RTOL64, np_sched, sched

import lrjax

STEPS = 100
A, B, X0 = ref.least_squares(1)
U = 2.0**-24  # float32's unit roundoff (eps / 2)

SGD_CASES = {
    "plain": (dict(), dict()),
    "heavy_ball": (dict(momentum=0.9), dict(momentum=0.9)),
    "nesterov": (dict(momentum=0.9, nesterov=True), dict(momentum=0.9, nesterov=True)),
    "keras_heavy_ball": (
        dict(momentum=0.9, lr_in_momentum=True),
        dict(momentum=0.9, lr_in_momentum=True),
    ),
    "keras_nesterov": (
        dict(momentum=0.9, nesterov=True, lr_in_momentum=True),
        dict(momentum=0.9, nesterov=True, lr_in_momentum=True),
    ),
}


def _check_sgd(name, dtype):
    kw, ref_kw = SGD_CASES[name]
    got = ref.jax_trajectory(lrjax.sgd(sched(0.1, dtype), **kw), A, B, X0, STEPS, dtype)
    want = ref.run(
        ref.make_sgd(np_sched(0.1), **ref_kw), X0, lambda x: ref.ls_grad(A, B, x), STEPS
    )
    assert ref.rel_error(got, want) < (RTOL64 if dtype == jnp.float64 else RTOL32)
    assert np.linalg.norm(want[-1] - want[0]) > 0.1


@pytest.mark.parametrize("name", sorted(SGD_CASES))
def test_sgd_matches_float64_transcription_in_float32(name):
    _check_sgd(name, jnp.float32)


@pytest.mark.x64  # 1e-11 against the transcription: the formula itself, in float64
@pytest.mark.parametrize("name", sorted(SGD_CASES))
def test_sgd_matches_float64_transcription(name):
    _check_sgd(name, jnp.float64)


@pytest.mark.parametrize(
    "dtype, rtol",
    [(jnp.float32, RTOL32), pytest.param(jnp.float64, RTOL64, marks=pytest.mark.x64)],
    ids=["float32", "float64"],
)
def test_coupled_weight_decay_is_pytorch_sgd_weight_decay(dtype, rtol):
    opt = lrjax.chain(lrjax.add_decayed_weights(0.05), lrjax.sgd(sched(0.1, dtype), 0.9))
    got = ref.jax_trajectory(opt, A, B, X0, STEPS, dtype)
    want = ref.run(
        ref.make_sgd(np_sched(0.1), 0.9, weight_decay=0.05),
        X0,
        lambda x: ref.ls_grad(A, B, x),
        STEPS,
    )
    assert ref.rel_error(got, want) < rtol


# Constant rate: η·Σμᵏg = Σμᵏ(ηg), equal in exact arithmetic; the two orders of the
# multiplications round differently, a few ulps per step over 60 contracting steps:
# RTOL32 in float32 (measured 1.8e-7), 1e-13 in float64.
@pytest.mark.parametrize(
    "dtype, rtol",
    [(jnp.float32, RTOL32), pytest.param(jnp.float64, 1e-13, marks=pytest.mark.x64)],
    ids=["float32", "float64"],
)
def test_lr_in_momentum_matters_only_for_a_changing_rate(dtype, rtol):
    def run(lr, inside):
        return ref.jax_trajectory(
            lrjax.sgd(lr, 0.9, lr_in_momentum=inside), A, B, X0, 60, dtype
        )

    assert ref.rel_error(run(0.1, True), run(0.1, False)) < rtol
    assert ref.rel_error(run(sched(0.1, dtype), True), run(sched(0.1, dtype), False)) > 1e-3


# float32: μ is rounded once (0.7 and 0.9 are not binary fractions), then each of the
# three steps rounds a product and a sum, all on positive terms: at most 3 + 2·3 = 9
# roundings of U (5.4e-7). float64: the same count of float64 roundings, far below 1e-15.
@pytest.mark.parametrize(
    "dtype, rtol",
    [(jnp.float32, 9 * U), pytest.param(jnp.float64, 1e-15, marks=pytest.mark.x64)],
    ids=["float32", "float64"],
)
def test_trace_decay_schedule_is_evaluated_at_each_step(dtype, rtol):
    mus = [0.5, 0.7, 0.9]
    tx = lrjax.trace(lambda n: jnp.asarray(mus, dtype)[n])
    state = tx.init(jnp.zeros(1, dtype))
    t = 0.0
    for n, g in enumerate([1.0, 2.0, 3.0]):
        d, state = tx.update(jnp.full(1, g, dtype), state)
        t = g + mus[n] * t
        assert d.dtype == dtype
        np.testing.assert_allclose(float(d[0]), t, rtol=rtol)


@pytest.mark.parametrize(
    "param_dtype, acc_dtype",
    [
        (jnp.bfloat16, jnp.float32),
        pytest.param(jnp.float32, jnp.float64, marks=pytest.mark.x64),
    ],
    ids=["bfloat16_in_float32", "float32_in_float64"],
)
def test_trace_accumulator_dtype(param_dtype, acc_dtype):
    tx = lrjax.trace(0.9, accumulator_dtype=acc_dtype)
    p = jnp.ones(2, param_dtype)
    state = tx.init(p)
    d, state = tx.update(jnp.ones(2, param_dtype), state)
    assert state.trace.dtype == acc_dtype and d.dtype == param_dtype


def test_a_float64_accumulator_with_x64_off_is_float32_as_in_optax():
    """The float32 counterpart of the float64 accumulator case above: with x64 off a
    float64 request can only mean float32, which is what optax makes of it."""
    p = jnp.ones(2)
    reference = optax.trace(0.9, accumulator_dtype=jnp.float64).init(p)
    assert reference.trace.dtype == jnp.float32
    assert optax.adam(0.1, mu_dtype=jnp.float64).init(p)[0].mu.dtype == jnp.float32
    for tx in (
        lrjax.trace(0.9, accumulator_dtype=jnp.float64),
        lrjax.sgd(0.1, 0.9, accumulator_dtype=jnp.float64),
        lrjax.adam(0.1, mu_dtype=jnp.float64),
        lrjax.adamw(0.1, mu_dtype=jnp.float64),
        lrjax.amsgrad(0.1, mu_dtype=jnp.float64),
        lrjax.nadam(0.1, mu_dtype=jnp.float64),
    ):
        state = tx.init(p)
        u, state = tx.update(jnp.ones(2), state, p)
        assert u.dtype == jnp.float32
        assert all(
            x.dtype == jnp.float32
            for x in jax.tree.leaves(state)
            if jnp.issubdtype(x.dtype, jnp.floating)
        )


def test_sgd_accumulator_dtype_and_bfloat16():
    opt = lrjax.sgd(0.1, 0.9, accumulator_dtype=jnp.float32)
    p = jnp.ones(2, jnp.bfloat16)
    state = opt.init(p)
    u, state = jax.jit(opt.update)(jnp.ones(2, jnp.bfloat16), state)
    assert u.dtype == jnp.bfloat16
    assert state[0].trace.dtype == jnp.float32


# float32: λ(n) = 0.1·(n+1) rounds twice (0.1 and the product), λp is exact (p is ±1
# or ±2) and the sum rounds once; g and p share each coordinate's sign, so the sum does
# not cancel and the relative error stays below 3U (4U for the second-order terms).
# float64: the same roundings in float64, far below 1e-15.
@pytest.mark.parametrize(
    "dtype, rtol",
    [(jnp.float32, 4 * U), pytest.param(jnp.float64, 1e-15, marks=pytest.mark.x64)],
    ids=["float32", "float64"],
)
def test_add_decayed_weights_by_hand_and_with_a_schedule(dtype, rtol):
    tx = lrjax.add_decayed_weights(lambda n: 0.1 * (n.astype(dtype) + 1.0))
    p = jnp.asarray([1.0, -2.0], dtype)
    state = tx.init(p)
    for n in range(3):
        d, state = tx.update(jnp.asarray([0.5, -0.5], dtype), state, p)
        assert d.dtype == dtype
        want = np.asarray([0.5, -0.5]) + 0.1 * (n + 1) * np.asarray(p, np.float64)
        np.testing.assert_allclose(np.asarray(d, np.float64), want, rtol=rtol)
    assert int(state.count) == 3


def test_add_decayed_weights_masks():
    p = {"w": jnp.ones(2), "b": jnp.ones(2), "nested": {"k": jnp.ones(3)}}
    g = jax.tree.map(jnp.zeros_like, p)
    by_tree = lrjax.add_decayed_weights(0.5, mask={"w": True, "b": False, "nested": True})
    by_fn = lrjax.add_decayed_weights(
        0.5, mask=lambda params: {"w": True, "b": False, "nested": True}
    )
    by_array = lrjax.add_decayed_weights(
        0.5, mask={"w": True, "b": jnp.asarray([True, False]), "nested": {"k": True}}
    )
    for tx in (by_tree, by_fn):
        d, _ = tx.update(g, tx.init(p), p)
        np.testing.assert_array_equal(np.asarray(d["w"]), [0.5, 0.5])
        np.testing.assert_array_equal(np.asarray(d["b"]), [0.0, 0.0])
        np.testing.assert_array_equal(np.asarray(d["nested"]["k"]), [0.5] * 3)
    d, _ = by_array.update(g, by_array.init(p), p)
    np.testing.assert_array_equal(np.asarray(d["b"]), [0.5, 0.0])


def test_add_decayed_weights_needs_params():
    tx = lrjax.add_decayed_weights(0.1)
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_add_decayed_weights_keeps_dtype():
    tx = lrjax.add_decayed_weights(0.1)
    p = jnp.ones(2, jnp.bfloat16)
    d, _ = tx.update(jnp.ones(2, jnp.bfloat16), tx.init(p), p)
    assert d.dtype == jnp.bfloat16
