"""D-Adaptation SGD and AdaGrad against the authors' ``dadaptation`` 3.2, and lrjax's
promises (optax has neither).

Parity: float64, 100 steps of the least-squares problem of
``references_prodigy_dadapt.py`` (tensors 4x3, 3 and 2x5), with and without (coupled)
weight decay, with a constant rate and with a warm-up from 0: relative tolerance 1e-12
on the whole trajectory (measured at most 1.4e-15). SGD runs at a rate of 0.5: at 1 it
diverges on this problem, the reference as much as lrjax. The reference SGD divides by
a zero norm where the first rate is 0, so there it is run without ``step()`` at rate 0
(the schedule advancing), which is what lrjax's skip does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import references_prodigy_dadapt as ref

import lrjax

SGD_CASES = {
    "plain": {},
    "decay": dict(weight_decay=0.1),
    "momentum_decay": dict(momentum=0.9, weight_decay=0.05),
    "growth_rate_d0": dict(growth_rate=1.05, d0=1e-5),
}
ADAGRAD_CASES = {
    "plain": {},
    "decay": dict(weight_decay=0.1),
    "momentum_decay": dict(momentum=0.9, weight_decay=0.05),
    "eps_growth_rate_d0": dict(eps=1e-8, growth_rate=1.05, d0=1e-5),
}
SGD_LR = 0.5


def _rate(base, warmup):
    return (lambda n: base * ref.warmup_schedule(n)) if warmup else base


@pytest.mark.x64
@pytest.mark.parametrize("warmup", [False, True], ids=["constant", "warmup"])
@pytest.mark.parametrize("name", sorted(SGD_CASES))
def test_sgd_matches_dadaptation(name, warmup):
    dadaptation = pytest.importorskip("dadaptation")
    kwargs = SGD_CASES[name]
    want = ref.run_torch(
        lambda p: dadaptation.DAdaptSGD(p, lr=SGD_LR, **kwargs),
        warmup=warmup,
        skip_zero_lr=True,
    )
    got = ref.run_jax(lrjax.dadapt_sgd(_rate(SGD_LR, warmup), **kwargs))
    assert ref.relative_error(got, want) < 1e-12


@pytest.mark.x64
@pytest.mark.parametrize("warmup", [False, True], ids=["constant", "warmup"])
@pytest.mark.parametrize("name", sorted(ADAGRAD_CASES))
def test_adagrad_matches_dadaptation(name, warmup):
    dadaptation = pytest.importorskip("dadaptation")
    kwargs = ADAGRAD_CASES[name]
    want = ref.run_torch(lambda p: dadaptation.DAdaptAdaGrad(p, **kwargs), warmup=warmup)
    got = ref.run_jax(lrjax.dadapt_adagrad(_rate(1.0, warmup), **kwargs))
    assert ref.relative_error(got, want) < 1e-12


@pytest.mark.x64
def test_adagrad_at_rate_zero_midway_moves_as_the_reference():
    """A rate of 0 after the start still grows a and moves x (the reference's rule)."""
    dadaptation = pytest.importorskip("dadaptation")
    factor = lambda k: 0.0 if 5 <= k < 8 else 1.0
    want = ref.run_torch(dadaptation.DAdaptAdaGrad, warmup=factor, steps=20)
    lr = lambda n: jnp.where((n >= 5) & (n < 8), 0.0, 1.0)
    got = ref.run_jax(lrjax.dadapt_adagrad(lr), steps=20)
    assert ref.relative_error(got, want) < 1e-12
    assert np.any(want[7] != want[6])


def test_float32_stays_within_1e_4_of_float64():
    for make in (
        lambda: lrjax.dadapt_sgd(SGD_LR),
        lambda: lrjax.dadapt_sgd(_rate(SGD_LR, True), momentum=0.9, weight_decay=0.1),
        lambda: lrjax.dadapt_adagrad(),
        lambda: lrjax.dadapt_adagrad(ref.warmup_schedule, momentum=0.9, weight_decay=0.1),
    ):
        assert ref.float32_error(make) < 1e-4


@pytest.mark.x64
def test_current_learning_rate_is_d_eta():
    sched = lambda n: 0.5 * ref.warmup_schedule(n)
    for opt in (lrjax.dadapt_sgd(sched), lrjax.dadapt_adagrad(sched)):
        _, states = ref.run_jax(opt, steps=20, with_state=True)
        for n in range(1, 20):
            np.testing.assert_allclose(
                float(lrjax.current_learning_rate(states[n + 1])),
                float(states[n].d) * float(sched(n)),
                rtol=1e-12,
            )


@pytest.mark.parametrize("name", ["sgd", "adagrad"])
def test_scale_by_chained_with_a_unit_rate_is_the_alias(name):
    alias = getattr(lrjax, f"dadapt_{name}")
    direction = getattr(lrjax, f"scale_by_dadapt_{name}")
    a = ref.run_steps(alias(0.5, momentum=0.5, weight_decay=0.1), 10)
    tx = lrjax.chain(
        direction(0.5, momentum=0.5, weight_decay=0.1), lrjax.scale_by_learning_rate(1.0)
    )
    b = ref.run_steps(tx, 10)
    for x, y in zip(jax.tree.leaves(a[0]), jax.tree.leaves(b[0])):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_a_learning_rate_of_zero_is_skipped_and_finite():
    for alias in (lrjax.dadapt_sgd, lrjax.dadapt_adagrad):
        ref.assert_finite_with_warmup_from_zero(
            lambda lr, a=alias: a(lr, momentum=0.5, weight_decay=0.1)
        )
    _, state, us = ref.run_steps(lrjax.dadapt_sgd(0.0), 3)
    assert int(state.k) == 0 and float(state.g0_norm) == 0.0
    assert all(not bool(jnp.any(u)) for u in jax.tree.leaves(us))


def test_zero_first_gradient_is_skipped():
    for alias in (lrjax.dadapt_sgd, lrjax.dadapt_adagrad):
        opt = alias()
        p = jnp.ones(3)
        u, s = opt.update(jnp.zeros(3), opt.init(p), p)
        assert not bool(jnp.any(u))
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(s))


@pytest.mark.parametrize("name", ["sgd", "adagrad"])
def test_jit_checkpoint_multisteps_complex(name):
    alias = getattr(lrjax, f"dadapt_{name}")
    ref.assert_jit_matches_eager(lambda: alias(0.5, weight_decay=0.1))
    ref.assert_checkpoint_resumes_bit_identically(
        lambda: alias(lambda n: 0.5 * ref.warmup_schedule(n), momentum=0.9)
    )
    ref.assert_multisteps_keeps_state_dtypes(lambda: alias())
    ref.assert_complex_is_refused(alias)
    ref.assert_complex_is_refused(getattr(lrjax, f"scale_by_dadapt_{name}"))
