"""COCOB: parity with ``parameterfree`` 0.0.1, float32 accuracy, and the promises.

Parity: float64, 100 steps of the least-squares problem of
``references_dog_cocob_polyak_momo.problem`` (tensors of shapes 4x3, 3 and 2x5), with
and without weight decay, relative tolerance 1e-13 on the whole trajectory (measured
1.2e-15). COCOB has no learning rate, so there is no warm-up case; a gradient scaled by
any factor gives the same trajectory (its scale invariance), checked below.
"""

from __future__ import annotations

import checks_dog_cocob_polyak_momo as C
import jax.numpy as jnp
import optax
import pytest
import references_dog_cocob_polyak_momo as R

import lrjax


@pytest.mark.x64
@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_matches_parameterfree(wd):
    parameterfree = pytest.importorskip("parameterfree")
    x0, lg = R.problem()
    ref = R.run_torch(lambda p: parameterfree.COCOB(p, weight_decay=wd), x0, lg)
    got, _ = R.run_jax(lrjax.cocob(weight_decay=wd), x0, lg)
    assert R.relative_distance(got, ref) < 1e-13


@pytest.mark.x64
@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_optax_contrib_is_reproduced_at_every_learning_rate(wd, standard_promotion):
    x0, lg = R.problem()
    mine, _ = R.run_jax(lrjax.cocob(weight_decay=wd), x0, lg)
    for lr in (1.0, 0.01):
        theirs, _ = R.run_jax(optax.contrib.cocob(lr, weight_decay=wd), x0, lg)
        # optax's learning rate scales g: L, G and theta scale alike and cancel, up to
        # the rounding of the scaled eps = 1e-8 (the first L).
        assert R.relative_distance(mine, theirs) < (1e-13 if lr == 1.0 else 1e-6)


@pytest.mark.x64
def test_float32_stays_close_to_float64():
    # Measured 5.2e-7 (optax.contrib: 4.5e-7).
    assert C.float32_error(lrjax.cocob, False) < 1e-4


def test_checkpoint_multisteps_bfloat16_complex():
    C.check_checkpoint_resume(lrjax.cocob, False)
    C.check_multisteps_dtypes(lrjax.cocob, False)
    C.check_bfloat16(lrjax.cocob, False)
    C.check_complex_refused(lrjax.cocob)


def test_current_learning_rate_refuses_with_the_reason():
    state = lrjax.cocob().init(jnp.ones(2))
    with pytest.raises(ValueError, match="cocob has no learning rate"):
        lrjax.current_learning_rate(state)


def test_zero_gradients_stay_finite():
    tx = lrjax.cocob()
    p = jnp.ones(3)
    state = tx.init(p)
    for _ in range(3):
        u, state = tx.update(jnp.zeros(3), state, p)
        assert not bool(jnp.any(u))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in state)


def test_state_no_larger_than_optax():
    C.check_state_no_larger(lrjax.cocob(), optax.contrib.cocob(), 0)
