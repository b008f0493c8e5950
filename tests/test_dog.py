"""DoG, L-DoG and DoWG: parity with the authors' code, float32 accuracy, the promises.

Parity (float64, 100 steps of the least-squares problem of
``references_dog_cocob_polyak_momo.problem``: tensors of shapes 4x3, 3 and 2x5; with and
without weight decay, with a constant rate and a warm-up from 0): DoG and L-DoG against
``dog-optimizer`` 1.0.3 (the parity extra), relative tolerance 1e-9 on the whole
trajectory. The reference forms ``x - x0`` by subtraction where lrjax accumulates the
displacement, so the two differ by the reference's rounding (measured up to 1.3e-11).
DoWG against the float64 NumPy transcription of rka97/dowg@e4dbe02 (1e-11; measured
6.3e-13); the warm-up and weight-decay runs extend it as optax.contrib does (a factor
``lr`` of the step, ``g + wd x``).
"""

from __future__ import annotations

import checks_dog_cocob_polyak_momo as C
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import references_dog_cocob_polyak_momo as R

import lrjax

CASES = [(wd, warm) for wd in (0.0, 1e-2) for warm in (False, True)]


@pytest.mark.x64
@pytest.mark.parametrize("wd,warm", CASES)
@pytest.mark.parametrize("name", ["DoG", "LDoG"])
def test_dog_matches_dog_optimizer(name, wd, warm):
    dog = pytest.importorskip("dog")
    x0, lg = R.problem()
    lrs = R.warmup(1.0) if warm else None
    ref = R.run_torch(lambda p: getattr(dog, name)(p, weight_decay=wd), x0, lg, lrs=lrs)
    make = lrjax.dog if name == "DoG" else lrjax.l_dog
    got, _ = R.run_jax(make(lrs if warm else 1.0, weight_decay=wd), x0, lg)
    assert R.relative_distance(got, ref) < 1e-9


@pytest.mark.x64
def test_dog_init_eta_matches_dog_optimizer():
    dog = pytest.importorskip("dog")
    x0, lg = R.problem()
    ref = R.run_torch(lambda p: dog.DoG(p, init_eta=1e-3), x0, lg)
    got, _ = R.run_jax(lrjax.dog(init_eta=1e-3), x0, lg)
    assert R.relative_distance(got, ref) < 1e-9


@pytest.mark.x64
@pytest.mark.parametrize("wd,warm", CASES)
def test_dowg_matches_transcription(wd, warm):
    x0, lg = R.problem()
    lrs = R.warmup(1.0) if warm else None
    ref = R.run_numpy(R.DoWG(None, weight_decay=wd), x0, lg, lrs=lrs)
    got, _ = R.run_jax(lrjax.dowg(lrs if warm else 1.0, weight_decay=wd), x0, lg)
    assert R.relative_distance(got, ref) < 1e-11


@pytest.mark.x64
@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_optax_contrib_dog_and_dowg_are_reproduced(wd, standard_promotion):
    """optax.contrib's DoG and DoWG are the same rules: the docstrings' arguments."""
    x0, lg = R.problem()
    w = wd or None
    for mine, theirs in (
        (lrjax.dog(weight_decay=wd), optax.contrib.dog(weight_decay=w)),
        (lrjax.dog(init_eta=1e-3), optax.contrib.dog(init_step=("learning_rate", 1e-3))),
        (lrjax.dowg(weight_decay=wd), optax.contrib.dowg(weight_decay=w)),
    ):
        a, _ = R.run_jax(mine, x0, lg)
        b, _ = R.run_jax(theirs, x0, lg)
        assert R.relative_distance(a, b) < 1e-9


