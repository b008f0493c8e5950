"""D-Adaptation Adam and AdamW against the authors' ``dadaptation`` 3.2, optax.contrib,
and lrjax's promises.

Parity: float64, 100 steps of the least-squares problem of
``references_prodigy_dadapt.py`` (tensors 4x3, 3 and 2x5), with and without weight
decay (the reference's default coupled decay, and decoupled), with a constant rate and
with a warm-up from 0: relative tolerance 1e-9 on the whole trajectory (measured at
most 2.7e-14).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import references_prodigy_dadapt as ref

import lrjax

CASES = {
    "plain": {},
    "coupled_decay": dict(weight_decay=0.1),
    "decoupled_decay": dict(weight_decay=0.1, decouple=True),
    "bias_correction": dict(use_bias_correction=True, weight_decay=0.05),
    "growth_rate_d0": dict(growth_rate=1.05, d0=1e-5),
}


@pytest.mark.x64
@pytest.mark.parametrize("warmup", [False, True], ids=["constant", "warmup"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_dadaptation(name, warmup):
    dadaptation = pytest.importorskip("dadaptation")
    kwargs = CASES[name]
    want = ref.run_torch(lambda p: dadaptation.DAdaptAdam(p, **kwargs), warmup=warmup)
    got = ref.run_jax(lrjax.dadapt_adam(ref.warmup_schedule if warmup else 1.0, **kwargs))
    assert ref.relative_error(got, want) < 1e-9


@pytest.mark.x64
def test_adamw_is_decoupled_adam():
    a = ref.run_jax(lrjax.dadapt_adamw(ref.warmup_schedule, weight_decay=0.1))
    b = ref.run_jax(lrjax.dadapt_adam(ref.warmup_schedule, weight_decay=0.1, decouple=True))
    np.testing.assert_array_equal(a, b)


@pytest.mark.x64
def test_reproduces_optax_contrib(standard_promotion):
    want = ref.run_jax(optax.contrib.dadapt_adamw(weight_decay=0.1))
    for opt in (
        lrjax.dadapt_adamw(use_bias_correction=True, weight_decay=0.1),
        lrjax.dadapt_adam(decouple=True, use_bias_correction=True, weight_decay=0.1),
    ):
        assert ref.relative_error(ref.run_jax(opt), want) < 1e-12


@pytest.mark.x64
def test_default_differs_from_optax_contrib(standard_promotion):
    want = ref.run_jax(optax.contrib.dadapt_adamw())
    assert ref.relative_error(ref.run_jax(lrjax.dadapt_adam()), want) > 1e-3


def test_float32_stays_within_1e_4_of_float64():
    for make in (
        lambda: lrjax.dadapt_adam(),
        lambda: lrjax.dadapt_adam(ref.warmup_schedule),
        lambda: lrjax.dadapt_adamw(weight_decay=0.1),
    ):
        assert ref.float32_error(make) < 1e-4


def test_state_is_optax_size_plus_scalars():
    p = {k: jnp.zeros(s) for k, s in ref.SHAPES.items()}
    size = lambda s: sum(x.size for x in jax.tree.leaves(s))
    ours, theirs = lrjax.dadapt_adam().init(p), optax.contrib.dadapt_adamw().init(p)
    assert size(ours) <= size(theirs) + 4


@pytest.mark.x64
def test_current_learning_rate_is_d_eta_bias():
    sched = lambda n: 0.5 * ref.warmup_schedule(n)
    _, states = ref.run_jax(
        lrjax.dadapt_adam(sched, use_bias_correction=True), steps=20, with_state=True
    )
    for n in range(1, 20):
        before, after = states[n], states[n + 1]
        k = int(before.k)
        bc = np.sqrt(1 - 0.999 ** (k + 1)) / (1 - 0.9 ** (k + 1))
        np.testing.assert_allclose(
            float(lrjax.current_learning_rate(after)),
            float(before.d) * float(sched(n)) * bc,
            rtol=1e-12,
        )


def test_scale_by_dadapt_adam_chained_with_a_unit_rate_is_dadapt_adam():
    a = ref.run_steps(lrjax.dadapt_adam(weight_decay=0.1), 10)
    tx = lrjax.chain(
        lrjax.scale_by_dadapt_adam(weight_decay=0.1), lrjax.scale_by_learning_rate(1.0)
    )
    b = ref.run_steps(tx, 10)
    for x, y in zip(jax.tree.leaves(a[0]), jax.tree.leaves(b[0])):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_a_learning_rate_of_zero_is_skipped_and_finite():
    for decouple in (False, True):
        ref.assert_finite_with_warmup_from_zero(
            lambda lr, dec=decouple: lrjax.dadapt_adam(lr, weight_decay=0.1, decouple=dec)
        )
    _, state, us = ref.run_steps(lrjax.dadapt_adam(0.0), 3)
    assert int(state.k) == 0 and int(state.count) == 3
    assert all(not bool(jnp.any(u)) for u in jax.tree.leaves(us))


def test_jit_matches_eager():
    ref.assert_jit_matches_eager(lambda: lrjax.dadapt_adam(weight_decay=0.1))


def test_checkpoint_resume_is_bit_identical():
    ref.assert_checkpoint_resumes_bit_identically(
        lambda: lrjax.dadapt_adamw(ref.warmup_schedule, weight_decay=0.1)
    )


def test_multisteps_keeps_state_dtypes():
    ref.assert_multisteps_keeps_state_dtypes(lambda: lrjax.dadapt_adam())


def test_complex_params_are_refused_naming_the_leaf():
    for make in (lrjax.dadapt_adam, lrjax.dadapt_adamw, lrjax.scale_by_dadapt_adam):
        ref.assert_complex_is_refused(make)