@pytest.mark.x64
def test_optax_layerwise_dog_is_reproduced_with_its_options(standard_promotion):
    x0, lg = R.problem()
    a, _ = R.run_jax(lrjax.l_dog(), x0, lg)
    b, _ = R.run_jax(
        optax.scale_by_distance_over_gradients(param_dtype=jnp.float64, global_scale=-1.0),
        x0,
        lg,
    )
    assert R.relative_distance(a, b) < 1e-9
    # Its defaults: +eta g, and x0 in float32.
    c, _ = R.run_jax(
        optax.chain(optax.scale_by_distance_over_gradients(), optax.scale(-1.0)), x0, lg
    )
    assert R.relative_distance(c, a) > 1e-4


@pytest.mark.x64
@pytest.mark.parametrize(
    "make,bound", [(lrjax.dog, 1e-5), (lrjax.l_dog, 1e-5), (lrjax.dowg, 1e-4)]
)
def test_float32_stays_close_to_float64(make, bound):
    # Measured: DoG 1.6e-7, L-DoG 1.9e-7, DoWG 7.8e-6 (optax.contrib: DoG 3.9e-3,
    # layer-wise 9.9e-3, DoWG 5.3e-5), with the displacement kept as the state.
    assert C.float32_error(make, False) < bound


@pytest.mark.parametrize("make", [lrjax.dog, lrjax.l_dog, lrjax.dowg])
def test_warmup_from_zero_is_finite(make):
    C.check_warmup_from_zero(make, False)


@pytest.mark.parametrize("make", [lrjax.dog, lrjax.l_dog, lrjax.dowg])
def test_checkpoint_multisteps_bfloat16_complex(make):
    C.check_checkpoint_resume(make, False)
    C.check_multisteps_dtypes(make, False)
    C.check_bfloat16(make, False)
    C.check_complex_refused(make)


def test_current_learning_rate_is_eta():
    p = {"a": jnp.ones(3), "b": jnp.ones((2, 2))}
    g = {"a": jnp.full(3, 0.5), "b": jnp.full((2, 2), -1.0)}
    for make in (lrjax.dog, lrjax.dowg):
        tx = make(0.5)
        state = tx.init(p)
        u, state = tx.update(g, state, p)
        eta = lrjax.current_learning_rate(state)
        np.testing.assert_allclose(np.asarray(u["b"]), -np.asarray(eta) * -1.0, rtol=1e-6)
    # DoG's first step: eta = lr * reps_rel (1 + |x0|) / sqrt(|g|^2 + eps).
    state = lrjax.dog(0.5).init(p)
    _, state = lrjax.dog(0.5).update(g, state, p)
    want = 0.5 * 1e-6 * (1 + np.sqrt(7.0)) / np.sqrt(4.75 + 1e-8)
    np.testing.assert_allclose(float(lrjax.current_learning_rate(state)), want, rtol=1e-6)


def test_l_dog_refuses_a_single_rate():
    p = {"a": jnp.ones(3)}
    state = lrjax.l_dog().init(p)
    with pytest.raises(ValueError, match="one step size per leaf"):
        lrjax.current_learning_rate(state)


def test_needs_params():
    for tx in (lrjax.dog(), lrjax.l_dog(), lrjax.dowg()):
        state = tx.init(jnp.ones(2))
        with pytest.raises(ValueError, match="needs params"):
            tx.update(jnp.ones(2), state)


def test_counter_saturates_and_step_does_not_recompile():
    tx = lrjax.dog()
    p = jnp.ones(2)
    state = tx.init(p)._replace(count=jnp.asarray(jnp.iinfo(jnp.int32).max, jnp.int32))
    step = jax.jit(tx.update)
    for _ in range(2):
        _, state = step(jnp.ones(2), state, p)
    assert int(state.count) == jnp.iinfo(jnp.int32).max
    assert step._cache_size() == 1


def test_state_no_larger_than_optax():
    C.check_state_no_larger(lrjax.dog(), optax.contrib.dog(), 1)
    # L-DoG: one more scalar per leaf (its step size, for reading) and the count.
    C.check_state_no_larger(lrjax.l_dog(), optax.scale_by_distance_over_gradients(), 2)
    C.check_state_no_larger(lrjax.dowg(), optax.contrib.dowg(), 1)
